"""The chaos run at a size CI can afford: every invariant holds after kills, replays and an outage."""

from __future__ import annotations

from tests.chaos import KILL_POINTS, Chaos


def test_invariants_hold_under_chaos(spark, settings, tmp_path):
    report = Chaos(spark, settings, tmp_path, payments=20_000, kills=3).run()
    print(report.text())
    assert report.held(), report.text()
    assert sum(report.kills.values()) >= 3 and report.replayed_batches >= 1, report.text()
    assert set(KILL_POINTS) <= set(report.kills), report.text()  # each moment, not a job that had exited
