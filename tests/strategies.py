"""Hypothesis strategies for what a payment topic can carry, and an oracle written from the contract.

Three families of input: arbitrary bytes, arbitrary JSON values, and valid messages mutated one
field at a time (its type, range, enum spelling, date, unicode, size, or its absence). A mutation
carries the verdict the contract gives it, worked out here from the contract's text alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime

from hypothesis import strategies as st

ENUMS = {
    "paymentType": ("ONLINE", "OFFLINE"),
    "paymentActionType": ("PAYMENT", "CANCEL", "PARTIAL_CANCEL", "FULL_CANCEL"),
    "paymentMethodType": ("CARD", "MONEY", "PAY", "POINT"),
    "approvalStatus": ("APPROVED", "UNCONFIRMED"),
}
IDS = ("paymentId", "merchantNumber")
FLAGS = ("test", "networkCancel")
DATES = ("payoutDate", "confirmDate")
REQUIRED = (
    "paymentId",
    "paymentType",
    "amount",
    "merchantNumber",
    "paymentDate",
    "paymentActionType",
    "paymentMethodType",
)
OPTIONAL = ("payoutDate", "confirmDate", "test", "networkCancel", "approvalStatus")
MOST_WON = 1_000_000_000_000
LOCAL_DATE_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?")

# JSON proper: NaN and Infinity are not JSON (the arbitrary bytes bring them).
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=64)


@st.composite
def local_date_times(draw) -> str:
    moment = draw(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2999, 12, 31)))
    digits = draw(st.sampled_from(["", ".5", ".989609", ".123456789"]))
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + digits


@st.composite
def payments(draw, payment_id: str | None = None) -> dict:
    """The `data` of a valid PAYMENT message, optional fields drawn in or left out."""
    data = {
        "paymentId": payment_id or draw(ids),
        "paymentType": draw(st.sampled_from(ENUMS["paymentType"])),
        "amount": draw(st.integers(0, MOST_WON)),
        "merchantNumber": draw(st.sampled_from(["merchant-0001", "merchant-1881", "merchant-9000"]) | ids),
        "paymentDate": draw(local_date_times()),
        "paymentActionType": draw(st.sampled_from(ENUMS["paymentActionType"])),
        "paymentMethodType": draw(st.sampled_from(ENUMS["paymentMethodType"])),
    }
    for name in draw(st.sets(st.sampled_from(OPTIONAL))):
        if name in DATES:
            data[name] = draw(st.dates(date(1970, 1, 1), date(2999, 12, 31))).isoformat()
        elif name in FLAGS:
            data[name] = draw(st.booleans())
        else:
            data[name] = draw(st.sampled_from(ENUMS[name]))
    return data


def message(data: dict, channel: str = "ONLINE", action: str = "PAYMENT") -> dict:
    return {"channel": channel, "action": action, "data": data}


# -- mutations, with the contract's verdict -----------------------------------------------------


def _valid_local_date_time(value: object) -> bool:
    match = LOCAL_DATE_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return False
    try:
        datetime(*map(int, match.groups()[:6]))
    except ValueError:
        return False
    return True


def _valid_iso_date(value: object) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def contract_accepts(field: str, value: object) -> bool:
    """Whether the contract accepts `value` for a payment's `field` (the rest of it valid)."""
    if field == "amount":
        return type(value) is int and 0 <= value <= MOST_WON
    if field in IDS:
        return isinstance(value, str) and 1 <= len(value) <= 64
    if field in ENUMS:
        return value in ENUMS[field]
    if field == "paymentDate":
        return _valid_local_date_time(value)
    if field in DATES:
        return value is None or _valid_iso_date(value)
    if field in FLAGS:
        return type(value) is bool
    return True  # a field the contract does not name is ignored


def _respellings(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            word.lower(),
            word.title(),
            f" {word}",
            f"{word} ",
            word.replace("A", "\u0391"),
            word + "\u200b",
            word[:-1],
            "",
        ]
    )


def mutated_values(field: str) -> st.SearchStrategy[object]:
    """Values for `field`: of other types, out of range, respelled, malformed, of every size."""
    other_types = (
        json_scalars
        | st.lists(json_scalars, max_size=2)
        | st.dictionaries(st.text(max_size=3), json_scalars, max_size=2)
    )
    if field == "amount":
        edges = [-1, 0, MOST_WON, MOST_WON + 1, 1.0, 1e12, 2**63]
        return other_types | st.integers(-(2**70), 2**70) | st.sampled_from(edges)
    if field in IDS:
        edges = ["", "x" * 64, "x" * 65, "\x00", "가" * 64]
        return other_types | st.text(st.characters(codec="utf-8"), max_size=80) | st.sampled_from(edges)
    if field in ENUMS:
        return other_types | st.sampled_from(ENUMS[field]).flatmap(_respellings) | st.sampled_from(ENUMS[field])
    if field == "paymentDate":
        return (
            other_types
            | local_date_times()
            | st.sampled_from(
                [
                    "2025-02-30T10:00:00",
                    "2025-05-19T24:00:00",
                    "2025-05-19T21:48:15Z",
                    "2025-05-19 21:48:15",
                    "2025-05-19",
                    "2025-05-19T21:48:15.1234567890",
                    "0000-01-01T00:00:00",
                    "+2025-05-19T00:00:00",
                    "２０２５-05-19T00:00:00",
                ]
            )
        )
    if field in DATES:
        return other_types | st.dates().map(date.isoformat) | st.sampled_from(["2025-02-30", "2025-5-19", "20250519"])
    if field in FLAGS:
        return other_types | st.sampled_from(["true", 1, 0, "false"])
    return json_values


@dataclass(frozen=True)
class Mutation:
    value: bytes
    field: str
    accepted: bool  # the contract's verdict


@st.composite
def mutations(draw) -> Mutation:
    """A valid PAYMENT message with one field changed, dropped, or added."""
    data = draw(payments())
    field = draw(st.sampled_from(REQUIRED + OPTIONAL + ("terminalId",)))
    if draw(st.booleans()) and field in data:
        del data[field]
        accepted = field not in REQUIRED
    else:
        data[field] = draw(mutated_values(field))
        accepted = contract_accepts(field, data[field])
    text = json.dumps(message(data), ensure_ascii=draw(st.booleans()))
    return Mutation(text.encode("utf-8"), field, accepted)


def not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@st.composite
def corrupted(draw) -> bytes:
    """A valid message with bytes that are not UTF-8 spliced into it (a merchant's `\\xed\\xb3\\xbf`)."""
    text = json.dumps(message(draw(payments())))
    cut = draw(st.integers(0, len(text)))
    known = [b"\xed\xb3\xbf", b"\xff", b"\xc0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80"]
    junk = draw(st.sampled_from(known) | st.binary(min_size=1, max_size=4).filter(not_utf8))
    return text[:cut].encode() + junk + text[cut:].encode()


def finishes() -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda channel, day: json.dumps(message({"closingDate": day.isoformat()}, channel, "FINISH")).encode(),
        st.sampled_from(["ONLINE", "OFFLINE"]),
        st.dates(date(2025, 1, 1), date(2025, 12, 31)),
    )


values = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    mutations().map(lambda mutation: mutation.value),
    corrupted(),
    st.builds(lambda data: json.dumps(message(data)).encode(), payments()),
    finishes(),
    st.none(),
)
keys = st.none() | st.binary(max_size=16) | ids.map(str.encode)
