"""The job's health for Prometheus, served by the driver on `monitoring.metrics_port`.

Three sources, each where it is known best:

- the batch function (`Settlement.process`) counts what each batch did: records, quarantined,
  duplicates, accepted per classification, FINISH markers, seconds per stage;
- a `StreamingQueryListener` sees every batch the query commits: when, how long, how far it read
  per partition, the dedup state's rows and bytes;
- at each scrape, the broker's latest offsets against what the stream has read (so lag shows even
  while a batch hangs), and day close from the `day_close` table (a few rows a day).

Prometheus adds the rest: `time() - settlement_last_batch_timestamp_seconds` is the time since the
last committed batch; `conf/prometheus/settlement-rules.yml` has the alerts built on these.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

import pandas as pd
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQueryListener

from settlement import broker
from settlement.config import Settings
from settlement.contract import Classification
from settlement.exits import CannotRun
from settlement.tables import SettlementBatchRow

log = logging.getLogger("settlement")

# How many closing dates back day close is shown.
DAY_CLOSE_DAYS = 7


class Metrics:
    """The settlement's own metrics, in a registry of their own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        registry = self.registry
        self.records = Counter("settlement_records", "Records read from the payment topic.", registry=registry)
        self.quarantined = Counter("settlement_quarantined", "Records quarantined, held ones too.", registry=registry)
        self.duplicates = Counter(
            "settlement_duplicates", "Valid payments not accepted: a copy of one accepted before.", registry=registry
        )
        self.accepted = Counter(
            "settlement_accepted", "Payments accepted into the base.", ["classification"], registry=registry
        )
        self.finish = Counter("settlement_finish_markers", "FINISH markers read.", registry=registry)
        self.stage_seconds = Counter(
            "settlement_stage_seconds", "Seconds the batch function spent per stage.", ["stage"], registry=registry
        )
        self.batches = Counter("settlement_batches", "Micro-batches committed that read records.", registry=registry)
        self.last_batch = Gauge(
            "settlement_last_batch_timestamp_seconds",
            "When the last micro-batch that read records committed (Unix time).",
            registry=registry,
        )
        self.last_batch_id = Gauge("settlement_last_batch_id", "The last committed batch's id.", registry=registry)
        self.batch_seconds = Gauge(
            "settlement_last_batch_duration_seconds", "How long the last micro-batch took.", registry=registry
        )
        self.state_bytes = Gauge(
            "settlement_dedup_state_bytes", "Memory the dedup state's store reports using.", registry=registry
        )
        self.up = Gauge("settlement_stream_up", "1 while the streaming query runs.", registry=registry)
        # Until a batch commits, the time since the last one counts from the start.
        self.last_batch.set(time.time())
        self._read_to: dict[int, int] = {}  # per partition, the offset the stream reads next
        self._lock = threading.Lock()
        self._server: Any = None
        self._listening: tuple[SparkSession, Listener] | None = None
        registry.register(_Scraped(self))

    def serve(self, port: int) -> None:
        try:
            self._server, _ = start_http_server(port, registry=self.registry)
        except OSError as error:
            raise CannotRun(f"cannot serve metrics on port {port}: {error.strerror}") from None
        log.info("metrics on http://0.0.0.0:%d/metrics", port)

    def listen(self, spark: SparkSession) -> None:
        """Follow the progress of the settlement query `spark` runs."""
        listener = Listener(self, self.settings.stream.query_name)
        spark.streams.addListener(listener)
        self._listening = (spark, listener)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._listening is not None:
            spark, listener = self._listening
            spark.streams.removeListener(listener)

    def batch(self, counts: SettlementBatchRow, stages: Mapping[str, float]) -> None:
        """What one batch did (the batch function, once the batch's writes are in)."""
        self.records.inc(counts.records_in)
        self.quarantined.inc(counts.quarantined)
        self.duplicates.inc(counts.duplicates)
        self.finish.inc(counts.finish)
        for classification in Classification:
            self.accepted.labels(classification.value).inc(getattr(counts, classification.value.lower()))
        for stage, seconds in stages.items():
            self.stage_seconds.labels(stage).inc(seconds)

    def progress(self, progress: Any) -> None:
        """A committed batch as the query reports it."""
        if progress.numInputRows:
            self.batches.inc()
            self.last_batch.set(time.time())
            self.batch_seconds.set(progress.durationMs.get("triggerExecution", 0) / 1000)
        self.last_batch_id.set(progress.batchId)
        operators = progress.stateOperators or []
        self.state_bytes.set(sum(o.memoryUsedBytes for o in operators))
        if progress.sources:
            end = progress.sources[0].endOffset
            end = json.loads(end) if isinstance(end, str) else end
            topic = self.settings.kafka.payment_topic
            with self._lock:
                self._read_to = {int(p): int(o) for p, o in (end or {}).get(topic, {}).items()}

    def read_to(self) -> dict[int, int]:
        with self._lock:
            return dict(self._read_to)


