"""`python -m benchmarks.profile`: a streaming query's batches, per stage, from an event log."""

from __future__ import annotations

import json
import subprocess

from benchmarks.profile import STREAM, jobs, main, profile, stage_of, table

QUERY, OTHER = "6a1c-query", "9f0e-other"


def started(job: int, stages: list[int], at: int, description: str | None, query: str = QUERY, batch: int = 1) -> dict:
    properties = {"streaming.sql.batchId": str(batch), "sql.streaming.queryId": query}
    if description is not None:
        properties["spark.job.description"] = description
    return {
        "Event": "SparkListenerJobStart",
        "Job ID": job,
        "Submission Time": at,
        "Stage Infos": [{"Stage ID": stage} for stage in stages],
        "Properties": properties,
    }


def ended(job: int, at: int) -> dict:
    return {"Event": "SparkListenerJobEnd", "Job ID": job, "Completion Time": at}


def task(stage: int, run_ms: int, cpu_ms: int) -> dict:
    metrics = {"Executor Run Time": run_ms, "Executor CPU Time": cpu_ms * 1_000_000}
    return {"Event": "SparkListenerTaskEnd", "Stage ID": stage, "Task Metrics": metrics}


def batch_events(batch: int, first_job: int, at: int) -> list[dict]:
    """One batch: the stream's own job, a log write (two tasks, Delta's job beside it) and a base
    write that overlaps the log's, then a gap of 500 ms and the batch counts."""
    described = f"settlement\nid = q\nrunId = r\nbatch = {batch}"
    j, s = first_job, first_job * 10
    return [
        started(j, [s], at, described, batch=batch),
        task(s, 300, 200),
        ended(j, at + 400),
        started(j + 1, [s + 1], at + 400, f"{described} - payment_log", batch=batch),
        task(s + 1, 1000, 800),
        task(s + 1, 1000, 600),
        started(j + 2, [s + 2], at + 900, f"Delta: {described} - payment_log: Filtering files for query", batch=batch),
        task(s + 2, 100, 100),
        ended(j + 2, at + 1000),
        ended(j + 1, at + 1400),
        started(j + 3, [s + 3], at + 1900, f"{described} - batch counts", batch=batch),
        task(s + 3, 200, 100),
        ended(j + 3, at + 2100),
    ]


def log() -> list[dict]:
    return [
        started(0, [0], 0, None, query=OTHER),  # another query, fewer jobs
        ended(0, 50),
        {"Event": "SparkListenerJobStart", "Job ID": 99, "Submission Time": 0, "Stage Infos": [], "Properties": {}},
        *batch_events(0, 1, 1000),
        *batch_events(1, 5, 10_000),
        *batch_events(2, 9, 20_000),
    ]


def test_a_job_serves_the_stage_named_after_its_batch():
    batch = "settlement\nid = 6a1c\nrunId = 77b0\nbatch = 3"
    assert stage_of(f"{batch} - classify, payout rule, base") == "classify, payout rule, base"
    assert stage_of(f"{batch} - statistics - MERGE operation - materialize source") == "statistics"
    assert stage_of(f"Delta: Delta: {batch} - statistics topic: Filtering files for query") == "statistics topic"
    assert stage_of(f"Delta: {batch}: Compute snapshot for version: 2") == STREAM
    assert stage_of(batch) == STREAM
    assert stage_of(None) == STREAM


def test_the_profile_sums_each_stage_over_the_batches_after_the_first():
    stages, batches = profile(jobs(log()))
    assert [batch.batch for batch in batches] == [1, 2]
    assert set(stages) == {STREAM, "payment_log", "batch counts"}
    log_stage = stages["payment_log"]
    assert (log_stage.jobs, log_stage.wall_ms, log_stage.task_ms) == (4, 2 * (1000 + 100), 2 * 2100)
    assert log_stage.task_cpu_ns == 2 * 1500 * 1_000_000
    assert stages[STREAM].task_ms == 2 * 300
    (one, _) = batches
    # 2,100 ms from the first job's start to the last one's end; nothing ran for 500 of them.
    assert (one.wall_ms, one.idle_ms, one.task_ms) == (2100, 500, 2600)


def test_another_query_is_profiled_when_named():
    stages, batches = profile(jobs(log()), OTHER)
    assert [batch.batch for batch in batches] == [1] and set(stages) == {STREAM}


def test_the_table_shows_stages_by_task_time_then_each_batch():
    stages, batches = profile(jobs(log()))
    text = table(stages, batches, cores=2)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| payment_log | 2.0 | 1.10 | 2.10 | 1.50 |")
    assert rows[-1] == "| 2 | 4 | 2.1 | 0.5 | 2.6 | 62% |"


def test_the_command_reads_a_log_and_says_in_one_line_what_it_cannot(tmp_path, capsys):
    events = tmp_path / "events_1_local-1"
    events.write_text("\n".join(json.dumps(event) for event in log()) + "\n")
    assert main([str(tmp_path)]) == 0
    assert "| payment_log |" in capsys.readouterr().out
    assert main([str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.strip() == f"profile: no event log at {tmp_path / 'missing'}"
    (tmp_path / "empty").write_text("")
    assert main([str(tmp_path / "empty")]) == 2
    assert "has no streaming batch's jobs" in capsys.readouterr().err


def test_a_log_compressed_as_spark_does_reads_the_same(tmp_path, capsys):
    plain = tmp_path / "events_1_local-1"
    plain.write_text("\n".join(json.dumps(event) for event in log()) + "\n")
    subprocess.run(["zstd", "-q", "--rm", str(plain), "-o", str(tmp_path / "events_1_local-1.zstd")], check=True)
    assert main([str(tmp_path)]) == 0
    assert "| payment_log | 2.0 | 1.10 | 2.10 | 1.50 |" in capsys.readouterr().out
