"""Kafka records as every path reads them: the stream, the backfill from the topic, and the
backfill from `payment_log`.

A record carries its position and timestamp; its key and value as the log keeps them (text, and
the exact bytes of a key or value that is not UTF-8: see `settlement.tables.KafkaRecord`); and
`raw_key` and `raw_value`, the bytes as sent, which validation reads and no table stores.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TypeVar

from pyspark.sql import Column, DataFrame, DataFrameReader, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import DataStreamReader

from settlement.config import KafkaSettings
from settlement.schema import stamped

Reader = TypeVar("Reader", DataFrameReader, DataStreamReader)


def kafka_source(reader: Reader, kafka: KafkaSettings) -> Reader:
    """A Kafka reader (stream or batch) with the cluster's address and client options."""
    return reader.format("kafka").options(**kafka.spark_options())


def as_logged(raw: Column, name: str) -> dict[str, Column]:
    """Bytes as the log keeps them: `name` (text) and `name_bytes` (only if not UTF-8)."""
    # Spark's string cast keeps the bytes as they are; the log's text column must be UTF-8.
    text = raw.cast("string")
    return {name: F.make_valid_utf8(text), f"{name}_bytes": F.when(~F.is_valid_utf8(text), raw)}


def kafka_records(loaded: DataFrame) -> DataFrame:
    """Records of Spark's Kafka source (stream or batch); `ingested_at` is stamped by who reads
    them (`settlement.schema.stamped`)."""
    return loaded.select(
        "topic",
        F.col("partition").cast("long").alias("partition"),
        "offset",
        F.col("timestamp").alias("kafka_timestamp"),
        F.col("key").alias("raw_key"),
        F.col("value").alias("raw_value"),
    ).withColumns({**as_logged(F.col("raw_key"), "key"), **as_logged(F.col("raw_value"), "value")})


def logged_records(log: DataFrame) -> DataFrame:
    """Records of `payment_log`, with the bytes that were sent restored."""
    return log.withColumns(
        {
            "raw_key": F.coalesce(F.col("key_bytes"), F.encode("key", "UTF-8")),
            "raw_value": F.coalesce(F.col("value_bytes"), F.encode("value", "UTF-8")),
        }
    )


def topic_records(
    spark: SparkSession, kafka: KafkaSettings, topic: str, ranges: dict[int, tuple[int, int]]
) -> DataFrame:
    """Records of `topic` read in batch: per partition, offsets from start up to end (excluded)."""

    def per_partition(end: int) -> str:
        return json.dumps({topic: {str(p): offsets[end] for p, offsets in ranges.items()}})

    loaded = (
        kafka_source(spark.read, kafka)
        .option("assign", json.dumps({topic: sorted(ranges)}))
        .option("startingOffsets", per_partition(0))
        .option("endingOffsets", per_partition(1))
        .option("failOnDataLoss", "true")
        .load()
    )
    # A value, not current_timestamp(), for the reason `base_table.base_rows` gives: the backfill
    # caches these records and merges them into three tables, each of which would otherwise read
    # the topic again.
    return stamped(kafka_records(loaded), ingested_at=datetime.now(UTC))
