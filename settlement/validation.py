"""Validation: each Kafka record against the contract's models.

A plain PAYMENT message, nearly every record, is decided in the JVM (`settlement.fast_path`);
every other record goes to pydantic (its Rust core) in an Arrow UDF. The UDF takes the key and
value as the bytes that were sent, so no byte sequence can make it raise: a key or value that is
not UTF-8 is rejected with the offending byte named, and the rest is parsed and validated. A
rejected record carries a reason naming the field and the fault, in the sender's field names.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.functions import arrow_udf
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StringType, StructField

from settlement import fast_path
from settlement.contract import MESSAGE, Finish, Payment, PaymentMessage
from settlement.schema import spark_schema, stamped

if TYPE_CHECKING:
    from pyspark.sql._typing import UserDefinedFunctionLike

PARSED = spark_schema(PaymentMessage, Payment, Finish, nullable=True).add(StructField("error", StringType()))
_ARROW = to_arrow_schema(PARSED)
_PAYMENT_FIELDS = tuple(Payment.model_fields)
_NO_PAYMENT = (None,) * len(_PAYMENT_FIELDS)
_MOST_ERRORS = 3
# The payment team's provisional dates: the payout rule decides ours, so they go no further.
_PROVISIONAL = ("payout_date", "confirm_date")


def reason(error: ValidationError) -> str:
    """`data.amount: Input should be greater than or equal to 0 (got -500)`, at most three of them."""
    parts = []
    for item in error.errors(include_url=False)[:_MOST_ERRORS]:
        loc = [str(part) for part in item["loc"]]
        if loc and loc[0] in ("PAYMENT", "FINISH"):  # the union's tag, not a field
            loc = loc[1:]
        where = ".".join(loc) or ("action" if item["type"].startswith("union_tag") else "value")
        got = item.get("input")
        shown = f" (got {got!r})" if isinstance(got, (int, float, bool, str)) and len(repr(got)) <= 40 and loc else ""
        parts.append(f"{where}: {item['msg']}{shown}")
    return "; ".join(parts)


def not_utf8(what: str, raw: bytes) -> str | None:
    """`value: not UTF-8 (byte 0xED at offset 57: invalid continuation byte)`, or None if it is."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as fault:
        return f"{what}: not UTF-8 (byte 0x{raw[fault.start]:02X} at offset {fault.start}: {fault.reason})"
    return None


def _parse(key: bytes | None, value: bytes | None) -> tuple:
    """One record's message fields and error, from its bytes as sent. Never raises: whatever the
    bytes, the record is a message or has a reason."""
    faults = [fault for fault in (key and not_utf8("key", key), value and not_utf8("value", value)) if fault]
    if value is None:
        faults.append("value: missing (a null Kafka value)")
    elif not faults and not value.strip():
        faults.append("value: empty")
    if faults:
        return (None, None, *_NO_PAYMENT, None, "; ".join(faults))
    assert value is not None  # a null value is a fault, returned above
    try:
        message = MESSAGE.validate_json(value)
    except ValidationError as error:
        return (None, None, *_NO_PAYMENT, None, reason(error))
    if isinstance(message, PaymentMessage):
        payment = message.data
        return (message.channel, message.action, *(getattr(payment, f) for f in _PAYMENT_FIELDS), None, None)
    return (message.channel, message.action, *_NO_PAYMENT, message.data.closing_date, None)


def parse_columns(keys: pa.Array, values: pa.Array, decided: pa.Array) -> pa.Array:
    """Keys and values (binary) to the PARSED struct, a record a row; null for the records the
    fast path `decided`, which are not read."""
    todo = pc.invert(pc.fill_null(decided, False))
    chosen = pc.indices_nonzero(todo)
    chosen_keys, chosen_values = keys.take(chosen).to_pylist(), values.take(chosen).to_pylist()
    rows = [_parse(key, value) for key, value in zip(chosen_keys, chosen_values, strict=True)]
    columns = zip(*rows, strict=True) if rows else [[] for _ in _ARROW]
    arrays = [pa.array(column, type=field.type) for column, field in zip(columns, _ARROW, strict=True)]
    # The parsed rows and one null after them, taken back into the records' order.
    parsed = pa.StructArray.from_arrays(arrays, fields=list(_ARROW))
    with_null = pa.concat_arrays([parsed, pa.nulls(1, parsed.type)])
    rank = pc.subtract(pc.cumulative_sum(todo.cast(pa.int64())), 1)
    return with_null.take(pc.if_else(todo, rank, len(rows)))


