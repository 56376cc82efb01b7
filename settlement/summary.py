"""What the job made, in a few lines: rows per table, per classification, top statistics, day close."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
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


def _table(frame: DataFrame, rows: int = 20) -> str:
    return frame._jdf.showString(rows, 0, False)


def summary(spark: SparkSession, storage: StorageSettings) -> str:
    counts = ", ".join(
        f"{name} {read(spark, storage, name).count()}"
        for name in (PAYMENT_LOG, QUARANTINE, SETTLEMENT_BASE, APPROVAL_DAILY_STATS, DAY_CLOSE)
    )
    batches = read(spark, storage, SETTLEMENT_BATCHES).agg(
        *(F.sum(c).alias(c) for c in ("records_in", "quarantined", "duplicates", "accepted", "finish"))
    )
    base = read(spark, storage, SETTLEMENT_BASE)
    classes = base.groupBy("classification").agg(F.count("*").alias("payments"), F.sum("amount").alias("amount"))
    top = (
        read(spark, storage, APPROVAL_DAILY_STATS)
        .orderBy(F.desc("total_amount"))
        .select(*(c for c in read(spark, storage, APPROVAL_DAILY_STATS).columns if c != "updated_at"))
    )
    days = read(spark, storage, DAY_CLOSE).drop("finished_partitions").orderBy("closing_date", "channel")
    return "\n".join(
        [
            f"Rows: {counts}",
            "",
            "Every record accounted for (sum over batches):",
            _table(batches),
            "Base by classification:",
            _table(classes.orderBy("classification")),
            "Top approval-date statistics by amount:",
            _table(top, 10),
            "Day close:",
            _table(days),
        ]
    )
