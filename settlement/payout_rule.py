"""Payout rules: settlement targets get the most specific rule valid on their approval date.

The rule table is small and broadcast; of a payment's candidates, the one that no other beats by
the contract's precedence wins. No candidate: the default rule. The same match fields and
precedence also rank the candidates of one payment in Python, for the operator's `explain`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from settlement.contract import Classification
from settlement.tables import PayoutRuleRow

DEFAULT_RULE = PayoutRuleRow(rule_id="DEFAULT", payout_delay_days=2, confirm_lead_days=1, valid_from=date(1, 1, 1))

MATCH_FIELDS = ("merchant_number", "payment_method_type", "payment_action_type")
# What a rule wins by, in the contract's order of precedence.
WINS_BY = (
    "names the merchant",
    "names the payment method",
    "names the action type",
    "later validFrom",
    "smaller ruleId",
)


def precedence(rule: str) -> Column:
    """The contract's order as one value, the smaller the better: merchant named, method named,
    action named, later validFrom, smaller ruleId (`_rank` is the same in Python)."""
    return F.struct(
        *(F.col(f"{rule}.{field}").isNull() for field in MATCH_FIELDS),
        -F.unix_date(F.col(f"{rule}.valid_from")),
        F.col(f"{rule}.rule_id"),
    )


def _candidate(payment: str, rule: str) -> Column:
    matches = [
        F.col(f"{rule}.{field}").isNull() | (F.col(f"{rule}.{field}") == F.col(f"{payment}.{field}"))
        for field in MATCH_FIELDS
    ]
    in_force = (F.col(f"{rule}.valid_from") <= F.col(f"{payment}.approval_date")) & (
        F.col(f"{rule}.valid_to").isNull() | (F.col(f"{payment}.approval_date") <= F.col(f"{rule}.valid_to"))
    )
    settlement = F.col(f"{payment}.classification") == Classification.SETTLEMENT.value
    condition = settlement & in_force
    for match in matches:
        condition = condition & match
    return condition


def assign_payout(classified: DataFrame, rules: DataFrame) -> DataFrame:
    """Classified payments with `rule_id`, `payout_date` and `confirm_date` (null unless SETTLEMENT)."""
    rules = F.broadcast(rules)
    candidates = classified.alias("payment").join(rules.alias("rule"), _candidate("payment", "rule"), "left")
    # The winner is the candidate no other candidate beats: a second join with the broadcast rules,
    # where ranking the candidates per payment id would shuffle every payment. Rule ids are unique
    # (`reference.load`), so exactly one candidate, or none, is left per payment.
    ranked = candidates.join(
        rules.alias("better"),
        _candidate("payment", "better") & (precedence("better") < precedence("rule")),
        "left_anti",
    )
    settlement = F.col("payment.classification") == Classification.SETTLEMENT.value

    def chosen(field: str, default: object) -> Column:
        return F.when(settlement, F.coalesce(F.col(f"rule.{field}"), F.lit(default)))

    delay = chosen("payout_delay_days", DEFAULT_RULE.payout_delay_days)
    payout_date = F.date_add("payment.approval_date", delay.cast("int"))
    return ranked.select(
        "payment.*",
        chosen("rule_id", DEFAULT_RULE.rule_id).alias("rule_id"),
        payout_date.alias("payout_date"),
        F.date_sub(payout_date, chosen("confirm_lead_days", DEFAULT_RULE.confirm_lead_days).cast("int")).alias(
            "confirm_date"
        ),
    )


def _rank(rule: Mapping[str, Any]) -> tuple:
    """`precedence` in Python: a smaller key wins, position by position as in WINS_BY."""
    return (*(rule[field] is None for field in MATCH_FIELDS), -rule["valid_from"].toordinal(), rule["rule_id"])


def candidates(payment: Mapping[str, Any], rules: Iterable[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], str]]:
    """The rules that fit one settlement target, best first, each with what the one before it won by."""
    day: date = payment["approval_date"]
    fitting = sorted(
        (
            rule
            for rule in rules
            if all(rule[field] in (None, payment[field]) for field in MATCH_FIELDS)
            and rule["valid_from"] <= day
            and (rule["valid_to"] is None or day <= rule["valid_to"])
        ),
        key=_rank,
    )
    ranked = []
    for before, rule in zip([None, *fitting], fitting, strict=False):
        if before is None:
            ranked.append((rule, ""))
        else:
            ranked.append(
                (rule, next(w for w, a, b in zip(WINS_BY, _rank(before), _rank(rule), strict=True) if a != b))
            )
    return ranked
