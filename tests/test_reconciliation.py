"""The reconciliation checks on small frames: a pass is an empty frame, a fault shows its rows."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pandas as pd

from settlement import reconciliation
from settlement.reconciliation import Place

AT = datetime(2025, 5, 18, 1, tzinfo=UTC)
DAY = date(2025, 5, 18)


def record(offset: int, value: dict | str | None) -> dict:
    return {
        "topic": "payment",
        "partition": 0,
        "offset": offset,
        "kafka_timestamp": AT,
        "key": None,
        "value": value if isinstance(value, str) or value is None else json.dumps(value),
    }


def payment(payment_id: str) -> dict:
    return {"channel": "ONLINE", "action": "PAYMENT", "data": {"paymentId": payment_id}}


def base_row(offset: int, payment_id: str, amount: int = 1000, classification: str = "SETTLEMENT") -> dict:
    return {
        "topic": "payment",
        "partition": 0,
        "offset": offset,
        "kafka_timestamp": AT,
        "payment_id": payment_id,
        "merchant_number": "m-1",
        "approval_date": DAY,
        "payment_action_type": "PAYMENT",
        "payment_method_type": "CARD",
        "amount": amount,
        "classification": classification,
    }


LOG = pd.DataFrame(
    [
        record(0, payment("p-1")),
        record(1, "{not json"),
        record(2, payment("p-1")),  # sent again
        record(3, {"channel": "ONLINE", "action": "FINISH", "data": {"closingDate": "2025-05-18"}}),
        record(4, payment("p-2")),
    ]
)
QUARANTINE = pd.DataFrame([{**record(1, "{not json"), "error": "value: Invalid JSON"}])
BASE = pd.DataFrame([base_row(0, "p-1"), base_row(4, "p-2", 500, "TEST")])
BATCHES = pd.DataFrame(
    [{"batch_id": 0, "records_in": 5, "quarantined": 1, "duplicates": 1, "accepted": 2, "finish": 1}]
)
STATS = pd.DataFrame(
    [
        {
            "merchant_number": "m-1",
            "approval_date": DAY,
            "payment_action_type": "PAYMENT",
            "payment_method_type": "CARD",
            "payment_count": 1,
            "total_amount": 1000,
        }
    ]
)


def test_each_record_is_placed_from_the_tables():
    placed = reconciliation.places(LOG, QUARANTINE, BASE)
    assert list(placed["place"]) == [Place.BASE, Place.QUARANTINE, Place.DUPLICATE, Place.FINISH, Place.BASE]
    assert reconciliation.record_accounting(placed, BATCHES).empty


def test_a_lost_record_and_one_in_two_places_are_differences():
    lost = pd.concat([LOG, pd.DataFrame([record(5, payment("p-3"))])], ignore_index=True)
    twice = pd.concat([QUARANTINE, pd.DataFrame([{**record(4, payment("p-2")), "error": "x"}])], ignore_index=True)
    placed = reconciliation.places(lost, twice, BASE)
    assert placed.set_index("offset")["place"].to_dict()[5] == Place.NOWHERE
    differences = reconciliation.record_accounting(placed, BATCHES).set_index("records")
    assert differences.to_dict("index") == {
        "records_in": {"in_the_tables": 6, "settlement_batches": 5},
        "base": {"in_the_tables": 1, "settlement_batches": 2},
        "nowhere": {"in_the_tables": 1, "settlement_batches": 0},
        "twice": {"in_the_tables": 1, "settlement_batches": 0},
    }


def test_rows_without_their_record_and_payments_twice():
    assert reconciliation.unlogged(LOG, BASE).empty
    stray = pd.concat([BASE, pd.DataFrame([base_row(9, "p-1")])], ignore_index=True)
    assert list(reconciliation.unlogged(LOG, stray)["offset"]) == [9]
    assert list(reconciliation.payments_twice(stray)["offset"]) == [0, 9]


def test_batch_arithmetic():
    assert reconciliation.batch_arithmetic(BATCHES).empty
    wrong = BATCHES.assign(records_in=6)
    assert list(reconciliation.batch_arithmetic(wrong)["batch_id"]) == [0]


def test_statistics_against_the_base():
    assert reconciliation.statistics_against_base(STATS, BASE).empty
    off = reconciliation.statistics_against_base(STATS.assign(total_amount=999), BASE)
    assert off[["total_amount_base", "total_amount_statistics", "found_in"]].values.tolist() == [[1000, 999, "both"]]
    extra = pd.concat([STATS, STATS.assign(merchant_number="m-2")], ignore_index=True)
    assert reconciliation.statistics_against_base(extra, BASE)["found_in"].tolist() == ["statistics only"]
    assert reconciliation.statistics_against_base(STATS.iloc[:0], BASE)["found_in"].tolist() == ["base only"]
