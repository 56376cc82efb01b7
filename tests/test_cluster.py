"""The same job on a real Spark cluster: a standalone master and two workers (bin/cluster.sh), each
its own JVM with executors running a Python that has the job's dependencies but not the settlement
package, which goes with the job (--py-files dist/settlement.zip). One worker is killed, with its
executor, while the job runs; the tables must come out as on one machine."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from settlement import reference
from settlement.broker import create_topics
from settlement.sample import generate, produce
from settlement.tables import SETTLEMENT_BASE, MerchantRow, create_tables
from tests.harness import ROOT, Job, batch_ends, by_batch, delta_commits
from tests.invariants import broken, invariants
from tests.reference import Expected, read_csv

PAYMENTS = 28_000  # some 29,000 records: three batches, the worker lost in the first
PARTITIONS = 4
BATCH = 10_000


@pytest.fixture(scope="module")
def cluster():
    subprocess.run([str(ROOT / "bin/cluster.sh"), "start"], check=True, cwd=ROOT)
    yield "spark://127.0.0.1:7077"
    subprocess.run([str(ROOT / "bin/cluster.sh"), "stop"], check=True, cwd=ROOT)


def executors(events: Path) -> tuple[set[str], set[str]]:
    """From the application's Spark event log: the executors that ran tasks, and those lost."""
    ran, lost = set(), set()
    for log in (path for path in events.rglob("events_*") if path.is_file()):
        for line in log.open():
            event = json.loads(line)
            if event["Event"] == "SparkListenerTaskEnd":
                ran.add(event["Task Info"]["Executor ID"])
            elif event["Event"] == "SparkListenerExecutorRemoved":
                lost.add(event["Executor ID"])
    return ran, lost


def test_the_job_on_a_cluster_that_loses_a_worker(spark, settings, tmp_path, cluster):
    kafka = settings.kafka
    create_topics(kafka, {kafka.payment_topic: PARTITIONS, kafka.statistics_topic: 2})
    create_tables(spark, settings.storage)
    reference.load(spark, settings)
    merchants, rules = read_csv(settings.reference.merchants), read_csv(settings.reference.payout_rules)
    produced = produce(
        generate(PAYMENTS, [MerchantRow(**m) for m in merchants], partitions=PARTITIONS, seed=17, id_prefix="K"), kafka
    )
    events = tmp_path / "events"
    events.mkdir()
    job = Job(
        settings,
        tmp_path / "job.log",
        BATCH,
        master=cluster,
        env={"SETTLEMENT_CONFIG": "conf/cluster.toml"},
        options=(
            "--py-files",
            str(ROOT / "dist/settlement.zip"),
            "--conf",
            f"spark.pyspark.python={ROOT / '.local/cluster/python/bin/python'}",
            "--conf",
            f"spark.pyspark.driver.python={ROOT / '.venv/bin/python'}",
            "--conf",
            "spark.eventLog.enabled=true",
            "--conf",
            f"spark.eventLog.dir={events.as_uri()}",
            "--conf",
            "spark.eventLog.compress=false",
        ),
    )
    base = Path(settings.storage.table(SETTLEMENT_BASE))
    created = len(delta_commits(base))
    clock = time.monotonic()
    job.start(available_now=True)
    while job.running() and len(delta_commits(base)) == created:  # the first batch's base rows
        time.sleep(0.1)
    assert job.running(), job.log.read_text()[-3000:]
    subprocess.run([str(ROOT / "bin/cluster.sh"), "kill-worker", "1"], check=True, cwd=ROOT)
    assert job.wait(900) == 0, job.log.read_text()[-3000:]
    seconds = time.monotonic() - clock

    expected = Expected()
    batches = by_batch(produced, batch_ends(Path(settings.storage.checkpoint), kafka.payment_topic))
    for batch in batches:
        expected.process(batch, merchants, rules)
    assert broken(invariants(spark, settings, expected, produced, PARTITIONS)) == {}
    ran, lost = executors(events)
    assert len(ran) >= 2 and "driver" not in ran, ran
    assert lost, "no executor was lost with the worker"
    print(
        f"cluster: {len(produced):,} records in {len(batches)} batches, {seconds:.0f} s "
        f"({len(produced) / seconds:,.0f} records/s, spark-submit included); "
        f"executors {sorted(ran)}, lost {sorted(lost)}"
    )
