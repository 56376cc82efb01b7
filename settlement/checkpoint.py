"""What the stream's checkpoint says, read in one place.

Spark does not document its checkpoint's layout; these are its files as Spark 4 writes them:
`metadata` (the query id), `offsets/N` (where batch N ends, per partition), `commits/N` (batch N is
done), `sources/0/0` (where the first batch starts). The job lists them with the session's Hadoop
file system and reads them through Spark, so that any file system the checkpoint is on serves;
`Files` reads them without a JVM, through pyarrow's file systems (local, S3, GCS, HDFS), for
`python -m settlement status`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow.fs as pafs
from py4j.java_gateway import JavaObject
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from settlement.config import StorageSettings
from settlement.session import jvm


def _hadoop(spark: SparkSession, path: str) -> tuple[JavaObject, JavaObject]:
    """The session's Hadoop file system for `path` (the configuration Spark's own reader uses), and
    the path as Hadoop's."""
    hadoop = jvm(spark).org.apache.hadoop.fs.Path(path)
    return hadoop.getFileSystem(spark._jsparkSession.sessionState().newHadoopConf()), hadoop


def _exists(spark: SparkSession, path: str) -> bool:
    """Whether the checkpoint has this file or folder yet. Asked first, because Spark's reader logs
    a stack trace for a path that is not there before it raises: twice on every new checkpoint."""
    fs, hadoop = _hadoop(spark, path)
    return bool(fs.exists(hadoop))


def _last_line(spark: SparkSession, path: str) -> dict[str, Any] | None:
    if not _exists(spark, path):
        return None
    lines = [row.value for row in spark.read.text(path).collect()]
    return json.loads(lines[-1]) if lines else None


def topic_offsets(source_offsets: dict[str, Any] | None, topic: str) -> dict[int, int] | None:
    """A topic's offsets per partition in the last line of an `offsets/N` or `sources/0/0` file."""
    if source_offsets is None or topic not in source_offsets:
        return None
    return {int(p): offset for p, offset in source_offsets[topic].items()}


def query_id(spark: SparkSession, storage: StorageSettings) -> str | None:
    """The stream's query id (None before its first start): stable across restarts, new with a
    new checkpoint, whose batch ids start again at 0."""
    metadata = _last_line(spark, f"{storage.checkpoint}/metadata")
    return None if metadata is None else metadata["id"]


def committed_batch(spark: SparkSession, storage: StorageSettings) -> int | None:
    """The stream's last batch committed: everything it wrote is in the tables and its state."""
    fs, commits = _hadoop(spark, f"{storage.checkpoint}/commits")
    if not fs.exists(commits):
        return None
    # A commit's name is its batch; what else is there (checksums, a commit being written) is not.
    names = (status.getPath().getName() for status in fs.listStatus(commits))
    return max((int(name) for name in names if name.isdigit()), default=None)


def _offsets_file(batch_id: int) -> str:
    """Where batch `batch_id` ends (-1: where the first batch starts), relative to the checkpoint."""
    return f"offsets/{batch_id}" if batch_id >= 0 else "sources/0/0"


def _offsets(spark: SparkSession, storage: StorageSettings, batch_id: int, topic: str) -> dict[int, int] | None:
    """Where batch `batch_id` ends (-1: where the first batch starts), per partition."""
    path = f"{storage.checkpoint}/{_offsets_file(batch_id)}"
    return topic_offsets(_last_line(spark, path), topic)


def next_offsets(spark: SparkSession, storage: StorageSettings, topic: str) -> dict[int, int] | None:
    """Where the stream reads next, per partition: the end of its last committed batch (or its
    starting offsets before the first). Everything from there on is the stream's to process."""
    batch = committed_batch(spark, storage)
    return _offsets(spark, storage, -1 if batch is None else batch, topic)


def batch_offsets(
    spark: SparkSession, storage: StorageSettings, batch_id: int, topic: str
) -> dict[int, tuple[int, int]]:
    """The offsets batch `batch_id` reads, per partition (the end excluded)."""
    ends = _offsets(spark, storage, batch_id, topic) or {}
    starts = _offsets(spark, storage, batch_id - 1, topic) or {}
    return {p: (starts.get(p, 0), end) for p, end in ends.items() if end > starts.get(p, 0)}


def batch_started(spark: SparkSession, storage: StorageSettings, batch_id: int) -> datetime:
    """When the stream logged batch `batch_id`'s offsets: before the batch wrote anything."""
    found = (
        spark.read.format("binaryFile")
        .load(f"{storage.checkpoint}/{_offsets_file(batch_id)}")
        .select(F.unix_micros("modificationTime").alias("micros"))
        .first()
    )
    if found is None:
        raise RuntimeError(f"the stream's checkpoint {storage.checkpoint} has no offsets for batch {batch_id}")
    return datetime.fromtimestamp(found.micros / 1e6, UTC)


def app_id(query_id: str) -> str:
    """The app id of the stream with this query id, in its commits' marks and transaction ids."""
    return f"settlement-{query_id}"


class Files:
    """The checkpoint read without a JVM."""

    def __init__(self, storage: StorageSettings) -> None:
        location = storage.checkpoint.replace("s3a://", "s3://", 1)
        self.fs, self.root = pafs.FileSystem.from_uri(location if "://" in location else f"file://{location}")

    def _lines(self, path: str) -> list[str] | None:
        try:
            with self.fs.open_input_stream(f"{self.root}/{path}") as stream:
                return stream.read().decode().splitlines()
        except FileNotFoundError:
            return None

    def query_id(self) -> str | None:
        lines = self._lines("metadata")
        return json.loads(lines[-1])["id"] if lines else None

    def last_commit(self) -> tuple[int, datetime] | None:
        """The last committed batch, and when its commit was written."""
        found = self.fs.get_file_info(pafs.FileSelector(f"{self.root}/commits", allow_not_found=True))
        batches = [(int(f.base_name), f) for f in found if f.base_name.isdigit()]
        if not batches:
            return None
        batch, info = max(batches, key=lambda pair: pair[0])
        return batch, (info.mtime or datetime.fromtimestamp(0)).astimezone(UTC)

    def next_offsets(self, topic: str) -> dict[int, int] | None:
        """Where the stream reads next, per partition (as `next_offsets`)."""
        commit = self.last_commit()
        lines = self._lines(_offsets_file(commit[0] if commit else -1))
        return topic_offsets(json.loads(lines[-1]), topic) if lines else None
