"""One SparkSession and one broker for the whole test session; fresh topics and tables per test."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("PYSPARK_PYTHON", str(ROOT / ".venv/bin/python"))
os.environ.setdefault("SPARK_CONF_DIR", str(ROOT / "conf/spark"))
os.environ["SETTLEMENT_CONFIG"] = str(ROOT / "conf/settlement.toml")

# `make test`: the same examples every run (a fixed seed), enough to cover each family of input in
# seconds. `make fuzz`: new random examples, many more of them; a failure prints how to replay it.
hypothesis_settings.register_profile(
    "ci", derandomize=True, max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 20_000)),
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# A test that asks for one of these needs a JVM or the broker: `make test` runs it, `make check`
# (pytest -m "not integration") does not.
NEEDS_JVM_OR_BROKER = {"spark", "broker_up", "settings", "lake"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if NEEDS_JVM_OR_BROKER & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


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


@pytest.fixture(autouse=True)
def forget_earlier_tests_tables():
    """After each test, the session drops what it holds of the test's tables: Delta keeps each
    table's log and state (query plans of its files) for an hour after its last use, and every test
    makes tables of its own. Kept, they grew the shared session's heap, and the tests late in
    `make test` ran up to 4.8 times slower (docs/testing.md)."""
    yield
    from pyspark.sql import SparkSession

    from settlement.session import jvm

    spark = SparkSession.getActiveSession()
    if spark is not None:
        spark.catalog.clearCache()
        jvm(spark).org.apache.spark.sql.delta.DeltaLog.clearCache()


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
    from tests.harness import fresh_settings

    return fresh_settings(tmp_path)


@pytest.fixture(scope="session")
def lake(spark, broker_up, contract_examples, tmp_path_factory):
    """Tables the stream made of the contract's examples and a small sample, shared by the tests
    that only read them (the operator's command, the notebooks): their settings."""
    from tests import harness

    return harness.sample_lake(spark, contract_examples, tmp_path_factory.mktemp("sample-lake"))
