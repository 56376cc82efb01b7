"""A realistic, seeded sample of the payment topic, and the producer that sends it.

Several days of payments across many merchants, every method and action type, with what
production throws at the job: redeliveries seconds and days later, test payments, merchants that
are not settled, network cancels, unconfirmed approvals, cancels arriving days after their approval
date, unknown extra fields, malformed records of every kind, and a FINISH marker on every
partition of each channel after each day.
"""

from __future__ import annotations

import functools
import json
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypedDict, cast

from confluent_kafka import KafkaError, Message, Producer

from settlement.broker import BrokerError
from settlement.config import KafkaSettings
from settlement.contract import Channel, MerchantStatus, PaymentActionType, PaymentMethodType
from settlement.tables import MerchantRow

SEOUL = timezone(timedelta(hours=9))

ACTION_WEIGHTS = {
    PaymentActionType.PAYMENT: 80,
    PaymentActionType.CANCEL: 8,
    PaymentActionType.PARTIAL_CANCEL: 6,
    PaymentActionType.FULL_CANCEL: 6,
}
METHOD_WEIGHTS = {
    PaymentMethodType.CARD: 50,
    PaymentMethodType.MONEY: 20,
    PaymentMethodType.PAY: 20,
    PaymentMethodType.POINT: 10,
}


@dataclass(frozen=True)
class SampleRecord:
    key: str | bytes | None  # text goes as UTF-8; bytes as they are (a producer's bad bytes)
    value: str | bytes | None
    arrival: datetime  # the Kafka timestamp
    partition: int | None = None  # None: the producer's partitioner chooses by key
    malformed: str | None = None  # the kind of fault, for records the contract rejects


class _Placement(TypedDict, total=False):
    """The producer's options that place a record: none, and its partitioner chooses."""

    partition: int


@dataclass(frozen=True)
class Produced:
    """A record as the broker stored it."""

    record: SampleRecord
    topic: str
    partition: int
    offset: int


def _malformed(kind: str, payment: dict, channel: str) -> tuple[str | None, str | None]:
    """A record of one kind of fault (the key, the value)."""
    key = payment["paymentId"]
    data = dict(payment)
    if kind == "not JSON":
        return key, json.dumps({"channel": channel, "action": "PAYMENT", "data": data})[:-9]
    if kind == "JSON but not an object":
        return key, json.dumps([payment["amount"], payment["merchantNumber"]])
    if kind == "empty value":
        return key, ""
    if kind == "FINISH without a closing date":
        return None, json.dumps({"channel": channel, "action": "FINISH", "data": None})
    faults = {
        "missing paymentId": lambda d: d.pop("paymentId"),
        "unknown enum value": lambda d: d.update(paymentMethodType="BITCOIN"),
        "negative amount": lambda d: d.update(amount=-d["amount"] - 1),
        "fractional amount": lambda d: d.update(amount=d["amount"] + 0.5),
        "amount as a string": lambda d: d.update(amount=str(d["amount"])),
        "impossible date": lambda d: d.update(paymentDate="2025-02-30T10:00:00"),
    }
    faults[kind](data)
    return key, json.dumps({"channel": channel, "action": "PAYMENT", "data": data})


MALFORMED_KINDS = (
    "not JSON",
    "JSON but not an object",
    "missing paymentId",
    "unknown enum value",
    "negative amount",
    "fractional amount",
    "amount as a string",
    "impossible date",
    "empty value",
    "FINISH without a closing date",
)


