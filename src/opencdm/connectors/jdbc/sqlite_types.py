"""SQLite column types: declared type names read as Arrow, Arrow declared for created tables.

SQLite keeps a column's meaning only in its declared type, so tables are created with descriptive
types (DECIMAL(12,2), VARCHAR(64), TIMESTAMPTZ, ...). A declared DECIMAL has NUMERIC affinity,
which turns decimal text into a REAL keeping only 15 significant digits (even for longer text):
decimals of up to 15 digits are declared DECIMAL(p,s), wider ones DECIMAL_TEXT(p,s) /
NUMERIC_TEXT, whose TEXT affinity stores the digits untouched.
"""

from __future__ import annotations

import re

import pyarrow as pa

from opencdm.connectors import types as t
from opencdm.connectors.jdbc.types import (
    Declared,
    Reading,
    TypeTable,
    exact_decimal,
    fixed_text,
    sized_binary,
    sized_text,
)

MAX_REAL_DIGITS = 15
_DECLARED = re.compile(r"^([a-z_ ]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$")


def _declared(native: str) -> Declared | None:
    match = _DECLARED.match(native.strip().lower())
    if not match:
        return None
    return Declared(match.group(1), tuple(int(number) for number in match.group(2, 3) if number is not None))


def _text_type(field: pa.Field) -> str:
    length, logical = t.length_of(field), t.logical_of(field)
    if t.is_json(field):
        return "JSON"
    if logical == t.NUMERIC:
        return "NUMERIC_TEXT"
    if logical == t.CHAR:
        return f"CHAR({length or 1})"
    return f"VARCHAR({length})" if length else "TEXT"


def _decimal_type(field: pa.Field) -> str:
    type_ = field.type
    name = "DECIMAL" if type_.precision <= MAX_REAL_DIGITS else "DECIMAL_TEXT"
    return f"{name}({type_.precision},{type_.scale})"


def _binary_type(field: pa.Field) -> str:
    length = t.length_of(field)
    return f"VARBINARY({length})" if length else "BLOB"


SQLITE_TYPES = TypeTable(
    reads={
        "tinyint": pa.int8(),
        "smallint": pa.int16(),
        "int": pa.int32(),
        "mediumint": pa.int32(),
        "integer": pa.int64(),
        "bigint": pa.int64(),
        "tinyint unsigned": pa.uint8(),
        "smallint unsigned": pa.uint16(),
        "int unsigned": pa.uint32(),
        "bigint unsigned": pa.uint64(),
        "decimal": exact_decimal,
        "numeric": exact_decimal,
        "decimal_text": exact_decimal,
        "numeric_text": exact_decimal,
        "float": pa.float32(),
        "real": pa.float64(),
        "double": pa.float64(),
        "double precision": pa.float64(),
        "boolean": pa.bool_(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "datetime": t.TIMESTAMP,
        "timestamp": t.TIMESTAMP,
        "timestamptz": t.TIMESTAMP_TZ,
        "timestamp with time zone": t.TIMESTAMP_TZ,
        "varchar": sized_text,
        "character varying": sized_text,
        "nvarchar": sized_text,
        "varying character": sized_text,
        "char": fixed_text,
        "character": fixed_text,
        "nchar": fixed_text,
        "": pa.string(),  # no declared type at all
        "text": pa.string(),
        "clob": pa.string(),
        "string": pa.string(),
        "json": Reading(pa.string(), logical=t.JSON),
        "jsonb": Reading(pa.string(), logical=t.JSON),
        "blob": pa.binary(),
        "bytea": pa.binary(),
        "varbinary": sized_binary,
    },
    families=(
        (t.is_text, _text_type),
        (pa.types.is_decimal, _decimal_type),
        (t.is_binary, _binary_type),
    ),
    declares={
        pa.int8(): "TINYINT",
        pa.int16(): "SMALLINT",
        pa.int32(): "INT",
        pa.int64(): "BIGINT",
        pa.uint8(): "TINYINT UNSIGNED",
        pa.uint16(): "SMALLINT UNSIGNED",
        pa.uint32(): "INT UNSIGNED",
        pa.uint64(): "DECIMAL_TEXT(20,0)",  # INTEGER storage is signed 64-bit
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
        pa.time64("us"): "TIME",
        t.TIMESTAMP: "TIMESTAMP",
        t.TIMESTAMP_TZ: "TIMESTAMPTZ",
    },
)


def read_field(name: str, native: str) -> pa.Field:
    """The field of a column declared ``native``."""
    return SQLITE_TYPES.field(name, native, _declared(native))
