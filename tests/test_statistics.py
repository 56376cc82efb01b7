"""The statistics topic's records: the contract's key and value."""

from __future__ import annotations

import datetime as dt
import json

from settlement.statistics import grouped, messages


def test_grouped_counts_settlement_targets_only_and_messages_follow_the_contract(spark):
    day = dt.date(2025, 5, 19)
    accepted = spark.createDataFrame(
        [
            ("merchant-1881", day, "PAYMENT", "CARD", 1000, "SETTLEMENT"),
            ("merchant-1881", day, "PAYMENT", "CARD", 2500, "SETTLEMENT"),
            ("merchant-1881", day, "PAYMENT", "CARD", 9999, "TEST"),
        ],
        "merchant_number string, approval_date date, payment_action_type string, payment_method_type string,"
        " amount long, classification string",
    )
    rows = grouped(accepted, dt.datetime.fromisoformat("2025-05-20T10:00:00+09:00"))
    (record,) = messages(rows).collect()
    assert record.key == "merchant-1881/2025-05-19/PAYMENT/CARD"
    assert json.loads(record.value) == {
        "merchantNumber": "merchant-1881",
        "approvalDate": "2025-05-19",
        "paymentActionType": "PAYMENT",
        "paymentMethodType": "CARD",
        "count": 2,
        "totalAmount": 3500,
        "updatedAt": "2025-05-20T10:00:00.000+09:00",
    }


def test_a_key_that_left_the_table_is_published_as_a_tombstone(spark):
    rows = spark.createDataFrame(
        [("merchant-0008", dt.date(2025, 5, 19), "PAYMENT", "CARD", None, None, None)],
        "merchant_number string, approval_date date, payment_action_type string, payment_method_type string,"
        " payment_count long, total_amount long, updated_at timestamp",
    )
    (record,) = messages(rows).collect()
    assert record.key == "merchant-0008/2025-05-19/PAYMENT/CARD" and record.value is None
