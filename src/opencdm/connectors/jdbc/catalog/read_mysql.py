"""A MySQL or MariaDB schema read from information_schema into the neutral model."""

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
    ROUTINE_REASON,
    SEQUENCE_REASON,
    VIEW_REASON,
    catalog_rows,
    dialect_columns,
    generated_note,
    grouped,
    partitioned_note,
    trigger_not_carried,
)
from opencdm.connectors.jdbc.catalog.select import choose_tables
from opencdm.connectors.jdbc.dialect import Dialect
from opencdm.connectors.jdbc.mysql_types import TZ_COMMENT
from opencdm.connectors.jdbc.types import Column

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_NOW = re.compile(r"^(current_timestamp|now|localtimestamp|localtime)(\(\d*\))?$", re.IGNORECASE)
_TODAY = re.compile(r"^(current_date|curdate)(\(\))?$", re.IGNORECASE)
# The CHECK constraint MariaDB gives a JSON column, which the dialect reads as the JSON type.
_JSON_CHECK = re.compile(r"^json_valid\(`(?:[^`]|``)+`\)$", re.IGNORECASE)
# Types the type mapping carries with a meaning of their own left behind.
_DEGRADED = {
    "enum": "its list of allowed values is not carried; the column holds the values as text",
    "set": "its list of allowed values is not carried; the column holds the values as text",
    "year": "it becomes a 16-bit integer holding the year",
    "bit": "it becomes a binary column holding the bits as bytes",
}


def _default(text: str | None, extra: str, mariadb: bool) -> ColumnDefault | None:
    """A column default as information_schema shows it: MariaDB quotes string literals and writes
    NULL for a NULL default; MySQL shows a literal bare and marks an expression DEFAULT_GENERATED."""
    if text is None:
        return None
    if mariadb and text == "NULL":
        return ColumnDefault(DefaultKind.NULL, text, Engine.MYSQL)
    if _NOW.match(text):
        return ColumnDefault(DefaultKind.CURRENT_TIMESTAMP, text, Engine.MYSQL)
    if _TODAY.match(text):
        return ColumnDefault(DefaultKind.CURRENT_DATE, text, Engine.MYSQL)
    if mariadb:
        if len(text) >= 2 and text[0] == text[-1] == "'":
            literal = text[1:-1].replace("''", "'").replace("\\\\", "\\")
            return ColumnDefault(DefaultKind.LITERAL, literal, Engine.MYSQL)
        if _NUMBER.match(text):
            return ColumnDefault(DefaultKind.LITERAL, text, Engine.MYSQL)
        return ColumnDefault(DefaultKind.EXPRESSION, text, Engine.MYSQL)
    expression = "DEFAULT_GENERATED" in extra.upper()
    return ColumnDefault(DefaultKind.EXPRESSION if expression else DefaultKind.LITERAL, text, Engine.MYSQL)


def _column(table: str, row: tuple[Any, ...], typed: Column, mariadb: bool, notes: list[str]) -> ColumnDefinition:
    name, column_type, nullable, default, extra, comment, data_type = row
    extra = str(extra or "")
    # The mark of a time-zone-aware DATETIME (see mysql.py) is the type's, not the column's comment.
    comment = str(comment or "").replace(TZ_COMMENT, "").strip()
    degraded = _DEGRADED.get(str(data_type).lower())
    if degraded:
        notes.append(f"column {table}.{name} of type {column_type} is carried as {typed.field.type}: {degraded}.")
    generated = typed.generated
    if generated:
        notes.append(generated_note(table, str(name)))
    return ColumnDefinition(
        name=str(name),
        field=typed.field,
        source_type=str(column_type),
        nullable=nullable == "YES",
        default=None if generated else _default(None if default is None else str(default), extra, mariadb),
        identity="auto_increment" in extra.lower(),
        comment=comment or None,
        on_update_now="on update" in extra.lower(),
        generated=generated,
    )


def _indexes(rows: list[tuple[Any, ...]], table: str, notes: list[str]) -> tuple[
    tuple[str, ...], list[UniqueConstraint], list[IndexDefinition]
]:
    """The primary key, unique constraints and secondary indexes of one table's STATISTICS rows."""
    primary: tuple[str, ...] = ()
    uniques: list[UniqueConstraint] = []
    indexes: list[IndexDefinition] = []
    for index, parts in grouped(rows).items():
        non_unique, index_type = parts[0][0], str(parts[0][3])
        columns = tuple(str(column) for _, column, _, _ in parts if column is not None)
        prefixes = tuple(None if sub_part is None else int(sub_part) for _, _, sub_part, _ in parts)
        if len(columns) < len(parts):
            notes.append(f"index {index} of {table} is not carried: it indexes an expression.")
        elif index_type not in ("BTREE", "HASH"):
            notes.append(f"index {index} of {table} is not carried: {index_type} indexes are not carried.")
        elif index == "PRIMARY":
            primary = columns
        elif not int(non_unique) and not any(prefixes):
            uniques.append(UniqueConstraint(index, columns))
        else:
            indexes.append(IndexDefinition(index, columns, not int(non_unique), prefixes if any(prefixes) else ()))
    return primary, uniques, indexes


def _foreign_keys(rows: list[tuple[Any, ...]]) -> list[ForeignKey]:
    keys = []
    for name, parts in grouped(rows).items():
        _, schema, table, _, on_update, on_delete = parts[0]
        keys.append(ForeignKey(
            name, tuple(str(part[0]) for part in parts), str(schema), str(table),
            tuple(str(part[3]) for part in parts), str(on_delete), str(on_update),
        ))
    return keys


