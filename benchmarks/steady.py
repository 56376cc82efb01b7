"""The job running continuously under a producer at a fixed rate: latency, keeping up, memory, state;
for a long run, with the maintenance job on its schedule beside it, whether batches stay as fast."""

from __future__ import annotations

import json
import statistics as stats
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQueryListener

from benchmarks.measure import fresh, ids_added
from settlement import maintenance, reference, replay, topology
from settlement.arguments import one_line
from settlement.broker import create_topics
from settlement.config import Settings
from settlement.tables import SETTLEMENT_BASE, create_tables, read

SAMPLE_EVERY = 2.0  # seconds


@dataclass
class Sample:
    at: float  # seconds since production started
    processed: int
    ids_added: int  # to the dedup state, by the run's batches so far
    state_bytes: int
    driver_rss: int
    workers_rss: int


class Batches(StreamingQueryListener):
    """Every batch that read records: when it ended (seconds since `started`) and how long it took;
    and the dedup state: the ids the batches added, the bytes its store last reported. (The query's
    own `recentProgress` keeps only the last hundred.)"""

    def __init__(self, started: float) -> None:
        self.started, self.ended, self.ids_added, self.state_bytes = started, [], 0, 0

    def onQueryStarted(self, event) -> None:
        pass

    def onQueryProgress(self, event) -> None:
        if event.progress.numInputRows:
            self.ended.append((time.monotonic() - self.started, event.progress.durationMs["triggerExecution"] / 1000))
        self.ids_added += ids_added(event.progress)
        self.state_bytes = sum(o.memoryUsedBytes for o in event.progress.stateOperators or [])

    def state(self) -> tuple[int, int]:
        return self.ids_added, self.state_bytes

    def onQueryIdle(self, event) -> None:
        pass

    def onQueryTerminated(self, event) -> None:
        pass


@dataclass
class Steady:
    rate: int
    seconds: float
    samples: list[Sample] = field(default_factory=list)
    latency: dict[str, float] = field(default_factory=dict)
    batches: list[tuple[float, float]] = field(default_factory=list)  # (ended at, seconds)
    drain_seconds: float = 0.0  # from the producer's last record to the job's having read it
    maintenance_runs: list[dict] = field(default_factory=list)

    @property
    def batch_seconds(self) -> list[float]:
        return [seconds for _, seconds in self.batches]

    def window_median(self, first: bool, window: float) -> float | None:
        """The median batch time of the first (or last) `window` seconds of production."""
        inside = [
            s for at, s in self.batches if (at <= window if first else self.seconds - window < at <= self.seconds)
        ]
        return round(stats.median(inside), 2) if inside else None

    @property
    def kept_up(self) -> bool:
        """The job was at most two batches behind when production stopped. (A job falling behind
        ends minutes behind; the processed count itself only moves once a batch, so comparing
        rates over a window would be off by a batch either way.)"""
        return bool(self.batch_seconds) and self.drain_seconds <= 2 * stats.median(self.batch_seconds) + 2

    def summary(self) -> dict:
        half = [s for s in self.samples if s.at >= self.seconds / 2]
        first, last = half[0], half[-1]
        return {
            "rate": self.rate,
            "seconds": self.seconds,
            "kept_up": self.kept_up,
            "drain_seconds": round(self.drain_seconds, 1),
            "latency_seconds": self.latency,
            "batches": len(self.batch_seconds),
            "median_batch_seconds": round(stats.median(self.batch_seconds), 2) if self.batch_seconds else None,
            "ids_added": {"mid": first.ids_added, "end": last.ids_added},
            "state_bytes": {"mid": first.state_bytes, "end": last.state_bytes},
            "peak_driver_rss_mib": round(max(s.driver_rss for s in self.samples) / 2**20),
            "peak_python_workers_rss_mib": round(max(s.workers_rss for s in self.samples) / 2**20),
        }

    def long_summary(self, window: float) -> dict:
        first, last = self.window_median(True, window), self.window_median(False, window)
        return {
            **self.summary(),
            "window_seconds": window,
            "median_batch_seconds_first_window": first,
            "median_batch_seconds_last_window": last,
            "growth": round(last / first, 2) if first and last else None,
            "maintenance_runs": self.maintenance_runs,
        }


def _memory() -> tuple[int, int]:
    """RSS of the driver's JVM and of the Python workers (children of this process)."""
    driver = workers = 0
    for process in psutil.Process().children(recursive=True):
        try:  # a process may end between the listing and these reads
            name, command = process.name(), " ".join(process.cmdline())
            rss = process.memory_info().rss
        except psutil.Error:
            continue
        if name == "java":
            driver += rss
        elif "pyspark" in command:
            workers += rss
    return driver, workers


