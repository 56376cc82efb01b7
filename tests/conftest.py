"""One SparkSession and one broker for the whole test session; fresh topics and tables per test."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("PYSPARK_PYTHON", str(ROOT / ".venv/bin/python"))
os.environ.setdefault("SPARK_CONF_DIR", str(ROOT / "conf/spark"))
os.environ["SETTLEMENT_CONFIG"] = str(ROOT / "conf/settlement.toml")


@pytest.fixture(scope="session")
def contract_examples() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "contract_examples.jsonl").read_text().splitlines() if line]


@pytest.fixture(scope="session")
def spark():
    from settlement.config import SparkSettings
    from settlement.session import spark_session

    session = spark_session(SparkSettings(jars=str(ROOT / ".local/jars")), "settlement-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def broker_up() -> None:
    from settlement import broker
    from settlement.config import KafkaSettings

    try:
        broker.create_topics(KafkaSettings(), {})
    except broker.BrokerError as error:
        pytest.exit(f"the local Kafka broker is not up ({error}); run the tests with `make test`", returncode=1)


@pytest.fixture
def settings(tmp_path, broker_up):
    """Settings of one test: its own topics, tables and checkpoint; reference data from conf/."""
    from settlement.config import load_settings

    run = uuid.uuid4().hex[:8]
    return load_settings(
        kafka={"payment_topic": f"payment-{run}", "statistics_topic": f"payment-statistics-{run}"},
        storage={"root": str(tmp_path / "lake"), "checkpoint": str(tmp_path / "checkpoint")},
        reference={"merchants": ROOT / "conf/merchants.csv", "payout_rules": ROOT / "conf/payout_rules.csv"},
        spark={"jars": str(ROOT / ".local/jars")},
    )


@pytest.fixture(scope="session")
def lake(spark, broker_up, contract_examples, tmp_path_factory):
    """Tables the stream made of the contract's examples and a small sample, shared by the tests
    that only read them (the operator's command, the notebooks): their settings."""
    from tests import harness

    return harness.sample_lake(spark, contract_examples, tmp_path_factory.mktemp("sample-lake"))
