"""numExtractors > 1: partitions copied by parallel processes and committed together."""

from __future__ import annotations

from typing import Any

import httpx

from conftest import (
    RunningServer,
    create_link,
    mysql_link,
    pg_connect,
    pg_link,
)
from job_support import finished_run, start_copy_job

ROWS = 20000






def _run(api: httpx.Client, server: RunningServer, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return finished_run(api, server, start_copy_job(api, server, *args, **kwargs))


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
    assert "partitions on 3 processes" in server.log()


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
    link = create_link(api, server, "generic-jdbc-connector", pg_link())
    done = _run(api, server, link, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"},
                link, {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst",
                       "toJobConfig.tablePreparation": "DO_NOTHING"}, extractors=3)
    assert done["status"] == "FAILED" and done["progress"] == -1
    assert "check constraint" in done["error-summary"]
    assert _rows(pg_schema, "dst") == []
