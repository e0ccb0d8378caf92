"""A SQLite database file read through its pragmas into the neutral model.

SQLite names neither its unique constraints nor its foreign keys: they are named here as PostgreSQL
would name them (``<table>_<columns>_key``, ``<table>_<columns>_fkey``). A column declared
``INTEGER PRIMARY KEY`` is the rowid, which SQLite numbers by itself: it is carried as an
auto-increment column.
"""

from __future__ import annotations

import re
from typing import Any

from opencdm.connectors.jdbc.catalog.model import (
    ColumnDefault,
    ColumnDefinition,
    DatabaseDefinition,
    DefaultKind,
    Engine,
    ForeignKey,
    IndexDefinition,
    NotCarried,
    TableDefinition,
    UniqueConstraint,
)
from opencdm.connectors.jdbc.catalog.reading import (
    VIEW_REASON,
    catalog_rows,
    dialect_columns,
    generated_note,
    trigger_not_carried,
)
from opencdm.connectors.jdbc.catalog.select import choose_tables
from opencdm.connectors.jdbc.dialect import Dialect
from opencdm.connectors.jdbc.types import Column

SCHEMA = "main"
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
# SQLite keeps CHECK constraints only in the text of its CREATE TABLE.
_CHECK = re.compile(r"\bCHECK\s*\(", re.IGNORECASE)
_ACTIONS = {"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"}


def _checks(created: str) -> list[str]:
    """The ``CHECK (...)`` clauses of a CREATE TABLE text, each up to its closing parenthesis."""
    checks = []
    for found in _CHECK.finditer(created):
        depth, end = 0, found.end() - 1
        for end in range(found.end() - 1, len(created)):
            depth += {"(": 1, ")": -1}.get(created[end], 0)
            if depth == 0:
                break
        checks.append(created[found.start() : end + 1])
    return checks


def _default(text: str | None) -> ColumnDefault | None:
    if text is None:
        return None
    upper = text.upper()
    if upper == "NULL":
        return ColumnDefault(DefaultKind.NULL, text, Engine.SQLITE)
    if upper == "CURRENT_TIMESTAMP":
        return ColumnDefault(DefaultKind.CURRENT_TIMESTAMP, text, Engine.SQLITE)
    if upper == "CURRENT_DATE":
        return ColumnDefault(DefaultKind.CURRENT_DATE, text, Engine.SQLITE)
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return ColumnDefault(DefaultKind.LITERAL, text[1:-1].replace("''", "'"), Engine.SQLITE)
    if _NUMBER.match(text) or upper in ("TRUE", "FALSE"):
        return ColumnDefault(DefaultKind.LITERAL, text, Engine.SQLITE)
    return ColumnDefault(DefaultKind.EXPRESSION, text, Engine.SQLITE)


def _keys_and_indexes(
    dialect: Dialect, conn: Any, table: str, notes: list[str]
) -> tuple[list[UniqueConstraint], list[IndexDefinition]]:
    uniques, indexes = [], []
    listed = f'SELECT name, "unique", origin, partial FROM pragma_index_list({dialect.literal(table)}) ORDER BY name'
    for index, unique, origin, partial in catalog_rows(dialect, conn, listed):
        if origin == "pk":
            continue
        parts = catalog_rows(dialect, conn, f"SELECT name FROM pragma_index_xinfo({dialect.literal(index)}) "
                             "WHERE key ORDER BY seqno")
        names = tuple(part[0] for part in parts)
        if partial or None in names:
            notes.append(f"index {index} of {SCHEMA}.{table} is not carried: it has a WHERE clause or an expression.")
        elif origin == "u":
            uniques.append(UniqueConstraint(f"{table}_{'_'.join(names)}_key", names))
        else:
            indexes.append(IndexDefinition(str(index), names, bool(unique)))
    return uniques, indexes


