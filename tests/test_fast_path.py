"""Validation's fast path accepts only what pydantic accepts, with the same values, and it does
decide the plain messages: run in Spark on what the payment topic can carry, beside the UDF."""

from __future__ import annotations

import json
from typing import Annotated

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, StringConstraints
from pyspark.sql import functions as F

from settlement import fast_path, validation
from settlement.contract import Payment, PaymentMessage
from settlement.session import JarMissing, project_class
from tests import strategies as s

PLAIN = b'{"channel": "ONLINE", "action": "PAYMENT", "data": {"paymentId": "p-1", "paymentType": "ONLINE",'
PLAIN += b' "amount": 1000, "merchantNumber": "m-1", "paymentDate": "2025-05-19T21:48:15.1234567",'
PLAIN += b' "paymentActionType": "PAYMENT", "paymentMethodType": "CARD"}}'


def respelled(data: dict, compact: bool, sort: bool, ascii_only: bool) -> bytes:
    """A valid message sent as another producer would: other spacing, order of names, escapes."""
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(s.message(data), separators=separators, sort_keys=sort, ensure_ascii=ascii_only).encode()


def edited(text: bytes) -> st.SearchStrategy[bytes]:
    """Edits a JSON reader might let pass that pydantic does not, or the other way round."""
    return st.sampled_from(
        [
            text + b" garbage",
            text + b"}",
            b"\xef\xbb\xbf" + text,
            b" " + text,
            text.replace(b'"channel"', b'"channel": "OFFLINE", "channel"', 1),
            text.replace(b'"amount"', b'"amount": 5, "amount"', 1),
            text.replace(b'"data": {', b'"data": {"extra": {"nested": 1}, ', 1),
            text.replace(b'"data": {', b'"data": {"extra": 1e400, ', 1),
            text.replace(b'"data": {', b'"data": {"extra": 123456789012345678901234567890, ', 1),
            text.replace(b'"data": {', b'"data": {"PaymentId": 7, ', 1),
            text.replace(b'"amount": 1000', b'"amount": -0', 1),
            text.replace(b'"amount": 1000', b'"amount": 1000.0', 1),
            text.replace(b'"amount": 1000', b'"amount": 1e3', 1),
            text.replace(b'"p-1"', b'"p\\u002d1"', 1),
            text.replace(b'"p-1"', b'"\xed\xb3\xbf"', 1),
            text.replace(b'"p-1"', b'"p\t1"', 1),
            text.replace(b'"ONLINE"', b"'ONLINE'", 1),
            text.replace(b'"PAYMENT"', b'"FINISH"', 1),
            text.replace(b"}}", b', "test": null}}', 1),
            text.replace(b"}}", b', "payoutDate": null, "approvalStatus": "UNCONFIRMED", "test": true}}', 1),
            text.replace(b"}}", b', "payoutDate": "0000-01-01"}}', 1),
            text.replace(b"2025-05-19T21:48:15.1234567", b"0000-01-01T00:00:00", 1),
            text.replace(b"2025-05-19T21:48:15.1234567", b"2024-02-29T23:59:59.999999999", 1),
        ]
    )


records = st.tuples(
    s.keys,
    s.values
    | st.builds(respelled, s.payments(), st.booleans(), st.booleans(), st.booleans())
    | edited(PLAIN)
    | s.payments().flatmap(lambda data: edited(json.dumps(s.message(data)).encode())),
)


def decided_by_both(spark, batch: list[tuple[bytes | None, bytes | None]]) -> list:
    frame = spark.createDataFrame(batch, "raw_key binary, raw_value binary").select(
        "raw_key",
        "raw_value",
        fast_path.message(spark, F.col("raw_key"), F.col("raw_value"), validation.PARSED.json()).alias("fast"),
        validation.parse_messages("raw_key", "raw_value", F.lit(False)).alias("pydantic"),
    )
    return frame.collect()


# Each example is a Spark job: fewer, larger examples than the profile's count (make fuzz: more).
@hypothesis_settings(max_examples=max(8, hypothesis_settings().max_examples // 25))
@given(st.lists(records, min_size=100, max_size=100))
@example([(None, PLAIN)])
def test_what_the_fast_path_accepts_pydantic_accepts_with_the_same_values(spark, batch):
    for row in decided_by_both(spark, batch):
        if row.fast is not None:
            assert row.fast == row.pydantic, (row.raw_value, row.pydantic.error)


@hypothesis_settings(max_examples=max(4, hypothesis_settings().max_examples // 50))
@given(st.lists(st.tuples(st.none() | s.ids.map(str.encode), s.payments()), min_size=50, max_size=100))
def test_the_fast_path_decides_every_plain_payment(spark, batch):
    sent = [(key, json.dumps(s.message(data), ensure_ascii=False).encode()) for key, data in batch]
    for row in decided_by_both(spark, sent):
        if b"\\" not in row.raw_value:  # an escape is left to pydantic
            assert row.fast is not None and row.fast == row.pydantic, row.raw_value


def test_the_spec_follows_the_models():
    assert [field["alias"] for field in fast_path.SPEC["top"]] == ["channel", "action"]
    assert [field["alias"] for field in fast_path.SPEC["fields"]] == [
        field.alias for field in Payment.model_fields.values()
    ]
    names = [*list(PaymentMessage.model_fields)[:2], *Payment.model_fields]
    assert validation.PARSED.fieldNames()[: len(names)] == names
    assert validation.PARSED.fieldNames()[len(names) :] == ["closing_date", "error"]  # null on the fast path


@pytest.mark.parametrize(
    "annotation",
    [
        str,  # lax: pydantic would take other types the fast path cannot judge
        Annotated[str, StringConstraints(strict=True, pattern="^p-")],
        Annotated[float, Field(strict=True)],
    ],
)
def test_a_field_the_fast_path_cannot_judge_is_refused_at_import(annotation):
    class Changed(BaseModel):
        changed: annotation  # type: ignore[valid-type]

    with pytest.raises(TypeError, match="fast path"):
        fast_path.field_spec("changed", Changed.model_fields["changed"])


def test_a_class_missing_from_the_jar_is_one_line(spark):
    with pytest.raises(JarMissing, match=r"settlement.NoSuchClass is not on Spark's classpath: `make setup`"):
        project_class(spark, "NoSuchClass")
