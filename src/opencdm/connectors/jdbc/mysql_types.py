"""MySQL and MariaDB column types: SHOW COLUMNS' type names read as Arrow, Arrow declared for created tables.

MariaDB and MySQL lack a time-zone-aware type with full range, so a timestamptz column is created as
DATETIME(6) holding UTC with a column comment that restores tz-awareness when it is read back.
MariaDB's JSON is LONGTEXT with a ``json_valid()`` check.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pyarrow as pa

from opencdm.connectors import types as t
from opencdm.connectors.jdbc.types import Declared, Reading, TypeTable, fixed_text, sized_binary, sized_text

TZ_COMMENT = "opencdm:timestamptz"
JSON_CHECKED = "json_valid()"  # Declared.notes of a column with a json_valid() check
MAX_PRECISION, MAX_SCALE = 65, 30
MAX_CHAR = 255
MAX_VARCHAR = 16383  # utf8mb4 characters that fit a VARCHAR's 65,535-byte limit
_COLUMN_TYPE = re.compile(r"^(\w+)(?:\(([^)]*)\))?((?:\s+\w+)*)$")


def _declared(native: str, comment: str, json_check: bool) -> Declared | None:
    match = _COLUMN_TYPE.match(native.lower())
    if not match:
        return None
    args = match.group(2)
    numbers = tuple(int(part) for part in args.split(",")) if args and args.replace(",", "").isdigit() else ()
    notes = {note for note, present in ((TZ_COMMENT, TZ_COMMENT in comment), (JSON_CHECKED, json_check)) if present}
    return Declared(match.group(1), numbers, frozenset(match.group(3).split()), frozenset(notes))


def _integer(signed: pa.DataType, unsigned: pa.DataType) -> Callable[[Declared], Reading]:
    return lambda declared: Reading(unsigned if "unsigned" in declared.words else signed)


def _tinyint(declared: Declared) -> Reading:
    if declared.numbers == (1,) and "unsigned" not in declared.words:
        return Reading(pa.bool_())  # BOOLEAN is tinyint(1)
    return _integer(pa.int8(), pa.uint8())(declared)


def _decimal(declared: Declared) -> Reading:
    precision, scale = (*declared.numbers, 10, 0)[:2]  # DECIMAL alone is DECIMAL(10,0)
    return Reading(t.decimal_type(precision, scale))


def _datetime(declared: Declared) -> Reading:
    return Reading(t.TIMESTAMP_TZ if TZ_COMMENT in declared.notes else t.TIMESTAMP)


def _longtext(declared: Declared) -> Reading:
    return Reading(pa.string(), logical=t.JSON if JSON_CHECKED in declared.notes else None)


def _text_type(field: pa.Field) -> str:
    length, logical = t.length_of(field), t.logical_of(field)
    if t.is_json(field):
        return "JSON"
    if logical == t.NUMERIC:
        return f"DECIMAL({MAX_PRECISION},{MAX_SCALE})"
    if logical == t.CHAR and length and length <= MAX_CHAR:
        return f"CHAR({length})"
    return f"VARCHAR({length})" if length and length <= MAX_VARCHAR else "LONGTEXT"


def _decimal_type(field: pa.Field) -> str:
    type_ = field.type
    if type_.precision <= MAX_PRECISION and type_.scale <= MAX_SCALE:
        return f"DECIMAL({type_.precision},{type_.scale})"
    raise t.unsupported(f"decimal({type_.precision},{type_.scale}) (MySQL allows DECIMAL(65,30) at most)")


def _binary_type(field: pa.Field) -> str:
    length = t.length_of(field)
    return f"VARBINARY({length})" if length and length <= MAX_VARCHAR else "LONGBLOB"


def _tz_timestamp_type(field: pa.Field) -> str:
    return f"DATETIME(6) COMMENT '{TZ_COMMENT}'"


MYSQL_TYPES = TypeTable(
    reads={
        "tinyint": _tinyint,
        "smallint": _integer(pa.int16(), pa.uint16()),
        "mediumint": _integer(pa.int32(), pa.uint32()),
        "int": _integer(pa.int32(), pa.uint32()),
        "integer": _integer(pa.int32(), pa.uint32()),
        "bigint": _integer(pa.int64(), pa.uint64()),
        "decimal": _decimal,
        "numeric": _decimal,
        "float": pa.float32(),
        "double": pa.float64(),
        "real": pa.float64(),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "datetime": _datetime,
        "timestamp": t.TIMESTAMP_TZ,
        "year": pa.int16(),
        "varchar": sized_text,
        "char": fixed_text,
        "tinytext": pa.string(),
        "text": pa.string(),
        "mediumtext": pa.string(),
        "longtext": _longtext,
        "enum": pa.string(),
        "set": pa.string(),
        "json": Reading(pa.string(), logical=t.JSON),
        "binary": sized_binary,
        "varbinary": sized_binary,
        "tinyblob": pa.binary(),
        "blob": pa.binary(),
        "mediumblob": pa.binary(),
        "longblob": pa.binary(),
        "bit": pa.binary(),
    },
    families=(
        (t.is_text, _text_type),
        (pa.types.is_decimal, _decimal_type),
        (t.is_binary, _binary_type),
        (t.is_tz_timestamp, _tz_timestamp_type),
    ),
    declares={
        pa.int8(): "TINYINT",
        pa.int16(): "SMALLINT",
        pa.int32(): "INT",
        pa.int64(): "BIGINT",
        pa.uint8(): "TINYINT UNSIGNED",
        pa.uint16(): "SMALLINT UNSIGNED",
        pa.uint32(): "INT UNSIGNED",
        pa.uint64(): "BIGINT UNSIGNED",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
        pa.time64("us"): "TIME(6)",
        t.TIMESTAMP: "DATETIME(6)",
    },
)


def read_field(name: str, native: str, comment: str, json_check: bool) -> pa.Field:
    """The field of a column SHOW COLUMNS describes as ``native`` with ``comment``; ``json_check``:
    the table checks it with json_valid() (MariaDB's JSON)."""
    return MYSQL_TYPES.field(name, native, _declared(native, comment, json_check))
