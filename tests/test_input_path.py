"""Properties of validation over arbitrary input: it never raises, and each record has one fate.

Run on the validation function itself, with many examples (`make test` a fixed few hundred each,
`make fuzz` many thousands); tests/test_hostile_stream.py sends a sample through the real stream.
"""

from __future__ import annotations

import json

import pyarrow as pa
from hypothesis import example, given
from hypothesis import strategies as st

from settlement.validation import PARSED, _parse, parse_columns
from tests import strategies as s

FIELDS = PARSED.fieldNames()
PAYMENT_REQUIRED = (
    "payment_id",
    "payment_type",
    "amount",
    "merchant_number",
    "payment_date",
    "payment_action_type",
    "payment_method_type",
    "test",
    "network_cancel",
    "approval_status",
)


def fate(key: bytes | None, value: bytes | None) -> tuple[str, dict]:
    """Where the record goes ("quarantine", "payment" or "finish"), and its parsed fields;
    fails the test if the fields do not say one thing."""
    row = dict(zip(FIELDS, _parse(key, value), strict=True))
    assert set(row) == set(FIELDS)
    if row["error"] is not None:
        assert isinstance(row["error"], str) and row["error"].strip(), row
        assert row["action"] is None and row["closing_date"] is None and row["payment_id"] is None, row
        return "quarantine", row
    assert row["action"] in ("PAYMENT", "FINISH") and row["channel"] in ("ONLINE", "OFFLINE"), row
    if row["action"] == "FINISH":
        assert row["closing_date"] is not None and row["payment_id"] is None, row
        return "finish", row
    assert all(row[name] is not None for name in PAYMENT_REQUIRED) and row["closing_date"] is None, row
    return "payment", row


@given(st.binary(max_size=300), s.keys)
@example(b'{"channel":"ONLINE","action":"PAYMENT","data":{"merchantNumber":"\xed\xb3\xbf"}}', None)
@example(b"\xef\xbb\xbf{}", None)
@example(b"NaN", None)
@example(None, b"p-1")
@example(b"[" * 50_000 + b"]" * 50_000, None)
@example(b'{"channel":"ONLINE","action":"FINISH","data":{"closingDate":"2025-05-19"}}garbage', None)
@example(b"", b"\xff")
def test_arbitrary_bytes_have_one_fate(value, key):
    where, row = fate(key, value)
    if any(raw is not None and s.not_utf8(raw) for raw in (key, value)):
        assert where == "quarantine" and "not UTF-8 (byte 0x" in row["error"]


@given(s.json_values, st.booleans())
def test_arbitrary_json_has_one_fate(value, ascii_only):
    fate(None, json.dumps(value, ensure_ascii=ascii_only).encode())


VALID = {
    "paymentId": "p-1",
    "paymentType": "ONLINE",
    "amount": 1,
    "merchantNumber": "merchant-1881",
    "paymentDate": "2025-05-19T21:48:15",
    "paymentActionType": "PAYMENT",
    "paymentMethodType": "CARD",
}


def changed(field: str, value: object) -> s.Mutation:
    return s.Mutation(json.dumps(s.message({**VALID, field: value})).encode(), field, s.contract_accepts(field, value))


@given(s.mutations())
@example(changed("paymentDate", "2025-05-19T21:48:15\n"))
@example(changed("paymentDate", "2025-05-19T21:48:15.\uff15"))
@example(changed("payoutDate", "0"))
@example(changed("amount", True))
@example(changed("paymentId", "x" * 65))
def test_a_mutated_field_gets_the_contracts_verdict(mutation):
    where, row = fate(None, mutation.value)
    if mutation.accepted:
        assert where == "payment", (mutation, row["error"])
        sent = json.loads(mutation.value)["data"]
        assert (row["payment_id"], row["merchant_number"], row["amount"]) == (
            sent["paymentId"],
            sent["merchantNumber"],
            sent["amount"],
        )
    else:
        assert where == "quarantine", mutation
        named = f"data.{mutation.field}" if mutation.field in json.loads(mutation.value)["data"] else "data."
        assert named in row["error"] or mutation.field in row["error"], (mutation, row["error"])


@given(s.corrupted())
def test_bytes_that_are_not_utf8_are_quarantined_naming_the_byte(value):
    where, row = fate(b"p-1", value)
    assert where == "quarantine"
    assert row["error"].startswith("value: not UTF-8 (byte 0x")


@given(s.payments(), st.binary(min_size=1, max_size=8).filter(s.not_utf8))
def test_a_key_that_is_not_utf8_quarantines_a_valid_payment(data, key):
    where, row = fate(key, json.dumps(s.message(data)).encode())
    assert where == "quarantine" and row["error"].startswith("key: not UTF-8 (byte 0x")


@given(st.lists(st.tuples(s.keys, s.values, st.booleans()), max_size=40))
def test_the_arrow_udf_builds_its_columns_for_any_batch(records):
    keys = pa.array([key for key, _, _ in records], type=pa.binary())
    values = pa.array([value for _, value, _ in records], type=pa.binary())
    decided = pa.array([decided for _, _, decided in records], type=pa.bool_())
    parsed = parse_columns(keys, values, decided)
    assert len(parsed) == len(records)
    for (key, value, by_fast_path), row in zip(records, parsed.to_pylist(), strict=True):
        # What the fast path decided is not read; every other record is parsed, in its place.
        assert row is None if by_fast_path else row == dict(zip(FIELDS, _parse(key, value), strict=True))
