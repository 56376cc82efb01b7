"""Backfill: a range of the past processed again, in batch mode, by the stream's own stages.

    topic     payment topic records in a range of offsets ─┐
    log       payment_log records of a range of dates     ─┴▶ validate ─▶ payment_log, quarantine (if absent)
                                                                       ├▶ FINISH ─▶ day_close
                                                                       └▶ PAYMENT ─▶ settle ─▶ settlement_base (new ids)
    rederive  settlement_base rows of a range of dates ─▶ classify ─▶ payout rule ─▶ settlement_base (changed rows)

    and then, for every approval date touched: approval_daily_stats set to the GROUP BY over the
    base ─▶ statistics topic (rows that changed; a key that left the table as a tombstone).

The work comes in units (an approval date, or a slice of offsets), each planned, summarised and,
unless this is a dry run, written. Every write is idempotent: records and payments go in only when
absent, base rows change only where a derived value differs, statistics are set and not added. So
the same backfill twice changes nothing the second time. How a backfill and the running stream stay
out of each other's counting is in `settlement.statistics`; one backfill runs at a time, and
`backfill_runs` holds the lock.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from settlement import base, broker, checkpoint, day_close, guard, statistics, topology, validation
from settlement.arguments import one_line
from settlement.classification import classify
from settlement.config import Settings, StorageSettings
from settlement.payout_rule import assign_payout
from settlement.records import logged_records, topic_records
from settlement.tables import (
    APPROVAL_DAILY_STATS,
    BACKFILL_RUNS,
    MERCHANTS,
    PAYMENT_LOG,
    PAYOUT_RULES,
    POSITION,
    QUARANTINE,
    SETTLEMENT_BASE,
    BackfillRunRow,
    BackfillStatus,
    conform,
    create_tables,
    delta,
    frame,
    read,
    retry_on_conflict,
    snapshot,
    transaction,
)

FENCE_ATTEMPTS = 10
log = logging.getLogger("settlement")


class BackfillError(Exception):
    """The backfill cannot go on; the message is the one line we print."""


# -- what to process -------------------------------------------------------------------------


@dataclass(frozen=True)
class Dates:
    """Approval dates, both ends included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"--to {self.last} is before --from {self.first}")

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}..{self.last}"


