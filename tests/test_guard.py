"""The poison-pill guard: a record that fails its batch through a fault validation does not know of
is named in one line and in `batch_failures`; held, it is quarantined and the stream goes on, with
nothing lost and nothing counted twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from unittest import mock

from pyspark.sql import functions as F

from settlement import base_table, cli, guard, job, reference, replay
from settlement.broker import create_topics
from settlement.sample import SampleRecord, generate, produce
from settlement.tables import BATCH_FAILURES, QUARANTINE, SETTLEMENT_BASE, MerchantRow, create_tables, read
from tests import harness
from tests.invariants import broken, invariants
from tests.reference import Expected, read_csv

PARTITIONS = 2
POISON = "P-POISON"
FAULT = "a fault nobody has found yet"


def with_a_fault(settle):
    """The stream's settle stage with a bug that only one payment meets, deep in Spark's plan."""

    def settle_with_a_fault(payments, merchants, rules):
        rows = settle(payments, merchants, rules)
        return rows.withColumn(
            "amount", F.when(F.col("payment_id") == POISON, F.raise_error(F.lit(FAULT))).otherwise(F.col("amount"))
        )

    return settle_with_a_fault


def test_a_record_that_fails_its_batch_is_named_held_and_quarantined(spark, settings):
    kafka = settings.kafka
    create_topics(kafka, {kafka.payment_topic: PARTITIONS, kafka.statistics_topic: 1})
    reference.load(spark, settings)
    merchants, rules = read_csv(settings.reference.merchants), read_csv(settings.reference.payout_rules)
    records = generate(400, [MerchantRow(**m) for m in merchants], partitions=PARTITIONS, seed=41)
    poison = {
        "paymentId": POISON,
        "paymentType": "ONLINE",
        "amount": 700,
        "merchantNumber": "merchant-0001",
        "paymentDate": "2025-05-18T09:00:00",
        "paymentActionType": "PAYMENT",
        "paymentMethodType": "CARD",
    }
    arrival = datetime(2025, 5, 18, 0, 0, 1, tzinfo=UTC)
    value = json.dumps({"channel": "ONLINE", "action": "PAYMENT", "data": poison})
    produced = produce([*records[:200], SampleRecord(POISON, value, arrival, partition=1), *records[200:]], kafka)
    (culprit,) = [p for p in produced if p.record.key == POISON]
    where = f"{culprit.topic}/{culprit.partition}/{culprit.offset}"

    with mock.patch.object(base_table, "derive", with_a_fault(base_table.derive)):
        for attempt in (1, 2):  # every start fails on it again, and says so again
            code, _, err = harness.command(job.main, settings, "--available-now")
            assert code == 1
            (line,) = [line for line in err.splitlines() if line.startswith("settlement: the stream stopped")]
            assert f"Record {where} fails it on its own" in line and FAULT in line, line
            assert f"python -m settlement hold --partition {culprit.partition} --offset {culprit.offset}" in line
            failures = read(spark, settings.storage, BATCH_FAILURES).collect()
            assert len(failures) == attempt
            assert {(f.batch_id, f.topic, f.partition, f.offset) for f in failures} == {
                (0, culprit.topic, culprit.partition, culprit.offset)
            }
        assert read(spark, settings.storage, SETTLEMENT_BASE).count() == 0

        def hold(reason: str) -> tuple[int, str, str]:
            record = ("--partition", str(culprit.partition), "--offset", str(culprit.offset))
            return harness.command(cli.main, settings, "hold", *record, "--reason", reason)

        code, out, err = hold("INC-1234")
        assert code == 0, err
        assert out.startswith(f"held {where}") and FAULT in out
        assert hold("again")[0] == 1

        # The fault is still there; the held record no longer reaches it.
        code, _, err = harness.command(job.main, settings, "--available-now")
        assert code == 0, err

    expected = Expected()
    held = [
        p
        if p is not culprit
        else type(p)(
            SampleRecord(POISON, value, arrival, partition=1, malformed="held"), p.topic, p.partition, p.offset
        )
        for p in produced
    ]
    expected.process(held, merchants, rules)
    assert broken(invariants(spark, settings, expected, produced, PARTITIONS)) == {}
    quarantined = read(spark, settings.storage, QUARANTINE)
    (row,) = quarantined.where(f"offset = {culprit.offset} AND partition = {culprit.partition}").collect()
    assert row.error == "held by an operator: INC-1234"


def failing_on(condition: str):
    """Stages that fail wherever `condition` holds for some record of the batch."""

    def stages(records):
        return [records.withColumn("checked", F.when(F.expr(condition), F.raise_error(F.lit(FAULT))))]

    return stages


def test_the_guard_names_the_one_record_and_no_record_when_none_is_to_blame(spark):
    records = spark.createDataFrame(
        [("t", p, o) for p in range(2) for o in range(40)], "topic string, partition long, offset long"
    )
    assert guard.culprit(records, failing_on("partition = 1 AND offset = 17")) == ("t", 1, 17)
    assert guard.culprit(records, failing_on("false")) is None
    assert guard.culprit(records, failing_on("true")) is None  # every record fails: a stage, not a record
    # Two records fail only together: no one of them is to blame.
    together = "count(*) OVER (PARTITION BY topic) = 80"
    assert (
        guard.culprit(
            records,
            lambda some: [
                some.withColumn("n", F.expr(together)).withColumn(
                    "checked", F.when(F.col("n"), F.raise_error(F.lit(FAULT)))
                )
            ],
        )
        is None
    )


def test_an_error_that_says_what_it_is_is_recorded_without_looking_for_a_record(spark, tmp_path):
    storage = harness.fresh_settings(tmp_path).storage
    create_tables(spark, storage)
    records = spark.createDataFrame([("t", 0, o) for o in range(5, 7)], "topic string, partition long, offset long")
    error = replay.LogTooShort("payment_log: its log starts at version 10")

    failure = guard.investigate(spark, storage, "query", 3, records, error, failing_on("true"))

    assert failure.line("t") == "batch 3 (t 0:5-7) failed: payment_log: its log starts at version 10"
    (row,) = read(spark, storage, BATCH_FAILURES).collect()
    assert (row.batch_id, row.offsets, row.error, row.offset) == (3, "0:5-7", str(error), None)
