"""One backfill at a time: a RUNNING row in `backfill_runs`, claimed with a MERGE and kept alive
by a heartbeat; a run not heard of for longer than the lease is taken over by the next."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime
from typing import cast

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from settlement.arguments import one_line
from settlement.backfill import BackfillError
from settlement.config import StorageSettings
from settlement.tables import (
    BACKFILL_RUNS,
    BackfillRunRow,
    BackfillStatus,
    create_tables,
    delta,
    frame,
    read,
    retry_on_conflict,
)

log = logging.getLogger("settlement")


def _running(spark: SparkSession, storage: StorageSettings) -> DataFrame:
    return read(spark, storage, BACKFILL_RUNS).where(F.col("status") == BackfillStatus.RUNNING.value)


def _last_heard(runs: str = "") -> str:
    """When a run last said it was alive: its heartbeat, or its start before its first beat."""
    return f"coalesce({runs}heartbeat_at, {runs}started_at)"


@retry_on_conflict
def _claim(spark: SparkSession, storage: StorageSettings, run: DataFrame) -> None:
    # Inserted only if no run is RUNNING; two claims at once conflict, and the retry sees the winner.
    (
        delta(spark, storage, BACKFILL_RUNS)
        .alias("runs")
        .merge(run.alias("new"), f"runs.status = '{BackfillStatus.RUNNING.value}'")
        .whenNotMatchedInsertAll()
        .execute()
    )


def _literal(text: str | None) -> str:
    """A string as a Spark SQL literal."""
    if text is None:
        return "NULL"
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@retry_on_conflict
def _set_status(
    spark: SparkSession,
    storage: StorageSettings,
    run_id: str,
    status: BackfillStatus,
    summary: str | None,
    condition: str = "true",
) -> int:
    """Set how a RUNNING run ended, where `condition` holds; how many rows it changed (0 or 1)."""
    # Literals, not parameters: Delta's UPDATE leaves parameter markers unbound.
    updated = spark.sql(
        f"UPDATE delta.`{storage.table(BACKFILL_RUNS)}` SET status = {_literal(status.value)},"
        f" finished_at = current_timestamp(), summary = {_literal(summary)}"
        f" WHERE run_id = {_literal(run_id)} AND status = 'RUNNING' AND ({condition})"
    ).first()
    # Delta's UPDATE answers one row.
    return cast(Row, updated).num_affected_rows


@retry_on_conflict
def _renew(spark: SparkSession, storage: StorageSettings, run_id: str) -> bool:
    """Beat the run's heartbeat; False when the run is no longer RUNNING (taken over, abandoned)."""
    updated = spark.sql(
        f"UPDATE delta.`{storage.table(BACKFILL_RUNS)}` SET heartbeat_at = current_timestamp()"
        f" WHERE run_id = {_literal(run_id)} AND status = 'RUNNING'"
    ).first()
    # Delta's UPDATE answers one row.
    return cast(Row, updated).num_affected_rows == 1


class Lock:
    """The RUNNING row of this run in `backfill_runs`, its heartbeat renewed every quarter lease
    while the run lives; `release` records how the run ended."""

    def __init__(
        self, spark: SparkSession, storage: StorageSettings, run_id: str, lease_seconds: float, took_over: list[str]
    ) -> None:
        # A session of its own: the run's writes set transaction ids on theirs, which a heartbeat
        # committed meanwhile must not carry.
        self.spark, self.storage, self.run_id, self.took_over = spark.newSession(), storage, run_id, took_over
        self.lost = False
        self._stop = threading.Event()
        self._beat = threading.Thread(
            target=self._beating, args=(lease_seconds / 4,), daemon=True, name=f"backfill-{run_id}-heartbeat"
        )
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


def claim(
    spark: SparkSession, storage: StorageSettings, run_id: str, mode: str, scope: str, lease_seconds: float
) -> Lock:
    """Record this run as RUNNING, unless a live run is: then BackfillError names it. A run whose
    heartbeat is older than the lease is dead, and marked ABANDONED first (`Lock.took_over`)."""
    create_tables(spark, storage)
    took_over = _take_over_stale(spark, storage, run_id, lease_seconds)
    now = datetime.now(UTC)
    row = BackfillRunRow(
        run_id=run_id,
        mode=mode,
        scope=scope,
        status=BackfillStatus.RUNNING,
        started_at=now,
        finished_at=None,
        host=socket.gethostname(),
        pid=os.getpid(),
        summary=None,
        heartbeat_at=now,
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
