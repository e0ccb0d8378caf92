"""Shared data and helpers for the generic-jdbc-connector tests: one table with every supported type,
created natively in each database, and readers that return canonical Python values per row."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import struct
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import psycopg
import pymysql

from opencdm.connectors.jdbc import JdbcConnector
from opencdm.engine.partitions import Tally, copy_partition

from conftest import MY_HOST, MY_PORT, MY_USER, PG_DATABASE, PG_HOST, PG_PORT, PG_USER

UTC = dt.UTC

# name, kind, PostgreSQL DDL, MariaDB DDL, SQLite DDL
COLUMNS: list[tuple[str, str, str, str, str]] = [
    ("id", "int", "integer", "INT", "INT"),
    ("c_small", "int", "smallint", "SMALLINT", "SMALLINT"),
    ("c_int", "int", "integer", "INT", "INT"),
    ("c_big", "int", "bigint", "BIGINT", "BIGINT"),
    ("c_dec", "dec", "numeric(12,2)", "DECIMAL(12,2)", "DECIMAL(12,2)"),
    ("c_dec_wide", "dec", "numeric(38,10)", "DECIMAL(38,10)", "DECIMAL_TEXT(38,10)"),
    ("c_num", "dec", "numeric", "DECIMAL(65,30)", "NUMERIC_TEXT"),
    ("c_real", "real", "real", "FLOAT", "FLOAT"),
    ("c_double", "float", "double precision", "DOUBLE", "DOUBLE"),
    ("c_varchar", "str", "varchar(64)", "VARCHAR(64)", "VARCHAR(64)"),
    ("c_text", "str", "text", "LONGTEXT", "TEXT"),
    ("c_bool", "bool", "boolean", "BOOLEAN", "BOOLEAN"),
    ("c_date", "date", "date", "DATE", "DATE"),
    ("c_time", "time", "time", "TIME(6)", "TIME"),
    ("c_ts", "ts", "timestamp", "DATETIME(6)", "TIMESTAMP"),
    ("c_tstz", "tstz", "timestamptz", "DATETIME(6) COMMENT 'opencdm:timestamptz'", "TIMESTAMPTZ"),
    ("c_bin", "bytes", "bytea", "LONGBLOB", "BLOB"),
    ("c_json", "json", "json", "JSON", "JSON"),
]
NAMES = [column[0] for column in COLUMNS]
KINDS = {column[0]: column[1] for column in COLUMNS}

ROWS: list[tuple[Any, ...]] = [
    (
        1,
        12,
        34,
        56,
        Decimal("1234.50"),
        Decimal("0.0000000001"),
        Decimal("1.50"),
        1.5,
        0.1,
        "héllo 世界 🎉",
        "multi\nline 'quoted' \"text\" \\ 日本語",
        True,
        dt.date(2024, 2, 29),
        dt.time(12, 34, 56, 789012),
        dt.datetime(2024, 2, 29, 12, 34, 56, 789012),
        dt.datetime(2024, 2, 29, 12, 34, 56, 789012, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        b"\x00\x01\xfe\xff",
        '{"k": ["v", 1, null], "u": "ü🎉"}',
    ),
    (
        2,
        -32768,
        -2147483648,
        -9223372036854775808,
        Decimal("-9999999999.99"),
        Decimal("-9999999999999999999999999999.9999999999"),
        Decimal("123456789012345678901234567890.123456789"),
        -0.25,
        1.7976931348623157e308,
        "",
        "",
        False,
        dt.date(1, 1, 1),
        dt.time(0, 0),
        dt.datetime(1, 1, 1),
        dt.datetime(1, 1, 1, tzinfo=UTC),
        b"",
        "[]",
    ),
    (
        3,
        32767,
        2147483647,
        9223372036854775807,
        Decimal("9999999999.99"),
        Decimal("9999999999999999999999999999.9999999999"),
        Decimal("-0.000000000000000000000000000001"),
        3.0e38,
        -2.2250738585072014e-308,
        "x" * 64,
        "😀" * 1000,
        True,
        dt.date(9999, 12, 31),
        dt.time(23, 59, 59, 999999),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        bytes(range(256)),
        '"just a string"',
    ),
    (4,) + (None,) * (len(COLUMNS) - 1),
]


def pg_connect() -> psycopg.Connection[Any]:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, autocommit=True)


def my_connect(database: str) -> pymysql.Connection:
    conn = pymysql.connect(
        host=MY_HOST, port=MY_PORT, user=MY_USER, database=database, charset="utf8mb4", autocommit=True
    )
    with conn.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
    return conn


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def create_pg(schema: str, table: str) -> None:
    definitions = ", ".join(f"{name} {pg}" for name, _, pg, _, _ in COLUMNS)
    values = ", ".join("%s::json" if KINDS[name] == "json" else "%s" for name in NAMES)
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}"."{table}" ({definitions})')
        conn.cursor().executemany(f'INSERT INTO "{schema}"."{table}" VALUES ({values})', ROWS)


def create_mysql(database: str, table: str) -> None:
    definitions = ", ".join(f"{name} {my}" for name, _, _, my, _ in COLUMNS)
    conn = my_connect(database)
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE TABLE `{table}` ({definitions})")
        rows = [
            tuple(_naive_utc(v) if KINDS[n] == "tstz" and v else v for n, v in zip(NAMES, row, strict=True))
            for row in ROWS
        ]
        cursor.executemany(f"INSERT INTO `{table}` VALUES ({', '.join(['%s'] * len(NAMES))})", rows)
    conn.close()


def _sqlite_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "dec":
        return str(value)
    if kind == "tstz":
        return value.astimezone(UTC).isoformat(sep=" ")
    if kind in ("date", "time"):
        return value.isoformat()
    if kind == "ts":
        return value.isoformat(sep=" ")
    return value


def create_sqlite(path: str, table: str) -> None:
    definitions = ", ".join(f"{name} {lite}" for name, _, _, _, lite in COLUMNS)
    conn = sqlite3.connect(path)
    conn.execute(f'CREATE TABLE "{table}" ({definitions})')
    rows = [tuple(_sqlite_value(KINDS[n], v) for n, v in zip(NAMES, row, strict=True)) for row in ROWS]
    conn.executemany(f'INSERT INTO "{table}" VALUES ({", ".join(["?"] * len(NAMES))})', rows)
    conn.commit()
    conn.close()


def canonical(kind: str, value: Any) -> Any:
    """One spelling per value whatever the driver returned, so rows compare across databases."""
    if value is None:
        return None
    if kind == "dec":
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if kind == "real":
        return struct.unpack("f", struct.pack("f", value))[0]
    if kind == "bool":
        return bool(value)
    if kind == "time" and isinstance(value, dt.timedelta):
        return (dt.datetime.min + value).time()
    if kind in ("date", "time") and isinstance(value, str):
        return dt.date.fromisoformat(value) if kind == "date" else dt.time.fromisoformat(value)
    if kind == "ts" and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if kind == "tstz":
        value = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if kind == "json":
        return json.loads(value) if isinstance(value, str | bytes) else value
    if kind == "bytes":
        return bytes(value)
    return value


def canonical_rows(rows: list[tuple[Any, ...]], names: list[str]) -> list[tuple[Any, ...]]:
    return sorted(
        (tuple(canonical(KINDS[n], v) for n, v in zip(names, row, strict=True)) for row in rows),
        key=lambda row: row[0],
    )


def fetch_pg(schema: str, table: str, names: list[str] = NAMES) -> list[tuple[Any, ...]]:
    with pg_connect() as conn:
        # json as text: psycopg would already have parsed it, hiding what the database stored
        columns = ", ".join(f"{n}::text" if KINDS[n] == "json" else n for n in names)
        rows = conn.execute(f'SELECT {columns} FROM "{schema}"."{table}"').fetchall()
    return canonical_rows(rows, names)


def fetch_mysql(database: str, table: str, names: list[str] = NAMES) -> list[tuple[Any, ...]]:
    conn = my_connect(database)
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(names)} FROM `{table}`")
        rows = list(cursor.fetchall())
    conn.close()
    return canonical_rows(rows, names)


def fetch_sqlite(path: str, table: str, names: list[str] = NAMES) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    rows = conn.execute(f'SELECT {", ".join(names)} FROM "{table}"').fetchall()
    conn.close()
    return canonical_rows(rows, names)


def expected(names: list[str] = NAMES) -> list[tuple[Any, ...]]:
    index = [NAMES.index(name) for name in names]
    return canonical_rows([tuple(row[i] for i in index) for row in ROWS], names)


def copy(
    src_link: Mapping[str, str],
    from_job: Mapping[str, str],
    dst_link: Mapping[str, str],
    to_job: Mapping[str, str],
    batch_rows: int = 2,
) -> int:
    """Run one job through the connector interface the way a worker does; returns rows written."""
    connector = JdbcConnector()
    source = connector.open_source(src_link, from_job)
    sink = connector.open_sink(dst_link, to_job)
    try:
        sink.prepare(source.schema())
        tally = Tally()
        for partition in source.partitions(1):
            for result in copy_partition(source, sink, partition, None, batch_rows, tally, lambda: None):
                tally.count_written(result)
        sink.commit()
        return tally.rows_written
    finally:
        source.close()
        sink.close()
