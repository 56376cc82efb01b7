"""Backfills against the real broker, Spark and Delta, checked against tests/reference.py."""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from settlement import reference
from settlement.backfill import lock as backfill
from settlement.broker import create_topics
from settlement.sample import generate, produce
from settlement.tables import (
    APPROVAL_DAILY_STATS,
    BACKFILL_RUNS,
    DAY_CLOSE,
    QUARANTINE,
    SETTLEMENT_BASE,
    TABLES,
    BackfillRunRow,
    BackfillStatus,
    MerchantRow,
    append,
    frame,
    read,
)
from tests import harness
from tests.harness import (
    CHANGED_MERCHANT,
    CHANGED_RULE,
    ROOT,
    Job,
    batch_ends,
    checkpoint_batches,
    delta_commits,
    load_reference,
)
from tests.invariants import broken, invariants
from tests.reference import Expected, read_csv

PARTITIONS = 4
SAMPLE_DAYS = 2  # 2025-05-17 and 2025-05-18
SAMPLE_DATES = ("--from", "2025-05-17", "--to", "2025-05-18")
DERIVED_TABLES = tuple(name for name in TABLES if name != BACKFILL_RUNS)


@pytest.fixture
def reference_rows(settings):
    return read_csv(settings.reference.merchants), read_csv(settings.reference.payout_rules)


def stream_sample(spark, settings, reference_rows, payments: int = 3_000, seed: int = 21) -> list:
    """The sample produced and run through the stream (--available-now) with the reference data of conf/."""
    kafka = settings.kafka
    create_topics(kafka, {kafka.payment_topic: PARTITIONS, kafka.statistics_topic: 2})
    reference.load(spark, settings)
    merchants = [MerchantRow(**m) for m in reference_rows[0]]
    produced = produce(
        generate(payments, merchants, days=SAMPLE_DAYS, partitions=PARTITIONS, seed=seed, id_prefix=f"S{seed}-"), kafka
    )
    harness.run_job(spark, settings)
    return produced


def expected_with(produced: list, reference_rows, changed=None, dates=None) -> Expected:
    """The contract over `produced` (one batch), with the reference data changed as `changed` says
    for the approval dates in `dates` (None: all)."""
    merchants, rules = reference_rows
    before, after = Expected(), Expected()
    before.process(produced, merchants, rules)
    after.process(produced, *(changed or reference_rows))
    for payment_id, row in after.base.items():
        if dates is None or row[4] in dates:
            before.base[payment_id] = row
    return before


def delta_versions(settings) -> dict[str, int]:
    return {name: len(delta_commits(Path(settings.storage.table(name)))) for name in DERIVED_TABLES}


def outside(rows: list[tuple], dates: set[date], position: int) -> list[tuple]:
    return [row for row in rows if row[position] not in dates]


def test_a_rule_correction_rederives_the_dates_asked_and_no_other(spark, settings, reference_rows, tmp_path):
    produced = stream_sample(spark, settings, reference_rows)
    before = harness.table_contents(spark, settings)
    merchants, rules = reference_rows
    load_reference(spark, settings, tmp_path, merchants, [*rules, CHANGED_RULE])

    code, out, err = harness.backfill(settings, "rederive", "--from", "2025-05-18")

    assert code == 0, err
    assert out.splitlines()[-1].startswith("backfill rederive 2025-05-18: done")
    dates = {date(2025, 5, 18)}
    expected = expected_with(produced, reference_rows, (merchants, [*rules, CHANGED_RULE]), dates)
    assert broken(invariants(spark, settings, expected, produced, PARTITIONS)) == {}
    after = harness.table_contents(spark, settings)
    base_date = list(TABLES[SETTLEMENT_BASE][0].model_fields).index("approval_date")
    assert outside(after[SETTLEMENT_BASE], dates, base_date) == outside(before[SETTLEMENT_BASE], dates, base_date)
    assert outside(after[APPROVAL_DAILY_STATS], dates, 1) == outside(before[APPROVAL_DAILY_STATS], dates, 1)
    base = read(spark, settings.storage, SETTLEMENT_BASE)
    assert base.where("rule_id = 'R-0007' AND approval_date >= '2025-05-18'").count() > 0
    assert base.where("rule_id = 'R-0007' AND approval_date < '2025-05-18'").count() == 0
    # The previous values stay findable: the commit names the run, and time travel reads before it.
    history = spark.sql(f"DESCRIBE HISTORY delta.`{settings.storage.table(SETTLEMENT_BASE)}`")
    first = history.where(F.col("userMetadata").startswith("backfill ")).agg(F.min("version")).first()[0]
    previous = spark.read.format("delta").option("versionAsOf", first - 1).load(settings.storage.table(SETTLEMENT_BASE))
    assert previous.where("rule_id = 'R-0007'").count() == 0


