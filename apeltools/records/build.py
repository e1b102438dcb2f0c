"""Turning raw field values from any codec into a checked record of a record type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apeltools.errors import RecordError
from apeltools.quoting import quote
from apeltools.records.fields import FLOAT, INT, TIME, Field, check_time, text_converter
from apeltools.records.types import FieldProblem, RecordType


def _convert_typed(field: Field, value: Any) -> Any:
    """A field value from a typed JSON value (or text inside JSON)."""
    if isinstance(value, str):
        return text_converter(field.kind)(value.strip())
    if value is None:
        return None
    kind = field.kind
    if isinstance(value, bool):
        raise ValueError(f"not a {kind.name}: {quote(value)}")
    if kind in (INT, TIME) and isinstance(value, int):
        if value < 0:
            raise ValueError(f"must not be negative: {value}")
        return check_time(value) if kind is TIME else value
    if kind is FLOAT and isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"not a finite number: {quote(value)}")
        return float(value)
    raise ValueError(f"not a {kind.name}: {quote(value)}")


def _field(rtype: RecordType, name: str) -> Field | None:
    field = rtype.by_name.get(name)
    if field is None and name not in rtype.ignored:
        raise RecordError(f"Unknown field: {quote(name, bare=True)}", field=name)
    return field


def build(rtype: RecordType, raw: Mapping[str, str], now: int) -> Any:
    """A record of ``rtype`` from ``raw``: field name → wire text (already stripped).

    Raises ``RecordError`` naming the field for unknown fields, values that do
    not parse, missing mandatory fields and broken record rules.
    """
    converters = rtype.text_converters
    values: dict[str, Any] = {}
    for name, text in raw.items():
        convert = converters.get(name)
        if convert is None:
            if _field(rtype, name) is None:
                continue
            convert = text_converter(rtype.by_name[name].kind)
        try:
            values[name] = convert(text)
        except ValueError as error:
            raise RecordError(str(error), field=name) from None
    return finish(rtype, values, now)


def build_typed(rtype: RecordType, raw: Mapping[str, Any], now: int) -> Any:
    """Like ``build``, from typed values (JSON numbers, strings, null)."""
    values: dict[str, Any] = {}
    for name, value in raw.items():
        field = _field(rtype, name)
        if field is None:
            continue
        try:
            values[name] = _convert_typed(field, value)
        except ValueError as error:
            raise RecordError(str(error), field=name) from None
    return finish(rtype, values, now)


def finish(rtype: RecordType, values: dict[str, Any], now: int) -> Any:
    """Check parsed values against the record type's rules and make the record."""
    for name in rtype.mandatory:
        if values.get(name) is None:
            raise RecordError("mandatory field is missing", field=name)
    for field in rtype.texts:
        value = values.get(field.name)
        if value is not None and len(value) > field.size:
            raise RecordError(f"longer than {field.size} characters", field=field.name)
    for field in rtype.bounded:
        value = values.get(field.name)
        if value is not None and value < field.minimum:
            raise RecordError(f"must be at least {field.minimum}, not {value}", field=field.name)
    record = rtype.cls(**values)
    try:
        rtype.check(record, now)
    except FieldProblem as problem:
        raise RecordError(str(problem), field=problem.field) from None
    return record
