"""Incremental runs with a stored cursor (fromJobConfig.incrMigration / checkColumn / lastValue),
end to end through the API against real PostgreSQL, MariaDB and SQLite sources."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pymysql

from conftest import (
    MY_HOST,
    MY_PORT,
    MY_USER,
    RunningServer,
    mysql_link,
    on_each_executor,
    pg_connect,
    pg_link,
    sqlite_link,
)
from job_support import Copy, written

server = on_each_executor()


def _pg_source(schema: str, rows: range) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE IF NOT EXISTS "{schema}".src (id int PRIMARY KEY, v text, '
                     "changed timestamptz, batch int)")
        conn.execute(f"""INSERT INTO "{schema}".src SELECT g, 'v' || g,
                         timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', g / 10
                         FROM generate_series({rows.start}, {rows.stop - 1}) g""")


def test_each_run_copies_only_rows_past_the_stored_cursor(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    _pg_source(pg_schema, range(1, 21))
    job = Copy(api, server, pg_link(), pg_schema)
    job.create({"fromJobConfig.schemaName": pg_schema, "fromJobConfig.incrMigration": "true",
                "fromJobConfig.checkColumn": "changed"})
    first = job.run()
    assert first["status"] == "SUCCEEDED", first
    assert first["isIncrementing"] is True
    assert written(first) == 20
    assert job.stored_cursor() == "2024-01-01 00:20:00.000000Z"

    _pg_source(pg_schema, range(21, 26))
    second = job.run()
    assert second["status"] == "SUCCEEDED", second
    assert written(second) == 5
    assert job.target() == [(i, f"v{i}") for i in range(1, 26)]

    nothing_new = job.run()
    assert nothing_new["status"] == "SUCCEEDED", nothing_new
    assert written(nothing_new) == 0
    assert job.stored_cursor() == "2024-01-01 00:25:00.000000Z"


def test_last_value_sets_where_the_first_run_starts_and_resets_the_cursor(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    _pg_source(pg_schema, range(1, 11))
    job = Copy(api, server, pg_link(), pg_schema)
    source = {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.incrMigration": "true",
              "fromJobConfig.checkColumn": "id", "fromJobConfig.lastValue": "7"}
    job.create(source)
    assert written(job.run()) == 3
    assert [row[0] for row in job.target()] == [8, 9, 10]
    assert job.stored_cursor() == "10"

    with pg_connect() as conn:
        conn.execute(f'TRUNCATE "{pg_schema}".dst')
    job.update(source | {"fromJobConfig.lastValue": "4"})
    assert job.stored_cursor() is None
    assert written(job.run()) == 6
    assert [row[0] for row in job.target()] == [5, 6, 7, 8, 9, 10]


def test_a_failed_run_does_not_move_the_cursor(api: httpx.Client, server: RunningServer, pg_schema: str) -> None:
    _pg_source(pg_schema, range(1, 11))
    job = Copy(api, server, pg_link(), pg_schema)
    job.create({"fromJobConfig.schemaName": pg_schema, "fromJobConfig.incrMigration": "true",
                "fromJobConfig.checkColumn": "id"})
    assert written(job.run()) == 10
    _pg_source(pg_schema, range(11, 16))
    with pg_connect() as conn:  # a row that collides with one of the new ones on the created table's key
        conn.execute(f"""INSERT INTO "{pg_schema}".dst (id, v) VALUES (13, 'in the way')""")
    failed = job.run()
    assert failed["status"] == "FAILED", failed
    assert job.stored_cursor() == "10"

    with pg_connect() as conn:
        conn.execute(f'DELETE FROM "{pg_schema}".dst WHERE id = 13')
    assert written(job.run()) == 5
    assert job.target() == [(i, f"v{i}") for i in range(1, 16)]
    assert job.stored_cursor() == "15"


def test_ties_on_the_cursor_are_not_lost_when_the_destination_upserts(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    _pg_source(pg_schema, range(1, 15))  # batch: 0 for ids 1-9, 1 for ids 10-14
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".dst (id int PRIMARY KEY, v text, changed timestamptz, batch int)')
    job = Copy(api, server, pg_link(), pg_schema)
    job.create({"fromJobConfig.schemaName": pg_schema, "fromJobConfig.incrMigration": "true",
                "fromJobConfig.checkColumn": "batch"}, {"toJobConfig.writeMode": "UPSERT"})
    assert written(job.run()) == 14
    _pg_source(pg_schema, range(15, 25))  # ids 15-19 tie with batch 1 after the run; 20-24 are batch 2
    second = job.run()
    assert second["status"] == "SUCCEEDED", second
    assert job.target() == [(i, f"v{i}") for i in range(1, 25)]
    assert job.stored_cursor() == "2"


def test_parallel_partitions_read_only_the_increment(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    _pg_source(pg_schema, range(1, 2001))
    job = Copy(api, server, pg_link(), pg_schema)
    job.create({"fromJobConfig.schemaName": pg_schema, "fromJobConfig.incrMigration": "true",
                "fromJobConfig.checkColumn": "id", "fromJobConfig.lastValue": "1500",
                "fromJobConfig.partitionColumn": "id"}, driver={"throttlingConfig.numExtractors": "2"})
    done = job.run()
    assert done["status"] == "SUCCEEDED", done
    assert [row[0] for row in job.target()] == list(range(1501, 2001))


def test_mariadb_and_sqlite_sources_keep_their_cursor(
    api: httpx.Client, server: RunningServer, pg_schema: str, mysql_database: str, tmp_path: Path
) -> None:
    conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, database=mysql_database, autocommit=True)
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE src (id int PRIMARY KEY, v text, changed datetime(6))")
        cursor.executemany("INSERT INTO src VALUES (%s, %s, %s)",
                           [(i, f"v{i}", f"2024-01-01 00:00:{i:02d}.5") for i in range(1, 6)])
    database = tmp_path / "src.sqlite"
    with sqlite3.connect(database) as lite:
        lite.execute("CREATE TABLE src (id INTEGER PRIMARY KEY, v TEXT, changed TIMESTAMP)")
        lite.executemany("INSERT INTO src VALUES (?, ?, ?)",
                         [(i, f"v{i}", f"2024-01-01 00:00:{i:02d}.5") for i in range(1, 6)])
    for link, add in (
        (mysql_link(mysql_database), lambda i: conn.cursor().execute(
            "INSERT INTO src VALUES (%s, %s, %s)", (i, f"v{i}", f"2024-01-01 00:01:{i:02d}"))),
        (sqlite_link(str(database)), lambda i: sqlite3.connect(database).execute(
            "INSERT INTO src VALUES (?, ?, ?)", (i, f"v{i}", f"2024-01-01 00:01:{i:02d}")).connection.commit()),
    ):
        with pg_connect() as target:
            target.execute(f'DROP TABLE IF EXISTS "{pg_schema}".dst')
        job = Copy(api, server, link, pg_schema)
        job.create({"fromJobConfig.incrMigration": "true", "fromJobConfig.checkColumn": "changed"})
        assert written(job.run()) == 5
        assert job.stored_cursor() == "2024-01-01 00:00:05.500000"
        for i in (6, 7):
            add(i)
        assert written(job.run()) == 2, link
        assert job.target() == [(i, f"v{i}") for i in range(1, 8)]
    conn.close()


def test_incremental_without_a_check_column_is_refused(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    job = Copy(api, server, pg_link(), pg_schema)
    response = api.post(f"{server.cdm}/job", json={"jobs": [job.entity(
        {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.incrMigration": "true"}, {}, {})]})
    assert response.status_code == 400, response.text
    assert response.json()["errCode"] == "Cdm.0238"
    assert "checkColumn" in response.json()["externalMessage"]
