"""The contract's invariants over the tables, each returning its first counterexample (None: held).

Shared by the integration test (which asserts them) and the chaos run (which reports them).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from settlement.config import Settings
from settlement.tables import (
    APPROVAL_DAILY_STATS,
    DAY_CLOSE,
    PAYMENT_LOG,
    QUARANTINE,
    SETTLEMENT_BASE,
    SETTLEMENT_BATCHES,
    read,
)
from tests.reference import Expected

BASE_COLUMNS = (
    "payment_id",
    "channel",
    "amount",
    "merchant_number",
    "approval_date",
    "payment_action_type",
    "payment_method_type",
    "classification",
    "payout_date",
    "confirm_date",
    "rule_id",
    "partition",
    "offset",
)


def _first_difference(got: dict, wanted: dict) -> str | None:
    for key in sorted(set(got) | set(wanted), key=repr):
        if got.get(key) != wanted.get(key):
            return f"{key!r}: table has {got.get(key)!r}, expected {wanted.get(key)!r}"
    return None


def latest_statistics(settings: Settings) -> dict[str, dict]:
    """What a consumer keeping the latest value per key (and forgetting a key at its tombstone)
    holds after reading the whole topic."""
    topic = settings.kafka.statistics_topic
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": f"check-{uuid.uuid4()}"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    latest, waiting = {}, {p for p, end in ends.items() if end > 0}
    while waiting:
        message = consumer.poll(10)
        if message is None:
            raise TimeoutError(f"statistics topic ended early, waiting for partitions {waiting}")
        if message.error():
            continue
        if message.value() is None:  # a tombstone: the key left the table
            latest.pop(message.key().decode(), None)
        else:
            latest[message.key().decode()] = json.loads(message.value())
        if message.offset() + 1 >= ends[message.partition()]:
            waiting.discard(message.partition())
    consumer.close()
    return latest


def invariants(
    spark: SparkSession, settings: Settings, expected: Expected, produced: list, partition_count: int
) -> dict[str, Callable[[], str | None]]:
    storage = settings.storage

    def payment_log_exactly_once() -> str | None:
        rows = read(spark, storage, PAYMENT_LOG).groupBy("partition", "offset").count().collect()
        got = {(r.partition, r.offset): r["count"] for r in rows}
        return _first_difference(got, {(p.partition, p.offset): 1 for p in produced})

    def quarantine_holds_every_bad_record() -> str | None:
        rows = read(spark, storage, QUARANTINE).collect()
        if blank := [r for r in rows if len(r.error) < 10]:
            return f"no reason for {(blank[0].partition, blank[0].offset)}: {blank[0].error!r}"
        got = {}
        for r in rows:
            got[(r.partition, r.offset)] = got.get((r.partition, r.offset), 0) + 1
        return _first_difference(got, {position: 1 for position in expected.quarantine})

    def base_exactly_once_with_contract_dates() -> str | None:
        rows = read(spark, storage, SETTLEMENT_BASE).select(*BASE_COLUMNS).collect()
        got: dict = {}
        for r in rows:
            got[r.payment_id] = "twice" if r.payment_id in got else tuple(r)
        return _first_difference(got, expected.base)

    def statistics_equal_the_group_by() -> str | None:
        got = {
            (r.merchant_number, r.approval_date, r.payment_action_type, r.payment_method_type): (
                r.payment_count,
                r.total_amount,
            )
            for r in read(spark, storage, APPROVAL_DAILY_STATS).collect()
        }
        group_by = {
            (r.merchant_number, r.approval_date, r.payment_action_type, r.payment_method_type): (r.n, r.total)
            for r in read(spark, storage, SETTLEMENT_BASE)
            .where("classification = 'SETTLEMENT'")
            .groupBy("merchant_number", "approval_date", "payment_action_type", "payment_method_type")
            .agg(F.count("*").alias("n"), F.sum("amount").alias("total"))
            .collect()
        }
        return _first_difference(got, group_by) or _first_difference(got, expected.statistics())

    def day_close_is_right() -> str | None:
        got = {
            (r.channel, r.closing_date): (r.partitions_finished, r.closed_at is not None)
            for r in read(spark, storage, DAY_CLOSE).collect()
        }
        return _first_difference(got, expected.day_close(partition_count))

    def statistics_topic_equals_the_table() -> str | None:
        published = {k: (v["count"], v["totalAmount"]) for k, v in latest_statistics(settings).items()}
        table = {
            "/".join(map(str, (r.merchant_number, r.approval_date, r.payment_action_type, r.payment_method_type))): (
                r.payment_count,
                r.total_amount,
            )
            for r in read(spark, storage, APPROVAL_DAILY_STATS).collect()
        }
        return _first_difference(published, table)

    def batch_counts_reconcile() -> str | None:
        batches = read(spark, storage, SETTLEMENT_BATCHES).collect()
        for b in batches:
            if b.records_in != b.quarantined + b.duplicates + b.accepted + b.finish:
                parts = f"{b.quarantined} + {b.duplicates} + {b.accepted} + {b.finish}"
                return f"batch {b.batch_id}: {b.records_in} in != {parts}"
        ids = [b.batch_id for b in batches]
        if len(ids) != len(set(ids)):
            return f"a batch was counted twice: {sorted(ids)}"
        totals = {
            "records_in": sum(b.records_in for b in batches),
            "duplicates": sum(b.duplicates for b in batches),
            "accepted": sum(b.accepted for b in batches),
        }
        return _first_difference(
            totals,
            {"records_in": len(produced), "duplicates": expected.duplicates, "accepted": len(expected.base)},
        )

    return {
        "payment_log holds every record exactly once": payment_log_exactly_once,
        "quarantine holds every bad record, with a reason": quarantine_holds_every_bad_record,
        "settlement_base holds each accepted payment once, as the contract says": base_exactly_once_with_contract_dates,
        "approval_daily_stats equals the GROUP BY over the base": statistics_equal_the_group_by,
        "day_close is right": day_close_is_right,
        "the statistics topic's latest values equal the table": statistics_topic_equals_the_table,
        "batch counts reconcile: in = quarantined + duplicates + accepted + FINISH": batch_counts_reconcile,
    }


def broken(checks: dict[str, Callable[[], str | None]]) -> dict[str, str]:
    """The invariants that do not hold, with their first counterexample."""
    return {name: problem for name, check in checks.items() if (problem := check())}
