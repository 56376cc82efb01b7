"""What the integration tests (and the chaos runner) do again and again: run the stream in this process
or as spark-submit, run a backfill, change the reference data, read the tables and the checkpoint."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock

from pyspark.sql import SparkSession

from settlement import reference, topology
from settlement.broker import create_topics
from settlement.checkpoint import topic_offsets
from settlement.config import KafkaSettings, Settings, load_settings
from settlement.sample import Produced, SampleRecord, generate, produce
from settlement.tables import TABLES, MerchantRow, read
from tests.reference import read_csv

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PARTITIONS = 2
CHANGED_RULE = dict(
    rule_id="R-0007",
    merchant_number="merchant-0007",
    payment_method_type=None,
    payment_action_type=None,
    payout_delay_days="9",
    confirm_lead_days="3",
    valid_from="2025-01-01",
    valid_to=None,
)
CHANGED_MERCHANT = dict(merchant_number="merchant-0008", status="NON_SETTLEMENT")


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


def kafka_environment(kafka: KafkaSettings) -> dict[str, str]:
    """Kafka settings as the environment variables a job reads."""
    return {
        "SETTLEMENT_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "SETTLEMENT_KAFKA__CLIENT_OPTIONS": json.dumps(kafka.client_options),
        "SETTLEMENT_KAFKA__JAVA_CLIENT_OPTIONS": json.dumps(kafka.java_client_options),
        "SETTLEMENT_KAFKA__PAYMENT_TOPIC": kafka.payment_topic,
        "SETTLEMENT_KAFKA__STATISTICS_TOPIC": kafka.statistics_topic,
    }


def entry_point(arguments: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    """A command as a scheduler runs it, in a process of its own: `jobs/<script>` or `-m <module>`."""
    command = [sys.executable, *(str(ROOT / a) if a.startswith("jobs/") else a for a in arguments)]
    return subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def environment(settings: Settings) -> dict[str, str]:
    """The settings of a test as the environment variables a job reads."""
    return {
        **kafka_environment(settings.kafka),
        "SETTLEMENT_STORAGE__ROOT": settings.storage.root,
        "SETTLEMENT_STORAGE__CHECKPOINT": settings.storage.checkpoint,
        "SETTLEMENT_SPARK__JARS": settings.spark.jars,
        "SETTLEMENT_BACKFILL__LEASE_SECONDS": str(settings.backfill.lease_seconds),
    }


def command(main, settings: Settings, *args: str) -> tuple[int, str, str]:
    """A command line's `main(args)` in this process (a Spark session is the tests' one), with the
    test's settings in its environment: the exit code, and what it printed on stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, environment(settings)),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            code = main(list(args))
        except SystemExit as exit:
            code = exit.code
    return code, out.getvalue(), err.getvalue()


def backfill(settings: Settings, *args: str) -> tuple[int, str, str]:
    """`jobs/backfill.py *args`, in this process."""
    from settlement.backfill.job import main

    return command(main, settings, *args)


def load_reference(
    spark: SparkSession, settings: Settings, folder: Path, merchants: list[dict], rules: list[dict]
) -> None:
    """Load reference data as an operator would: CSV files, then the loader."""
    for path, rows in ((folder / "rules.csv", rules), (folder / "merchants.csv", merchants)):
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    changed = settings.model_copy(
        update={
            "reference": settings.reference.model_copy(
                update={"payout_rules": folder / "rules.csv", "merchants": folder / "merchants.csv"}
            )
        }
    )
    reference.load(spark, changed)


def change_reference(
    spark: SparkSession, settings: Settings, folder: Path, merchants: list[dict], rules: list[dict]
) -> None:
    """The reference data plus CHANGED_RULE and CHANGED_MERCHANT."""
    load_reference(spark, settings, folder, [*merchants, CHANGED_MERCHANT], [*rules, CHANGED_RULE])


def delta_commits(table: Path) -> list[Path]:
    return sorted((table / "_delta_log").glob("*.json"))


def checkpoint_batches(checkpoint: Path, kind: str) -> list[int]:
    folder = checkpoint / kind
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.exists() else []


def batch_ends(checkpoint: Path, topic: str) -> list[dict[int, int]]:
    """Per committed batch, the end offset (exclusive) of each partition, from Spark's offset log."""
    ends = []
    for batch in checkpoint_batches(checkpoint, "commits"):
        lines = (checkpoint / "offsets" / str(batch)).read_text().splitlines()
        ends.append(topic_offsets(json.loads(lines[-1]), topic) or {})
    return ends


def by_batch(produced: list[Produced], ends: list[dict[int, int]]) -> list[list[Produced]]:
    """The produced records of each committed batch, by the batches' end offsets."""
    batches: list[list[Produced]] = [[] for _ in ends]
    for p in produced:
        batches[next(n for n, end in enumerate(ends) if p.offset < end.get(p.partition, 0))].append(p)
    return batches


class Job:
    """`spark-submit jobs/settlement.py` (or another job) in a process group of its own, so SIGKILL
    takes all of it: on `master`, with more of spark-submit's `options` and `env`ironment."""

    def __init__(
        self,
        settings: Settings,
        log: Path,
        batch_size: int,
        master: str = "local[2]",
        options: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.log = log
        self.master, self.options = master, options
        self.process: subprocess.Popen | None = None
        self.env = {
            **os.environ,
            "PYSPARK_PYTHON": str(ROOT / ".venv/bin/python"),
            "SPARK_CONF_DIR": str(ROOT / "conf/spark"),
            "SETTLEMENT_KAFKA__PAYMENT_TOPIC": settings.kafka.payment_topic,
            "SETTLEMENT_KAFKA__STATISTICS_TOPIC": settings.kafka.statistics_topic,
            "SETTLEMENT_KAFKA__MAX_OFFSETS_PER_TRIGGER": str(batch_size),
            "SETTLEMENT_STORAGE__ROOT": settings.storage.root,
            "SETTLEMENT_STORAGE__CHECKPOINT": settings.storage.checkpoint,
            "SETTLEMENT_STREAM__TRIGGER_INTERVAL": "2 seconds",
            **(env or {}),
        }

    def start(self, available_now: bool = False, arguments: list[str] | None = None) -> None:
        """The stream (with --available-now, or continuous), or another job: `arguments` of spark-submit."""
        jars = ",".join(str(jar) for jar in sorted((ROOT / ".local/jars").glob("*.jar")))
        arguments = arguments or ["jobs/settlement.py", *(["--available-now"] if available_now else [])]
        command = [
            str(ROOT / ".venv/bin/spark-submit"),
            "--master",
            self.master,
            "--jars",
            jars,
            *self.options,
            str(ROOT / arguments[0]),
            *arguments[1:],
        ]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)
