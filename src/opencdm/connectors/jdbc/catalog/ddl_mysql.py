"""MariaDB (and MySQL) as the destination of an entire-database job.

Each table's unique constraints and indexes are added by one ALTER TABLE, and its foreign keys by
another: MariaDB builds several indexes in one pass over the table, and two ALTER TABLEs of one
table would only wait for each other. Tables created from another engine compare text as it did
(``utf8mb4_bin``); a MySQL source's tables keep their collation.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa

from opencdm.connectors.jdbc.catalog.ddl import NamedKey, NameSpace, SchemaWriter, Step, TablePlan
from opencdm.connectors.jdbc.catalog.model import (
    ColumnDefinition,
    DatabaseDefinition,
    Engine,
    ForeignKey,
    IndexDefinition,
    TableDefinition,
)

MAX_NAME_BYTES = 64
MAX_KEY_BYTES = 3072  # InnoDB's longest index key
UTF8MB4_BYTES = 4
# A type that takes no index without a prefix, or the bytes a column of a sized type takes in one.
_UNBOUNDED = re.compile(r"^(LONGTEXT|LONGBLOB|JSON|TEXT|BLOB)\b")
_SIZED = re.compile(r"^(VARCHAR|CHAR|VARBINARY)\((\d+)\)")
_FIXED_KEY_BYTES = 32  # a number, date or time
# MySQL's column_type of a time-zone-aware timestamp carries a comment of its own (see mysql.py).
_TYPE_COMMENT = re.compile(r"^(?P<type>.*?) COMMENT '(?P<comment>[^']*)'$")
_DEFAULT_COLLATION = "utf8mb4_bin"


def _no_set_default(action: str) -> str:
    return "NO ACTION" if action == "SET DEFAULT" else action


def _key_bytes(native: str) -> float:
    sized = _SIZED.match(native)
    if sized:
        return int(sized.group(2)) * (1 if sized.group(1) == "VARBINARY" else UTF8MB4_BYTES)
    return float("inf") if _UNBOUNDED.match(native) else _FIXED_KEY_BYTES


class MySqlSchemaWriter(SchemaWriter):
    engine = Engine.MYSQL
    max_name_bytes = MAX_NAME_BYTES

    def start(self, database: DatabaseDefinition) -> None:
        self._source_engine = database.engine
        self._foreign_key_names = NameSpace(MAX_NAME_BYTES, fold_case=True)
        self._types: dict[str, dict[str, str]] = {}

    def column_type(self, table: TableDefinition, column: ColumnDefinition) -> str:
        native = super().column_type(table, column)
        self._types.setdefault(table.name, {})[column.name] = native
        return native

    def identity_columns(self, table: TableDefinition, notes: list[str]) -> list[str]:
        identities = super().identity_columns(table, notes)
        for extra in identities[1:]:
            notes.append(f"auto-increment of {table.display}.{extra} is not carried: MariaDB has one "
                         "auto-increment column a table.")
        return identities[:1]

    def create_statements(self, table: TableDefinition, notes: list[str]) -> list[str]:
        quote, literal = self.dialect.quote, self.dialect.literal
        auto = next((column.name for column in table.columns if column.identity), None)
        definitions = []
        for column in table.columns:
            native = self.column_type(table, column)
            comments = [column.comment] if column.comment else []
            marked = _TYPE_COMMENT.match(native)
            if marked:
                native = marked.group("type")
                comments.insert(0, marked.group("comment"))
            definition = f"{quote(column.name)} {native}"
            if not column.nullable or column.name == auto:
                definition += " NOT NULL"
            definition += " AUTO_INCREMENT" if column.name == auto else self.default_clause(table, column, notes)
            if column.on_update_now:
                if pa.types.is_timestamp(column.field.type):
                    definition += " ON UPDATE CURRENT_TIMESTAMP(6)"
                else:
                    notes.append(f"ON UPDATE CURRENT_TIMESTAMP of {table.display}.{column.name} is not carried.")
            if comments:
                definition += f" COMMENT {literal(' '.join(comments))}"
            definitions.append(definition)
        if table.primary_key:
            fields = [table.column(name).field for name in table.primary_key]
            constraint = self.dialect.key_constraint(fields)
            if not constraint.startswith("PRIMARY KEY"):
                notes.append(f"the primary key of {table.display} becomes a unique key: its columns are too long "
                             "for an InnoDB primary key.")
            definitions.append(constraint)
        if auto is not None and table.primary_key[:1] != (auto,):
            definitions.append(f"KEY ({quote(auto)})")  # MariaDB wants an auto-increment column first in a key
        collation = table.collation if self._source_engine is Engine.MYSQL and table.collation else _DEFAULT_COLLATION
        options = f" DEFAULT CHARSET=utf8mb4 COLLATE={collation}" if collation.startswith("utf8mb4") else ""
        if table.comment:
            options += f" COMMENT={literal(table.comment)}"
        return [f"CREATE TABLE {self.ref(table.name)} ({', '.join(definitions)}){options}"]

    def _index_columns(self, table: TableDefinition, index: IndexDefinition, notes: list[str]) -> str:
        """The columns of a non-unique index, with a prefix where the whole values are too long to index."""
        types = self._types[table.name]
        prefixes = list(index.prefixes) or [None] * len(index.columns)
        if sum(_key_bytes(types[column]) for column, prefix in zip(index.columns, prefixes, strict=True)
               if prefix is None) > MAX_KEY_BYTES:
            share = MAX_KEY_BYTES // len(index.columns) // UTF8MB4_BYTES
            for position, column in enumerate(index.columns):
                if prefixes[position] is None and _key_bytes(types[column]) > share * UTF8MB4_BYTES:
                    prefixes[position] = share
            notes.append(f"index {index.name} of {table.display} indexes the first {share} characters of its "
                         "longest columns: InnoDB keys are at most 3072 bytes.")
        quote = self.dialect.quote
        return ", ".join(quote(column) + (f"({prefix})" if prefix else "")
                         for column, prefix in zip(index.columns, prefixes, strict=True))

    def index_steps(self, table: TableDefinition, notes: list[str]) -> list[Step]:
        quote = self.dialect.quote
        names = NameSpace(MAX_NAME_BYTES, fold_case=True, taken=["PRIMARY"])
        # A unique key longer than InnoDB's keys is kept whole: MariaDB enforces it through a hash.
        parts = [f"ADD CONSTRAINT {quote(names.claim(u.name, table.name))} UNIQUE ({self.names(u.columns)})"
                 for u in table.unique_constraints]
        for index in table.indexes:
            name = quote(names.claim(index.name, table.name))
            if index.unique and not index.prefixes:
                parts.append(f"ADD UNIQUE INDEX {name} ({self.names(index.columns)})")
            else:
                kind = "UNIQUE INDEX" if index.unique else "INDEX"
                parts.append(f"ADD {kind} {name} ({self._index_columns(table, index, notes)})")
        # InnoDB wants the columns of a foreign key first in an index: built here with the others,
        # rather than one by one as the foreign keys are added.
        leading = [table.primary_key, *(u.columns for u in table.unique_constraints)]
        leading += [index.columns for index in table.indexes]
        for key in table.foreign_keys:
            if not any(columns[: len(key.columns)] == key.columns for columns in leading):
                parts.append(f"ADD INDEX {quote(names.claim(key.name, table.name))} ({self.names(key.columns)})")
                leading.append(key.columns)
        if not parts:
            return []
        return [Step(f"indexes of {table.display}", (f"ALTER TABLE {self.ref(table.name)} {', '.join(parts)}",))]

    def foreign_key_name(self, table: TableDefinition, key: ForeignKey) -> str:
        return self._foreign_key_names.claim(key.name, table.name)

    def foreign_key_statements(self, table: TableDefinition, keys: Sequence[NamedKey], notes: list[str]) -> list[str]:
        parts = []
        for key, name in keys:
            for event, action in (("DELETE", key.on_delete), ("UPDATE", key.on_update)):
                if action == "SET DEFAULT":
                    notes.append(f"ON {event} SET DEFAULT of foreign key {key.name} of {table.display} becomes "
                                 "NO ACTION: InnoDB refuses SET DEFAULT.")
            kept = replace(key, on_delete=_no_set_default(key.on_delete), on_update=_no_set_default(key.on_update))
            parts.append(f"ADD {self.references(table, kept, name)}")
        if not parts:
            return []
        # Without foreign_key_checks InnoDB adds the keys in place, without copying the table; the
        # validations check the rows.
        return ["SET SESSION foreign_key_checks = 0", f"ALTER TABLE {self.ref(table.name)} {', '.join(parts)}",
                "SET SESSION foreign_key_checks = 1"]

    def validation_steps(self, table: TableDefinition, keys: Sequence[NamedKey]) -> list[Step]:
        quote, literal, steps = self.dialect.quote, self.dialect.literal, []
        for key, name in keys:
            # MATCH SIMPLE, as InnoDB checks: a row with a NULL in the key references nothing.
            complete = " AND ".join(f"c.{quote(column)} IS NOT NULL" for column in key.columns)
            matched = " AND ".join(f"p.{quote(referenced)} = c.{quote(column)}"
                                   for column, referenced in zip(key.columns, key.referenced_columns, strict=True))
            orphans = (f"SELECT 1 FROM {self.ref(table.name)} c WHERE {complete} AND NOT EXISTS "
                       f"(SELECT 1 FROM {self.ref(key.referenced_table)} p WHERE {matched})")
            message = literal(f"foreign key {name} of {self.schema}.{table.name}: a copied row references no row "
                              f"of {self.schema}.{key.referenced_table}")
            steps.append(Step(f"foreign key {key.name} of {table.display}", (
                f"BEGIN NOT ATOMIC IF EXISTS ({orphans}) THEN SIGNAL SQLSTATE '23000' SET MESSAGE_TEXT = {message}; "
                "END IF; END",
            )))
        return steps

    def identity_statements(self, conn: Any, plan: TablePlan) -> list[str]:
        statements = []
        for column in plan.identities:
            with self.dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
                rows = self.dialect.query(
                    conn, f"SELECT COALESCE(MAX({self.dialect.quote(column)}), 0) + 1 FROM {self.ref(plan.name)}"
                )
            statements.append(f"ALTER TABLE {self.ref(plan.name)} AUTO_INCREMENT = {max(int(rows[0][0]), 1)}")
        return statements

    def now(self, field: pa.Field) -> str | None:
        return "CURRENT_TIMESTAMP(6)"

    def today(self) -> str:
        return "(CURRENT_DATE)"

    def expression_default(self, text: str) -> str | None:
        return f"({text})"

    def literal_default(self, field: pa.Field, text: str) -> str | None:
        literal = super().literal_default(field, text)
        # MySQL takes a default for a TEXT, BLOB or JSON column only as an expression; MariaDB either way.
        if literal is not None and _UNBOUNDED.match(self.dialect.column_type(field)):
            return f"({literal})"
        return literal

    def temporal_value(self, value: dt.date | dt.time | dt.datetime) -> Any:
        # Time-zone-aware timestamps are stored as their UTC wall time (docs/type-mapping.md).
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
