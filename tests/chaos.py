"""The chaos run: the real job under SIGKILL, a broker outage, reference changes and OPTIMIZE.

    python -m tests.chaos --payments 200000 --kills 10        (or: make chaos PAYMENTS=… KILLS=…)

While payments are produced in chunks, `spark-submit jobs/settlement.py` runs continuously and its
driver is killed with SIGKILL (its whole process group) at chosen moments: right after a
payment_log commit (inside foreachBatch, while the base is written beside it), right after the base
MERGE (before the statistics), and at random. The broker is stopped for a while and started again;
a payout rule and a merchant change at a batch boundary the run controls (after an --available-now
catch-up); OPTIMIZE compacts the base and the statistics beside the stream. At the end the tables are checked
against tests/reference.py, with batch membership read from the checkpoint's offset log.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession

from settlement import maintenance, reference
from settlement.broker import create_topics
from settlement.config import Settings, load_settings
from settlement.sample import Produced, generate, produce
from settlement.session import spark_session
from settlement.tables import (
    APPROVAL_DAILY_STATS,
    CONFLICTS,
    PAYMENT_LOG,
    SETTLEMENT_BASE,
    MerchantRow,
    create_tables,
)
from tests.harness import (
    CHANGED_MERCHANT,
    CHANGED_RULE,
    ROOT,
    Job,
    batch_ends,
    by_batch,
    change_reference,
    checkpoint_batches,
    delta_commits,
)
from tests.invariants import invariants
from tests.reference import Expected, read_csv

PARTITIONS = 4
KILL_POINTS = ("after a payment_log commit", "after the base MERGE", "at random")


@dataclass
class Report:
    produced: int = 0
    malformed: int = 0
    kills: Counter = field(default_factory=Counter)
    restarts: int = 0
    exits_on_their_own: int = 0
    replayed_batches: int = 0
    broker_outage_s: float = 0.0
    reference_change_after_batch: int | None = None
    optimize_done: int = 0
    optimize_conflicts: int = 0
    conflict_retries: int = 0
    batches: int = 0
    seconds: float = 0.0
    invariants: dict[str, str | None] = field(default_factory=dict)

    def held(self) -> bool:
        return all(problem is None for problem in self.invariants.values())

    def text(self) -> str:
        kills = ", ".join(f"{where} ×{n}" for where, n in self.kills.items())
        lines = [
            f"Chaos run: {self.produced:,} records produced ({self.malformed} malformed) on {PARTITIONS} partitions, "
            f"{self.batches} batches, {self.seconds:.0f} s",
            f"  kills (SIGKILL of the driver): {sum(self.kills.values())} ({kills})",
            f"  restarts: {self.restarts}; exits on their own: {self.exits_on_their_own}; "
            f"replayed batches: {self.replayed_batches}",
            f"  broker outage: {self.broker_outage_s:.0f} s; reference data changed after batch "
            f"{self.reference_change_after_batch}",
            f"  OPTIMIZE beside the stream: {self.optimize_done} done, {self.optimize_conflicts} refused by a conflict;"
            f" job writes retried after a conflict: {self.conflict_retries}",
            "  invariants:",
        ]
        for name, problem in self.invariants.items():
            lines.append(
                f"    {'held  ' if problem is None else 'BROKEN'} {name}" + (f": {problem}" if problem else "")
            )
        return "\n".join(lines)


class Chaos:
    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        workdir: Path,
        payments: int,
        kills: int,
        seed: int = 5,
        batch_size: int = 4000,
    ) -> None:
        self.spark, self.settings, self.workdir = spark, settings, workdir
        self.payments, self.kill_count, self.rng = payments, kills, random.Random(seed)
        self.seed, self.report = seed, Report()
        self.job = Job(settings, workdir / "job.log", batch_size)
        self.lake = Path(settings.storage.root)
        self.checkpoint = Path(settings.storage.checkpoint)
        self.produced: list[Produced] = []
        self.done = threading.Event()

    # -- what runs beside the job ------------------------------------------------------------

    def _produce(self, records: list, pieces: int = 5, pace_s: float = 2.0) -> threading.Thread:
        """Produce `records` in pieces, `pace_s` apart, beside whatever the run does meanwhile."""

        def send() -> None:
            size = max(1, -(-len(records) // pieces))
            for start in range(0, len(records), size):
                self.produced.extend(produce(records[start : start + size], self.settings.kafka))
                time.sleep(pace_s)

        thread = threading.Thread(target=send)
        thread.start()
        return thread

    def _maintain(self) -> None:
        while not self.done.wait(20):
            for name in (SETTLEMENT_BASE, APPROVAL_DAILY_STATS):
                try:
                    maintenance.compact(self.spark, self.settings.storage, name)
                    self.report.optimize_done += 1
                except CONFLICTS:  # lost to a batch: tried again next round
                    self.report.optimize_conflicts += 1

    # -- what is done to the job ------------------------------------------------------------

    def _wait_until(self, happened: Callable[[], bool], timeout: float = 180) -> None:
        """Until `happened()`, or the job stops, or time is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.job.running() and not happened():
            time.sleep(0.05)

    def _wait_for_commit(self, table: str, operation: str | None) -> None:
        """Until the job commits to `table` (with `operation`, if given), or stops, or time is up."""
        path = self.lake / table
        seen = len(delta_commits(path))

        def committed() -> bool:
            nonlocal seen
            commits = delta_commits(path)
            if len(commits) > seen:
                if operation is None or f'"operation":"{operation}"' in commits[-1].read_text():
                    return True
                seen = len(commits)
            return False

        self._wait_until(committed)

    def _wait_for_batch(self) -> None:
        """Until the job commits a batch to its checkpoint, or stops, or time is up."""
        seen = checkpoint_batches(self.checkpoint, "commits")
        self._wait_until(lambda: checkpoint_batches(self.checkpoint, "commits") != seen)

    def _kill(self, where: str) -> None:
        if where == KILL_POINTS[0]:
            self._wait_for_commit(PAYMENT_LOG, None)
        elif where == KILL_POINTS[1]:
            self._wait_for_commit(SETTLEMENT_BASE, "MERGE")
        else:
            time.sleep(self.rng.uniform(5, 40))
        if self.job.running():
            self.job.kill()
            self.report.kills[where] += 1
        else:
            self.report.exits_on_their_own += 1

    def _restart(self, available_now: bool = False) -> None:
        offsets, commits = (
            checkpoint_batches(self.checkpoint, "offsets"),
            checkpoint_batches(self.checkpoint, "commits"),
        )
        if offsets and (not commits or offsets[-1] > commits[-1]):
            self.report.replayed_batches += 1
        self.job.start(available_now)
        self.report.restarts += 1

    def _catch_up(self) -> None:
        """Run --available-now to its end: the checkpoint then stands at a batch boundary."""
        self._restart(available_now=True)
        if (code := self.job.wait(1800)) != 0:
            raise RuntimeError(f"--available-now exited {code}; see {self.job.log}")

    def _broker_outage(self, seconds: float) -> None:
        started = time.monotonic()
        subprocess.run([str(ROOT / "bin/kafka.sh"), "stop"], check=True, capture_output=True)
        time.sleep(seconds)
        subprocess.run([str(ROOT / "bin/kafka.sh"), "start"], check=True, capture_output=True)
        self.report.broker_outage_s = time.monotonic() - started

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> Report:
        started = time.monotonic()
        kafka = self.settings.kafka
        create_topics(kafka, {kafka.payment_topic: PARTITIONS, kafka.statistics_topic: 2})
        create_tables(self.spark, self.settings.storage)
        reference.load(self.spark, self.settings)
        merchants = read_csv(self.settings.reference.merchants)
        rules = read_csv(self.settings.reference.payout_rules)
        records = generate(
            self.payments, [MerchantRow(**m) for m in merchants], partitions=PARTITIONS, seed=self.seed, id_prefix="C"
        )
        phases = [records[n :: self.kill_count + 1] for n in range(self.kill_count + 1)]
        compactor = threading.Thread(target=self._maintain, daemon=True)
        self.job.start()
        compactor.start()
        for kill, phase in enumerate(phases[:-1]):
            producer = self._produce(sorted(phase, key=lambda record: record.arrival))
            self._kill(KILL_POINTS[kill % len(KILL_POINTS)])
            if kill == self.kill_count // 2:
                producer.join()
                self._catch_up()
                self.report.reference_change_after_batch = checkpoint_batches(self.checkpoint, "commits")[-1]
                change_reference(self.spark, self.settings, self.workdir, merchants, rules)
            self._restart()
            if kill == 0:
                # On a job that streams: one still starting finds no broker and exits, and the next
                # kill point would find no job to kill.
                self._wait_for_batch()
                self._broker_outage(15)  # the job rides it out, or exits and is restarted at the next kill
            producer.join()
        self._produce(sorted(phases[-1], key=lambda record: record.arrival)).join()
        self.job.kill()
        self.report.kills["at the end, to drain with --available-now"] += 1
        self._catch_up()
        self.done.set()
        compactor.join()
        self.report.conflict_retries = self.job.log.read_text().count("concurrent commit")
        self._check(merchants, rules)
        self.report.seconds = time.monotonic() - started
        return self.report

    def _check(self, merchants: list[dict], rules: list[dict]) -> None:
        self.report.produced = len(self.produced)
        self.report.malformed = sum(1 for p in self.produced if p.record.malformed)
        batches = by_batch(self.produced, batch_ends(self.checkpoint, self.settings.kafka.payment_topic))
        self.report.batches = len(batches)
        expected = Expected()
        boundary = self.report.reference_change_after_batch
        for n, batch in enumerate(batches):
            if n <= boundary:
                expected.process(batch, merchants, rules)
            else:
                expected.process(batch, [*merchants, CHANGED_MERCHANT], [*rules, CHANGED_RULE])
        checks = invariants(self.spark, self.settings, expected, self.produced, PARTITIONS)
        self.report.invariants = {name: check() for name, check in checks.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=200_000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=10_000, help="the job's maxOffsetsPerTrigger")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".local/chaos")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    run = uuid.uuid4().hex[:8]
    settings = load_settings(
        kafka={"payment_topic": f"chaos-{run}", "statistics_topic": f"chaos-statistics-{run}"},
        storage={"root": str(args.workdir / "lake"), "checkpoint": str(args.workdir / "checkpoint")},
    )
    spark = spark_session(settings.spark, "settlement-chaos")
    report = Chaos(spark, settings, args.workdir, args.payments, args.kills, batch_size=args.batch_size).run()
    print(report.text())
    return 0 if report.held() else 1


if __name__ == "__main__":
    sys.exit(main())
