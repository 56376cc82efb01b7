"""The measurements of `make bench`, each on the data set's topic and tables of its own."""

from __future__ import annotations

import shutil
import statistics as stats
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from benchmarks.classifiers import IMPLEMENTATIONS
from settlement import reference, statistics, topology, validation
from settlement.config import Settings
from settlement.tables import (
    APPROVAL_DAILY_STATS,
    MERCHANTS,
    PAYOUT_RULES,
    SETTLEMENT_BASE,
    SETTLEMENT_BATCHES,
    TABLES,
    append,
    create_tables,
    delta,
    read,
)


@dataclass(frozen=True)
class Run:
    records: int
    seconds: float
    batches: int
    ids_added: int = 0  # to the dedup state by the query's batches
    query: str = ""  # the streaming query's id

    @property
    def per_second(self) -> float:
        return self.records / self.seconds


def ids_added(progress) -> int:
    """The ids a batch added to the dedup state, as its operator counts them: the state store
    keeps no count of its rows (`settlement/session.py` says why)."""
    return sum(operator.numRowsUpdated for operator in progress.stateOperators or [])


def state_bytes(settings: Settings) -> int:
    """Bytes of the streaming state in the checkpoint (a local folder here)."""
    folder = Path(settings.storage.checkpoint) / "state"
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def fresh(settings: Settings, name: str) -> Settings:
    """The settings with tables and checkpoint of their own under the bench's root."""
    root = Path(settings.storage.root).parent / name
    shutil.rmtree(root, ignore_errors=True)
    storage = settings.storage.model_copy(update={"root": str(root / "lake"), "checkpoint": str(root / "checkpoint")})
    return settings.model_copy(update={"storage": storage})


def _drain(query) -> Run:
    """Wait for an --available-now query; what it read and how long it ran."""
    clock = time.monotonic()
    query.awaitTermination()
    seconds = time.monotonic() - clock
    if query.exception():
        raise RuntimeError(f"query {query.name} failed: {query.exception()}")
    progress = [p for p in query.recentProgress if p.numInputRows]
    added = sum(ids_added(p) for p in progress)
    return Run(sum(p.numInputRows for p in progress), seconds, len(progress), added, query.id)


def ceiling(spark: SparkSession, settings: Settings, message_schema: str, parse: str) -> Run:
    """Kafka to one Delta table, parsed with `from_json` ("from_json") or with the job's pydantic
    validation ("validation"): the work no settlement pipeline avoids, and what validation adds."""
    settings = fresh(settings, f"ceiling-{parse}")
    records = topology.payment_records(spark, settings)
    if parse == "from_json":
        parsed = records.withColumn("message", F.from_json("value", message_schema))
    else:
        parsed = validation.parse(records)
    query = (
        parsed.writeStream.format("delta")
        .queryName(f"ceiling-{parse}")
        .option("checkpointLocation", settings.storage.checkpoint)
        .trigger(availableNow=True)
        .start(settings.storage.table("parsed"))
    )
    return _drain(query)


def settlement_job(spark: SparkSession, settings: Settings) -> tuple[Run, dict[str, float], Settings]:
    """The job from an empty state: its run, the seconds of each stage, and its settings."""
    settings = fresh(settings, "job")
    create_tables(spark, settings.storage)
    reference.load(spark, settings)
    job = topology.Settlement(spark, settings)
    run = _drain(topology.start(spark, settings, available_now=True, settlement=job))
    return run, dict(job.stage_seconds), settings


def commits_per_batch(spark: SparkSession, settings: Settings, batches: int) -> dict[str, float]:
    """The Delta commits the job made to each table it writes, per batch: each one rebuilds the
    table's log state first, the per-commit cost the job pays however small the batch."""
    counted = {}
    for name in TABLES:
        if name in (MERCHANTS, PAYOUT_RULES):  # the reference data, loaded before the job
            continue
        history = delta(spark, settings.storage, name).history().where("operation != 'CREATE TABLE'")
        counted[name] = round(history.count() / batches, 2)
    return {name: per_batch for name, per_batch in counted.items() if per_batch}


def batch_seconds(spark: SparkSession, settings: Settings) -> list[float]:
    """The seconds of each of the job's batches, in order, as `settlement_batches` recorded them."""
    rows = read(spark, settings.storage, SETTLEMENT_BATCHES).orderBy("batch_id").collect()
    return [row.duration_ms / 1000 for row in rows]


def first_and_median(durations: list[float]) -> tuple[float, float]:
    """The first batch (the JVM warming up, and the dedup state seeded from the base) and the
    median of the others."""
    return durations[0], stats.median(durations[1:] or durations)


