"""The settlement topology, top to bottom, as the Kafka Streams original read:

    payment topic ─▶ validate ─▶ dedup (state: payment ids accepted) ─▶ foreachBatch:
        every record ─▶ payment_log
        invalid ─▶ quarantine (with a reason)
        FINISH ─▶ day_close
        PAYMENT, first accepted copy ─▶ classify (merchants) ─▶ payout rule (broadcast)
            ─▶ settlement_base ─▶ approval_daily_stats (totals added) ─▶ statistics topic

Validation and dedup run in the streaming query itself: dedup is Spark's keyed state, which
commits with the batch (`settlement.dedup`). Every Delta commit of micro-batch N is marked (query
id, N), and a batch Spark runs again after a crash skips the writes it finds marked
(`settlement.replay`), so it changes nothing twice; its state is the state it had the first time,
so it marks the same copies first accepted.

In a batch, the log, the quarantine and day close are written beside the base and the statistics
(`beside`: a thread of their own), and the batch's counts beside the statistics topic.

Records come in as `settlement.records` makes them (their bytes as sent, and as the log keeps
them). A batch that fails is handed to `settlement.guard`, which reads the batch's records again
and names the record that fails it; records an operator held are quarantined by validation
without being read.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from pyspark import InheritableThread
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from settlement import (
    base_table,
    checkpoint,
    day_close,
    dedup,
    guard,
    reference,
    replay,
    statistics,
    statistics_fence,
    validation,
)
from settlement.config import Settings
from settlement.contract import Classification
from settlement.metrics import Metrics
from settlement.records import kafka_records, kafka_source, topic_records
from settlement.schema import stamped
from settlement.session import jvm
from settlement.tables import (
    DAY_CLOSE,
    PAYMENT_LOG,
    QUARANTINE,
    SETTLEMENT_BASE,
    SETTLEMENT_BATCHES,
    SettlementBatchRow,
    append,
    conform,
    create_tables,
    frame,
    transaction,
)

log = logging.getLogger("settlement")

# The local property Spark shows as a job's description (SparkContext.setJobDescription sets it).
JOB_DESCRIPTION = "spark.job.description"


def payment_records(spark: SparkSession, settings: Settings) -> DataFrame:
    """The payment topic as a stream of Kafka records, read in at most `spark.read_tasks` tasks."""
    kafka, tasks = settings.kafka, settings.spark.read_tasks
    reader = (
        kafka_source(spark.readStream, kafka)
        .option("subscribe", kafka.payment_topic)
        .option("startingOffsets", kafka.starting_offsets)
        .option("failOnDataLoss", "true")
    )
    if kafka.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", kafka.max_offsets_per_trigger)
    records = kafka_records(reader.load())
    # Copies of a payment are ordered by their position, not by the task that read them (`dedup`).
    return records.coalesce(tasks) if tasks else records


def outputs(
    records: DataFrame, holds: list[validation.Hold], merchants: DataFrame, rules: DataFrame
) -> list[DataFrame]:
    """What a batch of records becomes, before any table is touched: its log rows, quarantine
    rows, base rows and statistics, and FINISH markers (the batch's first copies standing in for
    what the dedup state would accept)."""
    parsed = validation.parse(records, holds)
    first_copies = base_table.first_copies(validation.payments(parsed))
    now = datetime.now(UTC)
    rows = base_table.base_rows(base_table.derive(first_copies, merchants, rules), "dry-run", 0, now)
    return [
        conform(parsed, PAYMENT_LOG),
        validation.rejected(parsed, now),
        rows,
        statistics.grouped(rows, now),
        validation.finishes(parsed),
    ]


class Settlement:
    """The foreachBatch function: one micro-batch of Kafka records through the whole topology."""

    def __init__(self, spark: SparkSession, settings: Settings, metrics: Metrics | None = None) -> None:
        self.spark = spark
        self.settings = settings
        self.metrics = metrics
        self._query_id: str | None = None
        self._holds: list[validation.Hold] | None = None
        self.reference = reference.Latest(settings.storage)
        # The last batch this function began: a batch at or below it, or the first, may have run before.
        self._last_batch: int | None = None
        # The last batch that failed, with the record that fails it when one does (`guard`).
        self.failure: guard.BatchFailure | None = None
        # Seconds spent per stage over every batch since the start: the log line shows each
        # batch's share, the benchmarks read the totals.
        self.stage_seconds: Counter[str] = Counter()

    @property
    def query_id(self) -> str:
        if self._query_id is None:
            # Read in a batch: the stream has written its checkpoint's metadata by then.
            self._query_id = checkpoint.query_id(self.spark, self.settings.storage)
            if self._query_id is None:
                raise RuntimeError(f"the stream's checkpoint {self.settings.storage.checkpoint} has no query id")
        return self._query_id

    @property
    def holds(self) -> list[validation.Hold]:
        """The records operators set aside, read once per start: a hold is placed while the job
        is stopped on the record it holds."""
        if self._holds is None:
            self._holds = guard.holds(self.spark, self.settings.storage, self.settings.kafka.payment_topic)
        return self._holds

    def __call__(self, records: DataFrame, batch_id: int) -> None:
        try:
            self.process(records, batch_id)
        except Exception as error:
            spark, storage, kafka = records.sparkSession, self.settings.storage, self.settings.kafka
            # The batch's records as read, not as validated and deduplicated: what fails may be
            # validation itself, and the guard's reruns must not touch the dedup state.
            offsets = checkpoint.batch_offsets(spark, storage, batch_id, kafka.payment_topic)
            records = topic_records(spark, kafka, kafka.payment_topic, offsets)
            self.failure = guard.investigate(
                spark,
                storage,
                self.query_id,
                batch_id,
                records,
                error,
                lambda some: outputs(
                    some, self.holds, self.reference.merchants(spark), self.reference.payout_rules(spark)
                ),
            )
            raise guard.BatchFailed(self.failure.line(self.settings.kafka.payment_topic)) from error

    def process(self, records: DataFrame, batch_id: int) -> None:
        spark, storage = records.sparkSession, self.settings.storage
        spent: Counter[str]
        started, clock, spent = datetime.now(UTC), time.monotonic(), Counter()
        stage = functools.partial(timed, spark, spent)
        app = checkpoint.app_id(self.query_id)
        # Only a start's first batch can be one Spark ran before (`settlement.replay`).
        run_before = self._last_batch is None or batch_id <= self._last_batch
        self._last_batch = batch_id
        writes = replay.BatchWrites(spark, storage, app, batch_id, run_before)
        with stage("read, validate, dedup"):
            # The batch's start is the one time its rows carry (`schema.stamped`).
            parsed = stamped(records, ingested_at=started).persist()
            tally = validation.tally(parsed)
        accepted: Counter[str]
        settled: list[date]
        accepted, settled = Counter(), []
        # The marks, and a start's transaction ids, go on the batch's own session: Spark runs each
        # batch in a clone of the stream's, and a conf set elsewhere would not reach its writes.
        with writes.marked():
            if tally.held:
                # A transaction of its own: the batch's may have committed its other quarantine
                # rows before it failed on the record now held.
                held_app = f"{app}-held"
                with stage("quarantine"), transaction(spark, held_app, batch_id, replay.mark(held_app, batch_id)):
                    append(validation.rejected(parsed.where("held"), started), storage, QUARANTINE)

            def log_quarantine_and_close_days() -> None:
                if writes.due(PAYMENT_LOG):
                    with stage("payment_log"):
                        append(parsed, storage, PAYMENT_LOG)
                if tally.quarantined > tally.held and writes.due(QUARANTINE):
                    with stage("quarantine"):
                        append(validation.rejected(parsed.where(~F.col("held")), started), storage, QUARANTINE)
                if tally.finish and writes.due(DAY_CLOSE):
                    with stage("day_close"):
                        day_close.record(spark, self.settings, validation.finishes(parsed))

            # The base and the statistics first, the rest of the batch's records beside them: the
            # base is what makes a payment visible, and while one write's tasks run on the cores
            # another's commit runs on the driver.
            with beside(spark, log_quarantine_and_close_days):
                if tally.payments:
                    with stage("classify, payout rule, base"):
                        payouts = base_table.derive(
                            validation.payments(parsed.where("first_accepted")),
                            self.reference.merchants(spark),
                            self.reference.payout_rules(spark),
                        )
                        accepted_rows = base_table.base_rows(payouts, self.query_id, batch_id, started).persist()
                        accepted, settled = base_table.tally_accepted(accepted_rows)
                        inserted = (
                            base_table.insert_new(spark, storage, accepted_rows, among=base_table.BACKFILLED)
                            if accepted and writes.due(SETTLEMENT_BASE)
                            else 0
                        )
                        if inserted != accepted.total():
                            # A backfill accepted some of them first, or this batch ran before and
                            # its insert is in: the base has the rows this batch accepted.
                            accepted_rows.unpersist()
                            accepted_rows = base_table.accepted_in(spark, storage, self.query_id, batch_id).persist()
                            accepted, settled = base_table.tally_accepted(accepted_rows)
                if settled:
                    with stage("statistics"):
                        # Always a transaction id: the fence against backfills (`statistics_fence`).
                        counted = statistics.add(
                            spark,
                            storage,
                            statistics.grouped(accepted_rows, started),
                            settled,
                            app,
                            statistics_fence.stream_version(batch_id),
                        )
            counts = SettlementBatchRow(
                batch_id=batch_id,
                records_in=tally.records_in,
                quarantined=tally.quarantined,
                duplicates=tally.payments - sum(accepted.values()),
                accepted=sum(accepted.values()),
                finish=tally.finish,
                **{c.value.lower(): accepted[c.value] for c in Classification},
                started_at=started,
                duration_ms=int((time.monotonic() - clock) * 1000),
            )

            def count_batch() -> None:
                if writes.due(SETTLEMENT_BATCHES):
                    with stage("batch counts"):
                        append(frame(spark, SettlementBatchRow, [counts]), storage, SETTLEMENT_BATCHES)

            with beside(spark, count_batch):
                if settled:
                    with stage("statistics topic"):
                        statistics.publish(statistics.messages(counted.where("batch_key")), self.settings.kafka)
                    counted.unpersist()
        if tally.payments:
            accepted_rows.unpersist()
        parsed.unpersist()
        self.stage_seconds.update(spent)
        log.info(
            "batch %d: %d in, %d quarantined, %d duplicates, %d FINISH, %s, %.1f s (%s)",
            batch_id,
            counts.records_in,
            counts.quarantined,
            counts.duplicates,
            counts.finish,
            ", ".join(f"{c.value} {getattr(counts, c.value.lower())}" for c in Classification),
            time.monotonic() - clock,
            ", ".join(f"{name} {seconds:.1f}" for name, seconds in spent.items()),
            extra={
                "fields": {
                    **counts.model_dump(mode="json", exclude={"started_at", "duration_ms"}),
                    "seconds": round(time.monotonic() - clock, 3),
                    "stage_seconds": {name: round(seconds, 3) for name, seconds in spent.items()},
                }
            },
        )
        if self.metrics is not None:
            self.metrics.batch(counts, spent)


@contextmanager
def beside(spark: SparkSession, work: Callable[[], None]) -> Iterator[None]:
    """Runs `work` in a thread of its own while the block runs; the block's end waits for it, and
    raises what it raised. Spark's `InheritableThread` gives it the caller's job properties (the
    batch's: the Spark UI, and a stopping stream's cancel, go by them); it makes `spark` its active
    session, whose settings (the batch's mark) Delta's commits read."""
    failure: BaseException | None = None

    def run() -> None:
        nonlocal failure
        jvm(spark).org.apache.spark.sql.classic.SparkSession.setActiveSession(spark._jsparkSession)
        try:
            work()
        except BaseException as raised:
            failure = raised

    thread = InheritableThread(run, name=getattr(work, "__name__", "beside"))
    thread.start()
    try:
        yield
    finally:
        thread.join()
    if failure is not None:
        raise failure


@contextmanager
def timed(spark: SparkSession, spent: Counter[str], stage: str) -> Iterator[None]:
    """Adds the wall time of the block to `spent[stage]`, and names the stage after the batch in
    the description of the Spark jobs it starts: the Spark UI and its event log then say which
    stage each job served (`python -m benchmarks.profile` sums them per stage)."""
    context = spark.sparkContext
    batch = context.getLocalProperty(JOB_DESCRIPTION)
    context.setJobDescription(f"{batch} - {stage}" if batch else stage)
    clock = time.monotonic()
    try:
        yield
    finally:
        # typeshed's Counter counts in int; it adds floats as well, and these are seconds.
        spent[stage] += time.monotonic() - clock  # type: ignore[assignment]
        # The stream describes each batch's jobs itself; None takes the stage's name away.
        context.setJobDescription(batch)  # type: ignore[arg-type]


def start(
    spark: SparkSession, settings: Settings, available_now: bool = False, settlement: Settlement | None = None
) -> StreamingQuery:
    """The stream, running: every batch through `settlement` (a new `Settlement` if none is given)."""
    create_tables(spark, settings.storage)
    settlement = settlement or Settlement(spark, settings)
    parsed = validation.parse(payment_records(spark, settings), settlement.holds)
    writer = (
        dedup.mark_first_accepted(parsed, dedup.accepted_before(spark, settings.storage))
        .writeStream.queryName(settings.stream.query_name)
        .foreachBatch(settlement)
        .option("checkpointLocation", settings.storage.checkpoint)
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=settings.stream.trigger_interval)
    return writer.start()
