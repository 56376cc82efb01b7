"""The one way this project makes a SparkSession: Delta, the Kafka connector, our settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from settlement.config import SparkSettings


def spark_session(settings: SparkSettings, app_name: str = "settlement") -> SparkSession:
    if settings.master.startswith("local"):
        # The Python workers run here: the interpreter that has our packages, wherever the session
        # is made (a notebook's kernel or `python -m benchmarks` need not set PYSPARK_PYTHON).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName(app_name)
        .master(settings.master)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.shuffle.partitions", settings.shuffle_partitions)
        # Delta rebuilds a table's state in 50 tasks by default: on a few cores that is mostly
        # task overhead (measured: 8 s against 2 s for the first read of each table).
        .config("spark.databricks.delta.snapshotPartitions", settings.shuffle_partitions)
        .config("spark.sql.session.timeZone", settings.time_zone)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
    )
    jars = sorted(str(jar.resolve()) for jar in Path(settings.jars).glob("*.jar"))
    if jars:
        # Under spark-submit the same jars come with --jars; here they serve pytest and notebooks.
        builder = builder.config("spark.jars", ",".join(jars))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.log_level)
    return spark