def generate(
    payments: int,
    merchants: Iterable[MerchantRow],
    *,
    first_day: date = date(2025, 5, 17),
    days: int = 3,
    partitions: int = 6,
    seed: int = 7,
    id_prefix: str = "P",
    normal_merchants: int = 150,
) -> list[SampleRecord]:
    """`payments` distinct payment events over `days` days plus their redeliveries, malformed
    records and FINISH markers, in arrival order."""
    rng = random.Random(seed)
    listed: dict[MerchantStatus, list[str]] = {row.status: [] for row in merchants}
    for row in merchants:
        listed[row.status].append(row.merchant_number)
    for row_list in listed.values():
        row_list.sort()
    normal = [f"merchant-{n:04d}" for n in range(1, normal_merchants + 1)] + ["merchant-1881", "merchant-2000"]
    records: list[SampleRecord] = []
    for n in range(payments):
        day = first_day + timedelta(days=rng.randrange(days))
        approved = datetime.combine(day, datetime.min.time()) + timedelta(
            seconds=rng.uniform(0, 86_399), microseconds=rng.randrange(1_000_000)
        )
        roll = rng.random()
        merchant = (
            rng.choice(listed.get(MerchantStatus.NON_SETTLEMENT, normal))
            if roll < 0.02
            else rng.choice(listed.get(MerchantStatus.TEST, normal))
            if roll < 0.03
            else rng.choice(normal)
        )
        action = rng.choices(list(ACTION_WEIGHTS), weights=list(ACTION_WEIGHTS.values()))[0]
        channel = rng.choice(list(Channel))
        payment: dict[str, Any] = {
            "paymentId": f"{id_prefix}{day:%Y%m%d}-{n:07d}",
            "paymentType": channel.value,
            "amount": int(rng.lognormvariate(9.5, 1.2)) % 5_000_000,
            "merchantNumber": merchant,
            "paymentDate": approved.isoformat(timespec="microseconds"),
            "paymentActionType": action.value,
            "paymentMethodType": rng.choices(list(METHOD_WEIGHTS), weights=list(METHOD_WEIGHTS.values()))[0].value,
            "payoutDate": (day + timedelta(days=2)).isoformat(),
            "confirmDate": (day + timedelta(days=1)).isoformat(),
        }
        if rng.random() < 0.01:
            payment["test"] = True
        if action is not PaymentActionType.PAYMENT and rng.random() < 0.15:
            payment["networkCancel"] = True
        if rng.random() < 0.01:
            payment["approvalStatus"] = "UNCONFIRMED"
        if rng.random() < 0.05:
            payment["terminalId"] = f"T-{rng.randrange(100):02d}"
        lag = timedelta(seconds=rng.uniform(0.05, 3))
        if action is not PaymentActionType.PAYMENT and rng.random() < 0.1:
            lag = timedelta(days=rng.randint(1, 4), seconds=rng.uniform(0, 3600))
        arrival = approved.replace(tzinfo=SEOUL) + lag
        if rng.random() < 0.002:
            kind = MALFORMED_KINDS[rng.randrange(len(MALFORMED_KINDS))]
            key, value = _malformed(kind, payment, channel.value)
            records.append(SampleRecord(key, value, arrival, malformed=kind))
            continue
        record = SampleRecord(
            payment["paymentId"], json.dumps({"channel": channel.value, "action": "PAYMENT", "data": payment}), arrival
        )
        records.append(record)
        if rng.random() < 0.03:
            records.append(replace(record, arrival=arrival + timedelta(seconds=rng.uniform(0.5, 30))))
        if rng.random() < 0.005:
            records.append(replace(record, arrival=arrival + timedelta(days=rng.randint(1, 3))))
    for kind in MALFORMED_KINDS:  # every kind, a few times, whatever the size
        for copy in range(2):
            day = first_day + timedelta(days=copy % days)
            stamp = datetime.combine(day, datetime.min.time()) + timedelta(hours=12, minutes=copy)
            payment = {
                "paymentId": f"{id_prefix}BAD-{kind.replace(' ', '-')}-{copy}",
                "paymentType": "ONLINE",
                "amount": 1000 + copy,
                "merchantNumber": "merchant-0001",
                "paymentDate": stamp.isoformat(),
                "paymentActionType": "PAYMENT",
                "paymentMethodType": "CARD",
            }
            key, value = _malformed(kind, payment, "ONLINE")
            records.append(SampleRecord(key, value, stamp.replace(tzinfo=SEOUL), malformed=kind))
    for offset in range(days):
        closing = first_day + timedelta(days=offset)
        close_time = datetime.combine(closing + timedelta(days=1), datetime.min.time(), SEOUL) + timedelta(seconds=5)
        for channel in Channel:
            finish = json.dumps(
                {"channel": channel.value, "action": "FINISH", "data": {"closingDate": closing.isoformat()}}
            )
            for partition in range(partitions):
                records.append(SampleRecord(None, finish, close_time, partition=partition))
    records.sort(key=lambda record: record.arrival)
    return records


def _encoded(text: str | bytes | None) -> bytes | None:
    return text.encode("utf-8") if isinstance(text, str) else text


def produce(records: Iterable[SampleRecord], kafka: KafkaSettings, topic: str | None = None) -> list[Produced]:
    """Send the records, each stamped with its arrival time; returns where the broker put them."""
    topic = topic or kafka.payment_topic
    producer = Producer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "enable.idempotence": True,
            "linger.ms": 20,
            "queue.buffering.max.messages": 1_000_000,
            # Connection trouble is retried, and what still fails is raised below: not printed as it happens.
            "logger": logging.getLogger("settlement.producer"),
            **kafka.client_options,
        }
    )
    produced: list[Produced] = []
    failures: list[str] = []

    def delivered(error: KafkaError | None, message: Message, record: SampleRecord) -> None:
        if error is not None:
            failures.append(error.str())
        else:
            # A delivered message has its place; the stubs type every message's as optional.
            where = cast(tuple[str, int, int], (message.topic(), message.partition(), message.offset()))
            produced.append(Produced(record, *where))

    for record in records:
        options: _Placement = {"partition": record.partition} if record.partition is not None else {}
        producer.produce(
            topic,
            key=_encoded(record.key),
            value=_encoded(record.value),
            timestamp=int(record.arrival.timestamp() * 1000),
            on_delivery=functools.partial(delivered, record=record),
            **options,
        )
        producer.poll(0)
    undelivered = producer.flush(60)
    if failures or undelivered:
        why = failures[0] if failures else "the broker did not acknowledge them in time"
        raise BrokerError(f"{len(failures) + undelivered:,} records were not delivered to {topic!r}: {why}")
    return produced
