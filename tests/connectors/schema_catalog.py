"""What a PostgreSQL schema or MariaDB database holds, read from its own catalog in one neutral
form, so that tests compare the schemas an entire-database job creates in either."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from test_write_modes import Database

_ACTIONS = {"a": "NO ACTION", "r": "NO ACTION", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

_PG_INDEXES = """
SELECT c.relname, i.indisprimary, i.indisunique,
       array(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o)
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = '{schema}'
"""
_PG_FOREIGN = """
SELECT c.relname,
       array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o),
       r.relname,
       array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o),
       con.confdeltype, con.confupdtype
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_class r ON r.oid = con.confrelid
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{schema}' AND con.contype = 'f'
"""
_PG_COLUMNS = """
SELECT c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid), a.attidentity <> '', col_description(c.oid, a.attnum)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = '{schema}' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT c.relname, NULL, NULL, false, obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{schema}' AND c.relkind = 'r'
"""
_MY_INDEXES = """
SELECT TABLE_NAME, INDEX_NAME = 'PRIMARY', NOT NON_UNIQUE,
       GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR '\t')
FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '{schema}' GROUP BY BINARY TABLE_NAME, INDEX_NAME, NON_UNIQUE
"""
_MY_FOREIGN = """
SELECT rc.TABLE_NAME, GROUP_CONCAT(k.COLUMN_NAME ORDER BY k.ORDINAL_POSITION SEPARATOR '\t'),
       rc.REFERENCED_TABLE_NAME,
       GROUP_CONCAT(k.REFERENCED_COLUMN_NAME ORDER BY k.ORDINAL_POSITION SEPARATOR '\t'), rc.DELETE_RULE, rc.UPDATE_RULE
FROM information_schema.REFERENTIAL_CONSTRAINTS rc JOIN information_schema.KEY_COLUMN_USAGE k
  ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME
  AND k.TABLE_NAME = rc.TABLE_NAME
WHERE rc.CONSTRAINT_SCHEMA = '{schema}' GROUP BY BINARY rc.TABLE_NAME, rc.CONSTRAINT_NAME
"""
_MY_COLUMNS = """
SELECT TABLE_NAME, COLUMN_NAME, COLUMN_DEFAULT, EXTRA LIKE '%auto_increment%', COLUMN_COMMENT
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{schema}'
UNION ALL
SELECT TABLE_NAME, NULL, NULL, 0, TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{schema}'
"""


def plain_default(text: str | None) -> str | None:
    """A default as both catalogs can be compared on: no casts, quotes or precision; booleans as 0/1."""
    if text is None or text.upper() == "NULL":
        return None
    text = re.sub(r"::[\w .\"]+$", "", text)
    if len(text) >= 2 and text[0] == text[-1] == "'":
        text = text[1:-1].replace("''", "'")
    text = re.sub(r"^(current_timestamp|now)(\(\d*\))?$", "current_timestamp", text, flags=re.IGNORECASE)
    return {"true": "1", "false": "0"}.get(text, text)


@dataclass
class Catalog:
    tables: set[str] = field(default_factory=set)
    primary: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unique: dict[str, set[tuple[str, ...]]] = field(default_factory=lambda: defaultdict(set))
    indexes: dict[str, set[tuple[str, ...]]] = field(default_factory=lambda: defaultdict(set))
    foreign: set[tuple[Any, ...]] = field(default_factory=set)
    defaults: dict[tuple[str, str], str] = field(default_factory=dict)
    identity: set[tuple[str, str]] = field(default_factory=set)
    comments: dict[tuple[str, str | None], str] = field(default_factory=dict)


def _columns(values: Any) -> tuple[str, ...]:
    return tuple(values.split("\t")) if isinstance(values, str) else tuple(values)


def describe(database: Database, schema: str) -> Catalog:
    pg = database.name == "postgresql"
    queries = (_PG_INDEXES, _PG_FOREIGN, _PG_COLUMNS) if pg else (_MY_INDEXES, _MY_FOREIGN, _MY_COLUMNS)
    indexes, foreign, columns = (database.fetch(query.format(schema=schema)) for query in queries)
    catalog = Catalog()
    for table, primary, unique, names in indexes:
        if primary:
            catalog.primary[table] = _columns(names)
        else:
            (catalog.unique if unique else catalog.indexes)[table].add(_columns(names))
    for table, names, referenced, referenced_names, on_delete, on_update in foreign:
        actions = [
            _ACTIONS[action] if pg else action.replace("RESTRICT", "NO ACTION") for action in (on_delete, on_update)
        ]
        catalog.foreign.add((table, _columns(names), referenced, _columns(referenced_names), *actions))
    for table, column, default, identity, comment in columns:
        catalog.tables.add(table)
        if comment:
            catalog.comments[(table, column)] = comment
        if column is not None and identity:
            catalog.identity.add((table, column))
        plain = plain_default(default)
        if column is not None and plain is not None:
            catalog.defaults[(table, column)] = plain
    return catalog


def quoted(database: Database, name: str) -> str:
    return f'"{name}"' if database.name == "postgresql" else f"`{name}`"


def insert_sql(database: Database, table: str, columns: str, values: str) -> str:
    return f"INSERT INTO {quoted(database, table)} ({columns}) VALUES ({values})"


def insert_id(database: Database, table: str, column: str, value: str) -> int:
    """Insert a row leaving the table's identity to the database; the identity it got."""
    if database.name == "postgresql":
        return int(database.fetch(insert_sql(database, table, column, value) + " RETURNING id")[0][0])
    database.execute(insert_sql(database, table, column, value))
    return int(database.fetch(f"SELECT MAX(id) FROM {quoted(database, table)}")[0][0])


def count(database: Database, table: str) -> int:
    return int(database.fetch(f"SELECT COUNT(*) FROM {quoted(database, table)}")[0][0])