def test_a_merchant_made_non_settlement_retroactively(spark, settings, reference_rows, tmp_path):
    produced = stream_sample(spark, settings, reference_rows)
    merchants, rules = reference_rows
    load_reference(spark, settings, tmp_path, [*merchants, CHANGED_MERCHANT], rules)
    before, versions = harness.table_contents(spark, settings), delta_versions(settings)

    code, dry_out, err = harness.backfill(settings, "rederive", *SAMPLE_DATES, "--dry-run")
    assert code == 0, err
    assert "dry run, nothing written" in dry_out.splitlines()[-1]
    assert delta_versions(settings) == versions
    assert harness.table_contents(spark, settings) == before

    code, out, err = harness.backfill(settings, "rederive", *SAMPLE_DATES)
    assert code == 0, err
    # The dry run's table is what the real run did.
    assert dry_out.splitlines()[:-1] == out.splitlines()[:-1]
    expected = expected_with(produced, reference_rows, ([*merchants, CHANGED_MERCHANT], rules))
    assert broken(invariants(spark, settings, expected, produced, PARTITIONS)) == {}
    base = read(spark, settings.storage, SETTLEMENT_BASE).where("merchant_number = 'merchant-0008'")
    assert base.count() > 0
    assert base.where("classification <> 'NON_SETTLEMENT_MERCHANT' AND classification <> 'TEST'").count() == 0
    assert base.where("payout_date IS NOT NULL").count() == 0
    stats = read(spark, settings.storage, APPROVAL_DAILY_STATS)
    assert stats.where("merchant_number = 'merchant-0008'").count() == 0
    once = harness.table_contents(spark, settings)
    assert once[DAY_CLOSE] == before[DAY_CLOSE]

    # The same backfill again: every table as the first run left it.
    code, out, err = harness.backfill(settings, "rederive", *SAMPLE_DATES)
    assert code == 0, err
    assert " 0 reclassified, 0 redated" in out.splitlines()[-1]
    twice = harness.table_contents(spark, settings, DERIVED_TABLES)
    assert twice == {name: once[name] for name in DERIVED_TABLES}


def test_one_backfill_at_a_time(spark, settings):
    spark_storage = settings.storage
    create_topics(settings.kafka, {settings.kafka.payment_topic: 1, settings.kafka.statistics_topic: 1})
    other = backfill.claim(spark, spark_storage, "other-run", "rederive", "2025-05-18", settings.backfill.lease_seconds)
    code, out, err = harness.backfill(settings, "rederive", "--from", "2025-05-18")
    assert code == 1
    assert err.strip().startswith("backfill: backfill other-run (rederive 2025-05-18")
    assert "backfill abandon other-run" in err
    assert harness.backfill(settings, "abandon", "other-run")[0] == 0
    assert harness.backfill(settings, "abandon", "other-run")[0] == 1
    code, out, err = harness.backfill(settings, "rederive", "--from", "2025-05-18")
    assert code == 0, err
    runs = {row.run_id: row for row in read(spark, spark_storage, BACKFILL_RUNS).collect()}
    assert runs["other-run"].status == "ABANDONED"
    (ours,) = [row for run_id, row in runs.items() if run_id != other.run_id]
    assert ours.status == "DONE" and ours.summary == out.splitlines()[-1]


