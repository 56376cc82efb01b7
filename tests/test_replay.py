"""A batch that Spark runs again writes only what it had not written: its commits' marks, read from
each table's log (`settlement.replay`), against the real stream and real Delta logs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from settlement import job, reference, replay
from settlement.broker import create_topics
from settlement.config import StorageSettings
from settlement.sample import generate, produce
from settlement.tables import BATCH_FAILURES, SETTLEMENT_BATCHES, MerchantRow, create_tables, read, transaction
from tests import harness
from tests.invariants import broken, invariants
from tests.reference import Expected, read_csv

APP = "settlement-q1"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def commit(spark, path: str, note: str | None = None) -> None:
    with transaction(spark, note=note):
        spark.range(1).write.format("delta").mode("append").save(path)


def test_a_tables_log_says_whether_a_batch_wrote_to_it(spark, tmp_path, monkeypatch):
    storage = StorageSettings(root=str(tmp_path / "lake"), checkpoint=str(tmp_path / "checkpoint"))
    path = storage.table("log")
    commit(spark, path)
    commit(spark, path, replay.mark(APP, 0))
    commit(spark, path, replay.mark("settlement-q0", 7))  # an earlier checkpoint's stream
    commit(spark, path, replay.mark(f"{APP}-held", 1))  # the held records' own write
    commit(spark, path, replay.mark(APP, 1))
    for _ in range(5):  # maintenance and backfills, between the batch and its replay
        commit(spark, path, "backfill b1 topic 0")
    monkeypatch.setattr(replay, "FIRST_PAGE", 2)  # the search reads the log a page at a time

    def written(app: str, batch: int, since: datetime = LONG_AGO) -> bool:
        return replay.written(spark, storage, "log", app, batch, since)

    assert written(APP, 1)
    assert not written(APP, 2)  # batch 1's mark is the newest: batch 2 never wrote here
    assert written(APP, 0)  # the table is ahead of the batch, as a transaction id would tell
    assert not written("settlement-q2", 0)  # nothing of that stream, back to the table's start
    assert written(f"{APP}-held", 1) and not written(f"{APP}-held", 2)
    # A batch begun after every commit: none of them is its, whatever their marks.
    assert not written(APP, 1, since=datetime.now(UTC) + replay.CLOCK_SKEW + timedelta(minutes=1))

    # A log cleaned up past the batch's start: whether it wrote is lost, and the job says so.
    for _ in range(6):
        commit(spark, path)
    for old in sorted(Path(path, "_delta_log").glob("0000000000000000000[0-9].*")):
        old.unlink()
    with pytest.raises(replay.LogTooShort, match="log starts at version 10"):
        written("settlement-q2", 0)


@pytest.mark.parametrize("fails_at", ["settlement_base", "settlement_batches"])
def test_a_batch_that_failed_halfway_makes_each_write_once(spark, settings, fails_at, monkeypatch):
    partitions, per_batch = 2, 400
    kafka = settings.kafka
    create_topics(kafka, {kafka.payment_topic: partitions, kafka.statistics_topic: 1})
    reference.load(spark, settings)
    merchants, rules = read_csv(settings.reference.merchants), read_csv(settings.reference.payout_rules)
    produced = produce(generate(1_500, [MerchantRow(**m) for m in merchants], partitions=partitions, seed=71), kafka)
    expected = Expected()
    expected.process(produced, merchants, rules)

    # The fault is Delta's own: a CHECK constraint that the table's rows of batch 2 (not a start's
    # first batch) break, so that batch fails after its earlier writes, at the same point every run.
    create_tables(spark, settings.storage)
    table = f"delta.`{settings.storage.table(fails_at)}`"
    spark.sql(f"ALTER TABLE {table} ADD CONSTRAINT halfway CHECK (batch_id < 2)")
    monkeypatch.setenv("SETTLEMENT_KAFKA__MAX_OFFSETS_PER_TRIGGER", str(per_batch))
    code, _, err = harness.command(job.main, settings, "--available-now")
    assert code == 1 and "halfway" in err, err
    # Batch 2, not the start's first batch, stopped the stream after some of its writes.
    assert [row.batch_id for row in read(spark, settings.storage, BATCH_FAILURES).collect()] == [2]
    assert sorted(row.batch_id for row in read(spark, settings.storage, SETTLEMENT_BATCHES).collect()) == [0, 1]

    spark.sql(f"ALTER TABLE {table} DROP CONSTRAINT halfway")
    code, _, err = harness.command(job.main, settings, "--available-now")
    assert code == 0, err
    assert broken(invariants(spark, settings, expected, produced, partitions)) == {}
