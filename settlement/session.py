"""The one way this project makes a SparkSession: Delta, the Kafka connector, our settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from py4j.java_gateway import JavaClass, JVMView
from pyspark.sql import SparkSession

from settlement.config import SparkSettings
from settlement.exits import CannotRun

LOCAL_FILE_SYSTEM = "settlement.LocalFileSystem"


class JarMissing(CannotRun):
    """A class of the project's jar is not on Spark's classpath; the message is the one line we print."""


def spark_session(settings: SparkSettings, app_name: str = "settlement") -> SparkSession:
    if settings.master.startswith("local"):
        # The Python workers run here: the interpreter that has our packages, wherever the session
        # is made (a notebook's kernel or `python -m benchmarks` need not set PYSPARK_PYTHON).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        # Not under spark-submit (which starts the JVM first and hands Python its port): ours to say.
        builder = builder.master(settings.master)
    builder = (
        builder.config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.shuffle.partitions", settings.shuffle_partitions)
        # Delta rebuilds a table's state in 50 tasks by default, before each write of a batch: on
        # a small log each task is mostly the code it generates for the log's schema (measured:
        # the first read of each table 8 s at 50 tasks, 2 s at 4; a 50,000-record batch 12.8 s
        # at 4 tasks, 11.4 s at 1).
        .config("spark.databricks.delta.snapshotPartitions", settings.snapshot_partitions)
        # A MERGE would write all rows of one approval date from one task: a batch of mostly one
        # day wrote the base on one core (measured: 3.6 s against 4.2 s for 194,000 rows).
        .config("spark.databricks.delta.merge.repartitionBeforeWrite.enabled", "false")
        # VACUUM lists a table's files in this many tasks, 10,000 by default: 22 s for a table
        # of one file on 2 cores, measured; the tables' folders are few.
        .config("spark.sql.sources.parallelPartitionDiscovery.parallelism", settings.listing_tasks)
        # Delta 4.4 ignores the retention VACUUM is given, in favour of the table's property, unless
        # this is off: `maintenance.vacuum_retention_hours` would not apply (Delta still refuses
        # less than the table's 7 days).
        .config("spark.databricks.delta.vacuum.retentionWindowIgnore.enabled", "false")
        # The dedup state: RocksDB holds ids beyond the JVM's heap, and checkpoints a changelog per
        # batch (what the batch changed), not a snapshot of every id.
        .config(
            "spark.sql.streaming.stateStore.providerClass",
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        )
        .config("spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled", "true")
        # Unbounded, each state partition's RocksDB keeps up to 128 MiB of memtables of its own,
        # outside the heap; bounded, all share one budget and flush sooner (the job alone on the
        # bench's topic: peak driver RSS 63 MiB lower).
        .config("spark.sql.streaming.stateStore.rocksdb.boundedMemoryUsage", "true")
        .config("spark.sql.streaming.stateStore.rocksdb.maxMemoryUsageMB", settings.state_memory_mb)
        # Counting the state's rows makes every write of an id read it first; in the bounded memory
        # above, those reads missed the cache more as the ids grew: a new checkpoint's first batch,
        # seeding the state from 8 million ids of the base, took 308 s with the count and 45 s
        # without (2 million ids: 28.5 s). The operator still counts the ids each batch adds.
        .config("spark.sql.streaming.stateStore.rocksdb.trackTotalNumberOfRows", "false")
        # The caches here are a batch's (or a backfill unit's), read a few times and dropped:
        # compressing them cost more than it saved. Choosing each column's encoding hashed every
        # value, a tenth of the tasks' CPU in a profile of the bench's job; without it the job ran
        # the million records in 164-177 s against 173-185 s, interleaved.
        .config("spark.sql.inMemoryColumnarStorage.compressed", "false")
        # Spark keeps 100 compiled classes by default; a batch's queries and Delta's need some 300,
        # so each batch compiled about 160 of them again (981 compilations in a run of the bench's
        # job after a first run, 54 with room for 500; the run 155 s against 129 s).
        .config("spark.sql.codegen.cache.maxEntries", "500")
        # HotSpot never compiles a method of more than 8,000 bytes of bytecode; Spark's limit is
        # 65,535. The code that turns dedup's output rows back into Spark's (some 30 columns, the
        # message a struct of its own) came out larger, and ran interpreted: a quarter of the
        # samples in a profile of that stage. With this limit Spark splits such a stage instead
        # (read, validate and dedup alone: 34,000-43,900 records/s before, 45,100-56,200 after;
        # the job's median 200,000-record batch 8.4-9.1 s before, 7.5-8.4 s after).
        .config("spark.sql.codegen.hugeMethodLimit", "8000")
        .config("spark.sql.session.timeZone", settings.time_zone)
        # A session whose time zone is not UTC makes Delta 4.4 check the file list it keeps in a
        # small table's checksum against a full rebuild of the table's state, after every commit:
        # a guard for timestamps before 1883, which no payment has. 20 appends to a table of a few
        # files took 20-34 s with it, 9-10 s without (72 Spark jobs against 32).
        .config("spark.databricks.delta.allFilesInCrc.verificationMode.forceOnNonUTC.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # PySpark records the Python call site of every Column function in the JVM, for the
        # context of an error: some five calls to the JVM more per function. A batch's stages build
        # their plans anew each batch, and building classification's and the payout rule's took
        # 0.26 s without the record against 0.53 s with it; the job's batches of 20,000 records
        # 0.02-0.46 s shorter, interleaved four times (benchmarks/results/20261207T150000Z).
        .config("spark.python.sql.dataFrameDebugging.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in settings.conf.items():
        builder = builder.config(key, value)
    jars = sorted(str(jar.resolve()) for jar in Path(settings.jars).glob("*.jar"))
    if jars:
        # Under spark-submit the same jars come with --jars; here they serve pytest and notebooks.
        builder = builder.config("spark.jars", ",".join(jars))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.log_level)
    if (spark.sparkContext.master or "").startswith("local"):
        _local_files_without_processes(spark)
    return spark


def _local_files_without_processes(spark: SparkSession) -> None:
    """Local paths through the project's file system (`jvm/settlement/LocalFileSystem.java`),
    which sets a file's permissions without running `chmod`. Set here, not as a Spark setting:
    spark-submit reads its jars through the local file system before they are on the classpath,
    and keeps that file system; closing it makes the next one ours."""
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    if hadoop.get("fs.file.impl") == LOCAL_FILE_SYSTEM:
        return
    project_class(spark, "LocalFileSystem")  # the jar is there, or one line says how to build it
    hadoop.set("fs.file.impl", LOCAL_FILE_SYSTEM)
    hadoop.set("fs.AbstractFileSystem.file.impl", "settlement.LocalFs")
    jvm(spark).org.apache.hadoop.fs.FileSystem.getLocal(hadoop).close()


def jvm(spark: SparkSession) -> JVMView:
    """The session's JVM, as py4j calls it."""
    assert spark._jvm is not None  # a classic session's gateway, set when it was made (pyspark asserts the same)
    return spark._jvm


def project_class(spark: SparkSession, name: str) -> JavaClass:
    """`settlement.<name>` of the project's jar (jvm/), as py4j calls it."""
    found = getattr(jvm(spark).settlement, name)
    if not isinstance(found, JavaClass):  # py4j names a class it cannot find a package
        raise JarMissing(
            f"settlement.{name} is not on Spark's classpath: `make setup` builds .local/jars/settlement-jvm.jar"
            " from jvm/; give it to spark-submit with --jars"
        )
    return found
