"""Text to typed columns: the type of a column of CSV or JSON text, folded from every value
(``TypeFold``), and the exact conversion of its text into that type or the destination's
(``text_converter``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from opencdm.connectors.types import MAX_DECIMAL256_PRECISION, TIMESTAMP, TIMESTAMP_TZ, cast_array, decimal_type

# Text shapes recognised in CSV and JSON strings (see TypeFold), tried in this order on each block.
_INTEGER = r"^-?\d+$"  # Arrow reads no "+" in an integer: such texts are decimals
_DECIMAL = r"^[+-]?(\d+(\.\d*)?|\.\d+)$"
_TEXT_SHAPES: tuple[tuple[str, pa.DataType], ...] = (
    (r"^(?i:true|false)$", pa.bool_()),
    (r"^\d{4}-\d{2}-\d{2}$", pa.date32()),
    (r"^\d{2}:\d{2}:\d{2}(\.\d{1,6})?$", pa.time64("us")),
    (r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$", TIMESTAMP),
    (r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)$", TIMESTAMP_TZ),
)
# The narrowest integer types a created column may get, by the values seen.
_INTEGER_TYPES = (pa.int16(), pa.int32(), pa.int64())
_MAX_INTEGER_DIGITS = 18  # every 18-digit integer fits int64; longer ones become numeric(p,0)


@dataclass
class TypeFold:
    """The type of a text column, folded over every block of every file: the narrowest one every
    non-null value fits exactly (docs/type-mapping.md, "Types of created columns").

    ``kind`` is None before any value, "integer" (``low``..``high``, or ``digits`` past 18),
    "decimal" (``digits`` before the point, ``scale`` after it), "text", or a shape of
    ``_TEXT_SHAPES`` (bool, date, time, timestamp, timestamp with an offset)."""

    kind: str | pa.DataType | None = None
    low: int = 0
    high: int = 0
    digits: int = 0
    scale: int = 0

    def add(self, values: pa.Array) -> None:
        present = pc.drop_null(values)
        if len(present) == 0 or self.kind == "text":
            return

        def matches(pattern: str) -> bool:
            return bool(pc.all(pc.match_substring_regex(present, pattern)).as_py())

        if matches(_INTEGER) and self.kind in (None, "integer", "decimal"):
            unsigned = pc.utf8_ltrim(pc.utf8_ltrim(present, "+-"), "0")
            digits = pc.max(pc.utf8_length(unsigned)).as_py() or 0
            self.digits = max(self.digits, digits)
            if digits <= _MAX_INTEGER_DIGITS:
                low, high = pc.min_max(pc.cast(present, pa.int64())).values()
                first = self.kind is None
                self.low = low.as_py() if first else min(self.low, low.as_py())
                self.high = high.as_py() if first else max(self.high, high.as_py())
            self.kind = self.kind or "integer"
            return
        if matches(_DECIMAL) and self.kind in (None, "integer", "decimal"):
            # Digits before the point (leading zeros left out) and after it, the widest of each.
            stripped = pc.utf8_ltrim(pc.utf8_ltrim(present, "+-"), "0")
            length = pc.utf8_length(stripped)
            found = pc.find_substring(stripped, ".")
            point = pc.if_else(pc.less(found, 0), length, found)  # an integer among decimals
            self.digits = max(self.digits, pc.max(point).as_py())
            self.scale = max(self.scale, pc.max(pc.subtract(pc.subtract(length, point), 1)).as_py(), 0)
            self.kind = "decimal"
            return
        for pattern, type_ in _TEXT_SHAPES:
            if self.kind in (None, type_) and matches(pattern):
                try:
                    _convert_text(present, type_)  # a date such as 2024-02-30 has the shape, not the type
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    break
                self.kind = type_
                return
        self.kind = "text"

    def type(self) -> pa.DataType:
        if self.kind == "integer" and self.digits <= _MAX_INTEGER_DIGITS:
            return next(t for t in _INTEGER_TYPES if _fits(self.low, self.high, t))
        if self.kind in ("integer", "decimal"):
            precision = max(self.digits + self.scale, 1)
            return decimal_type(precision, self.scale) if precision <= MAX_DECIMAL256_PRECISION else pa.string()
        if isinstance(self.kind, pa.DataType):
            return self.kind
        return pa.string()


def _fits(low: int, high: int, type_: pa.DataType) -> bool:
    bound = 1 << (type_.bit_width - 1)
    return -bound <= low and high < bound


# Converts a column of text into its column's type; raises one of values.CONVERSION_ERRORS.
TextConverter = Callable[[pa.Array], pa.Array]


def text_converter(type_: pa.DataType, into: pa.Field | None = None) -> TextConverter:
    """How text read as ``type_`` becomes ``into`` (the destination's column, when the sink named
    it: Source.convert_into), exactly: text into a text column as it is in the file, else the
    text of an inferred or declared column in that type, then cast to ``into``'s by cast_array."""
    target = type_ if into is None else into.type
    if pa.types.is_string(target) or pa.types.is_large_string(target):
        return lambda values: values.cast(target)
    if pa.types.is_string(type_) or into is None:
        return lambda values: _convert_text(values, target)
    assert into is not None
    return lambda values: cast_array(_convert_text(values, type_), target, into.name)


def _convert_text(values: pa.Array, type_: pa.DataType) -> pa.Array:
    if pa.types.is_time(type_):
        # Arrow casts no text to time; a timestamp on the epoch's day gives it.
        stamped = pc.binary_join_element_wise("1970-01-01 ", values, "")
        return pc.cast(stamped, pa.timestamp("us")).cast(type_)
    if pa.types.is_boolean(type_):
        values = pc.utf8_lower(values)
    return pc.cast(values, type_, safe=True)
