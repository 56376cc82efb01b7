"""Dedup's state against the real broker, Spark and Delta: a new checkpoint starts from the ids
the base holds, including when its first batch is replayed after a crash."""

from __future__ import annotations

import shutil
from pathlib import Path

from py4j.java_gateway import JavaClass

from settlement import reference
from settlement.broker import create_topics
from settlement.config import Settings
from settlement.sample import generate, produce
from settlement.tables import SETTLEMENT_BASE, SETTLEMENT_BATCHES, MerchantRow, read
from tests.harness import run_job, table_contents
from tests.invariants import broken, invariants
from tests.reference import Expected, read_csv

PARTITIONS = 3


def moved_to(settings: Settings, folder: Path, topic: str) -> Settings:
    """The same lake, read from another topic with a checkpoint of its own."""
    kafka = settings.kafka.model_copy(update={"payment_topic": topic})
    storage = settings.storage.model_copy(update={"checkpoint": str(folder / "checkpoint-moved")})
    return settings.model_copy(update={"kafka": kafka, "storage": storage})


def test_a_new_checkpoint_accepts_no_payment_the_base_holds(spark, settings, tmp_path):
    kafka = settings.kafka
    moved = moved_to(settings, tmp_path, f"{kafka.payment_topic}-moved")
    create_topics(
        kafka, {kafka.payment_topic: PARTITIONS, moved.kafka.payment_topic: PARTITIONS, kafka.statistics_topic: 1}
    )
    reference.load(spark, settings)
    merchants, rules = read_csv(settings.reference.merchants), read_csv(settings.reference.payout_rules)
    merchant_rows = [MerchantRow(**m) for m in merchants]
    first = produce(generate(3_000, merchant_rows, partitions=PARTITIONS, seed=31, id_prefix="D"), kafka)
    run_job(spark, settings)
    accepted = read(spark, settings.storage, SETTLEMENT_BASE).count()
    # RocksDB's changelog checkpointing: each batch writes what it changed, not every id.
    assert any(Path(settings.storage.checkpoint, "state").rglob("*.changelog"))

    # The payments again, among new ones, on a topic a new checkpoint reads: the old ones are
    # duplicates of what the base holds, though the new checkpoint's state has never seen them.
    again = [p.record for p in first if not p.record.malformed and p.record.key]
    fresh = generate(500, merchant_rows, partitions=PARTITIONS, seed=32, id_prefix="E")
    second = produce(fresh + again, moved.kafka)
    expected = Expected()
    expected.process(first, merchants, rules)
    expected.process(second, merchants, rules)
    run_job(spark, moved)
    base = read(spark, settings.storage, SETTLEMENT_BASE)
    assert base.count() == len(expected.base) > accepted
    checks = invariants(spark, settings, expected, first, PARTITIONS)
    assert (
        broken(
            {
                name: check
                for name, check in checks.items()
                if name.startswith(("settlement_base", "approval_daily_stats"))
            }
        )
        == {}
    )
    batches = read(spark, settings.storage, SETTLEMENT_BATCHES).where("batch_id = 0").collect()
    assert sorted(row.duplicates for row in batches)[-1] >= len(again)

    # The new checkpoint's first batch replayed after a crash (its writes made, its commit not):
    # its state starts from the base without the rows it wrote itself, and nothing changes.
    before = table_contents(spark, settings)
    shutil.rmtree(Path(moved.storage.checkpoint) / "commits")
    run_job(spark, moved)
    assert table_contents(spark, settings) == before


def test_a_missing_operator_jar_is_told_not_called(spark):
    # py4j answers a class it cannot find with a package: the check must tell the two apart.
    assert isinstance(spark._jvm.settlement.FirstAccepted, JavaClass)
    assert not isinstance(spark._jvm.settlement.NoSuchOperator, JavaClass)
