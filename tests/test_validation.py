"""Every contract example goes where its `expect` says, with a reason a person can act on."""

from __future__ import annotations

import pytest

from settlement.validation import PARSED, _parse

FIELDS = PARSED.fieldNames()

REASONS = {
    "not JSON": "value: Invalid JSON",
    "JSON but not an object": "value: Input should be an object",
    "missing paymentId": "data.paymentId: Field required",
    "unknown enum value": "data.paymentMethodType: Input should be 'CARD', 'MONEY', 'PAY' or 'POINT' (got 'BITCOIN')",
    "negative amount": "data.amount: Input should be greater than or equal to 0 (got -500)",
    "fractional amount": "data.amount: Input should be a valid integer (got 100.5)",
    "amount as a string": "data.amount: Input should be a valid integer (got '65218')",
    "impossible date": "data.paymentDate: Value error, day is out of range for month",
    "empty value": "value: empty",
    "FINISH without a closing date": "data: Input should be an object",
}


def parsed(value: str | None) -> dict:
    return dict(zip(FIELDS, _parse(None, None if value is None else value.encode()), strict=True))


def test_every_example_lands_where_the_contract_says(contract_examples):
    for example in contract_examples:
        row = parsed(example["value"])
        expect = example["expect"]
        if expect == "quarantine":
            assert row["error"], example["case"]
            assert row["error"].startswith(REASONS[example["case"]]), (example["case"], row["error"])
        elif expect == "day_close":
            assert (row["error"], row["action"], str(row["closing_date"])) == (None, "FINISH", "2025-05-19")
        else:
            assert row["error"] is None and row["action"] == "PAYMENT", example["case"]


def test_every_quarantine_example_has_a_known_reason(contract_examples):
    cases = {e["case"] for e in contract_examples if e["expect"] == "quarantine"}
    assert cases == set(REASONS)


def test_defaults_and_ignored_fields(contract_examples):
    extra = next(e for e in contract_examples if e["case"] == "an unknown extra field is ignored")
    row = parsed(extra["value"])
    assert (row["test"], row["network_cancel"], row["approval_status"]) == (False, False, "APPROVED")
    assert row["amount"] == 65218 and row["payment_date"].isoformat() == "2025-05-19T21:48:15.989609"


@pytest.mark.parametrize(
    "payment_date, expected",
    [
        ("2025-05-19T21:48:15", "2025-05-19T21:48:15"),
        ("2025-05-19T21:48:15.5", "2025-05-19T21:48:15.500000"),
        ("2025-05-19T21:48:15.123456789", "2025-05-19T21:48:15.123456"),
    ],
)
def test_payment_date_precision(payment_date, expected):
    value = (
        '{"channel":"ONLINE","action":"PAYMENT","data":{"paymentId":"p","paymentType":"ONLINE","amount":1,'
        f'"merchantNumber":"m","paymentDate":"{payment_date}","paymentActionType":"PAYMENT",'
        '"paymentMethodType":"CARD"}}'
    )
    assert parsed(value)["payment_date"].isoformat() == expected


@pytest.mark.parametrize(
    "payment_date", ["2025-05-19T21:48:15Z", "2025-05-19T21:48:15+09:00", "2025-05-19 21:48:15", "2025-05-19"]
)
def test_payment_date_with_zone_or_wrong_shape_is_rejected(payment_date):
    value = (
        '{"channel":"ONLINE","action":"PAYMENT","data":{"paymentId":"p","paymentType":"ONLINE","amount":1,'
        f'"merchantNumber":"m","paymentDate":"{payment_date}","paymentActionType":"PAYMENT",'
        '"paymentMethodType":"CARD"}}'
    )
    assert parsed(value)["error"].startswith("data.paymentDate: Value error, expected a local date-time")


def test_null_value_and_unknown_action():
    assert parsed(None)["error"] == "value: missing (a null Kafka value)"
    error = parsed('{"channel":"ONLINE","action":"REFUND","data":{}}')["error"]
    assert error.startswith("action: Input tag 'REFUND' found using 'action' does not match")
    assert parsed('{"channel":"ONLINE","data":{}}')["error"].startswith("action: Unable to extract tag")
