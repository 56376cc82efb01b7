"""Payout rule resolution: the contract's worked example, and each step of its precedence."""

from __future__ import annotations

import datetime as dt

from pyspark.testing import assertDataFrameEqual

from settlement.payout_rule import assign_payout, candidates
from settlement.schema import spark_schema
from settlement.tables import PayoutRuleRow

D = dt.date.fromisoformat
PAYMENTS = (
    "payment_id string, merchant_number string, payment_method_type string, payment_action_type string,"
    " approval_date date, classification string"
)
RESULT = "payment_id string, rule_id string, payout_date date, confirm_date date"


def rules(spark, *rows: dict):
    models = [PayoutRuleRow(**row) for row in rows]
    return spark.createDataFrame([tuple(m.model_dump().values()) for m in models], spark_schema(PayoutRuleRow))


def rule(rule_id, merchant=None, method=None, action=None, delay=1, lead=0, valid_from="2025-01-01", valid_to=None):
    return dict(
        rule_id=rule_id,
        merchant_number=merchant,
        payment_method_type=method,
        payment_action_type=action,
        payout_delay_days=delay,
        confirm_lead_days=lead,
        valid_from=valid_from,
        valid_to=valid_to,
    )


def resolve(spark, rule_table, payments):
    frame = spark.createDataFrame(payments, PAYMENTS)
    return assign_payout(frame, rule_table).select("payment_id", "rule_id", "payout_date", "confirm_date")


def test_the_contracts_worked_example(spark):
    table = rules(
        spark,
        rule("R-ALL-CARD", method="CARD", delay=3, lead=1),
        rule("R-1881", merchant="merchant-1881", delay=5, lead=2, valid_to="2025-05-18"),
        rule("R-1881-NEW", merchant="merchant-1881", delay=7, lead=2, valid_from="2025-05-19"),
        rule("R-1881-MONEY-CANCEL", merchant="merchant-1881", method="MONEY", action="CANCEL", delay=1, lead=0),
    )
    payments = [
        ("a", "merchant-1881", "CARD", "PAYMENT", D("2025-05-19"), "SETTLEMENT"),
        ("b", "merchant-1881", "CARD", "PAYMENT", D("2025-05-18"), "SETTLEMENT"),
        ("c", "merchant-1881", "MONEY", "CANCEL", D("2025-05-19"), "SETTLEMENT"),
        ("d", "merchant-2000", "CARD", "CANCEL", D("2025-05-19"), "SETTLEMENT"),
        ("e", "merchant-2000", "PAY", "PAYMENT", D("2025-05-19"), "SETTLEMENT"),
    ]
    expected = [
        ("a", "R-1881-NEW", D("2025-05-26"), D("2025-05-24")),
        ("b", "R-1881", D("2025-05-23"), D("2025-05-21")),
        ("c", "R-1881-MONEY-CANCEL", D("2025-05-20"), D("2025-05-20")),
        ("d", "R-ALL-CARD", D("2025-05-22"), D("2025-05-21")),
        ("e", "DEFAULT", D("2025-05-21"), D("2025-05-20")),
    ]
    assertDataFrameEqual(resolve(spark, table, payments), spark.createDataFrame(expected, RESULT))


