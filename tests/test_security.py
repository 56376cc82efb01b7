"""Everything that talks to Kafka, through the secured broker (SASL_SSL, SCRAM-SHA-512, ACLs), and
what a refused client sees: one line, a non-zero exit, no hang, no secret."""

from __future__ import annotations

import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from settlement import broker, reference
from settlement.sample import generate, produce
from settlement.tables import BACKFILL_RUNS, TABLES, MerchantRow
from tests import harness, secured
from tests.invariants import broken, invariants
from tests.reference import Expected, read_csv


def run(arguments: list[str], env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    storage = {
        "SETTLEMENT_STORAGE__ROOT": str(tmp_path / "lake"),
        "SETTLEMENT_STORAGE__CHECKPOINT": str(tmp_path / "checkpoint"),
    }
    return harness.entry_point(arguments, {**storage, **env})


@pytest.fixture(scope="module")
def granted(broker_up) -> tuple[str, str]:
    """A payment and a statistics topic on the secured broker, with production's ACLs."""
    return secured.topics()


def test_the_sample_producer_and_status_through_sasl_ssl(granted, tmp_path):
    payment, statistics = granted
    produced = run(
        ["jobs/sample.py", "--payments", "300"],
        harness.kafka_environment(secured.kafka(*granted, "payments")),
        tmp_path,
    )
    assert produced.returncode == 0, produced.stderr
    count = int(produced.stdout.split("produced ")[1].split()[0])
    settlement = secured.kafka(payment, statistics, "settlement")
    held = broker.offsets(settlement, payment)
    assert sum(high - low for low, high in held.values()) == count > 300
    assert broker.partition_count(settlement, statistics) == 6
    status = run(["-m", "settlement", "status"], harness.kafka_environment(settlement), tmp_path)
    assert status.returncode == 2, status.stdout + status.stderr
    assert f"stopped: {count:,} records wait and no batch ever committed" in status.stdout


REFUSALS = {
    "a wrong password": (
        lambda payment, statistics, secret: secured.kafka(payment, statistics, "settlement", password=secret),
        "SASL authentication error: Authentication failed during authentication due to invalid credentials",
    ),
    "an untrusted certificate": (
        lambda payment, statistics, _: secured.kafka(payment, statistics, "settlement", ca="untrusted-ca"),
        # librdkafka words it "SSL handshake failed: <this>" or "<this> (after 2ms in state
        # SSL_HANDSHAKE)", by which of its callbacks reports it first.
        "error:0A000086:SSL routines::certificate verify failed",
    ),
    "a principal without ACLs": (
        lambda payment, statistics, _: secured.kafka(payment, statistics, "intruder"),
        "intruder may not use topic",
    ),
}


@pytest.mark.parametrize("refusal", REFUSALS)
def test_a_refused_client_gets_one_line_and_no_secret(granted, refusal, tmp_path):
    secret = f"wrong-{uuid.uuid4().hex}"
    make, said = REFUSALS[refusal]
    kafka = make(*granted, secret)
    secrets = {kafka.client_options["sasl.password"], secured.secrets()["STORE_PASSWORD"]}
    programs = {
        "jobs/settlement.py": (["jobs/settlement.py", "--available-now"], 1),
        "jobs/sample.py": (["jobs/sample.py", "--payments", "10"], 1),
        "status": (["-m", "settlement", "status"], 2),
    }
    with ThreadPoolExecutor(len(programs)) as pool:  # each waits for librdkafka to give up on the broker
        running = {
            name: pool.submit(run, arguments, harness.kafka_environment(kafka), tmp_path)
            for name, (arguments, _) in programs.items()
        }
        results = {name: future.result() for name, future in running.items()}
    for name, result in results.items():
        output = result.stdout + result.stderr
        assert result.returncode == programs[name][1], output
        line = result.stdout.splitlines()[1] if name == "status" else result.stderr.strip()
        assert said in line and "\n" not in line, output
        assert not any(secret in output for secret in secrets), output


def test_the_stream_and_a_topic_backfill_through_sasl_ssl(spark, settings, capfd):
    payment, statistics = secured.topics()
    secure = settings.model_copy(update={"kafka": secured.kafka(payment, statistics, "settlement")})
    reference.load(spark, secure)
    merchants, rules = read_csv(secure.reference.merchants), read_csv(secure.reference.payout_rules)
    records = generate(3_000, [MerchantRow(**m) for m in merchants], partitions=6, seed=71, id_prefix="T")
    produced = produce(records, secured.kafka(payment, statistics, "payments"))
    expected = Expected()
    expected.process(produced, merchants, rules)

    harness.run_job(spark, secure)  # the stream, its statistics topic and day close's partition count
    # The invariants read the statistics topic as an operator would: through the admin listener.
    operator = secure.model_copy(
        update={"kafka": secure.kafka.model_copy(update={"bootstrap_servers": secured.ADMIN, "client_options": {}})}
    )
    assert broken(invariants(spark, operator, expected, produced, 6)) == {}

    # A backfill of the whole topic again, in `topic` mode: nothing new, through the same ACLs.
    settled = [name for name in TABLES if name != BACKFILL_RUNS]
    before = harness.table_contents(spark, secure, settled)
    ends = broker.offsets(secure.kafka, payment)
    code, out, err = harness.backfill(
        secure, "topic", "--offsets", ",".join(f"{p}:{low}-{high}" for p, (low, high) in ends.items())
    )
    assert code == 0, err
    assert harness.table_contents(spark, secure, settled) == before

    known = secured.secrets()
    said = capfd.readouterr()
    conf = " ".join(value for _, value in spark.sparkContext.getConf().getAll())
    for secret in (known["SETTLEMENT_PASSWORD"], known["PAYMENTS_PASSWORD"], known["STORE_PASSWORD"]):
        assert secret not in said.out + said.err + out + err, "a secret in the output"
        assert secret not in conf, "a secret in the Spark configuration (the UI's environment page)"
        assert secret not in repr(before), "a secret in a table"
