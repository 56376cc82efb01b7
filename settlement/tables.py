"""The Delta tables: one pydantic row model each (their Spark schema is derived), and where they live.

Beyond the contract's columns, `settlement_base` keeps the flags classification read (`test`,
`network_cancel`, `approval_status`) so a backfill can re-derive it, and the streaming query and
micro-batch that accepted the payment (`query_id`, `batch_id`); `day_close` keeps the list of
finished partitions it counts.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, ParamSpec, TypeVar

from delta import exceptions as delta_errors
from delta.tables import DeltaTable
from pydantic import AwareDatetime, BaseModel, Field
from pyspark.sql import DataFrame, SparkSession

from settlement.config import StorageSettings
from settlement.contract import (
    ApprovalStatus,
    Channel,
    Classification,
    Id,
    MerchantStatus,
    PaymentActionType,
    PaymentMethodType,
    PaymentType,
)
from settlement.schema import spark_schema
from settlement.session import jvm

Days = Annotated[int, Field(ge=0)]
P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("settlement")
CONFLICT_ATTEMPTS = 5
# A lost race with another commit (OPTIMIZE, a backfill): nothing of ours was committed. In
# delta-spark 4 these no longer share a base class. A schema or protocol change is not retried.
CONFLICTS = (
    delta_errors.ConcurrentAppendException,
    delta_errors.ConcurrentDeleteDeleteException,
    delta_errors.ConcurrentDeleteReadException,
    delta_errors.ConcurrentTransactionException,
    delta_errors.ConcurrentWriteException,
    delta_errors.DeltaConcurrentModificationException,
)


class KafkaRecord(BaseModel):
    """A record as read from the topic: where it was, and its key and value as text.

    A key or value that is not UTF-8 is shown as text with U+FFFD for each byte that does not
    decode, and kept exactly as sent in `key_bytes` or `value_bytes`; these are null for every
    record that is UTF-8, so the ordinary record costs nothing more.
    """

    topic: str
    partition: int
    offset: int
    kafka_timestamp: AwareDatetime
    key: str | None
    value: str | None
    key_bytes: bytes | None
    value_bytes: bytes | None


class PaymentLogRow(KafkaRecord):
    ingested_at: AwareDatetime


class QuarantineRow(KafkaRecord):
    error: str
    quarantined_at: AwareDatetime


class SettlementBaseRow(BaseModel):
    payment_id: str
    channel: Channel
    payment_type: PaymentType
    amount: int
    merchant_number: str
    payment_date: datetime
    approval_date: date
    payment_action_type: PaymentActionType
    payment_method_type: PaymentMethodType
    classification: Classification
    payout_date: date | None
    confirm_date: date | None
    rule_id: str | None
    test: bool
    network_cancel: bool
    approval_status: ApprovalStatus
    topic: str
    partition: int
    offset: int
    kafka_timestamp: AwareDatetime
    processed_at: AwareDatetime
    query_id: str
    batch_id: int


class ApprovalDailyStatsRow(BaseModel):
    merchant_number: str
    approval_date: date
    payment_action_type: PaymentActionType
    payment_method_type: PaymentMethodType
    payment_count: int
    total_amount: int
    updated_at: AwareDatetime


class DayCloseRow(BaseModel):
    channel: Channel
    closing_date: date
    partitions_finished: int
    partition_count: int
    closed_at: AwareDatetime | None
    finished_partitions: list[int]


class SettlementBatchRow(BaseModel):
    """One micro-batch's counts: records_in = quarantined + duplicates + accepted + finish."""

    batch_id: int
    records_in: int
    quarantined: int
    duplicates: int
    accepted: int
    finish: int
    test: int
    non_settlement_merchant: int
    network_cancel: int
    unconfirmed: int
    settlement: int
    started_at: AwareDatetime
    duration_ms: int


class BackfillStatus(StrEnum):
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"
    ABANDONED = "ABANDONED"


class BackfillRunRow(BaseModel):
    """One backfill run: what it covered, who ran it, how it ended. A RUNNING row is the lock."""

    run_id: str
    mode: str
    scope: str
    status: BackfillStatus
    started_at: AwareDatetime
    finished_at: AwareDatetime | None
    host: str
    pid: int
    summary: str | None
    # Renewed while the run lives; a RUNNING row whose heartbeat is older than the lease is a dead
    # run's, and the next backfill takes the lock over.
    heartbeat_at: AwareDatetime | None


class HeldRecordRow(BaseModel):
    """A record an operator set aside (`settlement hold`): every path that reads records quarantines
    it with `reason`, without validating it, so a record that fails its batch cannot stop the stream."""

    topic: str
    partition: int
    offset: int
    reason: str
    held_at: AwareDatetime
    held_by: str


