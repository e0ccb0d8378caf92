"""The destination's DDL for a schema read into the model, in the three phases of an
entire-database job (docs/decisions/0020-entire-database-schema.md):

1. ``TablePlan.create``: the table with its columns (types as a table job creates them), NOT NULL,
   defaults, comments, identity/auto-increment and the primary key; before the data.
2. After the data: ``TablePlan.indexes``, unique constraints and secondary indexes (``Step``s, each
   on a connection of its own, in parallel with every other table's); once every table has its
   keys, ``TablePlan.foreign_keys``, statements that only record each foreign key (run one table
   after another on one connection: two of them on tables that reference each other would wait for
   each other); then ``TablePlan.validations``, steps that check the copied rows against each
   foreign key, in parallel. A row that breaks a foreign key fails its validation, naming it.
3. ``SchemaWriter.identity_statements``: the identity sequence or AUTO_INCREMENT counter of each
   table set past the largest copied value.

What the destination cannot take is a note of the plan, never dropped in silence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from opencdm.connectors import types as t
from opencdm.connectors.jdbc.catalog.model import (
    ColumnDefinition,
    DatabaseDefinition,
    DefaultKind,
    Engine,
    ForeignKey,
    TableDefinition,
)
from opencdm.connectors.jdbc.dialect import Dialect

# A foreign key with the name it has in the destination.
NamedKey = tuple[ForeignKey, str]
_TRUE = {"1", "true", "t", "yes", "on", "b'1'"}
_FALSE = {"0", "false", "f", "no", "off", "b'0'"}


@dataclass(frozen=True)
class Step:
    """Statements run in order on one connection; ``what`` names them for the run log."""

    what: str
    statements: tuple[str, ...]


@dataclass(frozen=True)
class TablePlan:
    source: TableDefinition
    schema: str  # the destination schema; the table keeps its name
    create: tuple[str, ...]
    indexes: tuple[Step, ...]
    foreign_keys: tuple[str, ...]
    validations: tuple[Step, ...]
    identities: tuple[str, ...]  # the destination's identity / auto-increment columns

    @property
    def name(self) -> str:
        return self.source.name


@dataclass(frozen=True)
class SchemaPlan:
    tables: tuple[TablePlan, ...]
    notes: tuple[str, ...]  # what the destination does not take, or takes differently

    def table(self, name: str) -> TablePlan:
        return next(plan for plan in self.tables if plan.name == name)


def fitted_name(name: str, max_bytes: int) -> str:
    """``name`` within the destination's identifier length: cut, with a hash of the whole name
    so that two long names cut alike stay apart."""
    if len(name.encode()) <= max_bytes:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return name.encode()[: max_bytes - 9].decode(errors="ignore") + "_" + digest


class NameSpace:
    """Names that must differ from each other in the destination (PostgreSQL's index names share a
    schema with its tables; MySQL's foreign key names share a database)."""

    def __init__(self, max_bytes: int, fold_case: bool, taken: Sequence[str] = ()) -> None:
        self._max_bytes, self._fold = max_bytes, fold_case
        self._taken = {self._key(name) for name in taken}

    def _key(self, name: str) -> str:
        return name.casefold() if self._fold else name

    def claim(self, wanted: str, table: str) -> str:
        """``wanted``, else ``<table>_<wanted>``, else that with a number: the first one free."""
        candidates = [wanted, f"{table}_{wanted}"] + [f"{table}_{wanted}_{n}" for n in range(2, 1000)]
        for candidate in candidates:
            fitted = fitted_name(candidate, self._max_bytes)
            if self._key(fitted) not in self._taken:
                self._taken.add(self._key(fitted))
                return fitted
        raise AssertionError("a thousand tables cannot have one index name each")


class SchemaWriter(ABC):
    """DDL of one destination database; ``plan`` is what an entire-database job runs."""

    engine: Engine
    max_name_bytes: int

    def __init__(self, dialect: Dialect, schema: str) -> None:
        self.dialect = dialect
        self.schema = schema

    def ref(self, table: str) -> str:
        return self.dialect.table_ref(self.schema, table)

    def names(self, columns: Sequence[str]) -> str:
        return ", ".join(self.dialect.quote(column) for column in columns)

    def plan(self, database: DatabaseDefinition) -> SchemaPlan:
        notes: list[str] = []
        carried = {table.name for table in database.tables}
        self.start(database)
        plans = []
        for table in database.tables:
            create = self.create_statements(table, notes)
            indexes = self.index_steps(table, notes)
            keys = [
                (key, self.foreign_key_name(table, key)) for key in table.foreign_keys
                if self._references_carried(table, key, database, carried, notes) and self.takes(table, key, notes)
            ]
            foreign_keys = self.foreign_key_statements(table, keys, notes)
            plans.append(TablePlan(
                table, self.schema, tuple(create), tuple(indexes), tuple(foreign_keys),
                tuple(self.validation_steps(table, keys)), tuple(self.identity_columns(table, notes)),
            ))
        return SchemaPlan(tuple(plans), tuple(notes))

    @staticmethod
    def _references_carried(
        table: TableDefinition, key: ForeignKey, database: DatabaseDefinition, carried: set[str], notes: list[str]
    ) -> bool:
        if key.referenced_schema == database.schema and key.referenced_table in carried:
            return True
        notes.append(f"foreign key {key.name} of {table.display} is not carried: it references "
                     f"{key.referenced_schema}.{key.referenced_table}, which this job does not create.")
        return False

    @abstractmethod
    def start(self, database: DatabaseDefinition) -> None:
        """Reserve the names the whole plan shares, before its first table."""

    @abstractmethod
    def create_statements(self, table: TableDefinition, notes: list[str]) -> list[str]: ...

    @abstractmethod
    def index_steps(self, table: TableDefinition, notes: list[str]) -> list[Step]: ...

    def takes(self, table: TableDefinition, key: ForeignKey, notes: list[str]) -> bool:
        """Whether the destination can have the foreign key ``key`` of ``table`` (if not, a note says why)."""
        return True

    def foreign_key_name(self, table: TableDefinition, key: ForeignKey) -> str:
        return fitted_name(key.name, self.max_name_bytes)

    @abstractmethod
    def foreign_key_statements(self, table: TableDefinition, keys: Sequence[NamedKey], notes: list[str]) -> list[str]:
        """Statements that add the foreign keys without reading the table's rows."""

    @abstractmethod
    def validation_steps(self, table: TableDefinition, keys: Sequence[NamedKey]) -> list[Step]:
        """A step for each foreign key that fails when a copied row references no row."""

    def references(self, table: TableDefinition, key: ForeignKey, name: str) -> str:
        """``FOREIGN KEY (...) REFERENCES ...`` with its actions, as both destinations spell it."""
        return (f"CONSTRAINT {self.dialect.quote(name)} FOREIGN KEY ({self.names(key.columns)}) REFERENCES "
                f"{self.ref(key.referenced_table)} ({self.names(key.referenced_columns)}) "
                f"ON DELETE {key.on_delete} ON UPDATE {key.on_update}")

    def identity_columns(self, table: TableDefinition, notes: list[str]) -> list[str]:
        return [column.name for column in table.columns if column.identity]

    @abstractmethod
    def identity_statements(self, conn: Any, plan: TablePlan) -> list[str]:
        """Statements that set each identity of the loaded table past its largest value (read through ``conn``)."""

    # --- columns ------------------------------------------------------------------------------
    def column_type(self, table: TableDefinition, column: ColumnDefinition) -> str:
        field = column.field
        if column.user_type:
            field = t.with_not_null(t.make_field(column.name, pa.string()), t.is_not_null(field))
        return self.dialect.column_type(field)

    @abstractmethod
    def now(self, field: pa.Field) -> str | None:
        """The destination's current timestamp for a column of ``field`` (None: it has none)."""

    @abstractmethod
    def today(self) -> str: ...

    def default_clause(self, table: TableDefinition, column: ColumnDefinition, notes: list[str]) -> str:
        """`` DEFAULT ...`` for the column, or ""; a default that does not translate is a note."""
        default = column.default
        if default is None or default.kind is DefaultKind.NULL or column.identity:
            return ""
        field, sql = column.field, None
        if default.kind is DefaultKind.LITERAL:
            sql = self.literal_default(field, default.text)
        elif default.kind is DefaultKind.CURRENT_TIMESTAMP:
            sql = self.now(field) if pa.types.is_timestamp(field.type) else None
        elif default.kind is DefaultKind.CURRENT_DATE:
            sql = self.today() if pa.types.is_date(field.type) else None
        elif default.engine is self.engine and not column.user_type:
            sql = self.expression_default(default.text)
        if sql is None:
            notes.append(f"default {default.shown()} of {table.display}.{column.name} is not carried: it does not "
                         f"translate to a {self.dialect.column_type(field)} column of {self.engine.title}.")
            return ""
        return f" DEFAULT {sql}"

    def expression_default(self, text: str) -> str | None:
        """An expression default of this same engine, as it is written here."""
        return text

    def literal_default(self, field: pa.Field, text: str) -> str | None:
        type_ = field.type
        if pa.types.is_boolean(type_):
            folded = text.strip().lower()
            return "TRUE" if folded in _TRUE else "FALSE" if folded in _FALSE else None
        if pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_):
            try:
                number = Decimal(text.strip())
            except InvalidOperation:
                return None
            return str(number) if number.is_finite() else None
        if pa.types.is_timestamp(type_) or pa.types.is_date(type_) or pa.types.is_time(type_):
            return self.temporal_default(type_, text.strip())
        if pa.types.is_binary(type_) or pa.types.is_large_binary(type_):
            return None
        return self.dialect.literal(text)

    def temporal_default(self, type_: pa.DataType, text: str) -> str | None:
        parse = dt.date.fromisoformat if pa.types.is_date(type_) else (
            dt.time.fromisoformat if pa.types.is_time(type_) else dt.datetime.fromisoformat
        )
        try:
            value = parse(text)
        except ValueError:
            return None  # MySQL's zero dates among others
        if isinstance(value, dt.datetime) and value.tzinfo is not None and not t.is_tz_timestamp(type_):
            return None
        return self.dialect.literal(self.temporal_value(value))

    def temporal_value(self, value: dt.date | dt.time | dt.datetime) -> Any:
        return value
