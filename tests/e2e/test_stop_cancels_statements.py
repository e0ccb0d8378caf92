"""StopJob of a run blocked in a database write (its destination table locked by someone else)
cancels the statement: PostgreSQL's cancel request, MariaDB's KILL QUERY. The run ends stopped and
rolled back while the lock is still held, rather than when the server kills its worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pymysql
import pytest

from conftest import (
    MY_HOST,
    MY_PORT,
    MY_USER,
    PG_DATABASE,
    PG_HOST,
    PG_PORT,
    PG_USER,
    RunningServer,
    mysql_link,
    on_each_executor,
    pg_connect,
    pg_link,
)
from job_support import FINAL, Copy, wait_until

server = on_each_executor()

ROWS = 500


def _source(schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}".src (id int PRIMARY KEY, pad text)')
        conn.execute(f"""INSERT INTO "{schema}".src SELECT g, repeat('x', 100) FROM generate_series(1, {ROWS}) g""")


def _extractors(count: int) -> tuple[dict[str, str], dict[str, str]]:
    if count == 1:
        return {}, {}
    return {"fromJobConfig.partitionColumn": "id"}, {"throttlingConfig.numExtractors": str(count)}


def _stop_while_blocked(api: httpx.Client, server: RunningServer, job: Copy,
                        blocked: Callable[[], bool]) -> dict[str, Any]:
    """Start ``job``, wait until ``blocked`` says its write waits on the test's lock, stop it, and
    return its final submission (reached while the caller still holds the lock)."""
    assert api.put(f"{server.cdm}/job/{job.name}/start").status_code == 200
    wait_until("the run to wait on the locked table", blocked)
    assert api.put(f"{server.cdm}/job/{job.name}/stop").status_code == 200

    def ended() -> dict[str, Any] | None:
        submission: dict[str, Any] = api.get(f"{server.cdm}/job/{job.name}/status").json()["submissions"][0]
        return submission if submission["status"] in FINAL else None

    return wait_until("the stopped run to end", ended, timeout=60)


def _assert_stopped_by_the_worker(final: dict[str, Any]) -> None:
    assert final["status"] == "FAILED", final
    assert final["error-summary"] == "Job stopped by user.", final
    # Written by the worker as it rolled back, not by the server after killing it.
    assert final["error-details"] == "The run was stopped and rolled back.", final


def _pg_waiters(schema: str) -> int:
    """Sessions waiting for a lock on table dst of ``schema``."""
    with pg_connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass", (f'"{schema}".dst',)
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize("extractors", [1, 2])
def test_stop_cancels_a_postgresql_write_waiting_on_a_lock(
    api: httpx.Client, server: RunningServer, pg_schema: str, extractors: int
) -> None:
    _source(pg_schema)
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".dst (id int PRIMARY KEY, pad text)')
        conn.execute(f"INSERT INTO \"{pg_schema}\".dst VALUES (0, 'kept')")
    source, driver = _extractors(extractors)
    job = Copy(api, server, pg_link(), pg_schema)
    job.create({"fromJobConfig.schemaName": pg_schema} | source, driver=driver)
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE) as holder:
        holder.execute(f'LOCK TABLE "{pg_schema}".dst IN ACCESS EXCLUSIVE MODE')
        final = _stop_while_blocked(api, server, job, lambda: _pg_waiters(pg_schema) > 0)
        # Still holding the lock: the run's statements were cancelled, none waits on it any more.
        assert _pg_waiters(pg_schema) == 0
        holder.rollback()
    _assert_stopped_by_the_worker(final)
    assert job.target("id, pad") == [(0, "kept")]


def _mysql(database: str) -> pymysql.connections.Connection[Any]:
    return pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, database=database, autocommit=True)


def _mysql_waiters(database: str) -> int:
    """Statements of ``database`` waiting for a table lock."""
    conn = _mysql(database)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                "WHERE DB = %s AND STATE LIKE 'Waiting for table%%'",
                (database,),
            )
            row = cursor.fetchone()
    finally:
        conn.close()
    return int(row[0]) if row else 0


def test_stop_kills_a_mariadb_write_waiting_on_a_lock(
    api: httpx.Client, server: RunningServer, pg_schema: str, mysql_database: str
) -> None:
    _source(pg_schema)
    holder = _mysql(mysql_database)
    try:
        with holder.cursor() as cursor:
            cursor.execute("CREATE TABLE dst (id INT PRIMARY KEY, pad TEXT)")
            cursor.execute("INSERT INTO dst VALUES (0, 'kept')")
        job = Copy(api, server, pg_link(), mysql_database, target_link=mysql_link(mysql_database))
        job.create({"fromJobConfig.schemaName": pg_schema})
        with holder.cursor() as cursor:
            cursor.execute("LOCK TABLES dst WRITE")
        final = _stop_while_blocked(api, server, job, lambda: _mysql_waiters(mysql_database) > 0)
        # Still holding the lock: the run's statement was killed, none waits on it any more.
        assert _mysql_waiters(mysql_database) == 0
        with holder.cursor() as cursor:
            cursor.execute("UNLOCK TABLES")
            cursor.execute("SELECT id, pad FROM dst")
            assert cursor.fetchall() == ((0, "kept"),)
    finally:
        holder.close()
    _assert_stopped_by_the_worker(final)
