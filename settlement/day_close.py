"""Day close: a channel's day is closed once every partition of the topic has sent its FINISH."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from settlement import broker
from settlement.config import Settings, StorageSettings
from settlement.tables import DAY_CLOSE, delta, retry_on_conflict


def finished(finishes: DataFrame, partition_count: int) -> DataFrame:
    return (
        finishes.groupBy("channel", "closing_date")
        .agg(F.array_sort(F.collect_set(F.col("partition").cast("long"))).alias("finished_partitions"))
        .withColumn("partition_count", F.lit(partition_count).cast("long"))
    )


@retry_on_conflict
def update(spark: SparkSession, storage: StorageSettings, batch: DataFrame) -> None:
    """Union the partitions seen (a repeated FINISH counts once); stamp `closed_at` the first time all are in."""
    seen = "array_sort(array_union(day.finished_partitions, batch.finished_partitions))"
    closed = "CASE WHEN size({seen}) >= batch.partition_count THEN current_timestamp() END"
    (
        delta(spark, storage, DAY_CLOSE)
        .alias("day")
        .merge(batch.alias("batch"), "day.channel = batch.channel AND day.closing_date = batch.closing_date")
        .whenMatchedUpdate(
            set={
                "finished_partitions": seen,
                "partitions_finished": f"size({seen})",
                "partition_count": "batch.partition_count",
                "closed_at": f"coalesce(day.closed_at, {closed.format(seen=seen)})",
            }
        )
        .whenNotMatchedInsert(
            values={
                "channel": "batch.channel",
                "closing_date": "batch.closing_date",
                "finished_partitions": "batch.finished_partitions",
                "partitions_finished": "size(batch.finished_partitions)",
                "partition_count": "batch.partition_count",
                "closed_at": closed.format(seen="batch.finished_partitions"),
            }
        )
        .execute()
    )


def record(spark: SparkSession, settings: Settings, finishes: DataFrame) -> None:
    """Record these FINISH markers against the payment topic's partition count now."""
    update(spark, settings.storage, finished(finishes, broker.partition_count(settings.kafka, ride_out_outage=True)))