class _Scraped(Collector):
    """What is asked for at each scrape: lag against the broker now, and day close."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        settings = self.metrics.settings
        behind = GaugeMetricFamily(
            "settlement_offsets_behind_latest",
            "Records in the payment topic the stream has not read yet, per partition.",
            labels=["partition"],
        )
        read_to = self.metrics.read_to()
        if read_to:
            try:
                latest = broker.offsets(settings.kafka, settings.kafka.payment_topic)
            except broker.BrokerError as error:
                log.warning("metrics: %s", error)
            else:
                for partition, (_, high) in sorted(latest.items()):
                    behind.add_metric([str(partition)], max(0, high - read_to.get(partition, 0)))
        yield behind
        yield from day_close_metrics(settings)


def day_close_metrics(settings: Settings) -> Iterator[GaugeMetricFamily]:
    """Per (channel, closing date) of the last `DAY_CLOSE_DAYS`: complete or not; per channel, the
    start of its latest complete closing date."""
    from settlement.lake import Lake  # deltalake: only when scraped

    complete = GaugeMetricFamily(
        "settlement_day_close_complete",
        "1 when every partition has sent its FINISH for the channel's closing date, else 0.",
        labels=["channel", "closing_date"],
    )
    latest = GaugeMetricFamily(
        "settlement_last_closed_day_timestamp_seconds",
        "The start of the channel's latest complete closing date (Unix time, in the job's time zone).",
        labels=["channel"],
    )
    zone = settings.spark.zone
    days = Lake(settings).recent_day_close(DAY_CLOSE_DAYS)
    closed: dict[str, date] = {}
    for row in days.itertuples():
        done = bool(pd.notna(row.closed_at))
        complete.add_metric([row.channel, str(row.closing_date)], 1.0 if done else 0.0)
        if done:
            closed[row.channel] = max(closed.get(row.channel, row.closing_date), row.closing_date)
    for channel, day in sorted(closed.items()):
        latest.add_metric([channel], datetime.combine(day, datetime.min.time(), zone).timestamp())
    yield complete
    yield latest


class Listener(StreamingQueryListener):
    """Hands the query's progress to `Metrics` (Spark calls it from its listener thread)."""

    def __init__(self, metrics: Metrics, query_name: str) -> None:
        self.metrics, self.query_name = metrics, query_name

    def onQueryStarted(self, event: Any) -> None:
        if event.name == self.query_name:
            self.metrics.up.set(1)

    def onQueryProgress(self, event: Any) -> None:
        if event.progress.name == self.query_name:
            self.metrics.progress(event.progress)

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        self.metrics.up.set(0)


def serve(spark: SparkSession, settings: Settings) -> Metrics | None:
    """The settlement's metrics on `monitoring.metrics_port`, fed by a listener on `spark`'s queries;
    None when no port is set."""
    port = settings.monitoring.metrics_port
    if port is None:
        return None
    metrics = Metrics(settings)
    metrics.serve(port)
    metrics.listen(spark)
    return metrics
