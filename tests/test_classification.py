"""Classification follows the contract's order: the first rule that matches wins."""

from __future__ import annotations

import pytest
from pyspark.testing import assertDataFrameEqual

from settlement.classification import classify, first_match

MERCHANTS = [("m-test", "TEST"), ("m-off", "NON_SETTLEMENT")]
COLUMNS = "payment_id string, merchant_number string, test boolean, network_cancel boolean, approval_status string"

CASES = [
    # payment_id, merchant, test, network_cancel, approval_status, expected
    ("plain", "m-1", False, False, "APPROVED", "SETTLEMENT"),
    ("test flag", "m-1", True, False, "APPROVED", "TEST"),
    ("test merchant", "m-test", False, False, "APPROVED", "TEST"),
    ("test beats all", "m-off", True, True, "UNCONFIRMED", "TEST"),
    ("test merchant beats non-settlement rules", "m-test", False, True, "UNCONFIRMED", "TEST"),
    ("non-settlement merchant", "m-off", False, False, "APPROVED", "NON_SETTLEMENT_MERCHANT"),
    ("non-settlement beats network cancel", "m-off", False, True, "UNCONFIRMED", "NON_SETTLEMENT_MERCHANT"),
    ("network cancel", "m-1", False, True, "APPROVED", "NETWORK_CANCEL"),
    ("network cancel beats unconfirmed", "m-1", False, True, "UNCONFIRMED", "NETWORK_CANCEL"),
    ("unconfirmed", "m-1", False, False, "UNCONFIRMED", "UNCONFIRMED"),
]


@pytest.fixture(scope="module")
def merchants(spark):
    return spark.createDataFrame(MERCHANTS, "merchant_number string, status string")


def test_first_matching_rule_wins(spark, merchants):
    payments = spark.createDataFrame([case[:5] for case in CASES], COLUMNS)
    expected = spark.createDataFrame([(case[0], case[5]) for case in CASES], "payment_id string, classification string")
    assertDataFrameEqual(classify(payments, merchants).select("payment_id", "classification"), expected)


def test_classification_keeps_every_payment_and_column(spark, merchants):
    payments = spark.createDataFrame([case[:5] for case in CASES], COLUMNS)
    classified = classify(payments, merchants)
    assert classified.count() == len(CASES)
    assert set(classified.columns) == {*payments.columns, "classification"}


def test_explain_reads_the_same_rules_and_agrees_with_spark():
    statuses = dict(MERCHANTS)
    for payment_id, merchant, test, network_cancel, approval_status, expected in CASES:
        payment = dict(
            test=test,
            network_cancel=network_cancel,
            approval_status=approval_status,
            merchant_status=statuses.get(merchant),
        )
        assert first_match(payment)[1].classification.value == expected, payment_id
    assert first_match(dict(test=False, network_cancel=False, approval_status="APPROVED"))[0] == 5


@pytest.mark.parametrize("implementation", ["Arrow/pandas UDF", "row-at-a-time Python UDF"])
def test_the_benchmarks_udfs_classify_as_the_job_does(spark, merchants, implementation):
    from benchmarks.classifiers import IMPLEMENTATIONS

    payments = spark.createDataFrame([case[:5] for case in CASES], COLUMNS)
    assertDataFrameEqual(IMPLEMENTATIONS[implementation](payments, merchants), classify(payments, merchants))
