"""Partitioned extraction: the partitions of a source together hold exactly its rows (no duplicates,
no gaps at range boundaries, NULL keys kept), for every splittable type, and skewed keys still give
balanced ranges."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from opencdm.connectors.jdbc import JdbcConnector
from opencdm.errors import CdmError

from conftest import mysql_link, pg_link, sqlite_link
from jdbc_support import my_connect, pg_connect

ROWS = 3000


def key_values(index: int) -> tuple[Any, ...]:
    """Row ``index``: skewed keys (most rows crowd into a narrow band), some NULLs, text with the
    characters a literal must escape."""
    skewed = index if index % 10 == 0 else 1_000_000 + index % 50
    return (
        index,
        None if index % 97 == 0 else skewed,
        None if index % 89 == 0 else Decimal(skewed) / 100,
        None if index % 83 == 0 else dt.date(2000, 1, 1) + dt.timedelta(days=skewed % 20000),
        None if index % 79 == 0 else dt.datetime(2020, 1, 1) + dt.timedelta(seconds=skewed, microseconds=index),
        None if index % 73 == 0 else f"k'{skewed % 400:04d}\\{'é' if index % 2 else ''}",
    )


COLUMNS = ("id", "k_int", "k_dec", "k_date", "k_ts", "k_text")
DATA = [key_values(i) for i in range(ROWS)]


def read_partitions(link: Mapping[str, str], from_job: Mapping[str, str], parts: int) -> list[list[int]]:
    source = JdbcConnector().open_source(link, from_job)
    try:
        partitions = source.partitions(parts)
        return [
            [row for batch in source.read(partition, 500) for row in batch.column("id").to_pylist()]
            for partition in partitions
        ]
    finally:
        source.close()


def check(read: Callable[[str], list[list[int]]]) -> None:
    for column in COLUMNS[1:]:
        pieces = read(column)
        ids = [row for piece in pieces for row in piece]
        assert Counter(ids) == Counter(range(ROWS)), f"{column}: rows lost or duplicated"
        nulls = [i for i, row in enumerate(DATA) if row[COLUMNS.index(column)] is None]
        assert sorted(pieces[-1]) == nulls, f"{column}: the last partition holds the NULL keys"
        ranges = [len(piece) for piece in pieces[:-1]]
        assert len(ranges) >= 3, f"{column}: {ranges}"
        if column in ("k_int", "k_dec"):
            # Skewed keys: min/max cuts would put ~90 % of the rows in one range.
            assert max(ranges) < 0.5 * ROWS, f"{column}: unbalanced {ranges}"


def test_postgresql_partitions(pg_schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(
            f'CREATE TABLE "{pg_schema}".t (id int PRIMARY KEY, k_int bigint, k_dec numeric(12,2), k_date date, '
            "k_ts timestamp, k_text varchar(20))"
        )
        with conn.cursor().copy(f'COPY "{pg_schema}".t FROM STDIN') as copy:
            for row in DATA:
                copy.write_row(row)
        conn.execute(f'ANALYZE "{pg_schema}".t')
    check(lambda column: read_partitions(pg_link(), {
        "fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "t",
        "fromJobConfig.partitionColumn": column}, 4))
    # Without a partition column the primary key is used.
    pieces = read_partitions(pg_link(), {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "t"}, 3)
    assert sorted(row for piece in pieces for row in piece) == list(range(ROWS)) and len(pieces) == 4


def test_postgresql_partitions_of_a_query_with_a_where_clause(pg_schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".t AS SELECT g AS id, g % 7 AS k FROM generate_series(0, 999) g')
    pieces = read_partitions(pg_link(), {
        "fromJobConfig.useSql": "true", "fromJobConfig.sql": f'SELECT id, k FROM "{pg_schema}".t',
        "fromJobConfig.whereClause": "k <> 3", "fromJobConfig.partitionColumn": "id"}, 4)
    assert sorted(row for piece in pieces for row in piece) == [i for i in range(1000) if i % 7 != 3]


def test_sqlite_partitions(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, k_int BIGINT, k_dec DECIMAL(12,2), k_date DATE, "
            "k_ts TIMESTAMP, k_text VARCHAR(20))"
        )
        conn.executemany(
            "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)",
            [(i, a, None if b is None else str(b), None if c is None else c.isoformat(),
              None if d is None else d.isoformat(sep=" "), e) for i, a, b, c, d, e in DATA],
        )
    check(lambda column: read_partitions(sqlite_link(str(path)), {
        "fromJobConfig.tableName": "t", "fromJobConfig.partitionColumn": column}, 4))


def test_mariadb_partitions(mysql_database: str) -> None:
    conn = my_connect(mysql_database)
    with conn.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE t (id INT PRIMARY KEY, k_int BIGINT, k_dec DECIMAL(12,2), k_date DATE, "
            "k_ts DATETIME(6), k_text VARCHAR(20))"
        )
        cursor.executemany("INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s)", DATA)
    conn.commit()
    conn.close()
    check(lambda column: read_partitions(mysql_link(mysql_database), {
        "fromJobConfig.tableName": "t", "fromJobConfig.partitionColumn": column}, 4))


def test_unsplittable_or_unknown_partition_columns_are_refused(pg_schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".t (id int, b bytea)')
    job = {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "t"}
    with pytest.raises(CdmError) as refused:
        read_partitions(pg_link(), {**job, "fromJobConfig.partitionColumn": "b"}, 2)
    assert refused.value.code == "Cdm.0925"
    with pytest.raises(CdmError, match="nope"):
        read_partitions(pg_link(), {**job, "fromJobConfig.partitionColumn": "nope"}, 2)
    # No primary key and no partition column: one partition, all rows.
    assert read_partitions(pg_link(), job, 4) == [[]]