def test_a_dead_backfills_lock_is_taken_over_and_a_live_ones_is_not(spark, settings):
    settings = settings.model_copy(update={"backfill": settings.backfill.model_copy(update={"lease_seconds": 4})})
    create_topics(settings.kafka, {settings.kafka.payment_topic: 1, settings.kafka.statistics_topic: 1})
    # A live run keeps beating: twice its lease later, it still holds the lock.
    live = backfill.claim(spark, settings.storage, "live-run", "rederive", "2025-05-18", lease_seconds=4)
    time.sleep(8)
    code, _, err = harness.backfill(settings, "rederive", "--from", "2025-05-18")
    assert code == 1 and err.strip().startswith("backfill: backfill live-run (rederive 2025-05-18"), err
    live.release(BackfillStatus.DONE, "done")
    # A killed run leaves its RUNNING row, and its heartbeat stops.
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    dead = BackfillRunRow(
        run_id="dead-run",
        mode="log",
        scope="2025-05-17",
        status=BackfillStatus.RUNNING,
        started_at=long_ago,
        finished_at=None,
        host="gone",
        pid=1,
        summary=None,
        heartbeat_at=long_ago,
    )
    append(frame(spark, BackfillRunRow, [dead]), settings.storage, BACKFILL_RUNS)
    code, out, err = harness.backfill(settings, "rederive", "--from", "2025-05-18")
    assert code == 0, err
    first = err.splitlines()[0]
    assert first.startswith("backfill: backfill dead-run (log 2025-05-17, on gone pid 1) was last heard of at "), err
    assert first.endswith(", longer ago than the lease of 4 s: marked ABANDONED, and this run takes the lock over")
    runs = {row.run_id: row for row in read(spark, settings.storage, BACKFILL_RUNS).collect()}
    assert (runs["live-run"].status, runs["dead-run"].status) == ("DONE", "ABANDONED")
    (ours,) = [row for run_id, row in runs.items() if run_id not in ("live-run", "dead-run")]
    assert ours.status == "DONE"
    assert runs["dead-run"].summary == f"lease of 4 s expired; taken over by backfill {ours.run_id}"


def without(rows: list[tuple], name: str, *columns: str) -> list[tuple]:
    """Rows without the columns a re-run fills anew (when it processed them, under which id)."""
    fields = list(TABLES[name][0].model_fields)
    dropped = {fields.index(column) for column in columns}
    return sorted((tuple(v for n, v in enumerate(row) if n not in dropped) for row in rows), key=repr)


def test_a_backfill_from_the_log_after_the_topic_was_recreated(spark, settings, reference_rows):
    produced = stream_sample(spark, settings, reference_rows)
    before = harness.table_contents(spark, settings)
    create_topics(settings.kafka, {settings.kafka.payment_topic: PARTITIONS}, recreate=True)
    for name in (SETTLEMENT_BASE, APPROVAL_DAILY_STATS, QUARANTINE, DAY_CLOSE):
        spark.sql(f"DELETE FROM delta.`{settings.storage.table(name)}`")

    code, out, err = harness.backfill(settings, "log", "--from", "2025-05-16", "--to", "2025-05-31")

    assert code == 0, err
    after = harness.table_contents(spark, settings)
    volatile = {
        SETTLEMENT_BASE: ("processed_at", "query_id", "batch_id"),
        APPROVAL_DAILY_STATS: ("updated_at",),
        QUARANTINE: ("quarantined_at",),
        DAY_CLOSE: ("closed_at",),
    }
    for name, columns in volatile.items():
        assert without(after[name], name, *columns) == without(before[name], name, *columns), name
    closed = [row for row in after[DAY_CLOSE] if row[4] is not None]
    assert len(closed) == len([row for row in before[DAY_CLOSE] if row[4] is not None]) > 0
    expected = expected_with(produced, reference_rows)
    assert broken(invariants(spark, settings, expected, produced, PARTITIONS)) == {}


def test_a_topic_range_the_stream_never_read(spark, settings, reference_rows):
    kafka = settings.kafka
    create_topics(kafka, {kafka.payment_topic: PARTITIONS, kafka.statistics_topic: 2})
    reference.load(spark, settings)
    merchants = [MerchantRow(**m) for m in reference_rows[0]]
    missed = produce(generate(1_500, merchants, days=SAMPLE_DAYS, partitions=PARTITIONS, seed=31, id_prefix="M"), kafka)
    # A stream started at the topic's end (a lost checkpoint, say): it never reads `missed`.
    late = settings.model_copy(update={"kafka": kafka.model_copy(update={"starting_offsets": "latest"})})
    harness.run_job(spark, late)
    streamed = produce(
        generate(1_500, merchants, days=SAMPLE_DAYS, partitions=PARTITIONS, seed=32, id_prefix="L"), kafka
    )
    harness.run_job(spark, late)

    code, dry, err = harness.backfill(settings, "topic", "--offsets", "0:0-10,1:0-10", "--dry-run")
    assert code == 0, err
    assert dry.splitlines()[-1].startswith("backfill topic ") and " 20 records" in dry.splitlines()[-1]
    code, out, err = harness.backfill(
        settings, "topic", "--from", "2025-01-01T00:00", "--to", "2030-01-01T00:00", "--slice", "2000"
    )

    assert code == 0, err
    assert f"{len(missed + streamed):,} records" in out.splitlines()[-1]
    assert f"{len(missed):,} newly logged" in out.splitlines()[-1]
    expected = Expected()
    expected.process(streamed, *reference_rows)
    expected.process(missed, *reference_rows)
    checks = invariants(spark, settings, expected, missed + streamed, PARTITIONS)
    # The stream's own batch counts cover what the stream read; the backfill's are in its run.
    del checks["batch counts reconcile: in = quarantined + duplicates + accepted + FINISH"]
    assert broken(checks) == {}


