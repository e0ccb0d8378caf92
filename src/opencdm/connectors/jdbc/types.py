"""A database column as a JDBC dialect reads it, and the machinery of each dialect's type table.

``Column`` is the shared field model (``connectors.types``) plus what only a database table has.
A ``TypeTable`` is one dialect's type mapping as data (``mysql_types.py``, ``postgresql_types.py``,
``sqlite_types.py``): native type names read as Arrow fields, and Arrow fields declared as the
native types of a created table. docs/type-mapping.md documents the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import pyarrow as pa

from opencdm.connectors import types as t
from opencdm.errors import CdmError


@dataclass(frozen=True)
class Column:
    """A column of a real table or query: its native type as the database spells it, its field, and
    whether the database computes its values (a generated column, which takes none written)."""

    native: str
    field: pa.Field
    generated: bool = False


def match_names(available: Sequence[str], names: Sequence[str], input_name: str, table: str) -> list[str]:
    """Resolve configured column names exactly, else case-insensitively when that is unambiguous."""
    exact = set(available)
    folded: dict[str, list[str]] = {}
    for name in available:
        folded.setdefault(name.casefold(), []).append(name)
    matched = []
    for name in names:
        candidates = [name] if name in exact else folded.get(name.casefold(), [])
        if len(candidates) != 1:
            raise CdmError(
                "Cdm.0014", f"The parameter is invalid: column [{name}] of {input_name} does not exist in [{table}]."
            )
        matched.append(candidates[0])
    return matched


def match_columns(columns: Sequence[Column], names: Sequence[str], input_name: str, table: str) -> list[Column]:
    by_name = {column.field.name: column for column in columns}
    return [by_name[name] for name in match_names(list(by_name), names, input_name, table)]


@dataclass(frozen=True)
class Declared:
    """A native type taken apart by its dialect's grammar: the name its type table is keyed by, the
    numbers in its parentheses (``(12,2)``, ``(64)``), the words after them (``unsigned``), and
    what the database keeps of the column's meaning outside its type (MariaDB: a ``json_valid()``
    check, OpenCDM's time-zone comment)."""

    key: str
    numbers: tuple[int, ...] = ()
    words: frozenset[str] = frozenset()
    notes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Reading:
    """What a native type reads as: an Arrow type, with the field metadata Arrow has no place for."""

    type: pa.DataType
    length: int | None = None
    logical: str | None = None


# A native type that always reads the same (an Arrow type, or one with metadata), or one whose
# parameters decide (DECIMAL(p,s), VARCHAR(n), unsigned, tinyint(1)).
ReadRule: TypeAlias = pa.DataType | Reading | Callable[[Declared], Reading]
# A family of Arrow types (every string type, every decimal) and the function that declares its fields.
DeclareRule: TypeAlias = tuple[Callable[[pa.DataType], bool], Callable[[pa.Field], str]]


@dataclass(frozen=True)
class TypeTable:
    """One dialect's type mapping: ``reads`` native type names (``Declared.key``) as Arrow; an
    unlisted one reads as ``otherwise`` gives (None: it is not supported). A field is declared by
    the first of ``families`` that takes its type, else by its exact type in ``declares``."""

    reads: Mapping[str, ReadRule]
    families: Sequence[DeclareRule]
    declares: Mapping[pa.DataType, str]
    otherwise: Callable[[str], Reading] | None = None

    def field(self, name: str, native: str, declared: Declared | None) -> pa.Field:
        """The field of column ``name`` of type ``native``, as the dialect's grammar took it apart
        (None: the grammar does not take it)."""
        rule = self.reads.get(declared.key) if declared is not None else None
        if declared is None or rule is None:
            if self.otherwise is None:
                raise t.unsupported(native)
            reading = self.otherwise(native)
        elif isinstance(rule, pa.DataType):
            reading = Reading(rule)
        elif isinstance(rule, Reading):
            reading = rule
        else:
            reading = rule(declared)
        return t.make_field(name, reading.type, length=reading.length, logical=reading.logical)

    def declare(self, field: pa.Field) -> str:
        """The native type of a created table's column that keeps the field's meaning."""
        for takes, declare in self.families:
            if takes(field.type):
                return declare(field)
        native = self.declares.get(field.type)
        if native is None:
            raise t.unsupported(str(field.type))
        return native


# Parametric native types several dialects spell alike.
def exact_decimal(declared: Declared) -> Reading:
    """NUMERIC(p[,s]) as a decimal; an unconstrained NUMERIC as its exact text."""
    if not declared.numbers:
        return Reading(pa.string(), logical=t.NUMERIC)
    precision, scale = (*declared.numbers, 0)[:2]
    return Reading(t.decimal_type(precision, scale))


def sized_text(declared: Declared) -> Reading:
    """VARCHAR(n), its length kept (none without one)."""
    return Reading(pa.string(), length=declared.numbers[0] if declared.numbers else None)


def fixed_text(declared: Declared) -> Reading:
    """CHAR(n): CHAR alone holds one character."""
    return Reading(pa.string(), length=declared.numbers[0] if declared.numbers else 1, logical=t.CHAR)


def sized_binary(declared: Declared) -> Reading:
    """VARBINARY(n), its length in bytes kept (none without one)."""
    return Reading(pa.binary(), length=declared.numbers[0] if declared.numbers else None)
