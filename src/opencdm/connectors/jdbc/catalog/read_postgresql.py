"""A PostgreSQL schema read from pg_catalog into the neutral model, identity and serial columns included."""

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
    ACTIONS,
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
from opencdm.connectors.jdbc.types import Column

# A constant as pg_get_expr shows it: 'text'::type, a number (negative ones in parentheses), a boolean.
_QUOTED = re.compile(r"^'((?:[^']|'')*)'(?:::[\w .\"\[\]()]+)?$")
_NUMBER = re.compile(r"^\(?([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\)?(?:::[\w .\"]+)?$")
_NOW = re.compile(r"^(now\(\)|CURRENT_TIMESTAMP|LOCALTIMESTAMP|transaction_timestamp\(\))$", re.IGNORECASE)
_NULL = re.compile(r"^NULL(?:::[\w .\"\[\]()]+)?$", re.IGNORECASE)

# Relations of the schema but those of extensions, and sequences but those of serial and identity columns.
_RELATIONS = """
SELECT c.relname, c.relkind, c.relispartition, obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = {schema} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i'))))
ORDER BY c.relname
"""
_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
       a.attidentity <> '', a.attgenerated <> '', col_description(c.oid, a.attnum),
       pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname) IS NOT NULL,
       ty.typtype IN ('e', 'd', 'c', 'r', 'm') OR tn.nspname NOT IN ('pg_catalog', 'information_schema')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type ty ON ty.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = ty.typnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = {schema} AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""
_KEY_NAMES = "(SELECT array_agg(a.attname ORDER BY k.o) FROM unnest({keys}) WITH ORDINALITY k(n, o) " \
             "JOIN pg_attribute a ON a.attrelid = {relation} AND a.attnum = k.n)"
_CONSTRAINTS = f"""
SELECT c.relname, con.conname, con.contype, {_KEY_NAMES.format(keys="con.conkey", relation="con.conrelid")},
       rn.nspname, rc.relname, {_KEY_NAMES.format(keys="con.confkey", relation="con.confrelid")},
       con.confupdtype, con.confdeltype, pg_get_constraintdef(con.oid)
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class rc ON rc.oid = con.confrelid LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE n.nspname = {{schema}} AND con.contype IN ('p', 'u', 'f', 'c', 'x')
ORDER BY c.relname, con.contype, con.conname
"""
# Indexes that back no primary key, unique or exclusion constraint of their table.
_INDEXES = f"""
SELECT c.relname, ic.relname, i.indisunique, i.indexprs IS NOT NULL OR 0 = ANY (i.indkey::int2[]),
       i.indpred IS NOT NULL, am.amname, i.indnatts > i.indnkeyatts,
       {_KEY_NAMES.format(keys="(i.indkey::int2[])[0:i.indnkeyatts - 1]", relation="i.indrelid")},
       pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = ic.relam
WHERE n.nspname = {{schema}} AND NOT EXISTS (
    SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid
    AND con.contype IN ('p', 'u', 'x'))
ORDER BY c.relname, ic.relname
"""
_TRIGGERS = """
SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {schema} AND NOT t.tgisinternal ORDER BY t.tgname
"""
_ROUTINES = """
SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', p.prokind
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = {schema} AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1
"""
_ROUTINE_KINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window function"}
_RELATION_KINDS = {"v": "view", "m": "materialized view", "f": "foreign table", "S": "sequence"}


def _default(text: str | None, identity: bool) -> ColumnDefault | None:
    if text is None or identity:
        return None
    if _NULL.match(text):
        return ColumnDefault(DefaultKind.NULL, text, Engine.POSTGRESQL)
    quoted = _QUOTED.match(text)
    if quoted:
        return ColumnDefault(DefaultKind.LITERAL, quoted.group(1).replace("''", "'"), Engine.POSTGRESQL)
    number = _NUMBER.match(text)
    if number or text in ("true", "false"):
        return ColumnDefault(DefaultKind.LITERAL, number.group(1) if number else text, Engine.POSTGRESQL)
    if _NOW.match(text):
        return ColumnDefault(DefaultKind.CURRENT_TIMESTAMP, text, Engine.POSTGRESQL)
    if text.upper() == "CURRENT_DATE":
        return ColumnDefault(DefaultKind.CURRENT_DATE, text, Engine.POSTGRESQL)
    return ColumnDefault(DefaultKind.EXPRESSION, text, Engine.POSTGRESQL)


