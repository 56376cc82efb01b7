"""What the job logs for an operator: no line they can do nothing about. A checkpoint not written
yet is looked for, not read (`settlement.checkpoint`, which still answers as the checkpoint fills);
a Delta MERGE's source, checkpointed locally and dropped, is not warned of
(`conf/spark/log4j2.properties`); py4j's calls and connections are not told (`settlement.logs`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from delta.tables import DeltaTable

from settlement import checkpoint, logs
from settlement.config import StorageSettings
from settlement.session import jvm

COMMIT = 'v1\n{"nextBatchWatermarkMs":0}\n'


@contextmanager
def jvm_log(spark) -> Iterator[object]:
    """What the JVM logs while the block runs (a StringWriter: str() of it is the text)."""
    gateway = jvm(spark)
    context = gateway.org.apache.logging.log4j.LogManager.getContext(False)
    config = context.getConfiguration()
    writer = gateway.java.io.StringWriter()
    appender = gateway.org.apache.logging.log4j.core.appender.WriterAppender.createAppender(
        None, None, writer, "test-logs", False, True
    )
    appender.start()
    config.getRootLogger().addAppender(appender, None, None)
    context.updateLoggers()
    try:
        yield writer
    finally:
        config.getRootLogger().removeAppender("test-logs")
        context.updateLoggers()
        appender.stop()


def test_the_checkpoint_as_it_fills(spark, tmp_path):
    folder = tmp_path / "checkpoint"
    storage = StorageSettings(root=str(tmp_path / "lake"), checkpoint=str(folder))
    with jvm_log(spark) as logged:
        assert checkpoint.query_id(spark, storage) is None
        assert checkpoint.committed_batch(spark, storage) is None
        assert checkpoint.next_offsets(spark, storage, "payment") is None
    assert "FileNotFoundException" not in str(logged), str(logged)

    (folder / "commits").mkdir(parents=True)
    assert checkpoint.committed_batch(spark, storage) is None

    (folder / "metadata").write_text('{"id":"a-query"}\n')
    for batch in (0, 1, 3):
        (folder / "commits" / str(batch)).write_text(COMMIT)
    (folder / "offsets").mkdir()
    (folder / "offsets" / "3").write_text('v1\n{"batchWatermarkMs":0}\n{"payment":{"0":40,"1":38}}\n')
    assert checkpoint.query_id(spark, storage) == "a-query"
    assert checkpoint.committed_batch(spark, storage) == 3
    assert checkpoint.next_offsets(spark, storage, "payment") == {0: 40, 1: 38}


def test_a_merge_whose_source_was_checkpointed_is_not_warned_of(spark, tmp_path):
    table = str(tmp_path / "table")
    spark.createDataFrame([(1, "a")], "id int, value string").write.format("delta").save(table)
    with jvm_log(spark) as logged:
        (
            DeltaTable.forPath(spark, table)
            .alias("t")
            .merge(spark.createDataFrame([(1, "b"), (2, "c")], "id int, value string").alias("s"), "t.id = s.id")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
    assert sorted(spark.read.format("delta").load(table).collect()) == [(1, "b"), (2, "c")]
    assert "locally checkpointed" not in str(logged), str(logged)


def test_the_jobs_lines_are_logged_and_py4js_calls_are_not(capsys):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure("text")
        logging.getLogger("py4j.clientserver").info("Received command c on object id p0")
        logging.getLogger("py4j.java_gateway").warning("the gateway is gone")
        logging.getLogger("settlement").info("batch 0: 10 in")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    logged = capsys.readouterr().err
    assert "Received command" not in logged
    assert "the gateway is gone" in logged and "batch 0: 10 in" in logged
