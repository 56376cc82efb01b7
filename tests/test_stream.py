"""The whole stream against the real broker, Spark and Delta, checked against tests/reference.py."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

from benchmarks.profile import stage_of
from settlement import reference
from settlement.broker import create_topics
from settlement.sample import generate, produce
from settlement.tables import (
    APPROVAL_DAILY_STATS,
    PAYMENT_LOG,
    QUARANTINE,
    SETTLEMENT_BASE,
    SETTLEMENT_BATCHES,
    MerchantRow,
    read,
)
from tests.harness import CHANGED_MERCHANT, CHANGED_RULE, change_reference, contract_records, run_job, table_contents
from tests.invariants import broken, invariants
from tests.reference import Expected, read_csv

PARTITIONS = 4


def check_tables(spark, settings, expected: Expected, produced: list) -> None:
    assert broken(invariants(spark, settings, expected, produced, PARTITIONS)) == {}


def stages(spark) -> set[str]:
    """The stages named on the jobs the Spark UI lists."""
    context = spark.sparkContext
    with urllib.request.urlopen(f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}/jobs") as answer:
        return {stage_of(job.get("description")) for job in json.load(answer)}


def test_the_stream_end_to_end(spark, settings, contract_examples, tmp_path):
    kafka = settings.kafka
    create_topics(kafka, {kafka.payment_topic: PARTITIONS, kafka.statistics_topic: 2})
    reference.load(spark, settings)
    merchants, rules = read_csv(settings.reference.merchants), read_csv(settings.reference.payout_rules)
    merchant_rows = [MerchantRow(**m) for m in merchants]

    first = produce(
        contract_records(contract_examples)
        + generate(10_000, merchant_rows, partitions=PARTITIONS, seed=11, id_prefix="A"),
        kafka,
    )
    expected = Expected()
    expected.process(first, merchants, rules)
    run_job(spark, settings)
    check_tables(spark, settings, expected, first)
    # Every stage names itself on the Spark jobs it starts: in the UI, as in the event log.
    assert {"payment_log", "quarantine", "classify, payout rule, base", "statistics", "batch counts"} <= stages(spark)

    # The same topic and checkpoint again: nothing to do, nothing changes.
    before = table_contents(spark, settings)
    run_job(spark, settings)
    assert table_contents(spark, settings) == before

    # A crash after the batch's writes but before its commit: Spark replays the batch, and the
    # marks (`settlement.replay`) skip every write it already made.
    shutil.rmtree(Path(settings.storage.checkpoint) / "commits")
    run_job(spark, settings)
    assert table_contents(spark, settings) == before

    # Reference data changes between batches and applies to later records only.
    change_reference(spark, settings, tmp_path, merchants, rules)
    merchants, rules = [*merchants, CHANGED_MERCHANT], [*rules, CHANGED_RULE]

    # More records, old payments redelivered among them: only the new ones are added.
    redelivered = [p.record for p in first if not p.record.malformed and p.record.key][:50]
    second = produce(generate(2_000, merchant_rows, partitions=PARTITIONS, seed=12, id_prefix="B") + redelivered, kafka)
    expected.process(second, merchants, rules)
    run_job(spark, settings)
    check_tables(spark, settings, expected, first + second)
    base = read(spark, settings.storage, SETTLEMENT_BASE)
    assert base.where("rule_id = 'R-0007'").count() > 0
    assert base.where("merchant_number = 'merchant-0008' AND classification = 'SETTLEMENT'").count() > 0
    assert base.where("merchant_number = 'merchant-0008' AND classification = 'NON_SETTLEMENT_MERCHANT'").count() > 0
    # Every base row carries the start of the batch that accepted it, as that batch's counts do.
    batches = read(spark, settings.storage, SETTLEMENT_BATCHES).select("batch_id", "started_at")
    stamped = base.join(batches, "batch_id", "left").select("processed_at", "started_at").distinct().collect()
    assert stamped and all(row.processed_at == row.started_at for row in stamped)
    # So does every row the log and the quarantine took in a batch, and every statistics row.
    starts = {row.started_at for row in batches.collect()}
    for name, column in (
        (PAYMENT_LOG, "ingested_at"),
        (QUARANTINE, "quarantined_at"),
        (APPROVAL_DAILY_STATS, "updated_at"),
    ):
        times = {row[0] for row in read(spark, settings.storage, name).select(column).distinct().collect()}
        assert times and times <= starts, name
