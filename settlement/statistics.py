"""Approval-date statistics (승인일 통계): settlement targets per merchant, date, action and method.

The stream adds what each batch accepted, rewriting the batch's dates in one transaction (`add`); a
backfill sets the statistics of the dates it touched to the GROUP BY over the base (`replace`, a
MERGE). The rows that changed then go to the statistics topic with their new totals, and a key
that left the table as a tombstone.

Both kinds of write are fenced against each other so that no batch is counted twice or lost
(`settlement.statistics_fence`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from py4j.java_gateway import JavaObject
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame

from settlement.config import KafkaSettings, StorageSettings
from settlement.contract import Classification
from settlement.schema import stamped
from settlement.session import project_class
from settlement.tables import APPROVAL_DAILY_STATS, conform, delta, read, retry_on_conflict, snapshot

KEY = ("merchant_number", "approval_date", "payment_action_type", "payment_method_type")


def grouped(base_rows: DataFrame, updated_at: datetime) -> DataFrame:
    """The statistics of these base rows: settlement targets counted and summed per key. The time
    is a value for the reason `base_table.base_rows` gives."""
    totals = (
        base_rows.where(F.col("classification") == Classification.SETTLEMENT.value)
        .groupBy(*KEY)
        .agg(F.count("*").alias("payment_count"), F.sum("amount").alias("total_amount"))
    )
    return stamped(totals, updated_at=updated_at)


def moves(spark: SparkSession, storage: StorageSettings, dates: Sequence[date], totals: DataFrame) -> DataFrame:
    """Per key of `dates`: its totals in the table now (pinned: the same when read after a write)
    and in `totals`, and whether they differ."""
    now = snapshot(spark, storage, APPROVAL_DAILY_STATS).where(dates_in("approval_date", dates))
    return (
        now.select(*KEY, F.col("payment_count").alias("count_before"), F.col("total_amount").alias("amount_before"))
        .join(
            totals.select(
                *KEY, F.col("payment_count").alias("count_after"), F.col("total_amount").alias("amount_after")
            ),
            list(KEY),
            "full_outer",
        )
        .withColumn(
            "changed",
            ~(
                F.col("count_before").eqNullSafe(F.col("count_after"))
                & F.col("amount_before").eqNullSafe(F.col("amount_after"))
            ),
        )
    )


def moves_per_day(moves: DataFrame) -> list[Row]:
    """The moves summed per approval date, with how many keys change."""
    totals = ("count_before", "count_after", "amount_before", "amount_after")
    return (
        moves.groupBy("approval_date")
        .agg(*(F.coalesce(F.sum(c), F.lit(0)).alias(c) for c in totals), F.count_if("changed").alias("keys_changed"))
        .collect()
    )


def _on_key(left: str, right: str) -> str:
    return " AND ".join(f"{left}.{column} = {right}.{column}" for column in KEY)


def added(held: DataFrame, batch: DataFrame) -> DataFrame:
    """The table's rows `held` with the batch's totals added to theirs (a key new to the table
    comes in with the batch's, a row the batch has no key of stays as it was), each with
    `batch_key`: whether the batch has its key."""
    extra = batch.select(
        *KEY,
        F.col("payment_count").alias("extra_count"),
        F.col("total_amount").alias("extra_amount"),
        F.col("updated_at").alias("extra_at"),
    )
    return held.join(extra, list(KEY), "full_outer").select(
        *KEY,
        (F.coalesce("payment_count", F.lit(0)) + F.coalesce("extra_count", F.lit(0))).alias("payment_count"),
        (F.coalesce("total_amount", F.lit(0)) + F.coalesce("extra_amount", F.lit(0))).alias("total_amount"),
        F.coalesce("extra_at", "updated_at").alias("updated_at"),
        F.col("extra_count").isNotNull().alias("batch_key"),
    )


@retry_on_conflict
def add(
    spark: SparkSession, storage: StorageSettings, batch: DataFrame, dates: Sequence[date], app: str, version: int
) -> DataFrame:
    """Add the batch's totals (of `dates`) to the table under the transaction id (`app`,
    `version`). Returns the table's rows of those dates after it, cached (the caller unpersists
    them), `batch_key` marking the batch's keys: the rows this wrote, or, if the table had the id
    already (a batch run again), those it found, a key of the batch missing from them with null
    totals.

    One transaction (`jvm/settlement/StatisticsTransaction.java`) reads the files of the dates and
    writes them again with the totals added: a date's statistics are small, and rewriting them
    costs less than a MERGE's steps, however many dates the table holds."""
    transaction = begin(spark, storage, dates, app, version)
    held = ClassicDataFrame(transaction.held(), spark)
    if transaction.applied():
        return of_keys(batch, held).withColumn("batch_key", F.lit(True)).persist()
    # One task, one file a date: a batch's dates hold a few thousand keys each, and the next
    # batch reads these files again.
    rows = added(held, batch).coalesce(1).persist()
    try:
        transaction.commit(conform(rows, APPROVAL_DAILY_STATS)._jdf)
    except BaseException:
        rows.unpersist()
        raise
    return rows


def begin(spark: SparkSession, storage: StorageSettings, dates: Sequence[date], app: str, version: int) -> JavaObject:
    """The statistics' transaction (`jvm/settlement/StatisticsTransaction.java`) at the table's
    latest version, having read the files of `dates`, to commit under (`app`, `version`)."""
    return project_class(spark, "StatisticsTransaction").start(
        spark._jsparkSession, storage.table(APPROVAL_DAILY_STATS), dates_in("approval_date", dates), app, version
    )


def of_keys(keys: DataFrame, rows: DataFrame) -> DataFrame:
    """The rows of these keys; a key without one has null totals."""
    return keys.select(*KEY).join(rows, list(KEY), "left")


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
    return of_keys(keys, read(spark, storage, APPROVAL_DAILY_STATS).where(dates_in("approval_date", dates)))


def messages(rows: DataFrame) -> DataFrame:
    """Statistics rows as the topic's records: key `merchant/date/action/method`, JSON value; a
    row without totals (its key left the table) as a tombstone, a null value."""
    return rows.select(
        F.concat_ws("/", *(F.col(column).cast("string") for column in KEY)).alias("key"),
        F.when(
            F.col("payment_count").isNotNull(),
            F.to_json(
                F.struct(
                    F.col("merchant_number").alias("merchantNumber"),
                    F.col("approval_date").cast("string").alias("approvalDate"),
                    F.col("payment_action_type").alias("paymentActionType"),
                    F.col("payment_method_type").alias("paymentMethodType"),
                    F.col("payment_count").alias("count"),
                    F.col("total_amount").alias("totalAmount"),
                    F.date_format("updated_at", "yyyy-MM-dd'T'HH:mm:ss.SSSxxx").alias("updatedAt"),
                )
            ),
        ).alias("value"),
    )


def publish(records: DataFrame, kafka: KafkaSettings) -> None:
    records.write.format("kafka").options(**kafka.spark_options()).option("topic", kafka.statistics_topic).save()
