"""The entry point: a bad setting or a missing broker is one clear line and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys

from settlement.config import load_settings
from tests.conftest import ROOT


def run(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "jobs/settlement.py"), "--available-now"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_bad_setting_is_one_line_and_exit_2():
    result = run(SETTLEMENT_SPARK__SHUFFLE_PARTITIONS="0")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "settlement: bad setting spark.shuffle_partitions = '0': Input should be greater than 0 "
        f"(in {ROOT / 'conf/settlement.toml'} or SETTLEMENT_SPARK__SHUFFLE_PARTITIONS)"
    ]


def test_missing_config_file_is_one_line_and_exit_2():
    result = run(SETTLEMENT_CONFIG="conf/nowhere.toml")
    assert result.returncode == 2
    assert result.stderr.strip() == "settlement: config file conf/nowhere.toml (SETTLEMENT_CONFIG) does not exist"


def test_unreachable_broker_is_one_line_and_exit_1():
    result = run(SETTLEMENT_KAFKA__BOOTSTRAP_SERVERS="localhost:1")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("settlement: Kafka at localhost:1 did not answer"), lines


def test_missing_topic_is_one_line_and_exit_1(broker_up):
    result = run(SETTLEMENT_KAFKA__PAYMENT_TOPIC="no-such-topic")
    assert result.returncode == 1
    assert result.stderr.strip() == "settlement: topic 'no-such-topic' does not exist on localhost:9092"


def test_settings_are_the_projects_from_a_subfolder(tmp_path, monkeypatch):
    """A notebook's kernel runs in notebooks/: it must see the tables of the project above it."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/settlement.toml").write_text('[storage]\nroot = "lake-here"\n')
    (tmp_path / "notebooks").mkdir()
    monkeypatch.delenv("SETTLEMENT_CONFIG")
    monkeypatch.chdir(tmp_path / "notebooks")
    settings = load_settings()
    assert settings.storage.root == str(tmp_path / "lake-here")
    assert settings.reference.merchants == tmp_path / "conf/merchants.csv"


def test_every_profile_loads_and_reaches_spark_and_kafka(monkeypatch):
    """conf/cluster.toml and the production template are settings like any: they must load, and their
    Spark and Kafka options must reach the session's builder and Spark's Kafka source and sink."""
    monkeypatch.chdir(ROOT)
    for profile in ("conf/settlement.toml", "conf/cluster.toml", "conf/production.toml"):
        monkeypatch.setenv("SETTLEMENT_CONFIG", profile)
        load_settings()
    monkeypatch.setenv("SETTLEMENT_CONFIG", "conf/production.toml")
    production = load_settings()
    assert production.storage.root.startswith("s3a://")
    assert production.spark.conf["spark.executor.memory"] == "8g"
    options = production.kafka.spark_options()
    assert options["kafka.security.protocol"] == "SASL_SSL" and "kafka.sasl.jaas.config" in options
    assert "sasl.jaas.config" not in production.kafka.client_options  # librdkafka would refuse it
