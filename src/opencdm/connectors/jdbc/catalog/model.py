"""The neutral model of a database's schema, as an entire-database job carries it.

Readers (``read_mysql``, ``read_postgresql``, ``read_sqlite``) describe a source schema in these
terms; writers (``ddl``) turn them into the destination's DDL. Column types travel as the Arrow
field the source dialect maps the column to (``Dialect.table_columns``), so a created table has
exactly the types docs/type-mapping.md documents for a table job. What the model cannot carry is
kept beside it, with a reason, so that a run reports it instead of dropping it in silence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import pyarrow as pa


class DefaultKind(Enum):
    NULL = "null"
    LITERAL = "literal"  # a constant, held as its text without quotes (``text``)
    CURRENT_TIMESTAMP = "current_timestamp"  # now(), CURRENT_TIMESTAMP, current_timestamp()
    CURRENT_DATE = "current_date"
    EXPRESSION = "expression"  # anything else, as the source engine spells it


class Engine(Enum):
    """The family of SQL a default expression or a type is written in."""

    MYSQL = "mysql"  # MySQL and MariaDB
    POSTGRESQL = "postgresql"
    SQLITE = "sqlite"

    @property
    def title(self) -> str:
        return {"mysql": "MySQL/MariaDB", "postgresql": "PostgreSQL", "sqlite": "SQLite"}[self.value]


@dataclass(frozen=True)
class ColumnDefault:
    kind: DefaultKind
    text: str  # LITERAL: the value; EXPRESSION: the source's expression; else how the source spelled it
    engine: Engine  # whose SQL ``text`` is

    def shown(self) -> str:
        return repr(self.text) if self.kind is DefaultKind.LITERAL else self.text


@dataclass(frozen=True)
class ColumnDefinition:
    name: str
    # The Arrow field the source dialect maps the column to (its NOT NULL in the field's metadata):
    # a destination dialect's ``column_type`` renders it as a table job would create it.
    field: pa.Field
    source_type: str  # the type as the source declares it
    nullable: bool
    default: ColumnDefault | None = None
    # AUTO_INCREMENT, an identity column, a serial, SQLite's INTEGER PRIMARY KEY.
    identity: bool = False
    comment: str | None = None
    # MySQL's ON UPDATE CURRENT_TIMESTAMP.
    on_update_now: bool = False
    # A generated (computed) column: created as a plain column holding the copied values.
    generated: bool = False
    # A type of the source database's own making (a PostgreSQL enum, domain or composite type), which
    # another database or schema may not have: it is created as text.
    user_type: bool = False


@dataclass(frozen=True)
class UniqueConstraint:
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class IndexDefinition:
    name: str
    columns: tuple[str, ...]
    unique: bool = False
    # MySQL prefix lengths of the columns (None: the whole column); () when no column has one.
    prefixes: tuple[int | None, ...] = ()


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    referenced_schema: str
    referenced_table: str
    referenced_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"  # NO ACTION, RESTRICT, CASCADE, SET NULL, SET DEFAULT
    on_update: str = "NO ACTION"


@dataclass(frozen=True)
class TableDefinition:
    schema: str
    name: str
    columns: tuple[ColumnDefinition, ...]
    primary_key: tuple[str, ...] = ()
    unique_constraints: tuple[UniqueConstraint, ...] = ()
    indexes: tuple[IndexDefinition, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    comment: str | None = None
    # What of the table is not carried or carried differently, one sentence each.
    notes: tuple[str, ...] = ()
    # MySQL's default collation of the table (how its text compares), None elsewhere.
    collation: str | None = None

    @property
    def display(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> ColumnDefinition:
        return next(column for column in self.columns if column.name == name)


@dataclass(frozen=True)
class NotCarried:
    """An object of the source schema an entire-database job does not create in the destination."""

    kind: str  # view, materialized view, trigger, function, procedure, event, sequence, table, ...
    name: str
    reason: str

    def shown(self) -> str:
        return f"{self.kind} {self.name} is not carried: {self.reason}"


@dataclass(frozen=True)
class DatabaseDefinition:
    engine: Engine
    schema: str
    tables: tuple[TableDefinition, ...]
    not_carried: tuple[NotCarried, ...] = field(default=())

    def table(self, name: str) -> TableDefinition | None:
        return next((table for table in self.tables if table.name == name), None)

    def report(self) -> list[str]:
        """Every object and detail not carried, one line each: for the run log and the summary."""
        return [item.shown() for item in self.not_carried] + [note for table in self.tables for note in table.notes]