@dataclass(frozen=True)
class Offsets:
    """Offsets of a topic: per partition, from `start` up to `end` (excluded)."""

    topic: str
    ranges: dict[int, tuple[int, int]]

    def records(self) -> int:
        return sum(end - start for start, end in self.ranges.values())

    def slices(self, size: int) -> list[Offsets]:
        """About `size` records each, every partition cut at the same fractions (so in arrival order)."""
        count = max(1, -(-self.records() // size))
        cuts = {p: [start + (end - start) * n // count for n in range(count + 1)] for p, (start, end) in self.ranges.items()}
        pieces = [
            Offsets(self.topic, {p: (c[n], c[n + 1]) for p, c in cuts.items() if c[n + 1] > c[n]}) for n in range(count)
        ]
        return [piece for piece in pieces if piece.ranges]

    def predicate(self, alias: str) -> str:
        """The records of these ranges, as a condition Delta can skip files with."""
        ranges = " OR ".join(
            f"({alias}.partition = {p} AND {alias}.offset >= {start} AND {alias}.offset < {end})"
            for p, (start, end) in sorted(self.ranges.items())
        )
        return f"{alias}.topic = '{self.topic}' AND ({ranges or 'false'})"

    def __str__(self) -> str:
        return " ".join(f"{p}:{start}-{end}" for p, (start, end) in sorted(self.ranges.items()))


def topic_offsets(
    spark: SparkSession, settings: Settings, since: datetime | None = None, until: datetime | None = None,
    wanted: dict[int, tuple[int, int]] | None = None,
) -> tuple[Offsets, list[str]]:
    """The offsets to read for a range of Kafka timestamps or of offsets, and what was left out
    and why: records retention has deleted, and records the stream reads itself."""
    topic, notes = settings.kafka.payment_topic, []
    held = broker.offsets(settings.kafka, topic)
    if wanted is None:
        starts, ends = broker.offsets(settings.kafka, topic, since), broker.offsets(settings.kafka, topic, until)
        wanted = {p: (starts[p][0], ends[p][0]) for p in held}
    stream = checkpoint.next_offsets(spark, settings.storage, topic) or {}
    ranges = {}
    for partition, (start, end) in sorted(wanted.items()):
        if partition not in held:
            raise BackfillError(f"topic {topic!r} has no partition {partition}")
        low, high = held[partition]
        if start < low:
            notes.append(f"partition {partition}: offsets {start}-{low} are gone (retention); use `log` for them")
        if partition in stream and end > stream[partition]:
            notes.append(f"partition {partition}: offsets from {stream[partition]} are the running stream's to read")
        start, end = max(start, low), min(end, high, stream.get(partition, end))
        if end > start:
            ranges[partition] = (start, end)
    return Offsets(topic, ranges), notes


def record_date(message: Column) -> Column:
    """The approval date of a payment, the closing date of a FINISH, and for a record that failed
    validation (it has no date of its own) the date it reached Kafka."""
    return (
        F.when(message.error.isNotNull(), F.to_date("kafka_timestamp"))
        .when(message.action == "FINISH", message.closing_date)
        .otherwise(F.to_date(message.payment_date))
    )


def rederive(rows: DataFrame, merchants: DataFrame, rules: DataFrame) -> DataFrame:
    """Base rows classified and given a payout rule again, with the reference data given."""
    return assign_payout(classify(rows.drop(*base.DERIVED), merchants), rules)


def differences(current: DataFrame, rederived: DataFrame) -> DataFrame:
    """Per payment of `current`: whether its classification changed, or else whether its rule or
    dates did (so a row is counted once)."""
    new = rederived.select("payment_id", *(F.col(c).alias(f"new_{c}") for c in base.DERIVED))
    same = {c: F.col(c).eqNullSafe(F.col(f"new_{c}")) for c in base.DERIVED}
    return current.join(new, "payment_id").select(
        "payment_id",
        "approval_date",
        (~same["classification"]).alias("reclassified"),
        (same["classification"] & ~(same["rule_id"] & same["payout_date"] & same["confirm_date"])).alias("redated"),
    )


@retry_on_conflict
def insert_absent(spark: SparkSession, storage: StorageSettings, name: str, records: DataFrame,
                  offsets: Offsets | None = None) -> int:
    """Insert the records the table does not hold yet; returns how many went in."""
    on = " AND ".join(f"held.{column} = new.{column}" for column in POSITION)
    if offsets is not None:
        on = f"{offsets.predicate('held')} AND {on}"
    metrics = (
        delta(spark, storage, name).alias("held").merge(conform(records, name).alias("new"), on)
        .whenNotMatchedInsertAll().execute().collect()
    )
    return metrics[0].num_inserted_rows if metrics else 0


def absent(spark: SparkSession, storage: StorageSettings, name: str, records: DataFrame,
           offsets: Offsets | None = None) -> DataFrame:
    held = read(spark, storage, name).alias("held")
    if offsets is not None:
        held = held.where(offsets.predicate("held"))
    return records.join(held.select(*POSITION), list(POSITION), "left_anti")


# -- what it did -----------------------------------------------------------------------------


@dataclass
class Day:
    """What a backfill did (or would do) to one approval date."""

    payments: int = 0  # rederive: the base rows of the date; topic and log: the valid payments read
    inserted: int = 0
    reclassified: int = 0
    redated: int = 0
    count_before: int = 0
    count_after: int = 0
    amount_before: int = 0
    amount_after: int = 0
    keys_changed: int = 0


@dataclass
class Summary:
    days: dict[date, Day] = field(default_factory=dict)
    records: int = 0
    logged: int = 0
    quarantined: int = 0
    finish: int = 0
    notes: list[str] = field(default_factory=list)
    counted: set[date] = field(default_factory=set)  # dates whose statistics moves are in

    def day(self, day: date) -> Day:
        return self.days.setdefault(day, Day())

    def total(self, name: str) -> int:
        return sum(getattr(day, name) for day in self.days.values())


# -- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    label: str
    run: Callable[[], None]


class Backfill:
    """One backfill run: its units of work, done in order, and what they did."""

    def __init__(self, spark: SparkSession, settings: Settings, run_id: str, mode: str, dry_run: bool) -> None:
        self.spark, self.settings, self.storage = spark, settings, settings.storage
        self.run_id, self.mode, self.dry_run = run_id, mode, dry_run
        self.summary = Summary()
        # One reference snapshot for the whole run: every date is derived with the same data.
        self.merchants = snapshot(spark, self.storage, MERCHANTS)
        self.rules = snapshot(spark, self.storage, PAYOUT_RULES)
        self.holds = guard.holds(spark, self.storage, settings.kafka.payment_topic)

    @property
    def query_id(self) -> str:
        """The id under which this run's base rows are recorded (the stream records its own)."""
        return f"{base.BACKFILL_PREFIX}{self.run_id}"

    def note(self, label: str) -> str:
        return f"backfill {self.run_id} {self.mode} {label}"

    def _base(self) -> DataFrame:
        return snapshot(self.spark, self.storage, SETTLEMENT_BASE)

    # -- rederive

    def rederive_units(self, dates: Dates) -> list[Unit]:
        return [Unit(str(day), lambda day=day: self._rederive(day)) for day in dates.days()]

    def _rederive(self, day: date) -> None:
        current = self._base().where(F.col("approval_date") == F.lit(day))
        rederived = rederive(current, self.merchants, self.rules).persist()
        changes = differences(current, rederived).agg(
            F.count("*").alias("rows"), F.count_if("reclassified").alias("reclassified"),
            F.count_if("redated").alias("redated"),
        ).first()
        summary = self.summary.day(day)
        summary.payments, summary.reclassified, summary.redated = changes.rows, changes.reclassified, changes.redated
        if self.dry_run:
            self._statistics_would_move({day}, statistics.grouped(rederived))
        else:
            if changes.reclassified or changes.redated:
                with transaction(self.spark, note=self.note(str(day))):
                    base.update_derived(self.spark, self.storage, day, rederived)
            self._recount({day}, str(day))
        rederived.unpersist()

    # -- records again: from the topic or from the log

    def topic_units(self, offsets: Offsets, slice_size: int) -> list[Unit]:
        kafka = self.settings.kafka
        return [
            Unit(f"offsets {piece}", lambda n=n, piece=piece: self._records(
                n, validation.parse(topic_records(self.spark, kafka, piece.topic, piece.ranges), self.holds),
                f"offsets {piece}", piece,
            ))
            for n, piece in enumerate(offsets.slices(slice_size))
        ]

    def log_units(self, dates: Dates) -> list[Unit]:
        logged = validation.parse(logged_records(read(self.spark, self.storage, PAYMENT_LOG)), self.holds)
        logged = logged.withColumn("record_date", record_date(F.col("message")))
        wanted = logged.where(F.col("record_date").between(F.lit(dates.first), F.lit(dates.last))).persist()
        present = sorted(row.record_date for row in wanted.select("record_date").distinct().collect())
        return [
            Unit(str(day), lambda n=n, day=day: self._records(
                n, wanted.where(F.col("record_date") == F.lit(day)).drop("record_date"), str(day)
            ))
            for n, day in enumerate(present)
        ]

    def _records(self, unit: int, parsed: DataFrame, label: str, offsets: Offsets | None = None) -> None:
        """Records through the stream's stages; from the topic (`offsets` given) they are logged too."""
        spark, storage, summary = self.spark, self.storage, self.summary
        parsed = parsed.persist()
        tally = validation.tally(parsed)
        summary.records += tally.records_in
        summary.finish += tally.finish
        first_copies = base.first_copies(validation.payments(parsed))
        rows = base.base_rows(topology.settle(first_copies, self.merchants, self.rules), self.query_id, unit).persist()
        days = self._count_per_day(validation.payments(parsed), "payments")
        if self.dry_run:
            if offsets is not None:
                summary.logged += absent(spark, storage, PAYMENT_LOG, parsed, offsets).count()
            summary.quarantined += absent(spark, storage, QUARANTINE, validation.rejected(parsed), offsets).count()
            new = rows.join(read(spark, storage, SETTLEMENT_BASE).select("payment_id"), "payment_id", "left_anti")
            self._count_per_day(new, "inserted")
            current = self._base().where(F.col("approval_date").isin(sorted(days)))
            self._statistics_would_move(days, statistics.grouped(current.unionByName(new)))
        else:
            with transaction(spark, note=self.note(label)):
                if offsets is not None:
                    summary.logged += insert_absent(spark, storage, PAYMENT_LOG, parsed, offsets)
                if tally.quarantined:
                    summary.quarantined += insert_absent(spark, storage, QUARANTINE, validation.rejected(parsed), offsets)
                if tally.payments:
                    base.insert_new(spark, storage, rows)
                if tally.finish:
                    partitions = broker.partition_count(self.settings.kafka)
                    day_close.update(spark, storage, day_close.finished(validation.finishes(parsed), partitions))
            self._count_per_day(base.accepted_in(spark, storage, self.query_id, unit), "inserted")
            self._recount(days, label)
        rows.unpersist()
        parsed.unpersist()

    def _count_per_day(self, rows: DataFrame, what: str) -> set[date]:
        """Add the rows of each approval date to the summary's `what`; returns the dates."""
        days = set()
        for row in rows.groupBy("approval_date").count().collect():
            day = self.summary.day(row.approval_date)
            setattr(day, what, getattr(day, what) + row["count"])
            days.add(row.approval_date)
        return days

    # -- statistics

    def _moves(self, days: set[date], totals: DataFrame) -> DataFrame:
        """Per statistics key of `days`: its totals now (pinned: the same when read after a write)
        and in `totals`."""
        now = snapshot(self.spark, self.storage, APPROVAL_DAILY_STATS).where(F.col("approval_date").isin(sorted(days)))
        return now.select(
            *statistics.KEY, F.col("payment_count").alias("count_before"), F.col("total_amount").alias("amount_before")
        ).join(
            totals.select(*statistics.KEY, F.col("payment_count").alias("count_after"),
                          F.col("total_amount").alias("amount_after")),
            list(statistics.KEY), "full_outer",
        ).withColumn(
            "changed",
            ~(F.col("count_before").eqNullSafe(F.col("count_after")) & F.col("amount_before").eqNullSafe(F.col("amount_after"))),
        )

    @staticmethod
    def _per_day(moves: DataFrame) -> list[Row]:
        """The moves summed per approval date, with how many keys change."""
        return moves.groupBy("approval_date").agg(
            *(F.coalesce(F.sum(c), F.lit(0)).alias(c) for c in ("count_before", "count_after", "amount_before", "amount_after")),
            F.count_if("changed").alias("keys_changed"),
        ).collect()

    def _record(self, per_day: list[Row], days: set[date]) -> None:
        """Put the moves of `days` in the summary."""
        for row in per_day:
            if row.approval_date in days:
                # Several slices may touch one date: its first "before", its last "after".
                summary, first = self.summary.day(row.approval_date), row.approval_date not in self.summary.counted
                self.summary.counted.add(row.approval_date)
                if first:
                    summary.count_before, summary.amount_before = row.count_before, row.amount_before
                summary.count_after, summary.amount_after = row.count_after, row.amount_after
                summary.keys_changed += row.keys_changed

    def _statistics_would_move(self, days: set[date], totals: DataFrame) -> None:
        if days:
            self._record(self._per_day(self._moves(days, totals)), days)

    def _recount(self, days: set[date], label: str) -> None:
        """Set the statistics of `days` from the base, fenced against the stream's own counting
        (see `settlement.statistics`), and publish what changed."""
        if not days:
            return
        for _ in range(FENCE_ATTEMPTS):
            query_id = checkpoint.query_id(self.spark, self.storage)
            committed = checkpoint.committed_batch(self.spark, self.storage)
            current = self._base()
            if checkpoint.query_id(self.spark, self.storage) != query_id:
                continue  # a stream started afresh meanwhile: look again
            last_batch, in_flight = self._last_stream_batch(current, query_id, committed)
            counted = days | in_flight
            totals = statistics.grouped(current.where(F.col("approval_date").isin(sorted(counted)))).persist()
            moves = self._moves(counted, totals)
            per_day = self._per_day(moves)
            if not any(row.keys_changed for row in per_day):
                self._record(per_day, days)
                totals.unpersist()
                return  # the statistics already equal the base: nothing to write
            app, fence = None, None
            if query_id is not None:
                app, fence = topology.app_id(query_id), statistics.fence_version(last_batch, int(time.time()))
            with transaction(self.spark, app, fence, self.note(label)):
                applied = statistics.replace(self.spark, self.storage, sorted(counted), totals)
            if applied:
                self._record(per_day, days)
                keys = moves.where("changed").select(*statistics.KEY)
                statistics.publish(
                    statistics.messages(statistics.changed(self.spark, self.storage, keys, sorted(counted))),
                    self.settings.kafka,
                )
            totals.unpersist()
            if applied:
                return
            time.sleep(1)  # the stream counted a batch newer than this base
        raise BackfillError(f"the statistics of {label} kept changing under the backfill; try again")

    @staticmethod
    def _last_stream_batch(
        current: DataFrame, query_id: str | None, committed: int | None
    ) -> tuple[int | None, set[date]]:
        """The stream's last batch whose base rows are in `current`, and their approval dates: its
        statistics may not be counted yet, so the backfill counts them with its own. A batch
        committed in the checkpoint before `current` was pinned counts too, rows or none (an
        operator may have deleted them)."""
        if query_id is None:
            return None, set()
        last = (
            current.where(F.col("query_id") == query_id)
            .groupBy("batch_id").agg(F.collect_set("approval_date").alias("dates"))
            .orderBy(F.desc("batch_id")).first()
        )
        if last is None:
            return committed, set()
        return max(last.batch_id, -1 if committed is None else committed), set(last.dates)


# -- one at a time ---------------------------------------------------------------------------


def _running(spark: SparkSession, storage: StorageSettings) -> DataFrame:
    return read(spark, storage, BACKFILL_RUNS).where(F.col("status") == BackfillStatus.RUNNING.value)


def _last_heard(runs: str = "") -> str:
    """When a run last said it was alive: its heartbeat, or its start before its first beat."""
    return f"coalesce({runs}heartbeat_at, {runs}started_at)"


@retry_on_conflict
def _claim(spark: SparkSession, storage: StorageSettings, run: DataFrame) -> None:
    # Inserted only if no run is RUNNING; two claims at once conflict, and the retry sees the winner.
    (
        delta(spark, storage, BACKFILL_RUNS).alias("runs")
        .merge(run.alias("new"), f"runs.status = '{BackfillStatus.RUNNING.value}'")
        .whenNotMatchedInsertAll().execute()
    )


def _literal(text: str | None) -> str:
    """A string as a Spark SQL literal."""
    if text is None:
        return "NULL"
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@retry_on_conflict
def _set_status(spark: SparkSession, storage: StorageSettings, run_id: str, status: BackfillStatus,
                summary: str | None, condition: str = "true") -> int:
    """Set how a RUNNING run ended, where `condition` holds; how many rows it changed (0 or 1)."""
    # Literals, not parameters: Delta's UPDATE leaves parameter markers unbound.
    return spark.sql(
        f"UPDATE delta.`{storage.table(BACKFILL_RUNS)}` SET status = {_literal(status.value)},"
        f" finished_at = current_timestamp(), summary = {_literal(summary)}"
        f" WHERE run_id = {_literal(run_id)} AND status = 'RUNNING' AND ({condition})"
    ).first().num_affected_rows


@retry_on_conflict
def _renew(spark: SparkSession, storage: StorageSettings, run_id: str) -> bool:
    """Beat the run's heartbeat; False when the run is no longer RUNNING (taken over, abandoned)."""
    return spark.sql(
        f"UPDATE delta.`{storage.table(BACKFILL_RUNS)}` SET heartbeat_at = current_timestamp()"
        f" WHERE run_id = {_literal(run_id)} AND status = 'RUNNING'"
    ).first().num_affected_rows == 1


class Lock:
    """The RUNNING row of this run in `backfill_runs`, its heartbeat renewed every quarter lease
    while the run lives; `release` records how the run ended."""

    def __init__(self, spark: SparkSession, storage: StorageSettings, run_id: str, lease_seconds: float,
                 took_over: list[str]) -> None:
        # A session of its own: the run's writes set transaction ids on theirs, which a heartbeat
        # committed meanwhile must not carry.
        self.spark, self.storage, self.run_id, self.took_over = spark.newSession(), storage, run_id, took_over
        self.lost = False
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._beating, args=(lease_seconds / 4,), daemon=True,
                                      name=f"backfill-{run_id}-heartbeat")
        self._beat.start()

    def _beating(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                if not _renew(self.spark, self.storage, self.run_id):
                    self.lost = True
                    return
            except Exception as error:  # one missed beat; the lease allows three more
                log.warning("backfill %s: heartbeat failed: %s", self.run_id, one_line(error))

    def check(self) -> None:
        """Raise BackfillError if another backfill took the lock over (this run stopped beating)."""
        if self.lost:
            raise BackfillError(f"backfill {self.run_id}: its lock was taken over or abandoned; stopping")

    def release(self, status: BackfillStatus, summary: str | None) -> None:
        self._stop.set()
        self._beat.join()
        _set_status(self.spark, self.storage, self.run_id, status, summary)


def _take_over_stale(spark: SparkSession, storage: StorageSettings, run_id: str, lease_seconds: float) -> list[str]:
    """Mark RUNNING runs not heard of for longer than the lease ABANDONED; a line for each."""
    stale = f"{_last_heard()} < current_timestamp() - make_dt_interval(0, 0, 0, {lease_seconds})"
    lines = []
    for other in _running(spark, storage).where(stale).collect():
        note = f"lease of {lease_seconds:g} s expired; taken over by backfill {run_id}"
        if _set_status(spark, storage, other.run_id, BackfillStatus.ABANDONED, note, stale):
            heard = other.heartbeat_at or other.started_at
            lines.append(
                f"backfill {other.run_id} ({other.mode} {other.scope}, on {other.host} pid {other.pid}) was last heard"
                f" of at {heard:%Y-%m-%d %H:%M:%S}, longer ago than the lease of {lease_seconds:g} s: marked"
                f" {BackfillStatus.ABANDONED.value}, and this run takes the lock over"
            )
    return lines


def claim(spark: SparkSession, storage: StorageSettings, run_id: str, mode: str, scope: str,
          lease_seconds: float) -> Lock:
    """Record this run as RUNNING, unless a live run is: then BackfillError names it. A run whose
    heartbeat is older than the lease is dead, and marked ABANDONED first (`Lock.took_over`)."""
    create_tables(spark, storage)
    took_over = _take_over_stale(spark, storage, run_id, lease_seconds)
    now = datetime.now(timezone.utc)
    row = BackfillRunRow(
        run_id=run_id, mode=mode, scope=scope, status=BackfillStatus.RUNNING, started_at=now, finished_at=None,
        host=socket.gethostname(), pid=os.getpid(), summary=None, heartbeat_at=now,
    )
    _claim(spark, storage, frame(spark, BackfillRunRow, [row]))
    other = _running(spark, storage).where(F.col("run_id") != run_id).first()
    if other is not None:
        raise BackfillError(
            f"backfill {other.run_id} ({other.mode} {other.scope}, on {other.host} pid {other.pid}, "
            f"started {other.started_at:%Y-%m-%d %H:%M:%S}) is running; one backfill runs at a time. "
            f"A run not heard of for {lease_seconds:g} s is taken over by the next backfill; "
            f"if it is dead, to free the lock now: backfill abandon {other.run_id}"
        )
    return Lock(spark, storage, run_id, lease_seconds, took_over)


def abandon(spark: SparkSession, storage: StorageSettings, run_id: str) -> None:
    """Mark a run that died without saying so (killed, its machine lost) as ABANDONED."""
    create_tables(spark, storage)
    if not _set_status(spark, storage, run_id, BackfillStatus.ABANDONED, "marked abandoned by an operator"):
        raise BackfillError(f"no running backfill {run_id!r} in {storage.table(BACKFILL_RUNS)}")
