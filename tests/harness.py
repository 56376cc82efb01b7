"""What the integration tests do again and again: run the stream, run a backfill, read the tables."""

from __future__ import annotations

import contextlib
import io
import os
from unittest import mock

from settlement import topology
from settlement.config import Settings
from settlement.tables import TABLES, read


def run_job(spark, settings: Settings) -> None:
    """The stream with --available-now, in this process."""
    query = topology.start(spark, settings, available_now=True)
    query.awaitTermination()
    assert query.exception() is None


def table_contents(spark, settings: Settings, names=tuple(TABLES)) -> dict[str, list]:
    return {name: sorted(map(tuple, read(spark, settings.storage, name).collect()), key=repr) for name in names}


def environment(settings: Settings) -> dict[str, str]:
    """The settings of a test as the environment variables a job reads."""
    return {
        "SETTLEMENT_KAFKA__PAYMENT_TOPIC": settings.kafka.payment_topic,
        "SETTLEMENT_KAFKA__STATISTICS_TOPIC": settings.kafka.statistics_topic,
        "SETTLEMENT_STORAGE__ROOT": settings.storage.root,
        "SETTLEMENT_STORAGE__CHECKPOINT": settings.storage.checkpoint,
        "SETTLEMENT_SPARK__JARS": settings.spark.jars,
    }


def command(main, settings: Settings, *args: str) -> tuple[int, str, str]:
    """A command line's `main(args)` in this process (a Spark session is the tests' one), with the
    test's settings in its environment: the exit code, and what it printed on stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, environment(settings)), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit:
            code = exit.code
    return code, out.getvalue(), err.getvalue()


def backfill(settings: Settings, *args: str) -> tuple[int, str, str]:
    """`jobs/backfill.py *args`, in this process."""
    from settlement.backfill_job import main

    return command(main, settings, *args)
