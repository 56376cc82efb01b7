"""The whole stream against the real broker, Spark and Delta, checked against tests/reference.py."""

from __future__ import annotations

import csv
import json
import shutil
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from settlement import reference, topology
from settlement.broker import create_topics
from settlement.sample import SampleRecord, generate, produce
from settlement.tables import (
    APPROVAL_DAILY_STATS,
    DAY_CLOSE,
    PAYMENT_LOG,
    QUARANTINE,
    SETTLEMENT_BASE,
    SETTLEMENT_BATCHES,
    TABLES,
    MerchantRow,
    read,
)
from tests.reference import Expected, read_csv

PARTITIONS = 4
BASE_COLUMNS = (
    "payment_id string, channel string, amount long, merchant_number string, approval_date date,"
    " payment_action_type string, payment_method_type string, classification string, payout_date date,"
    " confirm_date date, rule_id string, partition long, offset long"
)


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


def latest_statistics(settings) -> dict[str, dict]:
    """What a consumer keeping the latest value per key holds after reading the whole topic."""
    topic = settings.kafka.statistics_topic
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": f"test-{uuid.uuid4()}"}
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    latest, waiting = {}, {p for p, end in ends.items() if end > 0}
    while waiting:
        message = consumer.poll(10)
        assert message is not None, f"statistics topic ended early, waiting for partitions {waiting}"
        latest[message.key().decode()] = json.loads(message.value())
        if message.offset() + 1 >= ends[message.partition()]:
            waiting.discard(message.partition())
    consumer.close()
    return latest


def check_tables(spark, settings, expected: Expected, produced: list) -> None:
    storage = settings.storage
    log = read(spark, storage, PAYMENT_LOG)
    assert log.count() == len(produced)
    assert {(r.partition, r.offset) for r in log.select("partition", "offset").collect()} == {
        (p.partition, p.offset) for p in produced
    }

    quarantine = read(spark, storage, QUARANTINE)
    assert quarantine.count() == len(expected.quarantine)
    assert {(r.partition, r.offset) for r in quarantine.collect()} == expected.quarantine
    assert quarantine.where(F.length("error") < 10).count() == 0

    base = read(spark, storage, SETTLEMENT_BASE)
    assert base.count() == base.select("payment_id").distinct().count()
    assertDataFrameEqual(
        base.select(*[column.split()[0] for column in BASE_COLUMNS.split(",")]),
        spark.createDataFrame(list(expected.base.values()), BASE_COLUMNS),
    )

    stats = read(spark, storage, APPROVAL_DAILY_STATS)
    wanted = expected.statistics()
    assert {
        (r.merchant_number, r.approval_date, r.payment_action_type, r.payment_method_type): (
            r.payment_count, r.total_amount
        )
        for r in stats.collect()
    } == wanted
    group_by = spark.sql(
        f"""SELECT merchant_number, approval_date, payment_action_type, payment_method_type,
                   count(*) AS payment_count, sum(amount) AS total_amount
            FROM delta.`{storage.table(SETTLEMENT_BASE)}` WHERE classification = 'SETTLEMENT'
            GROUP BY merchant_number, approval_date, payment_action_type, payment_method_type"""
    )
    assertDataFrameEqual(stats.drop("updated_at"), group_by)

    day_close = {
        (r.channel, r.closing_date): (r.partitions_finished, r.closed_at is not None)
        for r in read(spark, storage, DAY_CLOSE).collect()
    }
    assert day_close == expected.day_close(PARTITIONS)

    batches = read(spark, storage, SETTLEMENT_BATCHES).collect()
    for batch in batches:
        assert batch.records_in == batch.quarantined + batch.duplicates + batch.accepted + batch.finish
    assert sum(b.records_in for b in batches) == len(produced)
    assert sum(b.duplicates for b in batches) == expected.duplicates

    published = {
        key: (value["count"], value["totalAmount"]) for key, value in latest_statistics(settings).items()
    }
    assert published == {"/".join(map(str, key)): value for key, value in wanted.items()}


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
