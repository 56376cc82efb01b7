"""One backfill run: its units of work (an approval date, or a slice of offsets), done in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import cast

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from settlement import base_table, day_close, guard, statistics, statistics_fence, validation
from settlement.backfill import BackfillError
from settlement.backfill.report import Summary
from settlement.backfill.scope import Dates, Offsets, record_date
from settlement.backfill.writes import absent, differences, insert_absent, rederive
from settlement.config import Settings
from settlement.records import logged_records, topic_records
from settlement.tables import (
    MERCHANTS,
    PAYMENT_LOG,
    PAYOUT_RULES,
    QUARANTINE,
    SETTLEMENT_BASE,
    read,
    snapshot,
    transaction,
)


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
        return f"{base_table.BACKFILL_PREFIX}{self.run_id}"

    def note(self, label: str) -> str:
        return f"backfill {self.run_id} {self.mode} {label}"

    def _base(self) -> DataFrame:
        return snapshot(self.spark, self.storage, SETTLEMENT_BASE)

    # -- rederive

    def rederive_units(self, dates: Dates) -> list[Unit]:
        def unit(day: date) -> Unit:
            return Unit(str(day), lambda: self._rederive(day))

        return [unit(day) for day in dates.days()]

    def _rederive(self, day: date) -> None:
        current = self._base().where(F.col("approval_date") == F.lit(day))
        rederived = rederive(current, self.merchants, self.rules).persist()
        # An aggregate without groups is one row.
        changes = cast(
            Row,
            differences(current, rederived)
            .agg(
                F.count("*").alias("rows"),
                F.count_if("reclassified").alias("reclassified"),
                F.count_if("redated").alias("redated"),
            )
            .first(),
        )
        summary = self.summary.day(day)
        summary.payments, summary.reclassified, summary.redated = changes.rows, changes.reclassified, changes.redated
        if self.dry_run:
            self._statistics_would_move({day}, statistics.grouped(rederived, datetime.now(UTC)))
        else:
            if changes.reclassified or changes.redated:
                with transaction(self.spark, note=self.note(str(day))):
                    base_table.update_derived(self.spark, self.storage, day, rederived)
            self._recount({day}, str(day))
        rederived.unpersist()

    # -- records again: from the topic or from the log

    def topic_units(self, offsets: Offsets, slice_size: int) -> list[Unit]:
        kafka = self.settings.kafka

        def unit(n: int, piece: Offsets) -> Unit:
            def run() -> None:
                records = topic_records(self.spark, kafka, piece.topic, piece.ranges)
                self._records(n, validation.parse(records, self.holds), label, piece)

            label = f"offsets {piece}"
            return Unit(label, run)

        return [unit(n, piece) for n, piece in enumerate(offsets.slices(slice_size))]

    def log_units(self, dates: Dates) -> list[Unit]:
        logged = validation.parse(logged_records(read(self.spark, self.storage, PAYMENT_LOG)), self.holds)
        logged = logged.withColumn("record_date", record_date(F.col("message")))
        wanted = logged.where(F.col("record_date").between(F.lit(dates.first), F.lit(dates.last))).persist()
        present = sorted(row.record_date for row in wanted.select("record_date").distinct().collect())

        def unit(n: int, day: date) -> Unit:
            records = wanted.where(F.col("record_date") == F.lit(day)).drop("record_date")
            return Unit(str(day), lambda: self._records(n, records, str(day)))

        return [unit(n, day) for n, day in enumerate(present)]

    def _records(self, unit: int, parsed: DataFrame, label: str, offsets: Offsets | None = None) -> None:
        """Records through the stream's stages; from the topic (`offsets` given) they are logged too."""
        spark, storage, summary = self.spark, self.storage, self.summary
        parsed = parsed.persist()
        tally = validation.tally(parsed)
        summary.records += tally.records_in
        summary.finish += tally.finish
        first_copies = base_table.first_copies(validation.payments(parsed))
        payouts = base_table.derive(first_copies, self.merchants, self.rules)
        started = datetime.now(UTC)
        rows = base_table.base_rows(payouts, self.query_id, unit, started).persist()
        days = self._count_per_day(validation.payments(parsed), "payments")
        if self.dry_run:
            if offsets is not None:
                summary.logged += absent(spark, storage, PAYMENT_LOG, parsed, offsets).count()
            summary.quarantined += absent(
                spark, storage, QUARANTINE, validation.rejected(parsed, started), offsets
            ).count()
            new = rows.join(read(spark, storage, SETTLEMENT_BASE).select("payment_id"), "payment_id", "left_anti")
            self._count_per_day(new, "inserted")
            current = self._base().where(F.col("approval_date").isin(sorted(days)))
            self._statistics_would_move(days, statistics.grouped(current.unionByName(new), started))
        else:
            with transaction(spark, note=self.note(label)):
                if offsets is not None:
                    summary.logged += insert_absent(spark, storage, PAYMENT_LOG, parsed, offsets)
                if tally.quarantined:
                    rejected = validation.rejected(parsed, started)
                    summary.quarantined += insert_absent(spark, storage, QUARANTINE, rejected, offsets)
                if tally.payments:
                    base_table.insert_new(spark, storage, rows)
                if tally.finish:
                    day_close.record(spark, self.settings, validation.finishes(parsed))
            self._count_per_day(base_table.accepted_in(spark, storage, self.query_id, unit), "inserted")
            self._recount(days, label)
        rows.unpersist()
        parsed.unpersist()

    def _count_per_day(self, rows: DataFrame, what: str) -> set[date]:
        """Add the rows of each approval date to the summary's `what`; returns the dates."""
        counted = rows.groupBy("approval_date").count().collect()
        for row in counted:
            self.summary.add(row.approval_date, what, row["count"])
        return {row.approval_date for row in counted}

    # -- statistics

    def _statistics_would_move(self, days: set[date], totals: DataFrame) -> None:
        if days:
            moves = statistics.moves(self.spark, self.storage, sorted(days), totals)
            self.summary.record_moves(statistics.moves_per_day(moves), days)

    def _recount(self, days: set[date], label: str) -> None:
        """Set the statistics of `days` from the base, fenced against the stream's own counting."""
        if not days:
            return
        try:
            per_day = statistics_fence.recount(self.spark, self.settings, days, self.note(label))
        except statistics_fence.KeptMoving:
            raise BackfillError(f"the statistics of {label} kept changing under the backfill; try again") from None
        self.summary.record_moves(per_day, days)