def test_precedence_step_by_step(spark):
    table = rules(
        spark,
        rule("ANY", delay=1),
        rule("METHOD", method="CARD", delay=2),
        rule("ACTION", action="CANCEL", delay=3),
        rule("METHOD-ACTION", method="CARD", action="CANCEL", delay=4),
        rule("MERCHANT", merchant="m", delay=5),
        rule("OLD", merchant="n", delay=6, valid_from="2025-01-01"),
        rule("NEW", merchant="n", delay=7, valid_from="2025-03-01"),
        rule("TIE-B", merchant="t", delay=8),
        rule("TIE-A", merchant="t", delay=9),
        rule("ENDED", merchant="e", delay=10, valid_to="2025-05-18"),
    )
    day = D("2025-05-19")
    payments = [
        ("merchant beats method and action", "m", "CARD", "CANCEL", day, "SETTLEMENT"),
        ("method beats action", "x", "CARD", "PAYMENT", day, "SETTLEMENT"),
        ("method and action beat method", "x", "CARD", "CANCEL", day, "SETTLEMENT"),
        ("action beats any", "x", "PAY", "CANCEL", day, "SETTLEMENT"),
        ("any", "x", "PAY", "PAYMENT", day, "SETTLEMENT"),
        ("later validFrom wins", "n", "PAY", "PAYMENT", day, "SETTLEMENT"),
        ("smaller ruleId wins", "t", "PAY", "PAYMENT", day, "SETTLEMENT"),
        ("an ended rule is no candidate", "e", "PAY", "PAYMENT", day, "SETTLEMENT"),
        ("validTo is inclusive", "e", "PAY", "PAYMENT", D("2025-05-18"), "SETTLEMENT"),
        ("not a settlement target", "m", "CARD", "CANCEL", day, "TEST"),
    ]
    got = {row.payment_id: row.rule_id for row in resolve(spark, table, payments).collect()}
    assert got == {
        "merchant beats method and action": "MERCHANT",
        "method beats action": "METHOD",
        "method and action beat method": "METHOD-ACTION",
        "action beats any": "ACTION",
        "any": "ANY",
        "later validFrom wins": "NEW",
        "smaller ruleId wins": "TIE-A",
        "an ended rule is no candidate": "ANY",
        "validTo is inclusive": "ENDED",
        "not a settlement target": None,
    }


def test_default_rule_without_rules_and_dates_only_for_settlement(spark):
    empty = rules(spark)
    payments = [
        ("s", "m", "CARD", "PAYMENT", D("2025-12-31"), "SETTLEMENT"),
        ("t", "m", "CARD", "PAYMENT", D("2025-12-31"), "UNCONFIRMED"),
    ]
    expected = [("s", "DEFAULT", D("2026-01-02"), D("2026-01-01")), ("t", None, None, None)]
    assertDataFrameEqual(resolve(spark, empty, payments), spark.createDataFrame(expected, RESULT))


def test_explain_ranks_the_candidates_as_spark_chooses(spark):
    """The Python ranking (for `explain`) picks what the Spark join picks, and says why."""
    declared = [
        rule("ANY", delay=1),
        rule("METHOD", method="CARD", delay=2),
        rule("ACTION", action="CANCEL", delay=3),
        rule("METHOD-ACTION", method="CARD", action="CANCEL", delay=4),
        rule("MERCHANT", merchant="m", delay=5),
        rule("OLD", merchant="n", delay=6),
        rule("NEW", merchant="n", delay=7, valid_from="2025-03-01"),
        rule("TIE-B", merchant="t", delay=8),
        rule("TIE-A", merchant="t", delay=9),
        rule("ENDED", merchant="e", delay=10, valid_to="2025-05-18"),
    ]
    models = [PayoutRuleRow(**r).model_dump() for r in declared]
    day = D("2025-05-19")
    payments = [
        (m, method, action, day) for m in "mntex" for method in ("CARD", "PAY") for action in ("CANCEL", "PAYMENT")
    ]
    rows = [(f"{m}/{method}/{action}", m, method, action, d, "SETTLEMENT") for m, method, action, d in payments]
    chosen = {row.payment_id: row.rule_id for row in resolve(spark, rules(spark, *declared), rows).collect()}
    for payment_id, merchant, method, action, approval, _ in rows:
        payment = dict(
            merchant_number=merchant, payment_method_type=method, payment_action_type=action, approval_date=approval
        )
        ranked = candidates(payment, models)
        assert (ranked[0][0]["rule_id"] if ranked else "DEFAULT") == chosen[payment_id], payment_id
    ranked = candidates(
        dict(merchant_number="n", payment_method_type="CARD", payment_action_type="CANCEL", approval_date=day), models
    )
    assert [(r["rule_id"], won_by) for r, won_by in ranked] == [
        ("NEW", ""),
        ("OLD", "later validFrom"),
        ("METHOD-ACTION", "names the merchant"),
        ("METHOD", "names the action type"),
        ("ACTION", "names the payment method"),
        ("ANY", "names the action type"),
    ]
