"""Monitoring against the real broker and stream: the metrics endpoint scraped over HTTP agrees with
the tables; `status` tells a healthy stream, a lagging one and a stopped one apart; the batch log
line as JSON."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pyspark.sql import functions as F

from settlement import cli, logs, metrics, reference, topology
from settlement.broker import create_topics
from settlement.contract import Channel
from settlement.sample import SampleRecord, generate, produce
from settlement.tables import DAY_CLOSE, PAYMENT_LOG, QUARANTINE, SETTLEMENT_BASE, SETTLEMENT_BATCHES, MerchantRow, read
from tests import harness
from tests.reference import read_csv

PARTITIONS = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port: int) -> dict[str, dict[tuple, float]]:
    """The endpoint's samples: name -> labels (sorted pairs) -> value."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def yesterday(settings) -> date:
    return settings.spark.today() - timedelta(days=1)


def recent_sample(settings, payments: int, seed: int) -> list[SampleRecord]:
    """Payments of ten days ago (a Kafka broker refuses timestamps much ahead of its clock, and
    some copies arrive days late), and every partition's FINISH for yesterday, sent now: day close
    then shows among the recent days."""
    merchants = [MerchantRow(**m) for m in read_csv(settings.reference.merchants)]
    old = generate(
        payments, merchants, first_day=yesterday(settings) - timedelta(days=9), partitions=PARTITIONS, seed=seed
    )
    now = datetime.now(UTC)
    finish = [
        SampleRecord(
            None,
            json.dumps(
                {"channel": channel.value, "action": "FINISH", "data": {"closingDate": str(yesterday(settings))}}
            ),
            now,
            partition=partition,
        )
        for channel in Channel
        for partition in range(PARTITIONS)
    ]
    return old + finish


def test_the_metrics_endpoint_agrees_with_the_tables(spark, settings):
    port = free_port()
    settings = settings.model_copy(
        update={
            "monitoring": settings.monitoring.model_copy(update={"metrics_port": port}),
            "stream": settings.stream.model_copy(update={"trigger_interval": "1 second"}),
        }
    )
    create_topics(settings.kafka, {settings.kafka.payment_topic: PARTITIONS, settings.kafka.statistics_topic: 1})
    reference.load(spark, settings)
    produce(recent_sample(settings, 3000, seed=61), settings.kafka)
    served = metrics.serve(spark, settings)
    assert served is not None
    query = topology.start(spark, settings, settlement=topology.Settlement(spark, settings, served))
    try:
        query.processAllAvailable()
        storage = settings.storage
        batches = read(spark, storage, SETTLEMENT_BATCHES).count()
        deadline = time.monotonic() + 60
        while scrape(port)["settlement_batches_total"][()] < batches and time.monotonic() < deadline:
            time.sleep(0.5)  # the listener hears of the last batch a moment after it commits
        seen = scrape(port)
        assert seen["settlement_stream_up"][()] == 1
    finally:
        query.stop()
        served.close()

    def one(name: str) -> float:
        return seen[name][()]

    base = read(spark, storage, SETTLEMENT_BASE)
    totals = read(spark, storage, SETTLEMENT_BATCHES).agg(*(F.sum(c).alias(c) for c in ("duplicates", "finish")))
    duplicates, finish = totals.first()
    assert one("settlement_records_total") == read(spark, storage, PAYMENT_LOG).count() > 0
    assert one("settlement_quarantined_total") == read(spark, storage, QUARANTINE).count() > 0
    assert one("settlement_duplicates_total") == duplicates > 0
    assert one("settlement_finish_markers_total") == finish > 0
    per_classification = {row.classification: row["count"] for row in base.groupBy("classification").count().collect()}
    accepted = {dict(labels)["classification"]: value for labels, value in seen["settlement_accepted_total"].items()}
    assert {c: n for c, n in accepted.items() if n} == per_classification
    assert one("settlement_batches_total") == batches
    assert one("settlement_last_batch_id") == read(spark, storage, SETTLEMENT_BATCHES).agg(F.max("batch_id")).first()[0]
    assert time.time() - one("settlement_last_batch_timestamp_seconds") < 120
    behind = seen["settlement_offsets_behind_latest"]
    assert sorted(dict(labels)["partition"] for labels in behind) == [str(p) for p in range(PARTITIONS)]
    assert set(behind.values()) == {0}
    stages = {dict(labels)["stage"] for labels in seen["settlement_stage_seconds_total"]}
    assert {"read, validate, dedup", "payment_log", "classify, payout rule, base"} <= stages
    days = {
        (row.channel, str(row.closing_date)): float(row.closed_at is not None)
        for row in read(spark, storage, DAY_CLOSE).collect()
        if row.closing_date >= settings.spark.today() - timedelta(days=metrics.DAY_CLOSE_DAYS)
    }
    shown = {
        (dict(labels)["channel"], dict(labels)["closing_date"]): value
        for labels, value in seen["settlement_day_close_complete"].items()
    }
    assert shown == days and 1.0 in shown.values()


