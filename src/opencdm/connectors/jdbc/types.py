"""A database column as a JDBC dialect reads it: the shared field model (``connectors.types``) plus
what only a database table has."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

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
