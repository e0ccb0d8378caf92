"""Row estimates that drive a submission's progress."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from opencdm.connectors.jdbc import JdbcConnector

from conftest import pg_link, sqlite_link
from jdbc_support import pg_connect


def estimate(link: dict[str, str], from_job: dict[str, str]) -> int | None:
    source = JdbcConnector().open_source(link, from_job)
    try:
        return source.estimate_rows()
    finally:
        source.close()


def test_postgresql_estimates_tables_queries_and_filtered_tables(pg_schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".t AS SELECT g AS id FROM generate_series(1, 4000) g')
        conn.execute(f'ANALYZE "{pg_schema}".t')
    assert estimate(pg_link(), {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "t"}) == 4000
    # A query or a whereClause is estimated by the planner: close, not exact.
    query = estimate(pg_link(), {"fromJobConfig.useSql": "true",
                                 "fromJobConfig.sql": f'SELECT id FROM "{pg_schema}".t WHERE id <= 1000'})
    assert query is not None and 500 <= query <= 2000
    filtered = estimate(pg_link(), {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "t",
                                    "fromJobConfig.whereClause": "id > 3000"})
    assert filtered is not None and 500 <= filtered <= 2000


def test_sqlite_counts_and_has_no_query_estimate(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(123)])
    assert estimate(sqlite_link(str(path)), {"fromJobConfig.tableName": "t"}) == 123
    query = {"fromJobConfig.useSql": "true", "fromJobConfig.sql": "SELECT id FROM t"}
    assert estimate(sqlite_link(str(path)), query) is None
