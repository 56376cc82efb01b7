"""The whole stream against the real broker, Spark and Delta, checked against tests/reference.py."""

from __future__ import annotations

import csv
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from settlement import reference, topology
from settlement.broker import create_topics
from settlement.sample import SampleRecord, generate, produce
from settlement.tables import SETTLEMENT_BASE, TABLES, MerchantRow, read
from tests.invariants import broken, invariants
from tests.reference import Expected, read_csv

PARTITIONS = 4


def contract_records(examples: list[dict]) -> list[SampleRecord]:
    arrival = datetime(2025, 5, 19, 23, 0, tzinfo=timezone(timedelta(hours=9)))
    return [
        SampleRecord(
            example["key"],
            example["value"],
            arrival + timedelta(milliseconds=n),
            malformed=example["case"] if example["expect"] == "quarantine" else None,
        )
        for n, example in enumerate(examples)
    ]


def run_job(spark, settings) -> None:
    query = topology.start(spark, settings, available_now=True)
    query.awaitTermination()
    assert query.exception() is None


def table_contents(spark, settings) -> dict[str, list]:
    return {
        name: sorted(map(tuple, read(spark, settings.storage, name).collect()), key=repr)
        for name in TABLES
    }


def check_tables(spark, settings, expected: Expected, produced: list) -> None:
    assert broken(invariants(spark, settings, expected, produced, PARTITIONS)) == {}


@pytest.mark.integration
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

    # The same topic and checkpoint again: nothing to do, nothing changes.
    before = table_contents(spark, settings)
    run_job(spark, settings)
    assert table_contents(spark, settings) == before

    # A crash after the batch's writes but before its commit: Spark replays the batch, Delta's
    # transaction ids skip every write it already made.
    shutil.rmtree(Path(settings.storage.checkpoint) / "commits")
    run_job(spark, settings)
    assert table_contents(spark, settings) == before

    # Reference data changes between batches and applies to later records only.
    rules.append(
        dict(rule_id="R-0007", merchant_number="merchant-0007", payment_method_type=None, payment_action_type=None,
             payout_delay_days="9", confirm_lead_days="3", valid_from="2025-01-01", valid_to=None)
    )
    merchants.append(dict(merchant_number="merchant-0008", status="NON_SETTLEMENT"))
    for path, rows in ((tmp_path / "rules.csv", rules), (tmp_path / "merchants.csv", merchants)):
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    changed = settings.model_copy(
        update={"reference": settings.reference.model_copy(
            update={"payout_rules": tmp_path / "rules.csv", "merchants": tmp_path / "merchants.csv"}
        )}
    )
    reference.load(spark, changed)

    # More records, old payments redelivered among them: only the new ones are added.
    redelivered = [p.record for p in first if not p.record.malformed and p.record.key][:50]
    second = produce(
        generate(2_000, merchant_rows, partitions=PARTITIONS, seed=12, id_prefix="B") + redelivered, kafka
    )
    expected.process(second, merchants, rules)
    run_job(spark, settings)
    check_tables(spark, settings, expected, first + second)
    base = read(spark, settings.storage, SETTLEMENT_BASE)
    assert base.where("rule_id = 'R-0007'").count() > 0
    assert base.where("merchant_number = 'merchant-0008' AND classification = 'SETTLEMENT'").count() > 0
    assert base.where(
        "merchant_number = 'merchant-0008' AND classification = 'NON_SETTLEMENT_MERCHANT'"
    ).count() > 0
