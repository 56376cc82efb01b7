"""The operator's command against tables the stream made: what each command prints, and its exit code."""

from __future__ import annotations

import json
import os
import subprocess

from pyspark.sql import functions as F

from settlement import cli
from settlement.tables import APPROVAL_DAILY_STATS, SETTLEMENT_BASE, read
from tests import harness
from tests.harness import ROOT
from tests.harness import SAMPLE_PARTITIONS as PARTITIONS


def settlement(lake, *args: str) -> tuple[int, str, str]:
    """`python -m settlement *args`, in this process."""
    return harness.command(cli.main, lake, *args)


def test_explain_a_settlement_target_and_its_duplicate(lake):
    code, out, _ = settlement(lake, "explain", "--payment-id", "p-0001")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "payment p-0001: 2 records in payment_log"
    assert sum("accepted into the base" in line for line in lines) == 1
    assert sum("a duplicate of the accepted copy" in line for line in lines) == 1
    assert "  classification: SETTLEMENT" in lines
    assert "  payout rule R-1881-NEW: payout 2025-05-26, confirm 2025-05-24" in lines
    chosen = next(line for line in lines if line.strip().startswith("R-1881-NEW"))
    beaten = next(line for line in lines if line.strip().startswith("R-ALL-CARD"))
    assert chosen.endswith("chosen") and beaten.endswith("beaten: the rule above names the merchant")
    assert not any(line.strip().startswith("R-1881 ") for line in lines)  # ended 2025-05-18: no candidate


def test_explain_names_the_rule_and_the_quarantine_reason(lake):
    code, out, _ = settlement(lake, "explain", "--payment-id", "p-0004")
    assert code == 0
    assert "    rule 3 of the contract: `networkCancel` is true" in out.splitlines()
    assert "  no payout: only settlement targets are paid" in out.splitlines()
    # p-0014: its first copy was quarantined (negative amount), a later one accepted.
    code, out, _ = settlement(lake, "explain", "--payment-id", "p-0014")
    assert code == 0
    assert "quarantined: data.amount: Input should be greater than or equal to 0" in out
    assert "accepted into the base" in out
    # p-0009 came with a null key: found by its value.
    assert settlement(lake, "explain", "--payment-id", "p-0009")[0] == 0


def test_unknown_ids_and_bad_dates_are_one_line_and_an_exit_code(lake):
    assert settlement(lake, "explain", "--payment-id", "p-none") == (
        1,
        "",
        "settlement: no record of payment 'p-none' in payment_log\n",
    )
    code, out, err = settlement(lake, "stats", "--date", "2025-02-30")
    assert (code, out) == (2, "") and err.count("\n") == 1 and "'2025-02-30' is not a date" in err
    code, _, err = settlement(
        lake, "payouts", "--merchant", "merchant-1881", "--from", "2025-06-01", "--to", "2025-05-01"
    )
    assert code == 2 and "before --from" in err
    assert settlement(lake, "stats", "--date", "2030-01-01")[0] == 1


def test_payouts_and_stats_equal_the_tables(spark, lake):
    base = read(spark, lake.storage, SETTLEMENT_BASE).where("classification = 'SETTLEMENT'")
    merchant, day = base.groupBy("merchant_number").count().orderBy(F.desc("count")).first()[0], "2025-05-18"
    code, out, _ = settlement(lake, "payouts", "--merchant", merchant, "--format", "json")
    assert code == 0
    printed = {
        (r["payout_date"][:10], r["payment_method_type"], r["payment_action_type"]): (r["payments"], r["amount"])
        for r in json.loads(out)
    }
    expected = {
        (str(r.payout_date), r.payment_method_type, r.payment_action_type): (r.n, r.amount)
        for r in base.where(F.col("merchant_number") == merchant)
        .groupBy("payout_date", "payment_method_type", "payment_action_type")
        .agg(F.count("*").alias("n"), F.sum("amount").alias("amount"))
        .collect()
    }
    assert printed == expected
    code, out, _ = settlement(lake, "stats", "--date", day, "--merchant", merchant, "--format", "csv")
    assert code == 0
    header, *rows = out.splitlines()
    assert header == "merchant_number,approval_date,payment_action_type,payment_method_type,payment_count,total_amount"
    table = read(spark, lake.storage, APPROVAL_DAILY_STATS).where(
        (F.col("merchant_number") == merchant) & (F.col("approval_date") == day)
    )
    assert sorted(rows) == sorted(
        f"{r.merchant_number},{r.approval_date},{r.payment_action_type},{r.payment_method_type},{r.payment_count},"
        f"{r.total_amount}"
        for r in table.collect()
    )
    code, out, _ = settlement(lake, "stats", "--date", day)
    assert (
        code == 0
        and len(out.splitlines())
        == read(spark, lake.storage, APPROVAL_DAILY_STATS).where(F.col("approval_date") == day).count() + 1
    )


def test_day_close_lists_the_missing_partitions(lake):
    code, out, _ = settlement(lake, "day-close", "--date", "2025-05-19", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    # The contract's example ends 2025-05-19 on one partition of two; the sample closes its days on both.
    offline = next(r for r in rows if r["channel"] == "OFFLINE")
    assert offline["partition_count"] == PARTITIONS
    assert offline["closed"] == (offline["missing_partitions"] == [])
    assert settlement(lake, "day-close", "--date", "2030-01-01")[0] == 1


def test_the_console_command_exits_with_the_code(lake):
    done = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "settlement", "explain", "--payment-id", "p-0001"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **harness.environment(lake)},
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.startswith("payment p-0001: 2 records")
    done = subprocess.run(
        [str(ROOT / ".venv/bin/settlement"), "day-close", "--date", "2031-01-01"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **harness.environment(lake)},
        timeout=60,
    )
    assert done.returncode == 1 and done.stderr == "settlement: no FINISH marker seen for 2031-01-01\n"
