"""`python -m benchmarks.profile EVENT_LOG`: where a streaming query's batches spend their time,
from Spark's event log.

The job names each stage of a batch in the description of the Spark jobs it starts
(`settlement.topology.timed`), so the log says which stage every job served. Per stage: its jobs,
their wall time, and the time their tasks ran (on the executors' cores); per batch: its wall time
and how much of it no job was running. Time the cores did not spend in tasks they spent on the
driver's work (planning, Delta's log and commits, Python) or idle.

Make the log with `--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=DIR` (spark-submit,
or PYSPARK_SUBMIT_ARGS before a session is made). Spark compresses it with zstd by default; the
`zstd` command reads it, or add `--conf spark.eventLog.compress=false`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from settlement.arguments import OneLineParser
from settlement.exits import CannotRun, Exit, report

# A job the batch's stages did not start: the stream's own (offsets, state, commit log).
STREAM = "(the stream's own)"
_BATCH = "streaming.sql.batchId"
_QUERY = "sql.streaming.queryId"
_STAGE = re.compile(r"batch = \d+ - (.+?)(?: - |: |$)", re.DOTALL)


@dataclass
class Job:
    query: str
    batch: int
    stage: str
    start: int  # ms
    end: int = 0
    task_ms: int = 0
    task_cpu_ns: int = 0


@dataclass
class Stage:
    jobs: int = 0
    wall_ms: int = 0
    task_ms: int = 0
    task_cpu_ns: int = 0


@dataclass
class Batch:
    batch: int
    jobs: list[Job] = field(default_factory=list)

    @property
    def wall_ms(self) -> int:
        return max(job.end for job in self.jobs) - min(job.start for job in self.jobs)

    @property
    def idle_ms(self) -> int:
        """Wall time in which none of the batch's jobs ran."""
        ordered = sorted(self.jobs, key=lambda job: job.start)
        busy, reach = 0, ordered[0].start
        for job in ordered:
            busy += max(0, job.end - max(job.start, reach))
            reach = max(reach, job.end)
        return self.wall_ms - busy

    @property
    def task_ms(self) -> int:
        return sum(job.task_ms for job in self.jobs)


def stage_of(description: str | None) -> str:
    """The stage a job served: what follows the batch's description (`… batch = 3 - payment_log`),
    before what Delta adds of its own (`- MERGE operation - …`, `: Filtering files for query`)."""
    named = _STAGE.search(description or "")
    return named.group(1) if named else STREAM


def events(path: Path) -> Iterator[dict]:
    """The events of a log file, or of every file of a rolling log's folder, in order, read a
    line at a time (a long run's log is gigabytes)."""
    files = sorted(path.glob("events_*")) if path.is_dir() else [path]
    for file in files:
        if file.suffix != ".zstd":
            with file.open() as lines:
                yield from (json.loads(line) for line in lines if line.strip())
            continue
        if shutil.which("zstd") is None:
            raise CannotRun(f"{file} is compressed with zstd and there is no zstd command to read it")
        with subprocess.Popen(["zstd", "-dc", str(file)], stdout=subprocess.PIPE, text=True) as unzipped:
            assert unzipped.stdout is not None  # asked for with PIPE
            yield from (json.loads(line) for line in unzipped.stdout if line.strip())


def jobs(log: Iterable[dict]) -> list[Job]:
    """The jobs of streaming batches, with the time their tasks ran."""
    found: dict[int, Job] = {}
    stage_job: dict[int, int] = {}
    for event in log:
        kind = event["Event"]
        if kind == "SparkListenerJobStart":
            properties = event.get("Properties") or {}
            if _BATCH not in properties:
                continue
            job = Job(
                query=properties.get(_QUERY, ""),
                batch=int(properties[_BATCH]),
                stage=stage_of(properties.get("spark.job.description")),
                start=event["Submission Time"],
            )
            found[event["Job ID"]] = job
            for stage in event["Stage Infos"]:
                stage_job[stage["Stage ID"]] = event["Job ID"]
        elif kind == "SparkListenerJobEnd" and event["Job ID"] in found:
            found[event["Job ID"]].end = event["Completion Time"]
        elif kind == "SparkListenerTaskEnd" and stage_job.get(event["Stage ID"]) in found:
            metrics = event.get("Task Metrics") or {}
            job = found[stage_job[event["Stage ID"]]]
            job.task_ms += metrics.get("Executor Run Time", 0)
            job.task_cpu_ns += metrics.get("Executor CPU Time", 0)
    return [job for job in found.values() if job.end]


def profile(found: list[Job], query: str | None = None) -> tuple[dict[str, Stage], list[Batch]]:
    """Per stage and per batch, for `query` (by default the query that ran the most jobs); a
    start's first batch, which warms the JVM up, is left out unless it is the only one."""
    per_query = Counter(job.query for job in found)
    if not per_query:
        return {}, []
    chosen = query or per_query.most_common(1)[0][0]
    batches: dict[int, Batch] = {}
    for job in found:
        if job.query == chosen:
            batches.setdefault(job.batch, Batch(job.batch)).jobs.append(job)
    ordered = [batches[number] for number in sorted(batches)]
    kept = ordered[1:] or ordered
    stages: dict[str, Stage] = defaultdict(Stage)
    for batch in kept:
        for job in batch.jobs:
            stage = stages[job.stage]
            stage.jobs += 1
            stage.wall_ms += job.end - job.start
            stage.task_ms += job.task_ms
            stage.task_cpu_ns += job.task_cpu_ns
    return dict(stages), kept


def table(stages: dict[str, Stage], batches: list[Batch], cores: int) -> str:
    """The profile as text: stages by task time, then each batch."""
    count = len(batches) or 1
    lines = [
        f"{len(batches)} batches (a start's first left out); per batch on average:",
        "",
        "| stage | jobs | job wall s | task s | task CPU s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, stage in sorted(stages.items(), key=lambda item: -item[1].task_ms):
        lines.append(
            f"| {name} | {stage.jobs / count:.1f} | {stage.wall_ms / count / 1000:.2f}"
            f" | {stage.task_ms / count / 1000:.2f} | {stage.task_cpu_ns / count / 1e9:.2f} |"
        )
    lines += [
        "",
        f"| batch | jobs | wall s | no job running s | task s | share of {cores} cores' time in tasks |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for batch in batches:
        share = batch.task_ms / (batch.wall_ms * cores) if batch.wall_ms else 0.0
        lines.append(
            f"| {batch.batch} | {len(batch.jobs)} | {batch.wall_ms / 1000:.1f} | {batch.idle_ms / 1000:.1f}"
            f" | {batch.task_ms / 1000:.1f} | {share:.0%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    arguments = OneLineParser(
        prog="python -m benchmarks.profile", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("event_log", type=Path, help="an event log file, or a rolling log's folder")
    arguments.add_argument("--query", help="the streaming query's id (default: the one that ran the most jobs)")
    arguments.add_argument("--cores", type=int, default=2, help="the executors' cores in all (default 2)")
    args = arguments.parse_args(argv)
    try:
        if not args.event_log.exists():
            raise CannotRun(f"no event log at {args.event_log}")
        stages, batches = profile(jobs(events(args.event_log)), args.query)
        if not batches:
            raise CannotRun(f"{args.event_log} has no streaming batch's jobs")
    except CannotRun as error:
        return report("profile", error)
    print(table(stages, batches, args.cores))
    return Exit.DONE


if __name__ == "__main__":
    sys.exit(main())