def prefill_base(spark: SparkSession, settings: Settings, payments: int, before: date, days: int = 300) -> None:
    """`payments` accepted payments of the `days` before `before`, as the base would hold them."""
    n = F.col("id")
    approval = F.date_sub(F.lit(before), (n % days + 1).cast("int"))
    settled = n % 10 != 0
    rows = spark.range(payments).select(
        F.format_string("H%011d", n).alias("payment_id"),
        F.lit("ONLINE").alias("channel"),
        F.lit("ONLINE").alias("payment_type"),
        (n % 100_000 + 100).alias("amount"),
        F.format_string("merchant-%04d", n % 150 + 1).alias("merchant_number"),
        F.to_timestamp_ntz(F.date_format(approval, "yyyy-MM-dd'T'12:00:00")).alias("payment_date"),
        approval.alias("approval_date"),
        F.lit("PAYMENT").alias("payment_action_type"),
        F.lit("CARD").alias("payment_method_type"),
        F.when(settled, "SETTLEMENT").otherwise("TEST").alias("classification"),
        F.when(settled, F.date_add(approval, 3)).alias("payout_date"),
        F.when(settled, F.date_add(approval, 2)).alias("confirm_date"),
        F.when(settled, "R-ALL-CARD").alias("rule_id"),
        (~settled).alias("test"),
        F.lit(False).alias("network_cancel"),
        F.lit("APPROVED").alias("approval_status"),
        F.lit("history").alias("topic"),
        (n % 6).alias("partition"),
        n.alias("offset"),
        F.to_timestamp(approval).alias("kafka_timestamp"),
        F.current_timestamp().alias("processed_at"),
        F.lit("history").alias("query_id"),
        F.floor(n / 200_000).alias("batch_id"),
    )
    append(rows, settings.storage, SETTLEMENT_BASE)


def history(spark: SparkSession, settings: Settings, payments: int, before: date) -> tuple[Run, list[float]]:
    """The job over a base already holding `payments` accepted payments: its run, and the seconds
    of each of its batches."""
    settings = fresh(settings, "history")
    create_tables(spark, settings.storage)
    reference.load(spark, settings)
    prefill_base(spark, settings, payments, before)
    run = _drain(topology.start(spark, settings, available_now=True))
    return run, batch_seconds(spark, settings)


def classifiers(spark: SparkSession, job: Settings, repeats: int = 2) -> dict[str, float]:
    """Rows per second of each classification implementation over the base's payments (best of
    `repeats`, each forced through a no-op sink)."""
    payments = read(spark, job.storage, SETTLEMENT_BASE).drop("classification").cache()
    rows = payments.count()
    merchants = read(spark, job.storage, MERCHANTS)
    rates = {}
    for name, implementation in IMPLEMENTATIONS.items():
        seconds = []
        for _ in range(repeats):
            clock = time.monotonic()
            implementation(payments, merchants).write.format("noop").mode("overwrite").save()
            seconds.append(time.monotonic() - clock)
        rates[name] = rows / min(seconds)
    payments.unpersist()
    return rates


def statistics_growth(
    spark: SparkSession, settings: Settings, job: Settings, sizes: tuple[int, ...], repeats: int = 3
) -> tuple[int, dict[int, float]]:
    """Seconds of one batch's statistics write (median of `repeats`) when the table already holds
    1x, 10x, ... the keys of that batch: the batch's own keys, plus copies on earlier dates."""
    batch = statistics.grouped(
        read(spark, job.storage, SETTLEMENT_BASE).where("batch_id = 0"), datetime.now(UTC)
    ).cache()
    keys = batch.count()
    dates = sorted(row.approval_date for row in batch.select("approval_date").distinct().collect())
    days = (dates[-1] - dates[0]).days + 1  # copies shifted by whole spans of the batch's dates never meet
    timings = {}
    for size in sizes:
        table = fresh(settings, f"statistics-{size}x")
        create_tables(spark, table.storage)
        history = spark.range(size).select((F.col("id") * days).cast("int").alias("shift"))
        held = batch.crossJoin(history).withColumn("approval_date", F.date_sub("approval_date", "shift"))
        append(held.drop("shift"), table.storage, APPROVAL_DAILY_STATS)
        seconds = []
        for version in range(1, repeats + 1):
            clock = time.monotonic()
            statistics.add(spark, table.storage, batch, dates, "bench", version).unpersist()
            seconds.append(time.monotonic() - clock)
        timings[size] = stats.median(seconds)
    batch.unpersist()
    return keys, timings
