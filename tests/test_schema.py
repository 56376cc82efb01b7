"""The Spark schemas come from the pydantic models, and the tables are created with them."""

from __future__ import annotations

from math import gcd

from delta.tables import DeltaTable
from pyspark.sql.types import DateType, LongType, StringType, TimestampNTZType, TimestampType

from settlement.contract import Payment
from settlement.schema import spark_schema
from settlement.tables import (
    CHECKPOINT_INTERVAL,
    CHECKPOINT_INTERVALS,
    PAYMENT_LOG,
    TABLES,
    SettlementBaseRow,
    create_tables,
    delta,
    read,
)
from settlement.validation import PARSED


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


def test_tables_carry_their_checkpoint_interval_and_older_tables_gain_it(spark, tmp_path):
    from settlement.config import StorageSettings

    storage = StorageSettings(root=str(tmp_path), checkpoint=str(tmp_path / "c"))
    # The payment log as an earlier version made it: Delta's default interval.
    DeltaTable.create(spark).location(storage.table(PAYMENT_LOG)).addColumns(
        spark_schema(TABLES[PAYMENT_LOG][0])
    ).execute()
    create_tables(spark, storage)
    for name in TABLES:
        properties = delta(spark, storage, name).detail().first().properties
        assert properties.get(CHECKPOINT_INTERVAL) == (
            str(CHECKPOINT_INTERVALS[name]) if name in CHECKPOINT_INTERVALS else None
        ), name
