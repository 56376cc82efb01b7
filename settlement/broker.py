"""What the driver asks the Kafka cluster directly: is it there, how many partitions, make topics."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from settlement.config import KafkaSettings
from settlement.exits import Failed

TIMEOUT_S = 10.0


class BrokerError(Failed):
    """The Kafka cluster cannot be used; the message is the one line we print."""


def _admin(kafka: KafkaSettings) -> AdminClient:
    # Its connection errors become one BrokerError line; librdkafka's own log would repeat them.
    return AdminClient({"bootstrap.servers": kafka.bootstrap_servers, "log_level": 0, **kafka.client_options})


def partition_count(kafka: KafkaSettings, topic: str | None = None) -> int:
    """Partitions of a topic (the payment topic by default); BrokerError if unreachable or missing."""
    topic = topic or kafka.payment_topic
    try:
        metadata = _admin(kafka).list_topics(topic=topic, timeout=TIMEOUT_S)
    except KafkaException as error:
        raise BrokerError(f"Kafka at {kafka.bootstrap_servers} did not answer: {error.args[0].str()}") from None
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise BrokerError(f"topic {topic!r} does not exist on {kafka.bootstrap_servers}")
    return len(found.partitions)


def create_topics(kafka: KafkaSettings, partitions: dict[str, int], recreate: bool = False) -> None:
    """Create the topics that are missing; with `recreate`, delete and create them afresh."""
    admin = _admin(kafka)
    try:
        existing = set(admin.list_topics(timeout=TIMEOUT_S).topics)
    except KafkaException as error:
        raise BrokerError(f"Kafka at {kafka.bootstrap_servers} did not answer: {error.args[0].str()}") from None
    if recreate and (doomed := [t for t in partitions if t in existing]):
        for future in admin.delete_topics(doomed, operation_timeout=TIMEOUT_S).values():
            future.result()
        existing -= set(doomed)
    wanted = [NewTopic(t, num_partitions=n, replication_factor=1) for t, n in partitions.items() if t not in existing]
    deadline = time.monotonic() + 30
    while wanted:
        failed = []
        for topic, future in admin.create_topics(wanted, operation_timeout=TIMEOUT_S).items():
            try:
                future.result()
            except KafkaException as error:
                # A topic just deleted can linger for a moment; anything else is real.
                if error.args[0].name() != "TOPIC_ALREADY_EXISTS" or time.monotonic() > deadline:
                    raise BrokerError(f"cannot create topic {topic!r}: {error.args[0].str()}") from None
                failed.append(next(t for t in wanted if t.topic == topic))
        wanted = failed
        if wanted:
            time.sleep(0.5)


def _consumer(kafka: KafkaSettings) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": f"settlement-offsets-{uuid.uuid4()}",  # never commits: only looks up offsets
            "enable.auto.commit": False,
            "log_level": 0,
            **kafka.client_options,
        }
    )


def offsets(kafka: KafkaSettings, topic: str, at: datetime | None = None) -> dict[int, tuple[int, int]]:
    """Per partition of `topic`: (the first offset still held, the offset after the last record);
    with `at`, the first offset is instead that of the first record stamped at or after `at`
    (the end offset when there is none)."""
    count = partition_count(kafka, topic)
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        consumer = _consumer(kafka)
        try:
            return _offsets(consumer, topic, count, at)
        except KafkaException as error:
            # A topic just made may not have its leaders yet ("not leader for partition"): that passes.
            if not error.args[0].retriable() or time.monotonic() > deadline:
                raise BrokerError(f"Kafka at {kafka.bootstrap_servers} did not answer: {error.args[0].str()}") from None
        finally:
            consumer.close()
        time.sleep(0.5)


def _offsets(consumer: Consumer, topic: str, count: int, at: datetime | None) -> dict[int, tuple[int, int]]:
    held = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT_S) for p in range(count)}
    if at is None:
        return held
    millis = int(at.timestamp() * 1000)
    found = consumer.offsets_for_times([TopicPartition(topic, p, millis) for p in range(count)], timeout=TIMEOUT_S)
    return {t.partition: (t.offset if t.offset >= 0 else held[t.partition][1], held[t.partition][1]) for t in found}
