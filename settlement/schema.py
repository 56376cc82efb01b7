"""Spark schemas derived from pydantic models, so the models stay the one source of truth.

A naive `datetime` is Seoul wall-clock time (TIMESTAMP_NTZ); an `AwareDatetime` is an instant.
"""

from __future__ import annotations

import types
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Literal, Union, get_args, get_origin

import pyarrow as pa
from pydantic import AwareDatetime, BaseModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DataType,
    DateType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

_ATOMIC: dict[object, DataType] = {
    str: StringType(),
    bytes: BinaryType(),
    int: LongType(),
    bool: BooleanType(),
    date: DateType(),
    datetime: TimestampNTZType(),
}


def optional(annotation: object) -> tuple[object, bool]:
    """`X | None` as (X, True); any other annotation as (it, False)."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0], True
    return annotation, False


def spark_type(annotation: object) -> DataType:
    annotation, _ = optional(annotation)
    if get_origin(annotation) is Annotated:
        return spark_type(get_args(annotation)[0])
    if annotation is AwareDatetime:
        return TimestampType()
    if get_origin(annotation) is Literal or (isinstance(annotation, type) and issubclass(annotation, Enum)):
        return StringType()
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        return ArrayType(spark_type(item), containsNull=False)
    if annotation in _ATOMIC:
        return _ATOMIC[annotation]
    raise TypeError(f"no Spark type for {annotation!r}")


def spark_schema(*models: type[BaseModel], nullable: bool | None = None) -> StructType:
    """The columns of the models, in order. `nullable=True` makes every column nullable."""
    fields = []
    for model in models:
        for name, field in model.model_fields.items():
            if (
                field.annotation is not None
                and isinstance(field.annotation, type)
                and issubclass(field.annotation, BaseModel)
            ):
                continue
            _, nullable_field = optional(field.annotation)
            fields.append(
                StructField(name, spark_type(field.annotation), nullable or nullable_field or not field.is_required())
            )
    return StructType(fields)


def stamped(rows: DataFrame, **values: datetime | int | str) -> DataFrame:
    """`rows` with a column per value, the same on every row: the batch's time, query and id.
    (Here, not with the tables: validation stamps its quarantine rows, and executors, which import
    validation, have no Delta.)

    They come in as a one-row broadcast, not as literals: Spark writes a timestamp or number
    literal into the code it generates for a stage, so a value new in every batch made every batch
    compile its stages again, and the JIT compile them after it (docs/performance.md). The row is
    made from Arrow, which Spark keeps in the JVM as a local relation; a row made from a Python
    list is an RDD that a Python worker serves before each broadcast (0.16 s a query against 0.05).
    """
    # Every stamp is an instant (an aware datetime), not Seoul wall-clock time.
    kinds = {name: AwareDatetime if isinstance(value, datetime) else type(value) for name, value in values.items()}
    schema = StructType([StructField(name, spark_type(kind), False) for name, kind in kinds.items()])
    row = pa.Table.from_pylist([values], schema=to_arrow_schema(schema, timezone="UTC"))
    return rows.crossJoin(F.broadcast(rows.sparkSession.createDataFrame(row, schema)))