class BatchFailureRow(BaseModel):
    """A micro-batch that failed, and the record that fails it on its own, when one does."""

    query_id: str
    batch_id: int
    offsets: str  # per partition, `0:1200-5000 1:1100-4800` (the ends excluded)
    error: str
    topic: str | None
    partition: int | None
    offset: int | None
    failed_at: AwareDatetime


class MerchantRow(BaseModel):
    merchant_number: Id
    status: MerchantStatus


class PayoutRuleRow(BaseModel):
    rule_id: Id
    merchant_number: Id | None = None
    payment_method_type: PaymentMethodType | None = None
    payment_action_type: PaymentActionType | None = None
    payout_delay_days: Days
    confirm_lead_days: Days
    valid_from: date
    valid_to: date | None = None


# A record is its position, and its timestamp: a topic deleted and created again reuses offsets.
POSITION = ("topic", "partition", "offset", "kafka_timestamp")

PAYMENT_LOG = "payment_log"
QUARANTINE = "quarantine"
SETTLEMENT_BASE = "settlement_base"
APPROVAL_DAILY_STATS = "approval_daily_stats"
DAY_CLOSE = "day_close"
SETTLEMENT_BATCHES = "settlement_batches"
BACKFILL_RUNS = "backfill_runs"
HELD_RECORDS = "held_records"
BATCH_FAILURES = "batch_failures"
MERCHANTS = "merchants"
PAYOUT_RULES = "payout_rules"

# name -> (row model, partition columns)
TABLES: dict[str, tuple[type[BaseModel], tuple[str, ...]]] = {
    PAYMENT_LOG: (PaymentLogRow, ()),
    QUARANTINE: (QuarantineRow, ()),
    SETTLEMENT_BASE: (SettlementBaseRow, ("approval_date",)),
    APPROVAL_DAILY_STATS: (ApprovalDailyStatsRow, ("approval_date",)),
    DAY_CLOSE: (DayCloseRow, ()),
    SETTLEMENT_BATCHES: (SettlementBatchRow, ()),
    BACKFILL_RUNS: (BackfillRunRow, ()),
    HELD_RECORDS: (HeldRecordRow, ()),
    BATCH_FAILURES: (BatchFailureRow, ()),
    MERCHANTS: (MerchantRow, ()),
    PAYOUT_RULES: (PayoutRuleRow, ()),
}


# Delta checkpoints a table's log in the commit whose version is a multiple of the table's interval
# (10 by default), and the stream's tables each commit once a batch: with one interval they all
# checkpointed in the same batch, every tenth batch 3.5-4 s longer at 5,000 payments/s. With
# intervals that are distinct primes, one of them checkpoints in a tenth of the batches and two in
# one batch in some 230, and each table rebuilds its state for a checkpoint 4-6 times less often.
CHECKPOINT_INTERVALS = {
    PAYMENT_LOG: 41,
    QUARANTINE: 43,
    SETTLEMENT_BASE: 47,
    APPROVAL_DAILY_STATS: 53,
    SETTLEMENT_BATCHES: 59,
}
CHECKPOINT_INTERVAL = "delta.checkpointInterval"

# Delta keeps each written file's minimum, maximum and null count of the first 32 columns by
# default, to skip files a filter rules out. For the tables the stream writes most, only the columns
# something filters on: the record's position, the times operators ask about, and in the base the
# payment id, the merchant's settled payments and the batch that accepted it (a batch's insert reads
# only the files holding backfilled rows by their `query_id`). Appends of the same 200,000 records,
# medians of eight: the log 1.23 s with every column's statistics, 1.06 s with these; the base 1.88
# s and 1.46 s (benchmarks/results/20261207T150000Z/stats-columns-ab.txt).
STATS_COLUMNS = {
    PAYMENT_LOG: ("topic", "partition", "offset", "kafka_timestamp", "ingested_at"),
    QUARANTINE: ("topic", "partition", "offset", "kafka_timestamp", "quarantined_at"),
    SETTLEMENT_BASE: (
        "payment_id",
        "merchant_number",
        "classification",
        "topic",
        "partition",
        "offset",
        "kafka_timestamp",
        "query_id",
        "batch_id",
    ),
}
STATS_COLUMNS_PROPERTY = "delta.dataSkippingStatsColumns"


def chosen_properties(name: str) -> dict[str, str]:
    """The table properties this project sets on a table (Delta's defaults for the rest); what a
    table has is `table_properties`."""
    chosen = {}
    if name in CHECKPOINT_INTERVALS:
        chosen[CHECKPOINT_INTERVAL] = str(CHECKPOINT_INTERVALS[name])
    if name in STATS_COLUMNS:
        chosen[STATS_COLUMNS_PROPERTY] = ",".join(STATS_COLUMNS[name])
    return chosen


