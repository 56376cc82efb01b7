"""A backfill's writes, each idempotent: records inserted where absent, base rows re-derived."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from settlement import base_table
from settlement.backfill.scope import Offsets
from settlement.config import StorageSettings
from settlement.tables import POSITION, conform, delta, read, retry_on_conflict


@retry_on_conflict
def insert_absent(
    spark: SparkSession, storage: StorageSettings, name: str, records: DataFrame, offsets: Offsets | None = None
) -> int:
    """Insert the records the table does not hold yet; returns how many went in."""
    on = " AND ".join(f"held.{column} = new.{column}" for column in POSITION)
    if offsets is not None:
        on = f"{offsets.predicate('held')} AND {on}"
    metrics = (
        delta(spark, storage, name)
        .alias("held")
        .merge(conform(records, name).alias("new"), on)
        .whenNotMatchedInsertAll()
        .execute()
        .collect()
    )
    return metrics[0].num_inserted_rows if metrics else 0


def absent(
    spark: SparkSession, storage: StorageSettings, name: str, records: DataFrame, offsets: Offsets | None = None
) -> DataFrame:
    """The records the table does not hold yet (what `insert_absent` would insert)."""
    held = read(spark, storage, name).alias("held")
    if offsets is not None:
        held = held.where(offsets.predicate("held"))
    return records.join(held.select(*POSITION), list(POSITION), "left_anti")


def rederive(rows: DataFrame, merchants: DataFrame, rules: DataFrame) -> DataFrame:
    """Base rows classified and given a payout rule again, with the reference data given."""
    return base_table.derive(rows.drop(*base_table.DERIVED), merchants, rules)


def differences(current: DataFrame, rederived: DataFrame) -> DataFrame:
    """Per payment of `current`: whether its classification changed, or else whether its rule or
    dates did (so a row is counted once)."""
    new = rederived.select("payment_id", *(F.col(c).alias(f"new_{c}") for c in base_table.DERIVED))
    same = {c: F.col(c).eqNullSafe(F.col(f"new_{c}")) for c in base_table.DERIVED}
    return current.join(new, "payment_id").select(
        "payment_id",
        "approval_date",
        (~same["classification"]).alias("reclassified"),
        (same["classification"] & ~(same["rule_id"] & same["payout_date"] & same["confirm_date"])).alias("redated"),
    )
