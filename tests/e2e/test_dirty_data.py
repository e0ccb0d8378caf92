"""Dirty data: throttlingConfig.maxErrorRecords leaves out the rows a destination refuses, counts them
as ROWS_WRITTEN_SKIPPED and, with recordDirtyData, records them as JSON lines; beyond the limit, or
without one, a refused row fails the run and nothing is written."""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pymysql
from api.helpers import assert_cdm_error, assert_gateway_error, create_tenant
from typer.testing import CliRunner

from opencdm.cli import app

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
    set_executor,
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
    """``<job>-<submission id>.jsonl``, ``…-<n>.jsonl`` of partition process n, or, on Dask (written by
    the run's server), ``…-partition-<n>.jsonl`` of partition n."""
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

    folder = server.home / "dirty-data" / server.project_id / job.name
    dirty = _dirty_lines(folder, f"{job.name}-{done['submission-id']}")
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


RECORDED = {"throttlingConfig.maxErrorRecords": "10", "throttlingConfig.recordDirtyData": "true",
            "throttlingConfig.numExtractors": "2"}


def _dirty_ids(answer: dict[str, Any]) -> list[int]:
    return sorted(record["row"]["id"] for record in answer["records"])


def test_each_project_reads_its_own_runs_dirty_data_through_the_api_and_the_cli(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    """Jobs of the same name in two projects: each run's dirty data in its project's folder, served
    by GET …/submissions/{id}/dirty and ``opencdm job dirty`` to that project only."""
    _source(pg_schema)
    _pg_destination(pg_schema)
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".dst2 (LIKE "{pg_schema}".dst INCLUDING ALL)')
    tenant = create_tenant(server, f"dirty_{uuid.uuid4().hex[:8]}")
    theirs = replace(server, credentials={**server.credentials, "project_id": tenant.project_id,
                                          "cluster_id": tenant.cluster_id, "user": tenant.user,
                                          "password": tenant.password})
    if server.executor != "local":
        set_executor(theirs, server.executor).check_returncode()
    ours = Copy(api, server, pg_link(), pg_schema)
    ours.create({"fromJobConfig.schemaName": pg_schema, "fromJobConfig.partitionColumn": "id"}, driver=RECORDED)
    with theirs.client() as their_api:
        their_job = Copy(their_api, theirs, pg_link(), pg_schema)
        their_job.name = ours.name
        their_job.create({"fromJobConfig.schemaName": pg_schema, "fromJobConfig.partitionColumn": "id",
                          "fromJobConfig.whereClause": "id <= 500"}, {"toJobConfig.tableName": "dst2"}, RECORDED)
        their_run = their_job.run()
        our_run = ours.run()
        assert our_run["status"] == their_run["status"] == "SUCCEEDED", (our_run, their_run)
        their_bad = [row for row in BAD if row <= 500]

        for project, run, bad in ((server.project_id, our_run, BAD), (tenant.project_id, their_run, their_bad)):
            folder = server.home / "dirty-data" / project / ours.name
            lines = _dirty_lines(folder, f"{ours.name}-{run['submission-id']}")
            assert sorted(line["row"]["id"] for line in lines) == bad, project

        mine = api.get(f"{server.cdm}/submissions/{our_run['submission-id']}/dirty")
        assert mine.status_code == 200, mine.text
        assert mine.json()["total"] == len(BAD) and _dirty_ids(mine.json()) == BAD
        assert {"row", "reason"} <= set(mine.json()["records"][0])
        page = api.get(f"{server.cdm}/submissions/{our_run['submission-id']}/dirty",
                       params={"page_no": 2, "page_size": 4}).json()
        assert len(page["records"]) == len(BAD) - 4 and page["total"] == len(BAD)
        answer = their_api.get(f"{theirs.cdm}/submissions/{their_run['submission-id']}/dirty").json()
        assert _dirty_ids(answer) == their_bad
        # Not the other project's run: through its own cluster it does not exist, through the
        # other project's path the gateway refuses.
        unknown = their_api.get(f"{theirs.cdm}/submissions/{our_run['submission-id']}/dirty")
        assert "doesn't exist" in assert_cdm_error(unknown, "Cdm.0100")
        assert_gateway_error(their_api.get(f"{server.cdm}/submissions/{our_run['submission-id']}/dirty"),
                             403, "APIGW.0302")

    env = {"OPENCDM_URL": server.url, "OPENCDM_HOME": str(server.home), "OPENCDM_DATABASE_URL": None,
           "OPENCDM_USER": tenant.user, "OPENCDM_PASSWORD": tenant.password,
           "OPENCDM_PROJECT_ID": tenant.project_id, "OPENCDM_CLUSTER_ID": tenant.cluster_id}
    shown = CliRunner().invoke(app, ["job", "dirty", ours.name], env=env)
    assert shown.exit_code == 0, shown.output
    assert sorted(json.loads(line)["row"]["id"] for line in shown.stdout.splitlines()) == their_bad
    assert f"{len(their_bad)} dirty rows" in shown.stderr
    refused = CliRunner().invoke(app, ["job", "dirty", ours.name, "--run", str(our_run["submission-id"])], env=env)
    assert refused.exit_code == 1 and "doesn't exist" in refused.output
