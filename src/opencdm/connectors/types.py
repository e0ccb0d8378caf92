"""The connector-neutral column model: Arrow types plus the field metadata of ``connectors.base``.

Every connector reads its native column types into these fields (a JDBC dialect also renders them
back as DDL), so a table copied in any direction keeps its meaning. Values travel as Arrow arrays;
``cast_array`` is the single place where a source column is converted to a destination column's Arrow type.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from opencdm.connectors import values
from opencdm.errors import CdmError

LENGTH = "opencdm.length"
LOGICAL = "opencdm.type"
# A column declared NOT NULL; kept as metadata, not as Arrow's nullable flag, which Arrow would
# hold every batch to (a query's NULLs would no longer fit the schema).
NOT_NULL = "opencdm.not_null"

# Logical types carried as strings because Arrow has no exact equivalent.
JSON = "json"
JSONB = "jsonb"  # PostgreSQL's binary JSON; other dialects treat it as JSON
NUMERIC = "numeric"  # unconstrained NUMERIC, as its exact decimal text
CHAR = "char"  # fixed-length character(n)
# PostgreSQL types without an Arrow mapping (uuid, inet, interval, ...) travel as their text form
# with logical type "postgresql:<format_type>", so a PostgreSQL destination can recreate them.
PG_NATIVE_PREFIX = "postgresql:"

UTC = "UTC"
MAX_DECIMAL128_PRECISION = 38
MAX_DECIMAL256_PRECISION = 76
TIMESTAMP = pa.timestamp("us")
TIMESTAMP_TZ = pa.timestamp("us", tz=UTC)


def make_field(name: str, type_: pa.DataType, *, length: int | None = None, logical: str | None = None) -> pa.Field:
    metadata: dict[str, str] = {}
    if length is not None:
        metadata[LENGTH] = str(length)
    if logical is not None:
        metadata[LOGICAL] = logical
    return pa.field(name, type_, nullable=True, metadata=metadata or None)


def decimal_type(precision: int, scale: int) -> pa.DataType:
    if precision <= MAX_DECIMAL128_PRECISION:
        return pa.decimal128(precision, scale)
    if precision <= MAX_DECIMAL256_PRECISION:
        return pa.decimal256(precision, scale)
    raise CdmError("Cdm.0921", f"Type decimal({precision},{scale}) is not supported (at most 76 digits).")


def length_of(field: pa.Field) -> int | None:
    value = (field.metadata or {}).get(LENGTH.encode())
    return int(value) if value is not None else None


def is_text(type_: pa.DataType) -> bool:
    return pa.types.is_string(type_) or pa.types.is_large_string(type_)


def is_binary(type_: pa.DataType) -> bool:
    """Variable-length binary (not fixed-size)."""
    return pa.types.is_binary(type_) or pa.types.is_large_binary(type_)


def with_length_factor(field: pa.Field, factor: int) -> pa.Field:
    """A character column with its declared length multiplied (extendCharLength)."""
    length = length_of(field)
    if length is None or not is_text(field.type):
        return field
    return field.with_metadata({**(field.metadata or {}), LENGTH.encode(): str(length * factor).encode()})


def is_not_null(field: pa.Field) -> bool:
    return (field.metadata or {}).get(NOT_NULL.encode()) == b"true"


def with_not_null(field: pa.Field, not_null: bool) -> pa.Field:
    metadata = {key: value for key, value in (field.metadata or {}).items() if key != NOT_NULL.encode()}
    if not_null:
        metadata[NOT_NULL.encode()] = b"true"
    return pa.field(field.name, field.type, nullable=True, metadata=metadata or None)


def logical_of(field: pa.Field) -> str | None:
    value = (field.metadata or {}).get(LOGICAL.encode())
    return value.decode() if value is not None else None


def is_json(field: pa.Field) -> bool:
    return logical_of(field) in (JSON, JSONB)


def is_tz_timestamp(type_: pa.DataType) -> bool:
    return pa.types.is_timestamp(type_) and type_.tz is not None


def unsupported(native: str) -> CdmError:
    return CdmError("Cdm.0921", f"Type {native} is not supported.")


def cast_array(array: pa.Array, target: pa.DataType, column: str) -> pa.Array:
    """Convert one column exactly to ``target``; anything lossy fails with the column named."""
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    if isinstance(target, pa.ExtensionType):
        return pa.ExtensionArray.from_storage(target, cast_array(array, target.storage_type, column))
    if array.type == target:
        return array
    infinite = values.infinities(array)
    if infinite is not None and values.temporal_kind(target) != values.temporal_kind(array.type):
        index = pc.index(infinite, True).as_py()
        raise CdmError(
            "Cdm.0064",
            f"Data format mismatch: column [{column}] value [{values.infinity_text(array, index)}] cannot be "
            f"converted from {array.type} to {target}.",
        )
    try:
        return _converted(array, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        value = _first_unconvertible(array, target)
        shown = f" value [{value}]" if value is not None else ""
        raise CdmError(
            "Cdm.0064",
            f"Data format mismatch: column [{column}]{shown} cannot be converted from {array.type} to {target}: {exc}",
        ) from exc


def _converted(array: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(array.type) and pa.types.is_timestamp(target):
        # Both sides hold UTC instants or wall-clock times in microseconds; only the label changes.
        return array.cast(pa.timestamp("us", tz=array.type.tz)).cast(target)
    if _is_number(array.type) and pa.types.is_temporal(target):
        # Arrow would read the number as days or microseconds since 1970: a silent new value.
        raise pa.ArrowInvalid("a number is not a date or a time")
    if pa.types.is_integer(array.type) and pa.types.is_decimal(target):
        # Arrow asks for a precision that holds every integer of the type (decimal(11,1) for an
        # int32), even when each value fits the target: widen first, and the target checks values.
        digits = len(str(2**array.type.bit_width)) + target.scale
        array = pc.cast(array, decimal_type(max(digits, target.precision), target.scale))
    return pc.cast(array, target, safe=True)


def _is_number(type_: pa.DataType) -> bool:
    return pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_)


def _first_unconvertible(array: pa.Array, target: pa.DataType) -> str | None:
    """The first value of ``array`` that does not convert to ``target`` on its own (None: each does)."""
    for index in range(len(array)):
        try:
            _converted(array.slice(index, 1), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return values.value_text(array, index)
    return None


def cast_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Rename (by position) and convert a batch to ``schema``."""
    arrays = [cast_array(batch.column(i), field.type, field.name) for i, field in enumerate(schema)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)