class PeakMemory:
    """The highest RSS of the driver's JVM and of the Python workers since the last `take`,
    sampled twice a second in the background."""

    def __init__(self) -> None:
        self.driver = self.workers = 0
        threading.Thread(target=self._sampling, daemon=True).start()

    def _sampling(self) -> None:
        while True:
            driver, workers = _memory()
            self.driver, self.workers = max(self.driver, driver), max(self.workers, workers)
            time.sleep(0.5)

    def take(self) -> dict[str, int]:
        """The peaks in MiB, and start again."""
        peaks = {"driver": round(self.driver / 2**20), "python_workers": round(self.workers / 2**20)}
        self.driver = self.workers = 0
        return peaks


def _processed(query) -> int:
    """Records the query has read: the sum of its last batch's end offsets."""
    progress = query.lastProgress
    if not progress or not progress.sources:
        return 0
    end = progress.sources[0].endOffset
    end = json.loads(end) if isinstance(end, str) else end
    return sum(int(offset) for partitions in (end or {}).values() for offset in partitions.values())


def commit_times(table: Path) -> dict[int, float]:
    """The time (epoch seconds) of each of the stream's commits to a table, by batch id (the
    batch its commit info marks: `settlement.replay`)."""
    times = {}
    for commit in sorted((table / "_delta_log").glob("*.json")):
        actions = [json.loads(line) for line in commit.read_text().splitlines() if line]
        info = next((a["commitInfo"] for a in actions if "commitInfo" in a), None)
        if info and (batch := replay.read_mark(info.get("userMetadata"))):
            times[batch[1]] = info["timestamp"] / 1000
    return times


def _maintaining(spark: SparkSession, settings: Settings, every: float, stop: threading.Event, steady: Steady) -> None:
    """The maintenance job's work (compaction, VACUUM) every `every` seconds, beside the stream."""
    started = time.monotonic()
    while not stop.wait(every):
        clock, run = time.monotonic(), {"at": round(time.monotonic() - started)}
        try:
            done = maintenance.maintain(spark, settings.storage, settings.maintenance.vacuum_retention_hours)
            run["files"] = {t.name: [t.files_before, t.files_after] for t in done}
        except Exception as error:  # a conflict with the stream: the next run compacts
            run["failed"] = one_line(error)
        run["seconds"] = round(time.monotonic() - clock, 1)
        steady.maintenance_runs.append(run)


def run(
    spark: SparkSession, settings: Settings, rate: int, seconds: float, trigger: str, maintain_every: float = 0
) -> Steady:
    """The job under `rate` records a second for `seconds`; with `maintain_every`, maintenance too."""
    settings = fresh(settings, f"steady-{rate}")
    topic = f"bench-steady-{rate}-{int(time.time())}"
    kafka = settings.kafka.model_copy(update={"payment_topic": topic, "statistics_topic": f"{topic}-statistics"})
    settings = settings.model_copy(
        update={"kafka": kafka, "stream": settings.stream.model_copy(update={"trigger_interval": trigger})}
    )
    create_topics(kafka, {topic: 6, kafka.statistics_topic: 1})
    create_tables(spark, settings.storage)
    reference.load(spark, settings)
    producer = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.producer", "--topic", topic, "--rate", str(rate), "--seconds", str(seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if producer.stdout.readline().strip() != "ready":
        raise RuntimeError("the producer did not start")
    steady, stop = Steady(rate, seconds), threading.Event()
    started = time.monotonic()
    batches = Batches(started)
    spark.streams.addListener(batches)
    query = topology.start(spark, settings)
    try:
        producer.stdin.write("go\n")
        producer.stdin.flush()
        started = batches.started = time.monotonic()
        if maintain_every:
            threading.Thread(
                target=_maintaining, args=(spark, settings, maintain_every, stop, steady), daemon=True
            ).start()

        def sample() -> None:
            while not stop.is_set():
                at = time.monotonic() - started
                steady.samples.append(Sample(at, _processed(query), *batches.state(), *_memory()))
                stop.wait(SAMPLE_EVERY)

        threading.Thread(target=sample, daemon=True).start()
        producer.wait(timeout=seconds + 600)
        sent, ended = int(producer.stdout.read().split()[-1]), time.monotonic()
        while _processed(query) < sent and time.monotonic() < ended + 600 and query.isActive:
            time.sleep(0.5)
        steady.drain_seconds = time.monotonic() - ended
    finally:
        stop.set()
        producer.kill()
        query.stop()
        spark.streams.removeListener(batches)
    steady.batches = list(batches.ended)
    if query.exception():
        raise RuntimeError(f"the job failed under load: {query.exception()}")
    commits = commit_times(Path(settings.storage.table(SETTLEMENT_BASE)))
    rows = (
        read(spark, settings.storage, SETTLEMENT_BASE)
        .select((F.unix_micros("kafka_timestamp") / 1e6).alias("sent"), "batch_id")
        .toPandas()
    )
    latency = rows["batch_id"].map(commits) - rows["sent"]
    steady.latency = {f"p{q}": round(float(latency.quantile(q / 100)), 2) for q in (50, 95, 99)}
    return steady