def create_tables(spark: SparkSession, storage: StorageSettings) -> None:
    """Every table, created if absent; a table made by an earlier version gains the nullable
    columns added since (its rows read them as null), and its properties (files written before keep
    the statistics they have)."""
    for name, (model, partitions) in TABLES.items():
        schema = spark_schema(model)
        chosen = chosen_properties(name)
        builder = (
            DeltaTable.createIfNotExists(spark)
            .location(storage.table(name))
            .addColumns(schema)
            .partitionedBy(*partitions)
        )
        for key, value in chosen.items():
            builder = builder.property(key, value)
        table = builder.execute()
        present = set(table.toDF().columns)
        if missing := [field for field in schema if field.name not in present]:
            columns = ", ".join(f"`{field.name}` {field.dataType.simpleString()}" for field in missing)
            spark.sql(f"ALTER TABLE delta.`{storage.table(name)}` ADD COLUMNS ({columns})")
        if chosen:
            found = table_properties(spark, storage, name)
            if changed := {key: value for key, value in chosen.items() if found.get(key) != value}:
                pairs = ", ".join(f"'{key}' = '{value}'" for key, value in changed.items())
                spark.sql(f"ALTER TABLE delta.`{storage.table(name)}` SET TBLPROPERTIES ({pairs})")


def table_properties(spark: SparkSession, storage: StorageSettings, name: str) -> dict[str, str]:
    """A table's properties, from its log's metadata. `DESCRIBE DETAIL` counts the table's files as
    well, rebuilding its state before anything needs it (a fresh lake's create_tables 1.2-1.9 s
    this way, 3.9-5.2 s that way: benchmarks/results/20261207T051500Z)."""
    rows = spark.sql(f"SHOW TBLPROPERTIES delta.`{storage.table(name)}`").collect()
    return {row.key: row.value for row in rows}


def read(spark: SparkSession, storage: StorageSettings, name: str) -> DataFrame:
    return spark.read.format("delta").load(storage.table(name))


def delta(spark: SparkSession, storage: StorageSettings, name: str) -> DeltaTable:
    return DeltaTable.forPath(spark, storage.table(name))


TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"
COMMIT_NOTE = "spark.databricks.delta.commitInfo.userMetadata"


@contextmanager
def transaction(
    spark: SparkSession, app_id: str | None = None, version: int | None = None, note: str | None = None
) -> Iterator[None]:
    """Delta writes made inside carry a transaction id (`app_id`, `version`: Delta skips a write
    whose version is not above the one it recorded for the app) and a note in the table's history.
    The session's previous values come back afterwards, so these nest."""
    given = {TXN_APP_ID: app_id, TXN_VERSION: None if version is None else str(version), COMMIT_NOTE: note}
    wanted = {key: value for key, value in given.items() if value is not None}
    previous = {key: spark.conf.get(key, None) for key in wanted}
    for key, value in wanted.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, prior in previous.items():
            if prior is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, prior)


def version(spark: SparkSession, storage: StorageSettings, name: str) -> int:
    """The table's latest version: its log listed and brought up to date, no Spark job. Delta's own
    class, not its public API: the public way, `DeltaTable.history(1)`, also reads and returns the
    last commit (a quarter of a second for two small tables, against a hundredth)."""
    gateway = jvm(spark)
    log = gateway.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, storage.table(name))
    none = gateway.scala.Option.empty()
    return log.update(False, none, none).version()


def snapshot(spark: SparkSession, storage: StorageSettings, name: str, at: int | None = None) -> DataFrame:
    """The table at version `at`, or as it stands now: pinned to that version however long the
    DataFrame lives."""
    at = version(spark, storage, name) if at is None else at
    return spark.read.format("delta").option("versionAsOf", at).load(storage.table(name))


def retry_on_conflict(write: Callable[P, R]) -> Callable[P, R]:
    """Run a Delta write again when a concurrent commit (OPTIMIZE, a backfill) conflicts with it.

    Safe because a conflict means nothing of the write was committed, and every write of a batch
    carries the batch's transaction id: a try that did commit is never applied twice.
    """

    @functools.wraps(write)
    def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return write(*args, **kwargs)
            except CONFLICTS as conflict:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                log.warning("%s: concurrent commit (%s), try %d", write.__name__, type(conflict).__name__, attempt + 1)
        raise AssertionError("unreachable: the last attempt returns or raises")

    return retried


def frame(spark: SparkSession, model: type[BaseModel], rows: list[BaseModel]) -> DataFrame:
    """Validated rows of a model as a DataFrame of its derived schema."""
    return spark.createDataFrame([tuple(row.model_dump().values()) for row in rows], spark_schema(model))


def conform(rows: DataFrame, name: str) -> DataFrame:
    """The table's columns, in its order: a stage's output meets the table's model here."""
    return rows.select(*spark_schema(TABLES[name][0]).fieldNames())


@retry_on_conflict
def append(rows: DataFrame, storage: StorageSettings, name: str) -> None:
    conform(rows, name).write.format("delta").mode("append").save(storage.table(name))
