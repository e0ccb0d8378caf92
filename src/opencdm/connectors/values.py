"""Values whose meaning every connector shares, beyond what Arrow's types say.

PostgreSQL's timestamp, timestamptz and date 'infinity' and '-infinity' travel as the extreme
values of the Arrow type: the integers PostgreSQL itself stores them as. Only a destination that
takes them (PostgreSQL) writes them as infinities; every other refuses them (Sink.refused_values)
rather than writing year 294247 or -290308.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from opencdm.errors import CdmError

TIMESTAMP_KIND, DATE_KIND = "timestamp", "date"
INFINITE_VALUES: dict[str, tuple[int, int]] = {TIMESTAMP_KIND: (2**63 - 1, -(2**63)), DATE_KIND: (2**31 - 1, -(2**31))}
INFINITY, MINUS_INFINITY = "infinity", "-infinity"
# What a conversion of values raises when some of them do not convert (Arrow's, or cast_array's).
CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, CdmError)


def temporal_kind(type_: pa.DataType) -> str | None:
    """TIMESTAMP_KIND or DATE_KIND for the types that carry ±infinity, else None."""
    if pa.types.is_timestamp(type_):
        return TIMESTAMP_KIND
    return DATE_KIND if pa.types.is_date32(type_) else None


def infinite_values(type_: pa.DataType) -> tuple[int, int] | None:
    """The integers of ``type_`` that stand for +infinity and -infinity; None if it has none."""
    kind = temporal_kind(type_)
    return INFINITE_VALUES[kind] if kind is not None else None


def integer_type(type_: pa.DataType) -> pa.DataType:
    """The integers a timestamp (microseconds since 1970) or date32 (days) is stored as."""
    return pa.int64() if pa.types.is_timestamp(type_) else pa.int32()


def integers_of(array: pa.Array) -> pa.Array:
    return array.view(integer_type(array.type))


def infinities(array: pa.Array) -> pa.Array | None:
    """Where ``array`` holds +infinity or -infinity (a boolean array); None when it holds neither."""
    extremes = infinite_values(array.type)
    if extremes is None or array.null_count == len(array):
        return None
    integers = integers_of(array)
    bounds = pc.min_max(integers)
    if bounds["max"].as_py() < extremes[0] and bounds["min"].as_py() > extremes[1]:
        return None
    return pc.fill_null(pc.is_in(integers, pa.array(extremes, integers.type)), False)


def infinity_text(array: pa.Array, index: int) -> str:
    """'infinity' or '-infinity': the value at ``index``, one of ``infinities(array)``."""
    extremes = infinite_values(array.type)
    assert extremes is not None
    return INFINITY if integers_of(array)[index].as_py() == extremes[0] else MINUS_INFINITY


def value_text(array: pa.Array, index: int) -> str:
    """The value at ``index`` as an error message shows it."""
    infinite = infinities(array)
    if infinite is not None and infinite[index].as_py():
        return infinity_text(array, index)
    value = array.slice(index, 1)
    try:
        text = str(pc.cast(value, pa.string())[0].as_py())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return str(value[0])
    kind = temporal_kind(array.type)
    if kind is not None and text.startswith("<value out of range"):  # a year Arrow does not spell
        unit = "microseconds" if kind == TIMESTAMP_KIND else "days"
        return f"{integers_of(value)[0].as_py()} {unit} from 1970-01-01"
    return text


def unusual_floats(array: pa.Array, *, infinite: bool) -> pa.Array | None:
    """Where a float32/float64 array holds NaN (and ±Infinity when ``infinite``), values some
    databases cannot store; None for other types."""
    if array.type not in (pa.float32(), pa.float64()):
        return None
    found = pc.is_nan(array)
    if infinite:
        found = pc.or_(found, pc.is_inf(array))
    return pc.fill_null(found, False)


def failing_rows(array: pa.Array, convert: Callable[[pa.Array], object]) -> list[int]:
    """The positions of the values of ``array`` that ``convert`` (an element-wise conversion)
    refuses, i.e. raises one of ``CONVERSION_ERRORS`` for, in memory and in bulk: the distinct
    values are tried, by halving, and the rows holding a refused one found in one pass. A bad
    value written on many rows (``NA``) costs a few conversions, not one per row."""
    try:
        convert(array)
        return []
    except CONVERSION_ERRORS:
        pass
    try:
        distinct = pc.unique(array)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return _halved(array, convert)  # a type without a hash kernel
    refused = distinct.take(pa.array(_halved(distinct, convert), pa.int64()))
    return [int(row) for row in pc.indices_nonzero(pc.is_in(array, value_set=refused)).to_pylist()]


def _halved(array: pa.Array, convert: Callable[[pa.Array], object]) -> list[int]:
    """The positions ``failing_rows`` asks for, found by halving: k bad values among n cost about
    2·k·log2(n/k) conversions of shrinking slices."""
    if len(array) == 0:
        return []
    try:
        convert(array)
        return []
    except CONVERSION_ERRORS:
        if len(array) == 1:
            return [0]
    half = len(array) // 2
    return _halved(array.slice(0, half), convert) + [half + index for index in _halved(array.slice(half), convert)]


def without_negative_zero(array: pa.Array) -> pa.Array:
    """``array`` with a float32/float64 -0.0 as 0.0, for databases that have no negative zero: -0
    equals 0 under IEEE 754 and in SQL, so a migration writes 0 rather than fail on it."""
    if array.type not in (pa.float32(), pa.float64()):
        return array
    # IEEE 754: -0.0 + 0.0 is 0.0; every other value, NaN and ±Infinity included, stays as it is.
    return pc.add(array, pa.scalar(0.0, array.type))


def without_negative_zeros(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with every float -0.0 as 0.0 (see ``without_negative_zero``)."""
    return pa.RecordBatch.from_arrays([without_negative_zero(column) for column in batch.columns], schema=batch.schema)
