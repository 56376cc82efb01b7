"""The fence between the stream's counting and a backfill's, on `approval_daily_stats`.

The stream adds each batch's totals (`statistics.add`); a backfill sets the totals of the dates it
touched to the GROUP BY over the base (`recount`). Both writes carry a Delta transaction id of the
stream's app id, and the versions are chosen so the two cannot count a batch twice or lose one:

- the stream's write of batch N carries `stream_version(N)`, so a replayed batch is skipped;
- a backfill that counted a base holding the stream's batches up to F (the last with rows in it,
  or committed in the checkpoint before the base was read) stamps `fence_version(F, second)`,
  between batch F's version and batch F+1's. Delta skips a write whose version is not above the
  one it recorded, hence:
  - the stream's write of a batch the backfill already counted (F itself, if the backfill read
    the base between the stream's base commit and its statistics commit) is skipped;
  - a backfill whose base predates a batch the stream has already counted is skipped, and counts
    again from a newer base;
  - a later backfill at the same F stamps a later second.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from settlement import checkpoint, statistics
from settlement.config import Settings
from settlement.tables import SETTLEMENT_BASE, snapshot, transaction

# Room between two batches' versions for the fences of backfills (a clock second each).
VERSIONS_PER_BATCH = 1 << 32
FENCE_ATTEMPTS = 10


class KeptMoving(Exception):
    """The stream counted a newer batch every time the backfill tried to count."""


def stream_version(batch_id: int) -> int:
    return (batch_id + 1) * VERSIONS_PER_BATCH


def fence_version(last_batch: int | None, second: int) -> int:
    """The version of a backfill that counted the stream's batches up to `last_batch` (None: none)."""
    return (0 if last_batch is None else last_batch + 1) * VERSIONS_PER_BATCH + second % VERSIONS_PER_BATCH


def recount(spark: SparkSession, settings: Settings, days: set[date], note: str) -> list[Row]:
    """Set the statistics of `days` to the GROUP BY over the base, fenced against the stream, and
    publish the keys that changed. Returns the moves per approval date (`statistics.moves_per_day`)
    of the dates counted: `days`, and those of the stream's last batch, which may not be counted
    yet. KeptMoving when the stream outpaced every attempt."""
    storage = settings.storage
    for _ in range(FENCE_ATTEMPTS):
        query_id = checkpoint.query_id(spark, storage)
        committed = checkpoint.committed_batch(spark, storage)
        base = snapshot(spark, storage, SETTLEMENT_BASE)
        if checkpoint.query_id(spark, storage) != query_id:
            continue  # a stream started afresh meanwhile: look again
        last_batch, in_flight = last_stream_batch(base, query_id, committed)
        counted = sorted(days | in_flight)
        totals = statistics.grouped(base.where(F.col("approval_date").isin(counted)), datetime.now(UTC)).persist()
        moves = statistics.moves(spark, storage, counted, totals)
        per_day = statistics.moves_per_day(moves)
        if not any(row.keys_changed for row in per_day):
            totals.unpersist()
            return per_day  # the statistics already equal the base: nothing to write
        app, fence = None, None
        if query_id is not None:
            app, fence = checkpoint.app_id(query_id), fence_version(last_batch, int(time.time()))
        with transaction(spark, app, fence, note):
            applied = statistics.replace(spark, storage, counted, totals)
        if applied:
            keys = moves.where("changed").select(*statistics.KEY)
            statistics.publish(statistics.messages(statistics.changed(spark, storage, keys, counted)), settings.kafka)
        totals.unpersist()
        if applied:
            return per_day
        time.sleep(1)  # the stream counted a batch newer than this base
    raise KeptMoving


def last_stream_batch(base: DataFrame, query_id: str | None, committed: int | None) -> tuple[int | None, set[date]]:
    """The stream's last batch whose base rows are in `base`, and their approval dates: its
    statistics may not be counted yet, so the backfill counts them with its own. A batch
    committed in the checkpoint before `base` was pinned counts too, rows or none (an operator
    may have deleted them)."""
    if query_id is None:
        return None, set()
    last = (
        base.where(F.col("query_id") == query_id)
        .groupBy("batch_id")
        .agg(F.collect_set("approval_date").alias("dates"))
        .orderBy(F.desc("batch_id"))
        .first()
    )
    if last is None:
        return committed, set()
    return max(last.batch_id, -1 if committed is None else committed), set(last.dates)
