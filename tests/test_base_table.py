"""The stream's insert into the base reads only the files a backfill wrote."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pyspark.sql import DataFrame, SparkSession

from settlement import base_table
from settlement.config import StorageSettings
from settlement.session import jvm
from settlement.tables import SETTLEMENT_BASE, SettlementBaseRow, create_tables, frame


def rows(spark: SparkSession, payment_id: str, query_id: str) -> DataFrame:
    row = SettlementBaseRow(
        payment_id=payment_id,
        channel="ONLINE",
        payment_type="ONLINE",
        amount=1_000,
        merchant_number="merchant-1",
        payment_date=datetime(2025, 6, 2, 9),
        approval_date=date(2025, 6, 2),
        payment_action_type="PAYMENT",
        payment_method_type="CARD",
        classification="SETTLEMENT",
        payout_date=date(2025, 6, 5),
        confirm_date=date(2025, 6, 4),
        rule_id="R-ALL-CARD",
        test=False,
        network_cancel=False,
        approval_status="APPROVED",
        topic="payment",
        partition=0,
        offset=0,
        kafka_timestamp=datetime(2025, 6, 2, 9, tzinfo=UTC),
        processed_at=datetime(2025, 6, 2, 9, 1, tzinfo=UTC),
        query_id=query_id,
        batch_id=0,
    )
    return frame(spark, SettlementBaseRow, [row])


def test_the_streams_insert_reads_only_the_files_backfills_wrote(spark, tmp_path):
    storage = StorageSettings(root=str(tmp_path / "lake"), checkpoint=str(tmp_path / "checkpoint"))
    create_tables(spark, storage)
    path = storage.table(SETTLEMENT_BASE)
    for payment_id, query_id in (("P-1", "q1"), ("P-2", "backfill-7"), ("P-3", "q1")):
        base_table.insert_new(spark, storage, rows(spark, payment_id, query_id), among=base_table.BACKFILLED)

    # The files Delta keeps for the condition, as the insert-only MERGE asks it for them: by each
    # file's `query_id` statistics (a LIKE kept all three).
    condition = (
        (spark.read.format("delta").load(path).alias("base").where(base_table.BACKFILLED))
        ._jdf.queryExecution()
        .analyzed()
        .condition()
    )
    gateway = jvm(spark)
    none = gateway.scala.Option.empty()
    transaction = gateway.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path).startTransaction(
        none, none
    )
    kept = transaction.filterFiles(gateway.scala.jdk.javaapi.CollectionConverters.asScala([condition]).toSeq(), False)
    assert kept.size() == 1
    (backfilled,) = spark.read.format("delta").load(path).where("payment_id = 'P-2'").inputFiles()
    assert backfilled.endswith(kept.apply(0).path())

    # A payment a backfill accepted is not inserted again by the stream.
    assert base_table.insert_new(spark, storage, rows(spark, "P-2", "q1"), among=base_table.BACKFILLED) == 0
