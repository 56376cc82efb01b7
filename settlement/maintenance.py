"""Maintenance beside the stream: compaction and VACUUM, so the tables' files stay few.

Every micro-batch adds a few small files to each table it writes; left alone, the file count, and
with it the log state Delta rebuilds before each commit and the files every read opens, grows with
the history. Compaction (`OPTIMIZE`) rewrites a partition's small files into large ones, and VACUUM
deletes the files no version within the retention needs any more.

Both are safe while the stream runs: compaction only rewrites data files into others holding the
same rows, a conflict with a batch's commit is retried (the batch retries too: a conflict
committed nothing), and VACUUM keeps whatever a version within the retention (seven days at least,
Delta's own check) reads.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from pyspark.sql import Row, SparkSession

from settlement.config import StorageSettings
from settlement.tables import TABLES, delta, retry_on_conflict


@dataclass(frozen=True)
class TableMaintenance:
    """What maintenance did to one table: its data files before and after, and how long it took."""

    name: str
    files_before: int
    files_after: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.name}: {self.files_before:,} → {self.files_after:,} files in {self.seconds:.1f} s"


def data_files(spark: SparkSession, storage: StorageSettings, name: str) -> int:
    """The data files of the table's current version."""
    # DESCRIBE DETAIL is one row.
    return cast(Row, delta(spark, storage, name).detail().first()).numFiles


@retry_on_conflict
def compact(spark: SparkSession, storage: StorageSettings, name: str) -> None:
    delta(spark, storage, name).optimize().executeCompaction()


def vacuum(spark: SparkSession, storage: StorageSettings, name: str, retention_hours: int) -> None:
    delta(spark, storage, name).vacuum(retention_hours)


def maintain(
    spark: SparkSession, storage: StorageSettings, retention_hours: int | None, names: Sequence[str] = tuple(TABLES)
) -> list[TableMaintenance]:
    """Compact each table, then VACUUM it (unless `retention_hours` is None)."""
    done = []
    for name in names:
        clock, before = time.monotonic(), data_files(spark, storage, name)
        compact(spark, storage, name)
        if retention_hours is not None:
            vacuum(spark, storage, name, retention_hours)
        done.append(TableMaintenance(name, before, data_files(spark, storage, name), time.monotonic() - clock))
    return done
