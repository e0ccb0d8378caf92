"""numExtractors > 1: partitions copied by parallel processes and committed together."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pymysql
import pytest

from conftest import (
    MY_HOST,
    MY_PORT,
    MY_USER,
    RunningServer,
    create_link,
    mysql_link,
    on_each_executor,
    pg_connect,
    pg_link,
)
from job_support import finished_run, start_copy_job

ROWS = 20000


def _run(api: httpx.Client, server: RunningServer, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return finished_run(api, server, start_copy_job(api, server, *args, **kwargs))


server = on_each_executor()


def _source(schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(
            f'CREATE TABLE "{schema}".src (id bigint PRIMARY KEY, k integer, amount numeric(12,2), note text)'
        )
        # k is skewed and has NULLs; note has the characters SQL literals must escape.
        conn.execute(
            f"""INSERT INTO "{schema}".src SELECT g, CASE WHEN g % 13 = 0 THEN NULL WHEN g % 10 = 0 THEN g
                ELSE 100000 + g % 7 END, g / 7.0, 'n''' || g || E'\\\\x' FROM generate_series(1, {ROWS}) g"""
        )


def _rows(schema: str, table: str) -> list[tuple[Any, ...]]:
    with pg_connect() as conn:
        return conn.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY id').fetchall()


def test_parallel_postgresql_copy_on_a_skewed_column(api: httpx.Client, server: RunningServer, pg_schema: str) -> None:
    _source(pg_schema)
    link = create_link(api, server, "generic-jdbc-connector", pg_link())
    done = _run(api, server, link,
                {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src",
                 "fromJobConfig.partitionColumn": "k"},
                link, {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst",
                       "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}, extractors=3)
    assert done["status"] == "SUCCEEDED", done
    counters = done["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]
    assert counters["ROWS_READ"] == counters["ROWS_WRITTEN"] == ROWS
    assert _rows(pg_schema, "dst") == _rows(pg_schema, "src")
    # Three copiers, or on Dask as many as the cluster has threads (two workers of one thread).
    copiers = "3 processes" if server.executor == "local" else "2 Dask tasks"
    assert re.search(rf"submission {done['submission-id']}: \d+ partitions on {copiers}\b", server.log())


def test_parallel_copy_from_mariadb_uses_the_primary_key(
    api: httpx.Client, server: RunningServer, pg_schema: str, mysql_database: str
) -> None:
    _source(pg_schema)
    pg = create_link(api, server, "generic-jdbc-connector", pg_link())
    my = create_link(api, server, "generic-jdbc-connector", mysql_link(mysql_database))
    first = _run(api, server, pg, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"},
                 my, {"toJobConfig.tableName": "mid", "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"},
                 extractors=1)
    assert first["status"] == "SUCCEEDED", first
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".back (LIKE "{pg_schema}".src)')
    back = _run(api, server, my, {"fromJobConfig.tableName": "mid"},
                pg, {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "back",
                     "toJobConfig.tablePreparation": "DO_NOTHING"}, extractors=2)
    assert back["status"] == "SUCCEEDED", back
    assert _rows(pg_schema, "back") == _rows(pg_schema, "src")


def test_a_failing_partition_fails_the_run_and_commits_nothing(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    _source(pg_schema)
    with pg_connect() as conn:
        # One row breaks the destination's constraint: only the partition holding it fails.
        conn.execute(f'CREATE TABLE "{pg_schema}".dst (LIKE "{pg_schema}".src, CHECK (id <> {ROWS - 5}))')
        conn.execute(f"""INSERT INTO "{pg_schema}".dst VALUES (-1, 0, 0, 'kept')""")
    link = create_link(api, server, "generic-jdbc-connector", pg_link())
    done = _run(api, server, link, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"},
                link, {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst",
                       "toJobConfig.tablePreparation": "DO_NOTHING",
                       "toJobConfig.beforeImportType": "shouldClearTable"}, extractors=3)
    assert done["status"] == "FAILED" and done["progress"] == -1
    assert "check constraint" in done["error-summary"]
    assert _rows(pg_schema, "dst") == [(-1, 0, 0, "kept")]  # neither cleared nor loaded
    assert _stage_tables("postgresql", pg_schema, "") == []


def _my_rows(database: str, table: str) -> list[tuple[Any, ...]]:
    connection = pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, database=database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, k, amount, note FROM `{table}` ORDER BY id")
            return [tuple(row) for row in cursor.fetchall()]
    finally:
        connection.close()


def _stage_tables(destination: str, schema: str, database: str) -> list[Any]:
    query = "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE %s"
    pattern = "%opencdm_stage%"
    if destination == "postgresql":
        with pg_connect() as conn:
            return conn.execute(query, (schema, pattern)).fetchall()
    connection = pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER)
    try:
        with connection.cursor() as cursor:
            cursor.execute(query, (database, pattern))
            return list(cursor.fetchall())
    finally:
        connection.close()


@pytest.mark.parametrize("destination", ["postgresql", "mariadb"])
@pytest.mark.parametrize("preparation", ["shouldClearTable", "DROP_AND_CREATE"])
def test_a_parallel_reload_replaces_the_old_rows_in_one_commit(
    api: httpx.Client, server: RunningServer, pg_schema: str, mysql_database: str, destination: str,
    preparation: str,
) -> None:
    """Clearing (or dropping) the destination commits together with the partitions' rows: their
    writers load a stage table, moved into the destination by the run's own transaction."""
    _source(pg_schema)
    pg = create_link(api, server, "generic-jdbc-connector", pg_link())
    if destination == "postgresql":
        to, to_job, read = pg, {"toJobConfig.schemaName": pg_schema}, lambda: _rows(pg_schema, "dst")
        with pg_connect() as conn:
            conn.execute(f'CREATE TABLE "{pg_schema}".dst (LIKE "{pg_schema}".src INCLUDING ALL)')
            conn.execute(f"""INSERT INTO "{pg_schema}".dst VALUES (-1, 0, 0, 'old')""")
    else:
        to, to_job = create_link(api, server, "generic-jdbc-connector", mysql_link(mysql_database)), {}
        read = lambda: _my_rows(mysql_database, "dst")  # noqa: E731
        connection = pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, database=mysql_database,
                                     autocommit=True)
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE dst (id bigint PRIMARY KEY, k int, amount decimal(12,2), note text)")
            cursor.execute("INSERT INTO dst VALUES (-1, 0, 0, 'old')")
        connection.close()
    if preparation == "shouldClearTable":
        to_job |= {"toJobConfig.beforeImportType": "shouldClearTable", "toJobConfig.tablePreparation": "DO_NOTHING"}
    else:
        to_job |= {"toJobConfig.tablePreparation": "DROP_AND_CREATE"}
    done = _run(api, server, pg, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"},
                to, {"toJobConfig.tableName": "dst", **to_job}, extractors=3)
    assert done["status"] == "SUCCEEDED", (done.get("error-summary"), done.get("error-details"))
    assert done["verification"]["destination_rows"] == ROWS
    assert [(row[0], row[3]) for row in read()] == [(row[0], row[3]) for row in _rows(pg_schema, "src")]
    assert re.search(rf"submission {done['submission-id']}: \d+ partitions on [2-9]", server.log())
    assert _stage_tables(destination, pg_schema, mysql_database) == []  # dropped by the same commit