def _columns(
    display: str, rows: list[tuple[Any, ...]], typed: dict[str, Column], notes: list[str]
) -> list[ColumnDefinition]:
    columns = []
    for name, native, not_null, default, identity, generated, comment, serial, user_type in rows:
        is_identity = identity or (serial and str(default or "").startswith("nextval("))
        if generated:
            notes.append(generated_note(display, str(name)))
        if user_type:
            notes.append(f"column {display}.{name} of type {native}, a type of the source database's own, is "
                         "created as text holding the values' text.")
        columns.append(ColumnDefinition(
            str(name), typed[str(name)].field, str(native), not not_null,
            None if generated else _default(default, is_identity), is_identity, comment or None,
            generated=bool(generated), user_type=bool(user_type),
        ))
    return columns


def _constraints(display: str, rows: list[tuple[Any, ...]], notes: list[str]) -> tuple[
    tuple[str, ...], list[UniqueConstraint], list[ForeignKey]
]:
    primary: tuple[str, ...] = ()
    uniques, foreign = [], []
    for name, kind, columns, ref_schema, ref_table, ref_columns, on_update, on_delete, definition in rows:
        if kind == "p":
            primary = tuple(columns)
        elif kind == "u":
            uniques.append(UniqueConstraint(str(name), tuple(columns)))
        elif kind == "f":
            foreign.append(ForeignKey(
                str(name), tuple(columns), str(ref_schema), str(ref_table), tuple(ref_columns),
                ACTIONS[on_delete], ACTIONS[on_update],
            ))
        else:
            what = "check" if kind == "c" else "exclusion"
            notes.append(f"{what} constraint {name} of {display} is not carried: {definition}.")
    return primary, uniques, foreign


def _indexes(display: str, rows: list[tuple[Any, ...]], notes: list[str]) -> list[IndexDefinition]:
    indexes = []
    for name, unique, expression, partial, method, included, columns, definition in rows:
        if expression or partial or method != "btree":
            notes.append(f"index {name} of {display} is not carried: {definition}.")
            continue
        if included:
            notes.append(f"index {name} of {display} is carried without its INCLUDE columns.")
        indexes.append(IndexDefinition(str(name), tuple(columns), bool(unique)))
    return indexes


def read_postgresql(
    dialect: Dialect, conn: Any, schema: str, selection: str | None = None, excluded: str | None = None
) -> DatabaseDefinition:
    relations = catalog_rows(dialect, conn, _RELATIONS, schema)
    base = [str(name) for name, kind, partition, _ in relations if kind in ("r", "p") and not partition]
    chosen = choose_tables(base, selection, excluded, schema)
    not_carried = [
        NotCarried(_RELATION_KINDS[kind], f"{schema}.{name}", SEQUENCE_REASON if kind == "S" else VIEW_REASON)
        for name, kind, _, _ in relations if kind in _RELATION_KINDS
    ]
    columns = grouped(catalog_rows(dialect, conn, _COLUMNS, schema))
    constraints = grouped(catalog_rows(dialect, conn, _CONSTRAINTS, schema))
    indexes = grouped(catalog_rows(dialect, conn, _INDEXES, schema))
    kinds = {str(name): (kind, comment) for name, kind, _, comment in relations}
    tables = []
    for name in chosen:
        typed = dialect_columns(dialect, conn, schema, name)
        if isinstance(typed, NotCarried):
            not_carried.append(typed)
            continue
        display = f"{schema}.{name}"
        notes: list[str] = []
        kind, comment = kinds[name]
        if kind == "p":
            notes.append(partitioned_note(display))
        defined = _columns(display, columns[name], typed, notes)
        primary, uniques, foreign = _constraints(display, constraints.get(name, []), notes)
        secondary = _indexes(display, indexes.get(name, []), notes)
        tables.append(TableDefinition(
            schema, name, tuple(defined), primary, tuple(uniques), tuple(secondary), tuple(foreign),
            comment or None, tuple(notes),
        ))
    chosen_set = set(chosen)
    not_carried += [
        trigger_not_carried(schema, str(trigger), str(table))
        for table, trigger in catalog_rows(dialect, conn, _TRIGGERS, schema) if table in chosen_set
    ]
    not_carried += [
        NotCarried(_ROUTINE_KINDS.get(kind, "routine"), f"{schema}.{routine}", ROUTINE_REASON)
        for routine, kind in catalog_rows(dialect, conn, _ROUTINES, schema)
    ]
    return DatabaseDefinition(Engine.POSTGRESQL, schema, tuple(tables), tuple(not_carried))
