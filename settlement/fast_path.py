"""Validation's fast path: plain PAYMENT messages decided in the JVM, from a spec of the models.

Nearly every record the payment team sends is plain: one JSON object, its `data` one level down,
no escape sequences, every field as the models say. `jvm/settlement/PlainMessage.java` decides
such a record in the JVM, without the trip to the Python workers; every other record (a fault, an
escape, a FINISH marker, a duplicate name, a shape it does not know) is left to pydantic
(`settlement.validation`), which decides it and names the reason. So the fast path has one duty:
what it accepts, the models accept, with the same values. It never rejects.

What it accepts is the spec made here from the models' fields: alias, type, strictness, bounds,
enum values, default, optionality. A field of a kind not known here raises at import, so a change
to the contract cannot slip past the fast path; `tests/test_fast_path.py` holds it to pydantic.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args, get_origin

import annotated_types
from pydantic import BaseModel, BeforeValidator, Strict, StringConstraints
from pydantic.fields import FieldInfo
from pyspark.sql import Column, SparkSession
from pyspark.sql.classic.column import Column as ClassicColumn
from pyspark.sql.classic.column import _to_java_column

from settlement import contract
from settlement.contract import Payment, PaymentMessage
from settlement.schema import optional
from settlement.session import project_class

# The contract's validators of text, and the kind of field the JVM knows them by.
_VALIDATORS: dict[Callable[..., Any], tuple[str, str]] = {
    contract.local_date_time: ("local_date_time", contract.LOCAL_DATE_TIME.pattern),
    contract.iso_date: ("iso_date", contract.ISO_DATE.pattern),
}
_CONSTRAINTS = (Strict, StringConstraints, annotated_types.Ge, annotated_types.Le, BeforeValidator)


def _unwrapped(field: FieldInfo) -> tuple[object, list[object], bool]:
    """A field's type, its constraints, and whether null is one of its values."""
    annotation, nullable = optional(field.annotation)
    metadata = list(field.metadata)
    if get_origin(annotation) is Annotated:
        annotation, *inner = get_args(annotation)
        metadata += inner
    return annotation, metadata, nullable


def field_spec(alias: str, field: FieldInfo) -> dict[str, object]:
    """What the JVM accepts for one field; a TypeError for a field it could not judge as pydantic does."""
    annotation, metadata, nullable = _unwrapped(field)
    strict = any(isinstance(item, Strict) and item.strict for item in metadata)
    spec: dict[str, object] = {"alias": alias, "required": field.is_required(), "nullable": nullable}
    if not field.is_required():
        default = field.get_default()
        spec["default"] = default.value if isinstance(default, enum.Enum) else default
    unknown = [item for item in metadata if not isinstance(item, _CONSTRAINTS)]
    unknown += [
        item
        for item in metadata
        if isinstance(item, StringConstraints)
        and (item.pattern or item.strip_whitespace or item.to_upper or item.to_lower or item.ascii_only)
    ]
    validators = [item for item in metadata if isinstance(item, BeforeValidator)]
    if unknown or len(validators) > 1:
        raise TypeError(f"validation's fast path does not know {unknown or validators!r} of {alias}")
    if validators:
        kind, pattern = _VALIDATORS[validators[0].func]
        return {**spec, "kind": kind, "pattern": pattern}
    if get_origin(annotation) is Literal:
        return {**spec, "kind": "enum", "values": list(get_args(annotation))}
    if isinstance(annotation, type) and issubclass(annotation, enum.StrEnum):
        return {**spec, "kind": "enum", "values": [member.value for member in annotation]}
    # A string's bounds are on its length in code points (as Python counts), an integer's on itself.
    bounds: dict[str, object] = {}
    for item in metadata:
        if isinstance(item, StringConstraints):
            bounds.update(min=item.min_length, max=item.max_length)
        if isinstance(item, annotated_types.Ge):
            bounds["min"] = item.ge
        if isinstance(item, annotated_types.Le):
            bounds["max"] = item.le
    bounds = {name: bound for name, bound in bounds.items() if bound is not None}
    if annotation is str and strict:
        return {**spec, "kind": "string", **bounds}
    if annotation is int and strict:
        return {**spec, "kind": "integer", **bounds}
    if annotation is bool and strict:
        return {**spec, "kind": "boolean"}
    raise TypeError(f"validation's fast path has no rule for {alias}: {annotation!r} {metadata!r}")


def _fields(model: type[BaseModel]) -> list[dict[str, object]]:
    return [field_spec(field.alias or name, field) for name, field in model.model_fields.items() if name != "data"]


# The message's fields, then its `data`'s, in the order of validation's message type (whose last
# fields, FINISH's closing date and the reason, stay null on this path).
SPEC = {"top": _fields(PaymentMessage), "data": "data", "fields": _fields(Payment)}
# The JVM reads `data` as the one nested object, of scalars.
assert PaymentMessage.model_fields["data"].annotation is Payment


def message(spark: SparkSession, raw_key: Column, raw_value: Column, parsed_type: str) -> Column:
    """The parsed message (of validation's type, as JSON) of a record whose key and value (bytes as
    sent) make a plain, valid PAYMENT message; null for any other record."""
    column = project_class(spark, "PlainMessage").column(
        json.dumps(SPEC), parsed_type, _to_java_column(raw_key), _to_java_column(raw_value)
    )
    return ClassicColumn(column)