# pyspark's stubs lack the form that infers the UDF's kind from the function's type hints.
parse_messages: UserDefinedFunctionLike = arrow_udf(PARSED)(parse_columns)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Hold:
    """A record set aside by an operator (`settlement hold`), and why."""

    topic: str
    partition: int
    offset: int
    reason: str

    def column(self) -> Column:
        return (
            (F.col("topic") == self.topic) & (F.col("partition") == self.partition) & (F.col("offset") == self.offset)
        )


def _parsed(records: DataFrame, key: Column, value: Column) -> DataFrame:
    """Records with their `message`: the fast path's, or pydantic's for the records it left."""
    decided = records.withColumn("plain", fast_path.message(records.sparkSession, key, value, PARSED.json()))
    left = F.col("plain").isNull()
    by_pydantic = parse_messages(F.when(left, key), F.when(left, value), ~left)
    return decided.withColumn("message", F.coalesce("plain", by_pydantic)).drop("plain")


def parse(records: DataFrame, holds: Sequence[Hold] = ()) -> DataFrame:
    """Kafka records (`settlement.records`) with their parsed `message` (or its `message.error`),
    and whether an operator `held` the record.

    A held record is not validated at all (whatever fails on it cannot fail here): it is rejected
    with its hold's reason. The bytes as sent are dropped once read: the log keeps its own copy,
    and every column left goes through dedup's shuffle."""
    if not holds:
        parsed = _parsed(records, F.col("raw_key"), F.col("raw_value")).withColumn("held", F.lit(False))
    else:
        reason = functools.reduce(
            lambda chosen, hold: chosen.when(hold.column(), f"held by an operator: {hold.reason}"),
            holds[1:],
            F.when(holds[0].column(), f"held by an operator: {holds[0].reason}"),
        )
        held = reason.isNotNull()
        unread = F.when(held, F.lit(None).cast("binary"))
        parsed = _parsed(records, unread.otherwise(F.col("raw_key")), unread.otherwise(F.col("raw_value")))
        message = F.col("message")
        parsed = parsed.withColumns(
            {"message": F.when(held, message.withField("error", reason)).otherwise(message), "held": held}
        )
    return parsed.drop("raw_key", "raw_value")


def _rejected() -> Column:
    return F.col("message.error").isNotNull()


def tally(parsed: DataFrame) -> Row:
    """records_in, quarantined (of them, held), payments and finish of a parsed batch, in one pass."""
    # An aggregate without groups is one row, whatever the input.
    row = parsed.agg(
        F.count("*").alias("records_in"),
        F.count_if(_rejected()).alias("quarantined"),
        F.count_if("held").alias("held"),
        F.count_if(F.col("message.action") == "PAYMENT").alias("payments"),
        F.count_if(F.col("message.action") == "FINISH").alias("finish"),
    ).first()
    return cast(Row, row)


def rejected(parsed: DataFrame, quarantined_at: datetime) -> DataFrame:
    """The quarantine's rows of a parsed batch, stamped with when it was quarantined."""
    rows = parsed.where(_rejected()).select(
        "topic",
        "partition",
        "offset",
        "kafka_timestamp",
        "key",
        "value",
        "key_bytes",
        "value_bytes",
        F.col("message.error").alias("error"),
    )
    return stamped(rows, quarantined_at=quarantined_at)


def is_payment() -> Column:
    """A valid PAYMENT message."""
    return ~_rejected() & (F.col("message.action") == "PAYMENT")


def payments(parsed: DataFrame) -> DataFrame:
    """Valid PAYMENT messages: the payment's fields, its channel, and its Kafka position."""
    return parsed.where(is_payment()).select(
        *(F.col(f"message.{name}").alias(name) for name in _PAYMENT_FIELDS if name not in _PROVISIONAL),
        F.col("message.channel").alias("channel"),
        F.to_date("message.payment_date").alias("approval_date"),
        "topic",
        "partition",
        "offset",
        "kafka_timestamp",
    )


def finishes(parsed: DataFrame) -> DataFrame:
    """Valid FINISH markers: which partition closed which channel's day."""
    return parsed.where(~_rejected() & (F.col("message.action") == "FINISH")).select(
        F.col("message.channel").alias("channel"),
        F.col("message.closing_date").alias("closing_date"),
        "partition",
    )
