"""A database column as a JDBC dialect reads it: the shared field model (``connectors.types``) plus
what only a database table has."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Column:
    """A column of a real table or query: its native type as the database spells it, its field, and
    whether the database computes its values (a generated column, which takes none written)."""

    native: str
    field: pa.Field
    generated: bool = False
