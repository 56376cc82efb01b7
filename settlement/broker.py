"""What the driver asks the Kafka cluster directly: is it there, how many partitions, make topics."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic

from settlement.config import KafkaSettings
from settlement.exits import Failed

TIMEOUT_S = 10.0
# A call slices its timeout into asks this long, to hear between them whether any broker is up.
ASK_S = 0.5
# How long every bootstrap broker may stay down before a client gives up on them: a broker behind
# a name with more than one address may refuse on one and answer on the next.
DOWN_GRACE_S = 2.0


class BrokerError(Failed):
    """The Kafka cluster cannot be used; the message is the one line we print."""


class _Cause:
    """librdkafka's last error report: why a connection failed (a refused password, a certificate
    not trusted), where the call that fails says only that the broker did not answer; and since
    when every bootstrap broker has been down."""

    def __init__(self) -> None:
        self.last: str | None = None
        self.all_down_since: float | None = None

    def __call__(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self.all_down_since = self.all_down_since or time.monotonic()
        else:
            self.last = error.str()

    def unreachable(self, kafka: KafkaSettings, error: KafkaException, client: AdminClient | Consumer) -> BrokerError:
        client.poll(0)  # serves the error reports queued meanwhile
        return BrokerError(f"Kafka at {kafka.bootstrap_servers} did not answer: {self.last or error.args[0].str()}")


def _client_options(kafka: KafkaSettings, cause: _Cause) -> dict[str, Any]:
    # Connection errors become one BrokerError line; librdkafka's own log would repeat them.
    return {"bootstrap.servers": kafka.bootstrap_servers, "log_level": 0, "error_cb": cause, **kafka.client_options}


def _refused(kafka: KafkaSettings, topic: str) -> BrokerError:
    user = kafka.client_options.get("sasl.username", "this client")
    return BrokerError(f"{user} may not use topic {topic!r} on {kafka.bootstrap_servers} (no ACL allows it)")


AUTHORIZATION_FAILED = {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED}
# A topic just made has no partition leaders for a moment, and one just deleted lingers: how long
# we wait for either. librdkafka does not always mark the first as retriable in a watermark lookup.
TOPIC_SETTLE_S = 30.0
LEADER_PENDING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
}


def _admin(kafka: KafkaSettings, cause: _Cause) -> AdminClient:
    return AdminClient(_client_options(kafka, cause))


def _metadata(
    kafka: KafkaSettings, admin: AdminClient, cause: _Cause, topic: str | None = None, ride_out_outage: bool = False
) -> ClusterMetadata:
    """The cluster's metadata (of one topic, or all). A client that reached no broker gives up
    `DOWN_GRACE_S` after librdkafka has tried every bootstrap broker, not after `TIMEOUT_S`: a
    refused connection, password or certificate is not cured by waiting, and the operator gets
    the line in seconds. With `ride_out_outage` (a running stream's call) it waits the whole timeout,
    for a broker being restarted."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        asked, ask = time.monotonic(), min(ASK_S, max(deadline - time.monotonic(), 0.01))
        try:
            return admin.list_topics(topic=topic, timeout=ask)
        except KafkaException as error:
            time.sleep(max(0.0, asked + ask - time.monotonic()))  # an ask that failed at once is not repeated at once
            admin.poll(0)  # serves the error reports queued meanwhile
            down = cause.all_down_since is not None and time.monotonic() - cause.all_down_since > DOWN_GRACE_S
            if time.monotonic() >= deadline or (down and not ride_out_outage):
                raise cause.unreachable(kafka, error, admin) from None


def partition_count(kafka: KafkaSettings, topic: str | None = None, ride_out_outage: bool = False) -> int:
    """Partitions of a topic (the payment topic by default); BrokerError if unreachable or missing."""
    topic, cause = topic or kafka.payment_topic, _Cause()
    metadata = _metadata(kafka, _admin(kafka, cause), cause, topic, ride_out_outage)
    found = metadata.topics.get(topic)
    if found is not None and found.error is not None and found.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
        raise _refused(kafka, topic)
    if found is None or found.error is not None or not found.partitions:
        raise BrokerError(f"topic {topic!r} does not exist on {kafka.bootstrap_servers}")
    return len(found.partitions)


def create_topics(kafka: KafkaSettings, partitions: dict[str, int], recreate: bool = False) -> None:
    """Create the topics that are missing; with `recreate`, delete and create them afresh."""
    cause = _Cause()
    admin = _admin(kafka, cause)
    existing = set(_metadata(kafka, admin, cause).topics)
    if recreate and (doomed := [t for t in partitions if t in existing]):
        for future in admin.delete_topics(doomed, operation_timeout=TIMEOUT_S).values():
            future.result()
        existing -= set(doomed)
    wanted = [NewTopic(t, num_partitions=n, replication_factor=1) for t, n in partitions.items() if t not in existing]
    deadline = time.monotonic() + TOPIC_SETTLE_S
    while wanted:
        failed = []
        for topic, future in admin.create_topics(wanted, operation_timeout=TIMEOUT_S).items():
            try:
                future.result()
            except KafkaException as error:
                if error.args[0].code() in AUTHORIZATION_FAILED:
                    raise _refused(kafka, topic) from None
                # A topic just deleted can linger for a moment; anything else is real.
                if error.args[0].name() != "TOPIC_ALREADY_EXISTS" or time.monotonic() > deadline:
                    raise BrokerError(f"cannot create topic {topic!r}: {error.args[0].str()}") from None
                failed.append(next(t for t in wanted if t.topic == topic))
        wanted = failed
        if wanted:
            time.sleep(0.5)


def _consumer(kafka: KafkaSettings, cause: _Cause) -> Consumer:
    return Consumer(
        {
            **_client_options(kafka, cause),
            "group.id": f"settlement-offsets-{uuid.uuid4()}",  # never commits: only looks up offsets
            "enable.auto.commit": False,
        }
    )


def offsets(kafka: KafkaSettings, topic: str, at: datetime | None = None) -> dict[int, tuple[int, int]]:
    """Per partition of `topic`: (the first offset still held, the offset after the last record);
    with `at`, the first offset is instead that of the first record stamped at or after `at`
    (the end offset when there is none)."""
    count = partition_count(kafka, topic)
    deadline = time.monotonic() + TOPIC_SETTLE_S
    while True:
        cause = _Cause()
        consumer = _consumer(kafka, cause)
        try:
            return _offsets(consumer, topic, count, at)
        except KafkaException as error:
            passing = error.args[0].retriable() or error.args[0].code() in LEADER_PENDING
            if not passing or time.monotonic() > deadline:
                raise cause.unreachable(kafka, error, consumer) from None
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
