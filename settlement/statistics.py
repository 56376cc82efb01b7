"""Approval-date statistics (승인일 통계): settlement targets per merchant, date, action and method.

The stream adds what each batch accepted with a MERGE (`add`); a backfill sets the statistics of
the dates it touched to the GROUP BY over the base (`replace`). The rows that changed then go to the
statistics topic with their new totals, and a key that left the table as a tombstone.

Both kinds of write carry a Delta transaction id of the stream's app id, and the versions are
chosen so the two cannot count a batch twice or lose one:

- the stream's MERGE of batch N carries `stream_version(N)`, so a replayed batch is skipped;
- a backfill that counted a base holding the stream's batches up to F (the last with rows in it,
  or committed in the checkpoint before the base was read) stamps `fence_version(F, second)`,
  between batch F's version and batch F+1's. Delta skips a write whose version is not above the
  one it recorded, hence:
  - the stream's MERGE of a batch the backfill already counted (F itself, if the backfill read
    the base between the stream's base commit and its statistics commit) is skipped;
  - a backfill whose base predates a batch the stream has already counted is skipped, and counts
    again from a newer base;
  - a later backfill at the same F stamps a later second.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from settlement.config import KafkaSettings, StorageSettings
from settlement.contract import Classification
from settlement.tables import APPROVAL_DAILY_STATS, delta, read, retry_on_conflict

KEY = ("merchant_number", "approval_date", "payment_action_type", "payment_method_type")
# Room between two batches' versions for the fences of backfills (a clock second each).
VERSIONS_PER_BATCH = 1 << 32


def stream_version(batch_id: int) -> int:
    return (batch_id + 1) * VERSIONS_PER_BATCH


def fence_version(last_batch: int | None, second: int) -> int:
    """The version of a backfill that counted the stream's batches up to `last_batch` (None: none)."""
    return (0 if last_batch is None else last_batch + 1) * VERSIONS_PER_BATCH + second % VERSIONS_PER_BATCH


def grouped(base_rows: DataFrame) -> DataFrame:
    """The statistics of these base rows: settlement targets counted and summed per key."""
    return (
        base_rows.where(F.col("classification") == Classification.SETTLEMENT.value)
        .groupBy(*KEY)
        .agg(F.count("*").alias("payment_count"), F.sum("amount").alias("total_amount"))
        .withColumn("updated_at", F.current_timestamp())
    )


def _on_key(left: str, right: str) -> str:
    return " AND ".join(f"{left}.{column} = {right}.{column}" for column in KEY)


@retry_on_conflict
def add(spark: SparkSession, storage: StorageSettings, batch: DataFrame, dates: Sequence[date]) -> None:
    """Add the batch's totals (of `dates`) to the table. The MERGE names the dates, so Delta reads
    and rewrites only their partitions, however many dates the table holds."""
    in_dates = dates_in("stats.approval_date", dates)
    (
        delta(spark, storage, APPROVAL_DAILY_STATS)
        .alias("stats")
        .merge(batch.alias("batch"), f"{in_dates} AND {_on_key('stats', 'batch')}")
        .whenMatchedUpdate(
            set={
                "payment_count": "stats.payment_count + batch.payment_count",
                "total_amount": "stats.total_amount + batch.total_amount",
                "updated_at": "batch.updated_at",
            }
        )
        .whenNotMatchedInsertAll()
        .execute()
    )


def dates_in(column: str, dates: Sequence[date]) -> str:
    if not dates:
        return "FALSE"
    days = ", ".join(f"DATE'{day.isoformat()}'" for day in dates)
    return f"{column} IN ({days})"


@retry_on_conflict
def replace(spark: SparkSession, storage: StorageSettings, dates: Sequence[date], totals: DataFrame) -> bool:
    """Set the statistics of `dates` to `totals`; their keys missing from it are deleted, and a row
    that does not change keeps its `updated_at`. False if Delta skipped the write (see above)."""
    in_dates = dates_in("stats.approval_date", dates)
    metrics = (
        delta(spark, storage, APPROVAL_DAILY_STATS)
        .alias("stats")
        .merge(totals.alias("batch"), f"{in_dates} AND {_on_key('stats', 'batch')}")
        .whenMatchedUpdate(
            condition="stats.payment_count <> batch.payment_count OR stats.total_amount <> batch.total_amount",
            set={
                "payment_count": "batch.payment_count",
                "total_amount": "batch.total_amount",
                "updated_at": "batch.updated_at",
            },
        )
        .whenNotMatchedInsertAll()
        .whenNotMatchedBySourceDelete(condition=in_dates)
        .execute()
    )
    return bool(metrics.collect())


def changed(spark: SparkSession, storage: StorageSettings, keys: DataFrame, dates: Sequence[date]) -> DataFrame:
    """The statistics rows of these keys (of `dates`) with their totals now; a key no longer in the
    table has null totals."""
    held = read(spark, storage, APPROVAL_DAILY_STATS).where(dates_in("approval_date", dates))
    return keys.select(*KEY).join(held, list(KEY), "left")


def messages(rows: DataFrame) -> DataFrame:
    """Statistics rows as the topic's records: key `merchant/date/action/method`, JSON value; a
    row without totals (its key left the table) as a tombstone, a null value."""
    return rows.select(
        F.concat_ws("/", *(F.col(column).cast("string") for column in KEY)).alias("key"),
        F.when(F.col("payment_count").isNotNull(), F.to_json(
            F.struct(
                F.col("merchant_number").alias("merchantNumber"),
                F.col("approval_date").cast("string").alias("approvalDate"),
                F.col("payment_action_type").alias("paymentActionType"),
                F.col("payment_method_type").alias("paymentMethodType"),
                F.col("payment_count").alias("count"),
                F.col("total_amount").alias("totalAmount"),
                F.date_format("updated_at", "yyyy-MM-dd'T'HH:mm:ss.SSSxxx").alias("updatedAt"),
            )
        )).alias("value"),
    )


def publish(records: DataFrame, kafka: KafkaSettings) -> None:
    records.write.format("kafka").options(**kafka.spark_options()).option("topic", kafka.statistics_topic).save()
