"""The alert rules (conf/prometheus): valid, each alert unit-tested by promtool, and every metric
they name one the job exposes."""

from __future__ import annotations

import re
import subprocess

import pytest

from settlement.config import Settings
from settlement.metrics import Metrics
from tests.conftest import ROOT

PROMTOOL = ROOT / ".local/bin/promtool"
RULES = ROOT / "conf/prometheus"


def promtool(*arguments: str) -> subprocess.CompletedProcess:
    if not PROMTOOL.exists():
        pytest.fail(f"no {PROMTOOL}; make check and make test install it (make .local/bin/promtool)")
    return subprocess.run([str(PROMTOOL), *arguments], cwd=RULES, capture_output=True, text=True, timeout=120)


def test_the_rules_are_valid():
    result = promtool("check", "rules", "settlement-rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_alert_fires_when_it_should_and_not_before():
    result = promtool("test", "rules", "settlement-rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    rules = (RULES / "settlement-rules.yml").read_text()
    tests = (RULES / "settlement-rules.test.yml").read_text()
    for alert in re.findall(r"alert: (\w+)", rules):
        assert f"alertname: {alert}" in tests, f"{alert} has no promtool test"


def test_every_metric_the_rules_name_is_exposed(tmp_path):
    settings = Settings(storage={"root": str(tmp_path / "lake"), "checkpoint": str(tmp_path / "checkpoint")})
    families = list(Metrics(settings).registry.collect())
    exposed = {f.name + ("_total" if f.type == "counter" else "") for f in families}
    named = set(re.findall(r"\bsettlement_\w+", (RULES / "settlement-rules.yml").read_text()))
    assert named <= exposed, f"named in the rules but not exposed: {sorted(named - exposed)}"