@pytest.fixture(scope="module")
def ran(spark, broker_up, tmp_path_factory):
    """A stream that ran everything in its topic (--available-now): its settings."""
    settings = harness.fresh_settings(tmp_path_factory.mktemp("status"))
    create_topics(settings.kafka, {settings.kafka.payment_topic: PARTITIONS, settings.kafka.statistics_topic: 1})
    reference.load(spark, settings)
    produce(recent_sample(settings, 2000, seed=62), settings.kafka)
    harness.run_job(spark, settings)
    return settings


def status(settings, **monitoring: str) -> tuple[int, dict, str]:
    """`python -m settlement status` (JSON, then text) with these monitoring thresholds."""
    env = {f"SETTLEMENT_MONITORING__{key.upper()}": value for key, value in monitoring.items()}
    with mock.patch.dict(os.environ, env):
        code, out, _ = harness.command(cli.main, settings, "status", "--format", "json")
        text_code, text, _ = harness.command(cli.main, settings, "status")
    assert text_code == code
    return code, json.loads(out), text


def test_status_of_a_healthy_stream(ran):
    code, found, text = status(ran)
    assert code == 0, text
    assert found["status"] == "healthy" and found["findings"] == []
    assert found["stream"]["last_batch"] is not None and sum(found["lag"].values()) == 0
    assert found["batches"] and found["quarantine"]["records"] > 0
    closed = {(d["channel"], d["closing_date"]): d["closed"] for d in found["day_close"]}
    assert closed[("ONLINE", str(yesterday(ran)))] and closed[("OFFLINE", str(yesterday(ran)))], closed
    assert text.splitlines()[0].endswith("HEALTHY")


def test_status_of_a_stream_whose_lag_grows_and_of_a_stopped_one(ran):
    waiting = produce(recent_sample(ran, 300, seed=63), ran.kafka)
    code, found, text = status(ran, lag_warning_records="10")
    assert code == 1, text
    assert sum(found["lag"].values()) == len(waiting)
    assert found["findings"] == [
        {"level": "needs a look", "what": f"lagging: {len(waiting):,} records not read (warning above 10)"}
    ]
    code, found, text = status(ran, stalled_minutes="0.001")
    assert code == 2, text
    (finding,) = found["findings"]
    assert finding["what"].startswith(f"stopped: {len(waiting):,} records wait and no batch committed for ")
    assert text.splitlines()[0].endswith("STOPPED OR BEHIND")
    code, found, text = status(ran, lag_critical_records="10")
    assert code == 2 and found["findings"][0]["what"].startswith("behind: "), text


def test_the_batch_line_as_json(spark, settings, caplog):
    create_topics(settings.kafka, {settings.kafka.payment_topic: PARTITIONS, settings.kafka.statistics_topic: 1})
    reference.load(spark, settings)
    produce(recent_sample(settings, 200, seed=64), settings.kafka)
    formatter = logs.JsonLines()
    with caplog.at_level(logging.INFO, logger="settlement"):
        harness.run_job(spark, settings)
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.getMessage().startswith("batch ")]
    assert lines
    batches = {row.batch_id: row for row in read(spark, settings.storage, SETTLEMENT_BATCHES).collect()}
    for line in lines:
        row = batches[line["batch_id"]]
        assert (line["records_in"], line["quarantined"], line["accepted"]) == (
            row.records_in,
            row.quarantined,
            row.accepted,
        )
        assert line["level"] == "INFO" and "read, validate, dedup" in line["stage_seconds"]
