"""Dedup by payment id: the first accepted copy of an id wins, however long ago it came.

Every record of the stream goes through Spark's `flatMapGroupsWithState` keyed by the payment id
of the valid payments (`jvm/settlement/FirstAccepted.java`), which marks each record that is its
id's first accepted copy: the first in arrival order (Kafka timestamp, partition, offset) among
the batch's copies, unless the state already holds the id. The state (RocksDB, a changelog per
batch) commits with the batch, so a batch replayed after a crash marks the same records, and a
lookup costs the same with twenty million ids held as with none.

A new checkpoint starts from the ids the base holds (`accepted_before`): its state would otherwise
be empty, and every payment accepted before it would be accepted again.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame

from settlement import checkpoint, validation
from settlement.config import StorageSettings
from settlement.session import project_class
from settlement.tables import SETTLEMENT_BASE, read

ARRIVAL_ORDER = ("kafka_timestamp", "partition", "offset")


def _key() -> Column:
    return F.when(validation.is_payment(), F.col("message.payment_id"))


def mark_first_accepted(parsed: DataFrame, accepted_before: DataFrame) -> DataFrame:
    """Parsed records (`validation.parse`), each with `first_accepted`: true for the first
    accepted copy of its payment id, ever (the ids of `accepted_before` count as accepted)."""
    spark = parsed.sparkSession
    operator = project_class(spark, "FirstAccepted")
    keyed = parsed.withColumn("payment_key", _key())
    marked = operator.mark(
        keyed._jdf, "payment_key", list(ARRIVAL_ORDER), "first_accepted", accepted_before.select("payment_id")._jdf
    )
    return ClassicDataFrame(marked, spark).drop("payment_key")


def accepted_before(spark: SparkSession, storage: StorageSettings) -> DataFrame:
    """The ids the stream's state starts from: those in the base before the checkpoint's first
    batch committed (Spark reads them in batch 0 only). A batch 0 replayed after a crash leaves
    out the rows it wrote itself the first time."""
    if checkpoint.committed_batch(spark, storage) is not None:
        return spark.createDataFrame([], "payment_id string")
    base = read(spark, storage, SETTLEMENT_BASE)
    query_id = checkpoint.query_id(spark, storage)
    if query_id is not None:
        base = base.where(F.col("query_id") != query_id)
    return base.select("payment_id")
