"""The poison-pill guard: the last line of defence against a record that fails its batch.

Validation rejects every input it knows to be bad, and cannot raise. A record that still fails a
batch (a fault nobody has found yet) would fail it again on every restart: the stream would stop
for every merchant. So when a batch fails, the guard runs the batch's stages again without writing
(`topology.outputs`), bisecting its records until one record fails them on its own. The failure,
with that record when there is one, goes to `batch_failures` and to the one line the job prints,
and the stream stops: an operator decides. An error that says what it is (`exits.CannotRun`,
`exits.Failed`: a table's log too short to replay by) is recorded the same way, without the search.

Moving on is `settlement hold`: the record joins `held_records`, and on the next start every path
that reads records (the stream, the backfill) quarantines it unread, with the operator's reason.
The failed batch is replayed with the same offsets, and what it committed before failing is not
written twice (`settlement.replay`); the held record lands in quarantine once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from settlement.arguments import one_line
from settlement.config import StorageSettings
from settlement.exits import CannotRun, Failed
from settlement.tables import BATCH_FAILURES, HELD_RECORDS, BatchFailureRow, append, frame, read
from settlement.validation import Hold

log = logging.getLogger("settlement")


class BatchFailed(Exception):
    """A batch failed; the message is the one line the job prints."""


@dataclass(frozen=True)
class BatchFailure:
    batch_id: int
    offsets: str
    error: str
    culprit: tuple[str, int, int] | None  # topic, partition, offset
    # False for an error that says what it is: no record was looked for.
    searched: bool = True

    def line(self, topic: str) -> str:
        where = f"batch {self.batch_id} ({topic} {self.offsets}) failed: {self.error}"
        if not self.searched:
            return where
        if self.culprit is None:
            return f"{where}. No record fails the batch's stages on its own: not a fault of one record's data."
        topic, partition, offset = self.culprit
        return (
            f"{where}. Record {topic}/{partition}/{offset} fails it on its own. To quarantine that record and go"
            f" on: python -m settlement hold --partition {partition} --offset {offset} --reason '...', then start"
            " the job again."
        )


def holds(spark: SparkSession, storage: StorageSettings, topic: str) -> list[Hold]:
    """The held records of `topic`; none before the table exists (a lake of an earlier version)."""
    try:
        rows = read(spark, storage, HELD_RECORDS).where(F.col("topic") == topic).collect()
    except AnalysisException:
        return []
    return [Hold(row.topic, row.partition, row.offset, row.reason) for row in rows]


def offset_ranges(records: DataFrame) -> str:
    """`0:1200-5000 1:1100-4800`: the batch's offsets per partition, the ends excluded."""
    rows = records.groupBy("partition").agg(F.min("offset").alias("first"), F.max("offset").alias("last")).collect()
    return " ".join(f"{row.partition}:{row.first}-{row.last + 1}" for row in sorted(rows))


def culprit(records: DataFrame, stages: Callable[[DataFrame], list[DataFrame]]) -> tuple[str, int, int] | None:
    """The record that fails `stages` on its own while the others pass them, found by bisecting
    the records in (topic, partition, offset) order; None when there is no such record (the stages
    pass, fail only on records together, or fail whatever the records: a stopping stream)."""
    position = F.struct("topic", "partition", "offset")
    positions = sorted(tuple(row) for row in records.select("topic", "partition", "offset").collect())

    def at(n: int) -> Column:
        topic, partition, offset = positions[n]
        return F.struct(
            F.lit(topic).alias("topic"),
            F.lit(partition).cast("long").alias("partition"),
            F.lit(offset).cast("long").alias("offset"),
        )

    def fails(some: DataFrame) -> bool:
        # Built outside the `try`: a plan that does not analyse is the guard's fault, not a record's.
        probes = [output.write.format("noop").mode("overwrite") for output in stages(some)]
        try:
            for probe in probes:
                probe.save()
        except Exception:
            return True
        return False

    def between(first: int, end: int) -> DataFrame:
        return records.where((position >= at(first)) & (position <= at(end - 1)))

    first, end = 0, len(positions)
    if not positions or not fails(records):
        return None
    while end - first > 1:
        middle = (first + end) // 2
        if fails(between(first, middle)):
            end = middle
        elif fails(between(middle, end)):
            first = middle
        else:
            return None
    if fails(records.where(position != at(first))):
        return None
    return positions[first]


def investigate(
    spark: SparkSession,
    storage: StorageSettings,
    query_id: str,
    batch_id: int,
    records: DataFrame,
    error: Exception,
    stages: Callable[[DataFrame], list[DataFrame]],
) -> BatchFailure:
    """Look for the record that fails the batch's `stages`, and record what was found in
    `batch_failures`. An error that says what it is is no record's fault: dry runs of the batch
    would only delay the stop, so none is looked for."""
    searched = not isinstance(error, (CannotRun, Failed))
    failure = BatchFailure(batch_id, "", one_line(error), None, searched)
    records = records.persist()
    try:
        found = culprit(records, stages) if searched else None
        failure = BatchFailure(batch_id, offset_ranges(records), failure.error, found, failure.searched)
        topic, partition, offset = failure.culprit or (None, None, None)
        row = BatchFailureRow(
            query_id=query_id,
            batch_id=batch_id,
            offsets=failure.offsets,
            error=failure.error,
            topic=topic,
            partition=partition,
            offset=offset,
            failed_at=datetime.now(UTC),
        )
        append(frame(spark, BatchFailureRow, [row]), storage, BATCH_FAILURES)
    except Exception as trouble:  # the guard must not hide the batch's own error
        log.error("batch %d: could not look for the record that fails it: %s", batch_id, one_line(trouble))
    finally:
        records.unpersist()
    return failure
