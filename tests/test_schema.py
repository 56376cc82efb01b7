"""The Spark schemas come from the pydantic models, and the tables are created with them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from math import gcd
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql.types import DateType, LongType, StringType, TimestampNTZType, TimestampType

from settlement.contract import Payment
from settlement.schema import spark_schema
from settlement.tables import (
    CHECKPOINT_INTERVAL,
    CHECKPOINT_INTERVALS,
    PAYMENT_LOG,
    SETTLEMENT_BASE,
    STATS_COLUMNS,
    STATS_COLUMNS_PROPERTY,
    TABLES,
    PaymentLogRow,
    SettlementBaseRow,
    append,
    chosen_properties,
    create_tables,
    delta,
    frame,
    read,
)
from settlement.validation import PARSED
from tests.harness import delta_commits


def test_payment_schema_follows_the_model():
    schema = spark_schema(Payment)
    assert schema.fieldNames() == list(Payment.model_fields)
    assert schema["amount"].dataType == LongType() and not schema["amount"].nullable
    assert schema["payment_date"].dataType == TimestampNTZType()
    assert schema["payout_date"].dataType == DateType() and schema["payout_date"].nullable
    assert schema["payment_method_type"].dataType == StringType()


def test_parsed_record_carries_every_message_field_and_the_error():
    assert set(Payment.model_fields) < set(PARSED.fieldNames())
    assert {"channel", "action", "closing_date", "error"} < set(PARSED.fieldNames())


def test_base_keeps_instants_and_local_times_apart():
    schema = spark_schema(SettlementBaseRow)
    assert schema["payment_date"].dataType == TimestampNTZType()
    assert schema["processed_at"].dataType == TimestampType()
    assert not schema["payment_id"].nullable and schema["rule_id"].nullable


def test_tables_are_created_with_the_model_schemas(spark, tmp_path):
    from settlement.config import StorageSettings

    storage = StorageSettings(root=str(tmp_path), checkpoint=str(tmp_path / "c"))
    create_tables(spark, storage)
    for name, (model, _) in TABLES.items():
        assert read(spark, storage, name).schema == spark_schema(model), name


def test_no_two_tables_of_the_stream_checkpoint_their_logs_in_the_same_batch_but_rarely():
    # Their versions move together, one commit a batch: two coincide at the product of their intervals.
    intervals = sorted(CHECKPOINT_INTERVALS.values())
    assert all(gcd(a, b) == 1 for i, a in enumerate(intervals) for b in intervals[i + 1 :])
    assert intervals[0] * intervals[1] > 1000


def test_tables_carry_their_properties_and_older_tables_gain_them(spark, tmp_path):
    from settlement.config import StorageSettings

    storage = StorageSettings(root=str(tmp_path), checkpoint=str(tmp_path / "c"))
    # The payment log as an earlier version made it: Delta's default interval and statistics.
    DeltaTable.create(spark).location(storage.table(PAYMENT_LOG)).addColumns(
        spark_schema(TABLES[PAYMENT_LOG][0])
    ).execute()
    create_tables(spark, storage)
    for name in TABLES:
        found = delta(spark, storage, name).detail().first().properties
        assert found.get(CHECKPOINT_INTERVAL) == (
            str(CHECKPOINT_INTERVALS[name]) if name in CHECKPOINT_INTERVALS else None
        ), name
        assert found.get(STATS_COLUMNS_PROPERTY) == chosen_properties(name).get(STATS_COLUMNS_PROPERTY), name
    assert {PAYMENT_LOG, SETTLEMENT_BASE} <= set(STATS_COLUMNS)


def test_a_file_written_keeps_statistics_of_the_chosen_columns_only(spark, tmp_path):
    from settlement.config import StorageSettings

    storage = StorageSettings(root=str(tmp_path), checkpoint=str(tmp_path / "c"))
    create_tables(spark, storage)
    at = datetime(2026, 12, 7, 9, tzinfo=UTC)
    row = PaymentLogRow(
        topic="payments",
        partition=2,
        offset=41,
        kafka_timestamp=at,
        key="p-1",
        value="{}",
        key_bytes=None,
        value_bytes=None,
        ingested_at=at,
    )
    append(frame(spark, PaymentLogRow, [row]), storage, PAYMENT_LOG)
    commits = delta_commits(Path(storage.table(PAYMENT_LOG)))
    actions = [json.loads(line) for commit in commits for line in commit.read_text().splitlines()]
    adds = [action["add"] for action in actions if "add" in action]
    assert len(adds) == 1
    stats = json.loads(adds[0]["stats"])
    assert stats["numRecords"] == 1
    assert set(stats["nullCount"]) == set(STATS_COLUMNS[PAYMENT_LOG])
    assert stats["minValues"]["offset"] == 41 and "value" not in stats["minValues"]
