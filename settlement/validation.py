"""Validation: each Kafka record against the contract's models, as an Arrow UDF.

pydantic (its Rust core) parses and validates each value; the UDF hands Spark whole Arrow columns.
A rejected record carries a reason naming the field and the fault, in the sender's field names.
"""

from __future__ import annotations

import pyarrow as pa
from pydantic import ValidationError
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.functions import arrow_udf
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StringType, StructField

from settlement.contract import MESSAGE, Finish, Payment, PaymentMessage
from settlement.schema import spark_schema

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


def _parse(value: str | None) -> tuple:
    if value is None:
        return (None, None, *_NO_PAYMENT, None, "value: missing (a null Kafka value)")
    if not value.strip():
        return (None, None, *_NO_PAYMENT, None, "value: empty")
    try:
        message = MESSAGE.validate_json(value)
    except ValidationError as error:
        return (None, None, *_NO_PAYMENT, None, reason(error))
    if isinstance(message, PaymentMessage):
        payment = message.data
        return (message.channel, message.action, *(getattr(payment, f) for f in _PAYMENT_FIELDS), None, None)
    return (message.channel, message.action, *_NO_PAYMENT, message.data.closing_date, None)


@arrow_udf(PARSED)
def parse_messages(values: pa.Array) -> pa.Array:
    rows = [_parse(value) for value in values.to_pylist()]
    columns = zip(*rows) if rows else [[] for _ in _ARROW]
    arrays = [pa.array(column, type=field.type) for column, field in zip(columns, _ARROW)]
    return pa.StructArray.from_arrays(arrays, fields=list(_ARROW))


def parse(records: DataFrame) -> DataFrame:
    """Kafka records with their parsed `message` (or its `message.error`)."""
    return records.withColumn("message", parse_messages("value"))


def _rejected() -> Column:
    return F.col("message.error").isNotNull()


def tally(parsed: DataFrame) -> Row:
    """records_in, quarantined, payments and finish of a parsed batch, in one pass."""
    return parsed.agg(
        F.count("*").alias("records_in"),
        F.count_if(_rejected()).alias("quarantined"),
        F.count_if(F.col("message.action") == "PAYMENT").alias("payments"),
        F.count_if(F.col("message.action") == "FINISH").alias("finish"),
    ).first()


def rejected(parsed: DataFrame) -> DataFrame:
    return parsed.where(_rejected()).select(
        "topic", "partition", "offset", "kafka_timestamp", "key", "value",
        F.col("message.error").alias("error"), F.current_timestamp().alias("quarantined_at"),
    )


def payments(parsed: DataFrame) -> DataFrame:
    """Valid PAYMENT messages: the payment's fields, its channel, and its Kafka position."""
    return parsed.where(~_rejected() & (F.col("message.action") == "PAYMENT")).select(
        *(F.col(f"message.{name}").alias(name) for name in _PAYMENT_FIELDS if name not in _PROVISIONAL),
        F.col("message.channel").alias("channel"),
        F.to_date("message.payment_date").alias("approval_date"),
        "topic", "partition", "offset", "kafka_timestamp",
    )


def finishes(parsed: DataFrame) -> DataFrame:
    """Valid FINISH markers: which partition closed which channel's day."""
    return parsed.where(~_rejected() & (F.col("message.action") == "FINISH")).select(
        F.col("message.channel").alias("channel"),
        F.col("message.closing_date").alias("closing_date"),
        "partition",
    )
