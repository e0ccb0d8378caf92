"""PostgreSQL column types: ``format_type()``'s names read as Arrow, Arrow declared for created tables.

Types without an Arrow mapping (uuid, inet, interval, arrays, ...) read as their text with logical
type ``postgresql:<format_type>``, so a PostgreSQL destination creates them as they were.
"""

from __future__ import annotations

import re

import pyarrow as pa

from opencdm.connectors import types as t
from opencdm.connectors.jdbc.types import Declared, Reading, TypeTable, exact_decimal, fixed_text, sized_text

# format_type() output: a base name, optional (precision[,scale]), optional time-zone qualifier.
_FORMAT_TYPE = re.compile(r"^([a-z ]+?)(?:\((\d+)(?:,(\d+))?\))?( with time zone| without time zone)?$")
WITH_TIME_ZONE = " with time zone"
# "timestamp(6)" and "timestamp" are one type: 6 digits is the precision of an unqualified one.
_DEFAULT_PRECISION = re.compile(r"^(timestamp|time|interval)\(6\)")


def _declared(native: str) -> Declared | None:
    match = _FORMAT_TYPE.match(native)
    if not match:
        return None
    base, first, second, zone = match.groups()
    # "without time zone" is what an unqualified time or timestamp is.
    key = base + WITH_TIME_ZONE if zone == WITH_TIME_ZONE else base
    return Declared(key, tuple(int(number) for number in (first, second) if number is not None))


def _as_native_text(native: str) -> Reading:
    return Reading(pa.string(), logical=t.PG_NATIVE_PREFIX + native)


def pg_native(field: pa.Field) -> str | None:
    """The PostgreSQL type a field carries as its text, if it is one without an Arrow mapping."""
    logical = t.logical_of(field)
    return logical[len(t.PG_NATIVE_PREFIX) :] if logical and logical.startswith(t.PG_NATIVE_PREFIX) else None


def meaning(native: str) -> str:
    """``native`` with a precision that is the default left out: types of one meaning compare equal."""
    return _DEFAULT_PRECISION.sub(r"\1", native)


def _text_type(field: pa.Field) -> str:
    length, logical = t.length_of(field), t.logical_of(field)
    native = pg_native(field)
    if native is not None:
        return native
    if logical in (t.JSON, t.JSONB):
        return logical
    if logical == t.NUMERIC:
        return "numeric"
    if logical == t.CHAR:
        return f"character({length or 1})"
    return f"character varying({length})" if length else "text"


def _decimal_type(field: pa.Field) -> str:
    return f"numeric({field.type.precision},{field.type.scale})"


def _timestamp_type(field: pa.Field) -> str:
    return "timestamp with time zone" if t.is_tz_timestamp(field.type) else "timestamp without time zone"


def _any_binary(type_: pa.DataType) -> bool:
    return t.is_binary(type_) or pa.types.is_fixed_size_binary(type_)


def _bytea(field: pa.Field) -> str:
    return "bytea"


POSTGRESQL_TYPES = TypeTable(
    reads={
        "smallint": pa.int16(),
        "integer": pa.int32(),
        "bigint": pa.int64(),
        "numeric": exact_decimal,
        "real": pa.float32(),
        "double precision": pa.float64(),
        "text": pa.string(),
        "character varying": sized_text,
        "character": fixed_text,
        "json": Reading(pa.string(), logical=t.JSON),
        "jsonb": Reading(pa.string(), logical=t.JSONB),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "bytea": pa.binary(),
        "time": pa.time64("us"),
        "timestamp": t.TIMESTAMP,
        "timestamp with time zone": t.TIMESTAMP_TZ,
    },
    otherwise=_as_native_text,
    families=(
        (t.is_text, _text_type),
        (pa.types.is_decimal, _decimal_type),
        (pa.types.is_timestamp, _timestamp_type),
        (_any_binary, _bytea),
    ),
    declares={
        pa.int8(): "smallint",
        pa.uint8(): "smallint",
        pa.int16(): "smallint",
        pa.uint16(): "integer",
        pa.int32(): "integer",
        pa.uint32(): "bigint",
        pa.int64(): "bigint",
        pa.uint64(): "numeric(20,0)",
        pa.float32(): "real",
        pa.float64(): "double precision",
        pa.bool_(): "boolean",
        pa.date32(): "date",
        pa.time64("us"): "time without time zone",
    },
)


def read_field(name: str, native: str) -> pa.Field:
    """The field of a column ``format_type()`` names ``native``."""
    return POSTGRESQL_TYPES.field(name, native, _declared(native))
