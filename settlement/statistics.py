"""Approval-date statistics (승인일 통계): settlement targets per merchant, date, action and method.

Each batch adds what it accepted with a MERGE; the batch's Delta transaction id makes a replayed
MERGE a no-op, so the table equals the GROUP BY over the base whatever crashed. The rows a batch
changed then go to the statistics topic with their new totals.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from settlement.config import KafkaSettings, StorageSettings
from settlement.contract import Classification
from settlement.tables import APPROVAL_DAILY_STATS, delta, read, retry_on_conflict

KEY = ("merchant_number", "approval_date", "payment_action_type", "payment_method_type")


def increments(accepted: DataFrame) -> DataFrame:
    return (
        accepted.where(F.col("classification") == Classification.SETTLEMENT.value)
        .groupBy(*KEY)
        .agg(F.count("*").alias("payment_count"), F.sum("amount").alias("total_amount"))
        .withColumn("updated_at", F.current_timestamp())
    )


def _on_key(left: str, right: str) -> str:
    return " AND ".join(f"{left}.{column} = {right}.{column}" for column in KEY)


@retry_on_conflict
def upsert(spark: SparkSession, storage: StorageSettings, batch: DataFrame) -> None:
    (
        delta(spark, storage, APPROVAL_DAILY_STATS)
        .alias("stats")
        .merge(batch.alias("batch"), _on_key("stats", "batch"))
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


def changed(spark: SparkSession, storage: StorageSettings, batch: DataFrame) -> DataFrame:
    """The statistics rows the batch touched, with their totals now."""
    return read(spark, storage, APPROVAL_DAILY_STATS).join(batch.select(*KEY), list(KEY), "left_semi")


def messages(rows: DataFrame) -> DataFrame:
    """Statistics rows as the topic's records: key `merchant/date/action/method`, JSON value."""
    return rows.select(
        F.concat_ws("/", *(F.col(column).cast("string") for column in KEY)).alias("key"),
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
        ).alias("value"),
    )


def publish(records: DataFrame, kafka: KafkaSettings) -> None:
    writer = records.write.format("kafka").option("kafka.bootstrap.servers", kafka.bootstrap_servers)
    for option, value in kafka.client_options.items():
        writer = writer.option(f"kafka.{option}", value)
    writer.option("topic", kafka.statistics_topic).save()
