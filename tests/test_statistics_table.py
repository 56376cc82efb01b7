"""The stream's write of a batch's statistics: its totals added to the table's in one transaction
that rewrites only the batch's dates, skipped when the table has its transaction id, and in
conflict with a concurrent commit to those dates or under the same id."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame

from settlement import statistics
from settlement.config import StorageSettings
from settlement.tables import (
    APPROVAL_DAILY_STATS,
    CONFLICTS,
    ApprovalDailyStatsRow,
    append,
    create_tables,
    frame,
    read,
    transaction,
)

DAY, OTHER_DAY = date(2025, 6, 2), date(2025, 6, 3)
EARLIER, LATER = datetime(2025, 6, 2, 9, tzinfo=UTC), datetime(2025, 6, 3, 9, tzinfo=UTC)


def totals(spark: SparkSession, *rows: tuple[str, date, int, int], at: datetime) -> DataFrame:
    return frame(
        spark,
        ApprovalDailyStatsRow,
        [
            ApprovalDailyStatsRow(
                merchant_number=merchant,
                approval_date=day,
                payment_action_type="PAYMENT",
                payment_method_type="CARD",
                payment_count=count,
                total_amount=amount,
                updated_at=at,
            )
            for merchant, day, count, amount in rows
        ],
    )


def table(spark: SparkSession, storage: StorageSettings) -> dict[tuple[str, date], tuple[int, int, datetime]]:
    return {
        (row.merchant_number, row.approval_date): (row.payment_count, row.total_amount, row.updated_at)
        for row in read(spark, storage, APPROVAL_DAILY_STATS).collect()
    }


@pytest.fixture
def storage(spark, tmp_path) -> StorageSettings:
    storage = StorageSettings(root=str(tmp_path / "lake"), checkpoint=str(tmp_path / "checkpoint"))
    create_tables(spark, storage)
    append(
        totals(spark, ("m-1", DAY, 1, 100), ("m-2", DAY, 2, 200), ("m-1", OTHER_DAY, 3, 300), at=EARLIER),
        storage,
        APPROVAL_DAILY_STATS,
    )
    return storage


def test_a_batch_adds_its_totals_and_rewrites_only_its_dates(spark, storage):
    path = storage.table(APPROVAL_DAILY_STATS)
    other_day_file = set(spark.read.format("delta").load(path).where(f"approval_date = '{OTHER_DAY}'").inputFiles())
    batch = totals(spark, ("m-1", DAY, 1, 50), ("m-3", DAY, 4, 400), at=LATER)

    counted = statistics.add(spark, storage, batch, [DAY], "stream", 1)

    seen = table(spark, storage)
    assert seen[("m-1", DAY)][:2] == (2, 150)
    assert seen[("m-3", DAY)][:2] == (4, 400)
    assert seen[("m-1", DAY)][2] == seen[("m-3", DAY)][2]  # the batch's time
    assert seen[("m-2", DAY)][:2] == (2, 200) and seen[("m-2", DAY)][2] != seen[("m-1", DAY)][2]
    assert seen[("m-1", OTHER_DAY)][:2] == (3, 300)
    assert set(spark.read.format("delta").load(path).where(f"approval_date = '{OTHER_DAY}'").inputFiles()) == (
        other_day_file
    )
    # What the topic gets: the batch's keys with the totals written.
    published = {(row.merchant_number, row.payment_count) for row in counted.where("batch_key").collect()}
    assert published == {("m-1", 2), ("m-3", 4)}
    counted.unpersist()


def test_a_batch_the_table_has_counted_is_not_added_again(spark, storage):
    batch = totals(spark, ("m-1", DAY, 1, 50), ("m-9", DAY, 1, 10), at=LATER)
    statistics.add(spark, storage, batch, [DAY], "stream", 1).unpersist()
    after_first = table(spark, storage)
    # An operator's recount took m-9 out meanwhile (not under the stream's id).
    statistics.replace(spark, storage, [DAY], totals(spark, ("m-1", DAY, 2, 150), ("m-2", DAY, 2, 200), at=LATER))
    recounted = table(spark, storage)
    assert recounted == {key: value for key, value in after_first.items() if key[0] != "m-9"}

    counted = statistics.add(spark, storage, batch, [DAY], "stream", 1)

    assert table(spark, storage) == recounted
    published = {(row.merchant_number, row.payment_count) for row in counted.where("batch_key").collect()}
    assert published == {("m-1", 2), ("m-9", None)}  # m-9 as a tombstone
    counted.unpersist()


def rewrite(spark: SparkSession, started) -> None:
    held = ClassicDataFrame(started.held(), spark)
    started.commit(held._jdf)


def test_a_concurrent_commit_to_the_dates_or_under_the_id_conflicts(spark, storage):
    # Another date's commit meanwhile: no conflict.
    started = statistics.begin(spark, storage, [DAY], "stream", 1)
    append(totals(spark, ("m-5", OTHER_DAY, 1, 1), at=LATER), storage, APPROVAL_DAILY_STATS)
    rewrite(spark, started)

    # A recount of the date meanwhile: the write conflicts, and nothing of it is committed.
    started = statistics.begin(spark, storage, [DAY], "stream", 2)
    statistics.replace(spark, storage, [DAY], totals(spark, ("m-1", DAY, 7, 700), at=LATER))
    with pytest.raises(CONFLICTS):
        rewrite(spark, started)
    assert table(spark, storage)[("m-1", DAY)][:2] == (7, 700)

    # A backfill's fence under the stream's id, on another date: the write conflicts too.
    started = statistics.begin(spark, storage, [DAY], "stream", 3)
    with transaction(spark, "stream", 4):
        statistics.replace(spark, storage, [OTHER_DAY], totals(spark, ("m-1", OTHER_DAY, 3, 300), at=LATER))
    with pytest.raises(CONFLICTS):
        rewrite(spark, started)
    assert statistics.begin(spark, storage, [DAY], "stream", 4).applied()
