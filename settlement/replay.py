"""A micro-batch's writes, made once however often Spark runs the batch.

Spark runs a batch again only when the stream starts: the batch it was running when it stopped
(its offsets logged, its commit not) comes first, with the same offsets and the same dedup state.
So only a start's first batch can find some of its writes already made, and only the writes of
that same batch: every earlier one committed in the checkpoint after all its writes.

Every commit of a batch carries a mark in its commit info (`userMetadata`): the stream's app id and
the batch id. A start's first batch asks each table's log, newest commit first, for its mark before
writing: it stops at its own mark (written), at a mark of an earlier batch or a commit older than
the batch (not written). Its writes also carry Delta's transaction id, which a checkpoint written by
an earlier version of the job relied on. Every later batch writes straight away.

Why not Delta's transaction id on every write: Delta 4.4 finds the version recorded for an app id
by rebuilding the table's whole state from its log, on every write that carries one, and a batch
makes five or six (measured: a 10,000-row append to a table of 200 to 800 files, 0.24 s without,
0.78 s with).
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from settlement import checkpoint
from settlement.config import StorageSettings
from settlement.exits import Failed
from settlement.tables import delta, transaction

_MARK = re.compile(r"(?P<app>\S+) batch (?P<batch>\d+)")
# A commit's time is its log file's (or the committing driver's) clock, the batch's start the
# checkpoint's: how far apart two clocks may be.
CLOCK_SKEW = timedelta(minutes=10)
# Commits read from a table's log at first; then four times as many, until the search ends.
FIRST_PAGE = 25


class LogTooShort(Failed):
    """The table's log no longer reaches back to the batch: whether the batch wrote to it is lost."""


def mark(app_id: str, batch_id: int) -> str:
    return f"{app_id} batch {batch_id}"


def read_mark(note: str | None) -> tuple[str, int] | None:
    """The app id and batch id a commit's `userMetadata` marks, if it is a mark."""
    found = _MARK.fullmatch(note or "")
    return (found["app"], int(found["batch"])) if found else None


def written(
    spark: SparkSession, storage: StorageSettings, name: str, app_id: str, batch_id: int, since: datetime
) -> bool:
    """Whether table `name` holds the write of batch `batch_id` of `app_id`, begun at `since`: a
    commit marked with it (or with a later batch: the table is ahead of the checkpoint, and a
    transaction id would skip the write too) before one marked with an earlier batch, or one older
    than `since`."""
    oldest = (since - CLOCK_SKEW).timestamp()
    page = FIRST_PAGE
    while True:
        commits = (
            delta(spark, storage, name)
            .history(page)
            .select("version", F.unix_micros("timestamp").alias("micros"), "userMetadata")
            .orderBy(F.desc("version"))
            .collect()
        )
        for commit in commits:
            found = read_mark(commit.userMetadata)
            if found and found[0] == app_id:
                return found[1] >= batch_id
            if commit.micros / 1e6 < oldest:
                return False
        if len(commits) < page:
            if commits and commits[-1].version > 0:
                raise LogTooShort(
                    f"{name}: its log starts at version {commits[-1].version}, after batch {batch_id} began"
                    f" ({since.isoformat()}): whether the batch wrote to it is not known; see docs/operations.md"
                )
            return False
        page *= 4


class BatchWrites:
    """The writes of one micro-batch: `due` says whether a table still needs its write, and the
    commits made within `marked` carry the batch's mark."""

    def __init__(
        self, spark: SparkSession, storage: StorageSettings, app_id: str, batch_id: int, run_before: bool
    ) -> None:
        self.spark, self.storage = spark, storage
        self.app_id, self.batch_id = app_id, batch_id
        # Whether Spark may have run this batch before: a start's first batch.
        self.run_before = run_before
        # When the batch began, read once here: `due` is asked from two threads at once.
        self._since = checkpoint.batch_started(spark, storage, batch_id) if run_before else None

    def marked(self) -> AbstractContextManager[None]:
        """Commits made inside carry the batch's mark; a start's first batch's, its transaction id too."""
        note = mark(self.app_id, self.batch_id)
        if self.run_before:
            return transaction(self.spark, self.app_id, self.batch_id, note)
        return transaction(self.spark, note=note)

    def due(self, name: str) -> bool:
        if not self.run_before:
            return True
        assert self._since is not None  # read with run_before
        return not written(self.spark, self.storage, name, self.app_id, self.batch_id, self._since)