def _primary_key(dialect: Dialect, conn: Any, table: str) -> tuple[str, ...]:
    rows = catalog_rows(dialect, conn, f"SELECT name FROM pragma_table_info({dialect.literal(table)}) "
                        "WHERE pk > 0 ORDER BY pk")
    return tuple(str(row[0]) for row in rows)


def _foreign_keys(dialect: Dialect, conn: Any, table: str) -> list[ForeignKey]:
    parts_of: dict[int, list[tuple[Any, ...]]] = {}
    for key, *rest in catalog_rows(dialect, conn, 'SELECT id, "table", "from", "to", on_update, on_delete FROM '
                                   f"pragma_foreign_key_list({dialect.literal(table)}) ORDER BY id, seq"):
        parts_of.setdefault(key, []).append(tuple(rest))
    keys = []
    for parts in parts_of.values():
        parent, _, _, on_update, on_delete = parts[0]
        local = tuple(str(part[1]) for part in parts)
        referenced = tuple(part[2] for part in parts)
        if None in referenced:  # REFERENCES parent without columns: the parent's primary key
            referenced = _primary_key(dialect, conn, str(parent))
        keys.append(ForeignKey(
            f"{table}_{'_'.join(local)}_fkey", local, SCHEMA, str(parent), referenced,
            on_delete if on_delete in _ACTIONS else "NO ACTION", on_update if on_update in _ACTIONS else "NO ACTION",
        ))
    return keys


def _table(dialect: Dialect, conn: Any, name: str, typed: dict[str, Column], created: str) -> TableDefinition:
    display = f"{SCHEMA}.{name}"
    notes: list[str] = []
    for check in _checks(created):
        notes.append(f"check constraint of {display} is not carried: {check}.")
    described = catalog_rows(dialect, conn, 'SELECT name, type, "notnull", dflt_value, hidden FROM '
                             f"pragma_table_xinfo({dialect.literal(name)}) WHERE hidden <> 1 ORDER BY cid")
    primary = _primary_key(dialect, conn, name)
    declared_types = {column: str(declared).upper() for column, declared, *_ in described}
    rowid = primary[0] if len(primary) == 1 and declared_types[primary[0]] == "INTEGER" else None
    columns = []
    for column, declared, not_null, default, hidden in described:
        generated = hidden in (2, 3)
        if generated:
            notes.append(generated_note(display, str(column)))
        columns.append(ColumnDefinition(
            str(column), typed[str(column)].field, str(declared), not not_null,
            None if generated else _default(default), column == rowid, generated=generated,
        ))
    uniques, indexes = _keys_and_indexes(dialect, conn, name, notes)
    return TableDefinition(SCHEMA, name, tuple(columns), primary, tuple(uniques), tuple(indexes),
                           tuple(_foreign_keys(dialect, conn, name)), None, tuple(notes))


def read_sqlite(
    dialect: Dialect, conn: Any, schema: str = SCHEMA, selection: str | None = None, excluded: str | None = None
) -> DatabaseDefinition:
    objects = catalog_rows(dialect, conn, "SELECT type, name, tbl_name, sql FROM sqlite_master "
                           "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
    created = {str(name): str(sql) for kind, name, _, sql in objects if kind == "table"}
    base = list(created)
    chosen = choose_tables(base, selection, excluded, SCHEMA)
    not_carried: list[NotCarried] = []
    tables = []
    for name in chosen:
        typed = dialect_columns(dialect, conn, SCHEMA, name)
        if isinstance(typed, NotCarried):
            not_carried.append(typed)
        else:
            tables.append(_table(dialect, conn, name, typed, created[name]))
    for kind, name, table, _ in objects:
        if kind == "view":
            not_carried.append(NotCarried("view", f"{SCHEMA}.{name}", VIEW_REASON))
        elif kind == "trigger" and table in chosen:
            not_carried.append(trigger_not_carried(SCHEMA, str(name), str(table)))
    return DatabaseDefinition(Engine.SQLITE, SCHEMA, tuple(tables), tuple(not_carried))
