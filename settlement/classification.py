"""Classification: the contract's rules in its order; the first rule that matches wins.

The rules are native column expressions: Spark evaluates them in the JVM, vectorized, with no
Python on the path.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from settlement.contract import ApprovalStatus, Classification, MerchantStatus

Rule = Callable[[], Column]

RULES: tuple[tuple[Classification, Rule], ...] = (
    (Classification.TEST, lambda: F.col("test") | (F.col("merchant_status") == MerchantStatus.TEST.value)),
    (Classification.NON_SETTLEMENT_MERCHANT, lambda: F.col("merchant_status") == MerchantStatus.NON_SETTLEMENT.value),
    (Classification.NETWORK_CANCEL, lambda: F.col("network_cancel")),
    (Classification.UNCONFIRMED, lambda: F.col("approval_status") == ApprovalStatus.UNCONFIRMED.value),
)
OTHERWISE = Classification.SETTLEMENT


def classification() -> Column:
    (first, first_rule), *rest = RULES
    chosen = F.when(first_rule(), first.value)
    for name, rule in rest:
        chosen = chosen.when(rule(), name.value)
    return chosen.otherwise(OTHERWISE.value)


def classify(payments: DataFrame, merchants: DataFrame) -> DataFrame:
    """Payments with their `classification`; `merchants` is the reference table (broadcast)."""
    statuses = F.broadcast(merchants.select("merchant_number", F.col("status").alias("merchant_status")))
    return (
        payments.join(statuses, "merchant_number", "left")
        .withColumn("classification", classification())
        .drop("merchant_status")
    )