def test_a_backfill_beside_the_running_stream(spark, settings, reference_rows, tmp_path):
    """The stream runs in its own JVM while new payments arrive for the very dates the backfill
    re-derives, and both commit to the base and the statistics."""
    kafka = settings.kafka
    create_topics(kafka, {kafka.payment_topic: PARTITIONS, kafka.statistics_topic: 2})
    reference.load(spark, settings)
    merchants, rules = reference_rows
    merchant_rows = [MerchantRow(**m) for m in merchants]
    produced = produce(
        generate(2_000, merchant_rows, days=SAMPLE_DAYS, partitions=PARTITIONS, seed=41, id_prefix="A"), kafka
    )
    stream = Job(settings, tmp_path / "stream.log", batch_size=1_000)
    stream.start()
    checkpoint = Path(settings.storage.checkpoint)

    def consumed() -> int:
        ends = batch_ends(checkpoint, kafka.payment_topic) if (checkpoint / "commits").exists() else []
        return sum(ends[-1].values()) if ends else 0

    def wait_until(condition, what: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline and stream.running():
            time.sleep(0.5)
        assert condition(), f"{what}: {(tmp_path / 'stream.log').read_text()[-3000:]}"

    wait_until(lambda: consumed() > 0, "a first batch")
    load_reference(spark, settings, tmp_path, [*merchants, CHANGED_MERCHANT], [*rules, CHANGED_RULE])
    # Everything so far committed: no batch still works with the old reference data.
    wait_until(lambda: consumed() == len(produced), "the first payments")
    more = generate(2_000, merchant_rows, days=SAMPLE_DAYS, partitions=PARTITIONS, seed=42, id_prefix="B")

    def send() -> None:
        for piece in range(6):
            produced.extend(produce(more[piece::6], kafka))
            time.sleep(5)

    producer = threading.Thread(target=send)
    commits_before = len(checkpoint_batches(checkpoint, "commits"))
    producer.start()
    # Backfills back to back for as long as payments arrive: the stream commits between and during them.
    runs = []
    while producer.is_alive() or len(runs) < 2:
        runs.append(harness.backfill(settings, "rederive", *SAMPLE_DATES))
        assert runs[-1][0] == 0, runs[-1][2]
    producer.join()
    assert len(checkpoint_batches(checkpoint, "commits")) > commits_before, "the stream committed nothing meanwhile"
    wait_until(lambda: consumed() == len(produced), "the last payments")
    stream.kill()

    expected = Expected()
    ends = batch_ends(checkpoint, kafka.payment_topic)
    for n, end in enumerate(ends):
        start = ends[n - 1] if n else {}
        batch = [p for p in produced if start.get(p.partition, 0) <= p.offset < end.get(p.partition, 0)]
        expected.process(batch, [*merchants, CHANGED_MERCHANT], [*rules, CHANGED_RULE])
    assert broken(invariants(spark, settings, expected, produced, PARTITIONS)) == {}


def test_the_entry_point_refuses_bad_arguments_in_one_line():
    """`jobs/backfill.py` as a scheduler runs it: a bad date is exit code 2 and one line, before Spark starts."""
    done = subprocess.run(
        [str(ROOT / ".venv/bin/python"), str(ROOT / "jobs/backfill.py"), "rederive", "--from", "2025-05-32"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "backfill: argument --from: '2025-05-32' is not a date like 2025-05-19 (see --help)"
    ]
