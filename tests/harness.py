"""What the integration tests do again and again: run the stream, run a backfill, read the tables."""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock

from settlement import reference, topology
from settlement.broker import create_topics
from settlement.config import Settings, load_settings
from settlement.sample import SampleRecord, generate, produce
from settlement.tables import TABLES, MerchantRow, read
from tests.reference import read_csv

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PARTITIONS = 2


def run_job(spark, settings: Settings) -> None:
    """The stream with --available-now, in this process."""
    query = topology.start(spark, settings, available_now=True)
    query.awaitTermination()
    assert query.exception() is None


def contract_records(examples: list[dict]) -> list[SampleRecord]:
    arrival = datetime(2025, 5, 19, 23, 0, tzinfo=timezone(timedelta(hours=9)))
    return [
        SampleRecord(
            example["key"],
            example["value"],
            arrival + timedelta(milliseconds=n),
            malformed=example["case"] if example["expect"] == "quarantine" else None,
        )
        for n, example in enumerate(examples)
    ]


def fresh_settings(folder: Path) -> Settings:
    """Settings of topics and tables of their own, in `folder`; reference data from conf/."""
    run = uuid.uuid4().hex[:8]
    return load_settings(
        kafka={"payment_topic": f"payment-{run}", "statistics_topic": f"payment-statistics-{run}"},
        storage={"root": str(folder / "lake"), "checkpoint": str(folder / "checkpoint")},
        reference={"merchants": ROOT / "conf/merchants.csv", "payout_rules": ROOT / "conf/payout_rules.csv"},
        spark={"jars": str(ROOT / ".local/jars")},
    )


def sample_lake(spark, examples: list, folder: Path) -> Settings:
    """The contract's examples and a small sample, through the stream: the settings of those tables."""
    settings = fresh_settings(folder)
    create_topics(settings.kafka, {settings.kafka.payment_topic: SAMPLE_PARTITIONS, settings.kafka.statistics_topic: 1})
    reference.load(spark, settings)
    merchants = [MerchantRow(**m) for m in read_csv(settings.reference.merchants)]
    sample = generate(500, merchants, partitions=SAMPLE_PARTITIONS, seed=51)
    produce(contract_records(examples) + sample, settings.kafka)
    run_job(spark, settings)
    return settings


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
        "SETTLEMENT_BACKFILL__LEASE_SECONDS": str(settings.backfill.lease_seconds),
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
