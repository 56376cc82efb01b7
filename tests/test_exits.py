"""The exit-code policy (`settlement.exits`), and every entry point keeping it: one line on stderr
and the code, before any JVM starts."""

from __future__ import annotations

import subprocess
import time

import pytest

from settlement import broker
from settlement.backfill import BackfillError
from settlement.broker import BrokerError
from settlement.cli import NotFound
from settlement.config import ConfigError, KafkaSettings
from settlement.exits import Exit, code
from settlement.session import JarMissing
from tests import harness
from tests.conftest import ROOT

ENTRY_POINTS = {
    "settlement": ["jobs/settlement.py", "--available-now"],
    "backfill": ["jobs/backfill.py", "rederive", "--from", "2025-05-18"],
    "maintain": ["jobs/maintain.py"],
    "load_reference": ["jobs/load_reference.py"],
    "summary": ["jobs/summary.py"],
    "sample": ["jobs/sample.py", "--payments", "10"],
    "settlement-cli": ["-m", "settlement", "day-close"],
    "bench": ["-m", "benchmarks", "--results", "{tmp}"],
}


def run(arguments: list[str], **env: str) -> subprocess.CompletedProcess:
    return harness.entry_point(arguments, env, timeout=120)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConfigError("x"), Exit.CANNOT_RUN),
        (JarMissing("x"), Exit.CANNOT_RUN),
        (BrokerError("x"), Exit.FAILED),
        (BackfillError("x"), Exit.FAILED),
        (NotFound("x"), Exit.FAILED),
        (RuntimeError("Spark's or Delta's"), Exit.FAILED),
        (KeyboardInterrupt(), Exit.INTERRUPTED),
    ],
)
def test_each_kind_of_error_has_its_code(error, expected):
    assert code(error) == expected


@pytest.mark.parametrize("program", ENTRY_POINTS)
def test_a_bad_setting_is_one_line_and_exit_2(program, tmp_path):
    arguments = [a.format(tmp=tmp_path) for a in ENTRY_POINTS[program]]
    result = run(arguments, SETTLEMENT_SPARK__SHUFFLE_PARTITIONS="0")
    assert result.returncode == Exit.CANNOT_RUN, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.endswith(
        "bad setting spark.shuffle_partitions = '0': Input should be greater than 0 "
        f"(in {ROOT / 'conf/settlement.toml'} or SETTLEMENT_SPARK__SHUFFLE_PARTITIONS)"
    ), line


@pytest.mark.parametrize("program", ENTRY_POINTS)
def test_a_bad_argument_is_one_line_and_exit_2(program, tmp_path):
    arguments = [a.format(tmp=tmp_path) for a in ENTRY_POINTS[program]]
    result = run([*arguments, "--no-such-option"])
    assert result.returncode == Exit.CANNOT_RUN, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "--no-such-option" in line, line


@pytest.mark.parametrize("program", ["sample", "bench"])
def test_an_unreachable_broker_is_one_line_and_exit_1(program, tmp_path):
    arguments = [a.format(tmp=tmp_path) for a in ENTRY_POINTS[program]]
    result = run(arguments, SETTLEMENT_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert result.returncode == Exit.FAILED, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"{program}: Kafka at 127.0.0.1:1 did not answer"), line


def test_a_client_gives_up_on_a_broker_that_refuses_unless_a_running_stream_asks():
    """librdkafka retries a refused connection until the call's timeout; the client stops once every
    bootstrap broker has failed, but a running stream's call (day close) waits out the timeout."""
    refusing = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    clock = time.monotonic()
    with pytest.raises(BrokerError, match="Connection refused"):
        broker.partition_count(refusing)
    assert time.monotonic() - clock < broker.TIMEOUT_S / 2
    clock = time.monotonic()
    with pytest.raises(BrokerError, match="Connection refused"):
        broker.partition_count(refusing, ride_out_outage=True)
    assert time.monotonic() - clock >= broker.TIMEOUT_S
