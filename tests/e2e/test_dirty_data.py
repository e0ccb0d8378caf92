"""Dirty data: throttlingConfig.maxErrorRecords leaves out the rows a destination refuses, counts them
as ROWS_WRITTEN_SKIPPED and, with recordDirtyData, records them as JSON lines; beyond the limit, or
without one, a refused row fails the run and nothing is written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pymysql

from conftest import (
    MY_HOST,
    MY_PORT,
    MY_USER,
    RunningServer,
    S3Server,
    create_link,
    mysql_link,
    on_each_executor,
    pg_connect,
    pg_link,
    sqlite_link,
)
from job_support import Copy

server = on_each_executor()

ROWS = 1000
# Rows the destinations below refuse: 3 break a CHECK constraint, 4 overflow numeric(5,2).
CHECK_VIOLATIONS = (10, 200, 999)
OVERFLOWS = (50, 51, 52, 700)
BAD = sorted(CHECK_VIOLATIONS + OVERFLOWS)


def _source(schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}".src (id int PRIMARY KEY, v text, amount numeric(12,2))')
        conn.execute(f"""INSERT INTO "{schema}".src SELECT g,
            CASE WHEN g IN {CHECK_VIOLATIONS} THEN 'bad' ELSE 'v' || g END,
            CASE WHEN g IN {OVERFLOWS} THEN 123456.78 ELSE g / 100.0 END FROM generate_series(1, {ROWS}) g""")


def _pg_destination(schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(f"""CREATE TABLE "{schema}".dst (id int PRIMARY KEY, v text CHECK (v <> 'bad'),
                         amount numeric(5,2))""")
        conn.execute(f"""INSERT INTO "{schema}".dst VALUES (-1, 'before', 0)""")


def counters(submission: dict[str, Any]) -> dict[str, int]:
    values: dict[str, int] = submission["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]
    return values


def _is_dirty_file(name: str, stem: str) -> bool:
    """``<job>-<submission id>.jsonl``, or ``…-<n>.jsonl`` of partition process (or Dask task) n."""
    return name == f"{stem}.jsonl" or (name.startswith(f"{stem}-") and name.endswith(".jsonl"))


def _dirty_lines(directory: Path, stem: str) -> list[dict[str, Any]]:
    files = [path for path in directory.iterdir() if _is_dirty_file(path.name, stem)]
    return [json.loads(line) for path in files for line in path.read_text().splitlines()]


def test_refused_rows_are_skipped_counted_and_recorded(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    _source(pg_schema)
    _pg_destination(pg_schema)
    job = Copy(api, server, pg_link(), pg_schema)
    job.create({"fromJobConfig.schemaName": pg_schema}, driver={
        "throttlingConfig.maxErrorRecords": "10", "throttlingConfig.recordDirtyData": "true"})
    done = job.run()
    assert done["status"] == "SUCCEEDED", (done.get("error-summary"), done.get("error-details"))
    assert counters(done)["ROWS_READ"] == ROWS
    assert counters(done)["ROWS_WRITTEN"] == ROWS - len(BAD)
    assert counters(done)["ROWS_WRITTEN_SKIPPED"] == len(BAD)
    assert done["verification"]["passed"] is True
    assert [row[0] for row in job.target("id")] == [-1] + [i for i in range(1, ROWS + 1) if i not in BAD]

    dirty = _dirty_lines(server.home / "dirty-data" / job.name, f"{job.name}-{done['submission-id']}")
    assert sorted(line["row"]["id"] for line in dirty) == BAD
    reasons = {line["row"]["id"]: line["reason"] for line in dirty}
    assert "check constraint" in reasons[10]
    assert "amount" in reasons[50] and "precision 5" in reasons[50]
    assert {line["row"]["id"]: line["row"]["amount"] for line in dirty}[700] == "123456.78"


def test_more_refused_rows_than_allowed_fail_the_run_and_write_nothing(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    _source(pg_schema)
    _pg_destination(pg_schema)
    job = Copy(api, server, pg_link(), pg_schema)
    job.create({"fromJobConfig.schemaName": pg_schema}, driver={"throttlingConfig.maxErrorRecords": "5"})
    failed = job.run()
    assert failed["status"] == "FAILED", failed
    assert "dirty-data records reached the limit" in failed["error-summary"]
    assert "Cdm.0936" in failed["error-details"]
    assert job.target("id") == [(-1,)]


def test_without_a_limit_the_first_refused_row_fails_the_run(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    _source(pg_schema)
    _pg_destination(pg_schema)
    job = Copy(api, server, pg_link(), pg_schema)
    job.create({"fromJobConfig.schemaName": pg_schema})
    failed = job.run()
    assert failed["status"] == "FAILED", failed
    assert "check constraint" in failed["error-summary"] or "precision 5" in failed["error-summary"]
    assert job.target("id") == [(-1,)]


def test_mariadb_and_sqlite_destinations_skip_what_they_refuse(
    api: httpx.Client, server: RunningServer, pg_schema: str, mysql_database: str, tmp_path: Path
) -> None:
    _source(pg_schema)
    conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, database=mysql_database, autocommit=True)
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE dst (id int PRIMARY KEY, v varchar(10) CHECK (v <> 'bad'), amount decimal(5,2))")
    conn.close()
    database = tmp_path / "dst.sqlite"
    with sqlite3.connect(database) as lite:
        lite.execute("CREATE TABLE dst (id INTEGER PRIMARY KEY, v TEXT CHECK (v <> 'bad'), "
                     "amount TEXT CHECK (CAST(amount AS REAL) < 1000))")
    for target, schema in ((mysql_link(mysql_database), mysql_database), (sqlite_link(str(database)), "main")):
        job = Copy(api, server, pg_link(), schema, target_link=target)
        job.create({"fromJobConfig.schemaName": pg_schema}, driver={"throttlingConfig.maxErrorRecords": "20"})
        done = job.run()
        assert done["status"] == "SUCCEEDED", (target, done)
        assert counters(done)["ROWS_WRITTEN"] == ROWS - len(BAD), target
        assert counters(done)["ROWS_WRITTEN_SKIPPED"] == len(BAD), target


def test_dirty_data_goes_to_an_object_storage_link(
    api: httpx.Client, server: RunningServer, pg_schema: str, s3_server: S3Server
) -> None:
    _source(pg_schema)
    _pg_destination(pg_schema)
    bucket = s3_server.create_bucket()
    obs = create_link(api, server, "obs-connector", s3_server.link_inputs())
    job = Copy(api, server, pg_link(), pg_schema)
    job.create({"fromJobConfig.schemaName": pg_schema}, driver={
        "throttlingConfig.maxErrorRecords": "10", "throttlingConfig.recordDirtyData": "true",
        "throttlingConfig.writeToLink": obs, "throttlingConfig.obsBucket": bucket,
        "throttlingConfig.dirtyDataDirectory": "/dirty/orders"})
    done = job.run()
    assert done["status"] == "SUCCEEDED", (done.get("error-summary"), done.get("error-details"))
    client, stem = s3_server.client(), f"{job.name}-{done['submission-id']}"
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket, Prefix="dirty/orders/")["Contents"]]
    bodies = [client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
              for key in keys if _is_dirty_file(key.removeprefix("dirty/orders/"), stem)]
    assert sorted(json.loads(line)["row"]["id"] for body in bodies for line in body.splitlines()) == BAD
