"""The notebooks, executed headless against tables the stream made, and committed clean."""

from __future__ import annotations

import os
import re
import shutil
from unittest import mock

import nbformat
from deltalake import DeltaTable
from nbclient import NotebookClient

from settlement.config import Settings
from settlement.lake import Lake
from tests import harness
from tests.harness import ROOT

FOLDER = ROOT / "notebooks"
NOTEBOOKS = ("settlement_overview.ipynb", "reconciliation.ipynb", "data_quality.ipynb")


def execute(name: str, settings: Settings, **environment: str) -> nbformat.NotebookNode:
    """The notebook run top to bottom in a fresh kernel that sees `settings` (nbclient raises on
    the first cell that fails)."""
    notebook = nbformat.read(FOLDER / name, as_version=4)
    with mock.patch.dict(os.environ, {**harness.environment(settings), **environment}):
        NotebookClient(
            notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(FOLDER)}}
        ).execute()
    return notebook


def outputs(notebook: nbformat.NotebookNode, kind: str) -> list:
    """Every output of the kind: "stream" (printed lines), or a MIME type such as "image/png"."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if kind == "stream" and output.output_type == "stream":
                found += output.text.splitlines()
            elif kind in output.get("data", {}):
                found.append(output.data[kind])
    return found


def test_the_notebooks_are_committed_without_outputs_or_machine_paths():
    assert sorted(path.name for path in FOLDER.glob("*.ipynb")) == sorted(NOTEBOOKS)
    for name in NOTEBOOKS:
        notebook = nbformat.read(FOLDER / name, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name} has outputs"
        assert not re.search(r"/(home|work|tmp|Users|root|private)/|[A-Z]:\\\\", (FOLDER / name).read_text()), name
        assert notebook.cells[0].cell_type == "markdown" and "**Reads:**" in notebook.cells[0].source


def test_the_overview(lake):
    notebook = execute("settlement_overview.ipynb", lake)
    base = Lake(lake).pandas("settlement_base")
    assert outputs(notebook, "stream")[0].startswith(
        f"{len(base):,} payments over {base['approval_date'].nunique()} approval dates"
    )
    assert len(outputs(notebook, "image/png")) == 2  # the stacked bar and the payout calendar


def test_the_overview_reads_through_spark_the_same(lake):
    by_deltalake = execute("settlement_overview.ipynb", lake)
    by_spark = execute("settlement_overview.ipynb", lake, SETTLEMENT_LAKE__ENGINE="spark")
    assert outputs(by_spark, "text/plain") == outputs(by_deltalake, "text/plain")
    assert outputs(by_spark, "stream") == outputs(by_deltalake, "stream")


def test_reconciliation_passes_on_the_tables_the_stream_made(lake):
    printed = outputs(execute("reconciliation.ipynb", lake), "stream")
    checks = [line for line in printed if line.startswith(("PASS", "FAIL"))]
    assert len(checks) == 6 and all(line.startswith("PASS") for line in checks), checks


def test_reconciliation_shows_the_rows_that_differ(lake, tmp_path):
    root = tmp_path / "lake"
    shutil.copytree(lake.storage.root, root)
    statistics = DeltaTable(str(root / "approval_daily_stats"))
    merchant = statistics.to_pandas()["merchant_number"].min()
    keys = int((statistics.to_pandas()["merchant_number"] == merchant).sum())
    statistics.update(predicate=f"merchant_number = '{merchant}'", updates={"total_amount": "total_amount + 1"})
    tampered = lake.model_copy(update={"storage": lake.storage.model_copy(update={"root": str(root)})})

    notebook = execute("reconciliation.ipynb", tampered)
    checks = [line for line in outputs(notebook, "stream") if line.startswith(("PASS", "FAIL"))]
    assert (
        checks[0] == f"FAIL  approval_daily_stats = GROUP BY over the base's settlement targets: {keys:,} rows differ"
    )
    assert all(line.startswith("PASS") for line in checks[1:])
    assert merchant in outputs(notebook, "text/html")[0]


def test_data_quality(lake):
    printed = outputs(execute("data_quality.ipynb", lake), "stream")
    tables = Lake(lake)
    log, quarantine = tables.pandas("payment_log"), tables.pandas("quarantine")
    assert printed[0].startswith(f"{len(log):,} records: {len(quarantine):,} quarantined, ")
    assert any(line.endswith("payments arrived after their partition closed their day") for line in printed)
