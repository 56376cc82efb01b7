"""Classification: the contract's rules in its order; the first rule that matches wins.

Each rule is declared once, as data: Spark evaluates it as a native column expression (in the
JVM, vectorized, no Python on the path), and the operator's `explain` evaluates the very same
declaration on one payment to say which rule matched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from settlement.contract import ApprovalStatus, Classification, MerchantStatus


@dataclass(frozen=True)
class Rule:
    classification: Classification
    when: str  # the contract's words
    any_of: tuple[tuple[str, object], ...]  # (column, value): the rule matches if any column holds its value

    def column(self) -> Column:
        return reduce(lambda a, b: a | b, (F.col(name) == F.lit(value) for name, value in self.any_of))

    def matches(self, payment: Mapping[str, object]) -> bool:
        return any(payment.get(name) == value for name, value in self.any_of)


RULES: tuple[Rule, ...] = (
    Rule(
        Classification.TEST,
        "`test` is true, or the merchant is listed as TEST",
        (("test", True), ("merchant_status", MerchantStatus.TEST.value)),
    ),
    Rule(
        Classification.NON_SETTLEMENT_MERCHANT,
        "the merchant is listed as NON_SETTLEMENT",
        (("merchant_status", MerchantStatus.NON_SETTLEMENT.value),),
    ),
    Rule(Classification.NETWORK_CANCEL, "`networkCancel` is true", (("network_cancel", True),)),
    Rule(
        Classification.UNCONFIRMED,
        "`approvalStatus` is UNCONFIRMED",
        (("approval_status", ApprovalStatus.UNCONFIRMED.value),),
    ),
)
OTHERWISE = Rule(Classification.SETTLEMENT, "no rule above matched: a settlement target", ())


def classification() -> Column:
    first, *rest = RULES
    chosen = F.when(first.column(), first.classification.value)
    for rule in rest:
        chosen = chosen.when(rule.column(), rule.classification.value)
    return chosen.otherwise(OTHERWISE.classification.value)


def first_match(payment: Mapping[str, object]) -> tuple[int, Rule]:
    """The contract's rule (numbered from 1) that classifies one payment: its flags and `merchant_status`."""
    return next(
        ((n, rule) for n, rule in enumerate(RULES, start=1) if rule.matches(payment)), (len(RULES) + 1, OTHERWISE)
    )


def classify(payments: DataFrame, merchants: DataFrame) -> DataFrame:
    """Payments with their `classification`; `merchants` is the reference table (broadcast)."""
    statuses = F.broadcast(merchants.select("merchant_number", F.col("status").alias("merchant_status")))
    return (
        payments.join(statuses, "merchant_number", "left")
        .withColumn("classification", classification())
        .drop("merchant_status")
    )
