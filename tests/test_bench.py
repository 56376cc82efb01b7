"""The benchmark harness, small: it runs end to end and writes its results (how fast is not a test)."""

from __future__ import annotations

import json

import pytest

from benchmarks.__main__ import main


def test_the_bench_harness_writes_its_results(spark, broker_up, tmp_path, capsys):
    assert (
        main(
            [
                "--payments",
                "20000",
                "--max-offsets-per-trigger",
                "10000",
                "--statistics-sizes",
                "1,10",
                "--history-payments",
                "100000",
                "--rates",
                "300",
                "--steady-seconds",
                "20",
                "--results",
                str(tmp_path / "results"),
                "--workspace",
                str(tmp_path / "bench"),
            ]
        )
        == 0
    )
    (folder,) = (tmp_path / "results").iterdir()
    results = json.loads((folder / "results.json").read_text())
    records = results["data_set"]["records"]
    assert records > 20_000
    throughput = results["throughput"]
    # Each run read the whole topic, in batches of at most 10,000 records.
    assert {name: (r["records"], r["batches"]) for name, r in throughput.items()} == {
        name: (records, -(-records // 10_000)) for name in ("ceiling", "ceiling with validation", "settlement job")
    }
    assert throughput["ceiling"]["ratio_to_ceiling"] == 1.0
    assert all(r["records_per_second"] > 0 for r in throughput.values())
    assert {"read, validate, dedup", "payment_log", "classify, payout rule, base", "statistics"} <= set(
        results["stages"]
    )
    assert sum(stage["share"] for stage in results["stages"].values()) == pytest.approx(1, abs=0.01)
    # Every batch logs its records and counts itself: at least those two commits a batch.
    commits = results["commits_per_batch"]
    assert commits["tables"]["payment_log"] == commits["tables"]["settlement_batches"] == 1
    assert commits["total"] == pytest.approx(sum(commits["tables"].values())) and commits["total"] >= 4
    # Each id the job accepts enters the dedup state once, and the history run accepts the same ids:
    # its prefilled ones enter with the state's seed, which the batches' count leaves out.
    state = results["dedup_state"]
    assert state["ids"] > 0 and state["checkpoint_bytes"] > 0
    history = results["history"]
    assert history["ids_added"] == state["ids"]
    assert history["prefilled_payments"] == 100_000 and history["median_batch_seconds"]["prefilled"] > 0
    assert history["batch_seconds"]["prefilled"][0] == history["first_batch_seconds"]["prefilled"]
    assert history["growth"] == pytest.approx(
        history["median_batch_seconds"]["prefilled"] / history["median_batch_seconds"]["empty"], abs=0.01
    )
    assert len(results["classification"]) == 3 and all(
        c["rows_per_second"] > 0 for c in results["classification"].values()
    )
    assert set(results["statistics_write"]["seconds"]) == {"1x", "10x"}
    (run,) = results["steady"]
    assert run["rate"] == 300 and set(run["latency_seconds"]) == {"p50", "p95", "p99"} and run["batches"] > 0
    assert run["peak_driver_rss_mib"] > 0 and run["peak_python_workers_rss_mib"] > 0
    assert (folder / "results.md").read_text() in capsys.readouterr().out
