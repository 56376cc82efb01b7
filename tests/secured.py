"""The secured local broker (`bin/kafka.sh start secure`): SASL_SSL with SCRAM-SHA-512 on 9194, the
StandardAuthorizer, users `settlement`, `payments` and `intruder`. Topics and what each user may do
with them are made per test through the admin listener (localhost only)."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from settlement.config import KafkaSettings
from tests.harness import ROOT

HOME = ROOT / ".local/kafka-secure"
SECURE, ADMIN = "localhost:9194", "localhost:9195"


def secrets() -> dict[str, str]:
    path = HOME / "secrets.env"
    if not path.exists():
        pytest.fail("the secured broker is not set up; run the tests with `make test` (bin/kafka.sh start secure)")
    return dict(line.split("=", 1) for line in path.read_text().split())


def kafka(topic: str, statistics_topic: str, user: str, password: str | None = None, ca: str = "ca") -> KafkaSettings:
    """Settings of a client of the secured broker as `user` (its own password unless one is given),
    trusting the certificate authority `ca` (`untrusted-ca`: one that did not sign the broker's)."""
    known = secrets()
    password = known[f"{user.upper()}_PASSWORD"] if password is None else password
    jaas = f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";'
    return KafkaSettings(
        bootstrap_servers=SECURE,
        payment_topic=topic,
        statistics_topic=statistics_topic,
        client_options={
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user,
            "sasl.password": password,
            "ssl.ca.location": str(HOME / f"tls/{ca}.pem"),
        },
        java_client_options={
            "sasl.jaas.config": jaas,
            "ssl.truststore.location": str(HOME / f"tls/{'untrusted-' if ca != 'ca' else ''}truststore.p12"),
            "ssl.truststore.password": known["STORE_PASSWORD"],
            "ssl.truststore.type": "PKCS12",
        },
    )


def topics(partitions: int = 6) -> tuple[str, str]:
    """A payment topic and a statistics topic of their own, and the ACLs of production: `payments`
    writes the payment topic; `settlement` reads it (and its consumer groups) and writes the
    statistics topic; nobody else may do anything."""
    run = uuid.uuid4().hex[:8]
    payment, statistics = f"payment-{run}", f"payment-statistics-{run}"
    admin = AdminClient({"bootstrap.servers": ADMIN})
    for future in admin.create_topics([NewTopic(t, partitions, 1) for t in (payment, statistics)]).values():
        future.result()

    def allow(
        user: str, resource: ResourceType, name: str, operation: AclOperation, pattern=ResourcePatternType.LITERAL
    ):
        return AclBinding(resource, name, pattern, f"User:{user}", "*", operation, AclPermissionType.ALLOW)

    grants = [
        allow("payments", ResourceType.TOPIC, payment, AclOperation.WRITE),
        allow("payments", ResourceType.TOPIC, payment, AclOperation.DESCRIBE),
        allow("settlement", ResourceType.TOPIC, payment, AclOperation.READ),
        allow("settlement", ResourceType.TOPIC, payment, AclOperation.DESCRIBE),
        allow("settlement", ResourceType.TOPIC, statistics, AclOperation.WRITE),
        allow("settlement", ResourceType.TOPIC, statistics, AclOperation.DESCRIBE),
        allow("settlement", ResourceType.GROUP, "spark-kafka-", AclOperation.READ, ResourcePatternType.PREFIXED),
        allow("settlement", ResourceType.GROUP, "settlement-", AclOperation.READ, ResourcePatternType.PREFIXED),
    ]
    for future in admin.create_acls(grants).values():
        future.result()
    return payment, statistics
