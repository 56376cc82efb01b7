"""The settlement base: one row per accepted payment id, whatever its age.

The stream inserts the copies its dedup state marked first accepted (`settlement.dedup`). A
backfill has no such state: it takes the first copy of each id in its records, in the contract's
order (earliest Kafka timestamp, then lower partition, then lower offset), and inserts those the
base does not hold, with an insert-only MERGE on `payment_id` over the whole base.

Between the two, the stream's insert is a MERGE too, but one that reads only the rows backfills
wrote: a payment a backfill accepted is never inserted again by the stream, and the two writers'
commits conflict (and are retried) when both insert at once, while the stream's cost does not
grow with what it has accepted itself.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from settlement.classification import classify
from settlement.config import StorageSettings
from settlement.contract import Classification
from settlement.dedup import ARRIVAL_ORDER
from settlement.payout_rule import assign_payout
from settlement.schema import stamped
from settlement.tables import SETTLEMENT_BASE, conform, delta, read, retry_on_conflict

# What classification and the payout rule decide: a backfill may re-derive these, nothing else.
DERIVED = ("classification", "rule_id", "payout_date", "confirm_date")


# The `query_id` of a backfill's base rows starts with this (the stream's is its query's id).
BACKFILL_PREFIX = "backfill-"
# As `startswith`, not `LIKE 'backfill-%'`: Delta skips files by a prefix only as StartsWith, and a
# MERGE hands it its condition as written (with the LIKE it kept every file of the base).
BACKFILLED = f"startswith(base.query_id, '{BACKFILL_PREFIX}')"


def first_copies(payments: DataFrame) -> DataFrame:
    """The first copy of each payment id among these records (a backfill's: the stream's state
    decides for the stream)."""
    arrival = Window.partitionBy("payment_id").orderBy(*ARRIVAL_ORDER)
    return payments.withColumn("copy", F.row_number().over(arrival)).where("copy = 1").drop("copy")


def derive(first_copies: DataFrame, merchants: DataFrame, rules: DataFrame) -> DataFrame:
    """Payments to base rows-to-be: classification, then the payout rule (a backfill re-derives
    base rows the same way, their derived columns dropped)."""
    return assign_payout(classify(first_copies, merchants), rules)


def base_rows(payouts: DataFrame, query_id: str, batch_id: int, processed_at: datetime) -> DataFrame:
    """The base's rows, stamped with the batch that accepted them and when. The time is a value,
    not `current_timestamp()`: Delta's MERGE does not match a plan holding that to its cache, and
    would derive the persisted rows all over again from the batch's records."""
    return conform(stamped(payouts, processed_at=processed_at, query_id=query_id, batch_id=batch_id), SETTLEMENT_BASE)


@retry_on_conflict
def insert_new(spark: SparkSession, storage: StorageSettings, rows: DataFrame, among: str = "TRUE") -> int | None:
    """Insert the rows whose id is not among the base rows `among` names (all of them by
    default; the stream names `BACKFILLED`, which Delta prunes to the files holding backfilled
    rows by their `query_id` statistics). The number inserted, or None if Delta skipped the write
    (a write under a transaction id it had recorded already: see `tables.transaction`)."""
    metrics = (
        delta(spark, storage, SETTLEMENT_BASE)
        .alias("base")
        .merge(rows.alias("batch"), f"{among} AND base.payment_id = batch.payment_id")
        .whenNotMatchedInsertAll()
        .execute()
        .collect()
    )
    return metrics[0].num_inserted_rows if metrics else None


@retry_on_conflict
def update_derived(spark: SparkSession, storage: StorageSettings, day: date, rows: DataFrame) -> None:
    """Give the base rows of one approval date the derived values of `rows`, where they differ."""
    differs = " OR ".join(f"NOT (base.{column} <=> derived.{column})" for column in DERIVED)
    (
        delta(spark, storage, SETTLEMENT_BASE)
        .alias("base")
        .merge(
            rows.alias("derived"),
            f"base.approval_date = DATE'{day.isoformat()}' AND base.payment_id = derived.payment_id",
        )
        .whenMatchedUpdate(condition=differs, set={column: f"derived.{column}" for column in DERIVED})
        .execute()
    )


def accepted_in(spark: SparkSession, storage: StorageSettings, query_id: str, batch_id: int) -> DataFrame:
    """The base rows a batch accepted, read back: the same after a replay as on the first try.
    (A new checkpoint starts its batch ids at 0 again, hence the query id.)"""
    return read(spark, storage, SETTLEMENT_BASE).where(
        (F.col("query_id") == query_id) & (F.col("batch_id") == batch_id)
    )


def tally_accepted(rows: DataFrame) -> tuple[Counter[str], list[date]]:
    """Accepted rows per classification, and the approval dates of the settlement targets (the
    dates whose statistics the batch changes), in one Spark action."""
    counted = rows.groupBy("classification", "approval_date").count().collect()
    per_classification: Counter[str] = Counter()
    for row in counted:
        per_classification[row.classification] += row["count"]
    settled = sorted({row.approval_date for row in counted if row.classification == Classification.SETTLEMENT})
    return per_classification, settled