def _check_notes(dialect: Dialect, conn: Any, schema: str, mariadb: bool) -> dict[str, list[str]]:
    if mariadb:  # MariaDB names checks per table (a column's check after the column)
        sql = ("SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
               "WHERE CONSTRAINT_SCHEMA = {schema} ORDER BY TABLE_NAME, CONSTRAINT_NAME")
    else:  # MySQL per schema, and its CHECK_CONSTRAINTS does not say whose they are
        sql = ("SELECT t.TABLE_NAME, t.CONSTRAINT_NAME, c.CHECK_CLAUSE FROM information_schema.TABLE_CONSTRAINTS t "
               "JOIN information_schema.CHECK_CONSTRAINTS c ON c.CONSTRAINT_SCHEMA = t.CONSTRAINT_SCHEMA "
               "AND c.CONSTRAINT_NAME = t.CONSTRAINT_NAME WHERE t.CONSTRAINT_TYPE = 'CHECK' "
               "AND t.CONSTRAINT_SCHEMA = {schema} ORDER BY t.TABLE_NAME, t.CONSTRAINT_NAME")
    rows = catalog_rows(dialect, conn, sql, schema)
    notes: dict[str, list[str]] = {}
    for table, name, clause in rows:
        if not _JSON_CHECK.match(str(clause)):
            notes.setdefault(str(table), []).append(
                f"check constraint {name} of {schema}.{table} is not carried: CHECK ({clause})."
            )
    return notes


def read_mysql(
    dialect: Dialect, conn: Any, schema: str, selection: str | None = None, excluded: str | None = None
) -> DatabaseDefinition:
    mariadb = "mariadb" in str(catalog_rows(dialect, conn, "SELECT VERSION()")[0][0]).lower()
    relations = catalog_rows(
        dialect, conn,
        "SELECT TABLE_NAME, TABLE_TYPE, TABLE_COMMENT, TABLE_COLLATION, CREATE_OPTIONS "
        "FROM information_schema.TABLES WHERE TABLE_SCHEMA = {schema} ORDER BY TABLE_NAME", schema,
    )
    base = [str(row[0]) for row in relations if row[1] in ("BASE TABLE", "SYSTEM VERSIONED")]
    chosen = choose_tables(base, selection, excluded, schema)
    not_carried = [
        NotCarried(kind.lower(), f"{schema}.{name}", VIEW_REASON if kind == "VIEW" else SEQUENCE_REASON)
        for name, kind, *_ in relations if kind in ("VIEW", "SEQUENCE")
    ]
    columns = grouped(catalog_rows(
        dialect, conn,
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLUMN_COMMENT, DATA_TYPE "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {schema} ORDER BY TABLE_NAME, ORDINAL_POSITION", schema,
    ))
    statistics = grouped(catalog_rows(
        dialect, conn,
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, INDEX_TYPE "
        "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = {schema} "
        "ORDER BY TABLE_NAME, INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
        schema,
    ))
    foreign = grouped(catalog_rows(
        dialect, conn,
        "SELECT rc.TABLE_NAME, rc.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, "
        "k.REFERENCED_COLUMN_NAME, rc.UPDATE_RULE, rc.DELETE_RULE FROM information_schema.REFERENTIAL_CONSTRAINTS rc "
        "JOIN information_schema.KEY_COLUMN_USAGE k ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA "
        "AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME AND k.TABLE_NAME = rc.TABLE_NAME "
        "WHERE rc.CONSTRAINT_SCHEMA = {schema} ORDER BY rc.TABLE_NAME, rc.CONSTRAINT_NAME, k.ORDINAL_POSITION", schema,
    ))
    checks = _check_notes(dialect, conn, schema, mariadb)
    options = {
        str(name): (str(comment or "") or None, collation, "partitioned" in str(create_options or ""))
        for name, _, comment, collation, create_options in relations
    }
    tables = []
    for name in chosen:
        typed = dialect_columns(dialect, conn, schema, name)
        if isinstance(typed, NotCarried):
            not_carried.append(typed)
            continue
        display = f"{schema}.{name}"
        notes = list(checks.get(name, []))
        defined = tuple(_column(display, row, typed[str(row[0])], mariadb, notes) for row in columns[name])
        primary, uniques, indexes = _indexes(statistics.get(name, []), display, notes)
        comment, collation, partitioned = options[name]
        if partitioned:
            notes.append(partitioned_note(display))
        tables.append(TableDefinition(
            schema, name, defined, primary, tuple(uniques), tuple(indexes), tuple(_foreign_keys(foreign.get(name, []))),
            comment, tuple(notes), None if collation is None else str(collation),
        ))
    chosen_set = set(chosen)
    for trigger, table in catalog_rows(
        dialect, conn,
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {schema} "
        "ORDER BY TRIGGER_NAME", schema,
    ):
        if table in chosen_set:
            not_carried.append(trigger_not_carried(schema, str(trigger), str(table)))
    for routine, kind in catalog_rows(
        dialect, conn,
        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {schema} "
        "ORDER BY ROUTINE_NAME", schema,
    ):
        not_carried.append(NotCarried(str(kind).lower(), f"{schema}.{routine}", ROUTINE_REASON))
    for (event,) in catalog_rows(
        dialect, conn, "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {schema} "
        "ORDER BY EVENT_NAME", schema,
    ):
        not_carried.append(NotCarried("event", f"{schema}.{event}", "scheduled events are not copied."))
    return DatabaseDefinition(Engine.MYSQL, schema, tuple(tables), tuple(not_carried))
