"""What the job made, in a few lines: rows per table, per classification, top statistics, day close."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from settlement.config import StorageSettings
from settlement.tables import (
    APPROVAL_DAILY_STATS,
    DAY_CLOSE,
    PAYMENT_LOG,
    QUARANTINE,
    SETTLEMENT_BASE,
    SETTLEMENT_BATCHES,
    read,
)


def print_summary(spark: SparkSession, storage: StorageSettings) -> None:
    counts = ", ".join(
        f"{name} {read(spark, storage, name).count()}"
        for name in (PAYMENT_LOG, QUARANTINE, SETTLEMENT_BASE, APPROVAL_DAILY_STATS, DAY_CLOSE)
    )
    print(f"Rows: {counts}\n")
    print("Every record accounted for (sum over batches):")
    read(spark, storage, SETTLEMENT_BATCHES).agg(
        *(F.sum(c).alias(c) for c in ("records_in", "quarantined", "duplicates", "accepted", "finish"))
    ).show(truncate=False)
    print("Base by classification:")
    read(spark, storage, SETTLEMENT_BASE).groupBy("classification").agg(
        F.count("*").alias("payments"), F.sum("amount").alias("amount")
    ).orderBy("classification").show(truncate=False)
    print("Top approval-date statistics by amount:")
    read(spark, storage, APPROVAL_DAILY_STATS).drop("updated_at").orderBy(F.desc("total_amount")).show(
        10, truncate=False
    )
    print("Day close:")
    read(spark, storage, DAY_CLOSE).drop("finished_partitions").orderBy("closing_date", "channel").show(truncate=False)
