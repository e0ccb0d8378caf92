"""writeMode, upsertKeys and useStageTable through the HTTP API: the submission's counters, staged runs
that fail or are stopped half-way, and the parallel path."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pymysql
import pytest
from test_run_control import FAST_PROGRESS, SLOW_WHERE, status_of, wait_for, wait_for_rows

from conftest import (
    MY_HOST,
    MY_PORT,
    MY_USER,
    PG_DATABASE,
    PG_HOST,
    PG_PORT,
    PG_USER,
    RunningServer,
    config_values,
    create_link,
    executor_address,
    mysql_link,
    pg_connect,
    pg_link,
    start_server,
    use_executor,
)
from job_support import finished_run, start_copy_job

ROWS = 2000
# Keys the destination holds before the run: 500 the source also has, 11 it does not.
UPDATED_KEYS = range(1001, 1501)
EXTRA_KEYS = range(3000, 3011)
COUNTERS = "org.apache.sqoop.submission.counter.SqoopCounters"
DESTINATION = (
    "CREATE TABLE {table} (id bigint PRIMARY KEY, name varchar(1000), qty int, note varchar(10) DEFAULT 'dflt')"
)




@pytest.fixture(scope="module", params=["local", "dask"])
def small_batches(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """A server writing batches of 100 rows, so a run writes many of them and shows progress early;
    on each executor."""
    running = start_server(tmp_path_factory.mktemp("opencdm-write-modes"), env=FAST_PROGRESS)
    yield use_executor(running, executor_address(request.param, request))
    running.stop()


@pytest.fixture
def api(small_batches: RunningServer) -> Iterator[httpx.Client]:
    with small_batches.client() as client:
        yield client



def _run(api: httpx.Client, server: RunningServer, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return finished_run(api, server, start_copy_job(api, server, *args, **kwargs))


def _source(schema: str, rows: int = ROWS, name: str = "'n' || g") -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}".src (id bigint PRIMARY KEY, name varchar(1000), qty int)')
        conn.execute(f"""INSERT INTO "{schema}".src SELECT g, {name}, g * 2 FROM generate_series(1, {rows}) g""")


def _prefilled_rows() -> list[tuple[Any, ...]]:
    return [(key, "old", -1, "kept") for key in [*UPDATED_KEYS, *EXTRA_KEYS]]


def _expected(mode: str) -> list[tuple[Any, ...]]:
    """The destination after the source's rows were written over the prefilled ones."""
    updated_note = "kept" if mode == "UPSERT" else "dflt"  # REPLACE resets the columns it does not copy
    copied = [(key, f"n{key}", key * 2, updated_note if key in UPDATED_KEYS else "dflt") for key in range(1, ROWS + 1)]
    return copied + [(key, "old", -1, "kept") for key in EXTRA_KEYS]


class Destination:
    def __init__(self, kind: str, pg_schema: str, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.schema = pg_schema if kind == "postgresql" else request.getfixturevalue("mysql_database")
        self.link = pg_link() if kind == "postgresql" else mysql_link(self.schema)

    def _sql(self, sql: str, rows: list[tuple[Any, ...]] | None = None) -> list[tuple[Any, ...]]:
        if self.kind == "postgresql":
            with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, autocommit=True,
                                 options=f"-c search_path={self.schema}") as conn, conn.cursor() as cursor:
                if rows is not None:
                    cursor.executemany(sql, rows)
                    return []
                cursor.execute(sql)
                return cursor.fetchall() if cursor.description else []
        conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, database=self.schema, autocommit=True)
        try:
            with conn.cursor() as cursor:
                if rows is not None:
                    cursor.executemany(sql, rows)
                    return []
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def prefill(self, table: str = "dst") -> None:
        self._sql(DESTINATION.format(table=table))
        self._sql(f"INSERT INTO {table} VALUES (%s, %s, %s, %s)", _prefilled_rows())

    def rows(self, table: str = "dst") -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._sql(f"SELECT id, name, qty, note FROM {table} ORDER BY id")]

    def stage_tables(self) -> list[str]:
        if self.kind == "postgresql":
            query = f"SELECT tablename FROM pg_tables WHERE schemaname = '{self.schema}'"
        else:
            query = "SHOW TABLES"
        return [row[0] for row in self._sql(query) if "opencdm" in row[0]]

    def to_job(self, **inputs: str) -> dict[str, str]:
        return {"toJobConfig.schemaName": self.schema, "toJobConfig.tableName": "dst",
                "toJobConfig.columnList": "id&name&qty", **{f"toJobConfig.{k}": v for k, v in inputs.items()}}


@pytest.mark.parametrize(
    ("kind", "mode", "stage"),
    [("postgresql", "UPSERT", "false"), ("mariadb", "REPLACE", "false"), ("mariadb", "UPSERT", "true")],
)
def test_write_modes_count_updated_rows_in_the_submission(
    api: httpx.Client, small_batches: RunningServer, pg_schema: str, request: pytest.FixtureRequest,
    kind: str, mode: str, stage: str,
) -> None:
    _source(pg_schema)
    destination = Destination(kind, pg_schema, request)
    destination.prefill()
    source_link = create_link(api, small_batches, "generic-jdbc-connector", pg_link())
    destination_link = create_link(api, small_batches, "generic-jdbc-connector", destination.link)
    done = _run(api, small_batches, source_link, {"fromJobConfig.schemaName": pg_schema,
                                                  "fromJobConfig.tableName": "src"},
                destination_link, destination.to_job(writeMode=mode, useStageTable=stage))
    assert done["status"] == "SUCCEEDED", done
    # ROWS_WRITTEN counts every row the destination took, as in an INSERT run; update_rows those
    # of them whose key was already there.
    assert done["counters"][COUNTERS]["ROWS_READ"] == done["counters"][COUNTERS]["ROWS_WRITTEN"] == ROWS
    assert done["write_rows"] == ROWS and done["update_rows"] == len(UPDATED_KEYS)
    assert destination.rows() == _expected(mode)
    assert destination.stage_tables() == []
    history = api.get(f"{small_batches.cdm}/submissions", params={"jname": done["job-name"]}).json()
    assert history["submissions"][0]["update_rows"] == len(UPDATED_KEYS)


def test_a_staged_run_failing_midway_leaves_the_destination_as_it_was(
    api: httpx.Client, small_batches: RunningServer, pg_schema: str, request: pytest.FixtureRequest
) -> None:
    _source(pg_schema)
    destination = Destination("postgresql", pg_schema, request)
    destination.prefill()
    link = create_link(api, small_batches, "generic-jdbc-connector", pg_link())
    done = _run(api, small_batches, link, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src",
                                           "fromJobConfig.whereClause": "CASE WHEN id > 500 THEN 1/0 ELSE 1 END = 1"},
                link, destination.to_job(useStageTable="true", writeMode="UPSERT",
                                         beforeImportType="shouldClearTable"))
    assert done["status"] == "FAILED" and "division by zero" in done["error-summary"], done
    assert destination.rows() == _prefilled_rows()
    assert destination.stage_tables() == []


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_a_stopped_staged_run_leaves_the_destination_as_it_was(
    api: httpx.Client, small_batches: RunningServer, pg_schema: str, request: pytest.FixtureRequest, kind: str
) -> None:
    # Wide rows: the reader hands over its first batch after 64 KB, which the slow source takes long to fill.
    _source(pg_schema, rows=20000, name="repeat('x', 1000)")
    destination = Destination(kind, pg_schema, request)
    destination.prefill()
    job = start_copy_job(api, small_batches, create_link(api, small_batches, "generic-jdbc-connector", pg_link()),
                 {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src",
                  "fromJobConfig.whereClause": SLOW_WHERE},
                 create_link(api, small_batches, "generic-jdbc-connector", destination.link),
                 destination.to_job(useStageTable="true", writeMode="REPLACE", beforeImportType="shouldClearTable"))
    wait_for_rows(api, small_batches, job)
    if kind == "mariadb":  # MariaDB commits DDL at once; PostgreSQL's stage table lives in the run's transaction
        assert destination.stage_tables() != []
    assert api.put(f"{small_batches.cdm}/job/{job}/stop").status_code == 200
    final = wait_for(api, small_batches, job, ("FAILED", "SUCCEEDED"), timeout=30)
    assert final["status"] == "FAILED" and "stopped by user" in final["error-summary"].lower()
    assert status_of(api, small_batches, job)["progress"] == -1
    assert destination.rows() == _prefilled_rows()
    assert destination.stage_tables() == []


@pytest.mark.parametrize("stage", ["false", "true"])
def test_parallel_extractors_with_upsert(
    api: httpx.Client, small_batches: RunningServer, pg_schema: str, request: pytest.FixtureRequest, stage: str
) -> None:
    _source(pg_schema)
    destination = Destination("postgresql", pg_schema, request)
    destination.prefill()
    link = create_link(api, small_batches, "generic-jdbc-connector", pg_link())
    done = _run(api, small_batches, link, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src",
                                           "fromJobConfig.partitionColumn": "id"},
                link, destination.to_job(writeMode="UPSERT", useStageTable=stage), extractors=2)
    assert done["status"] == "SUCCEEDED", done
    assert done["counters"][COUNTERS]["ROWS_WRITTEN"] == ROWS and done["update_rows"] == len(UPDATED_KEYS)
    assert destination.rows() == _expected("UPSERT")
    assert destination.stage_tables() == []
    # Staged jobs copy their partitions one after the other, into the one stage table.
    log = api.get(f"{small_batches.cdm}/submissions/{done['submission-id']}/log").json()["lines"]
    parallel = f"submission {done['submission-id']}: 3 partitions on 2 "
    assert any(line["message"].startswith(parallel) for line in log) == (stage == "false"), log


def test_unknown_write_mode_is_refused_when_the_job_is_saved(api: httpx.Client, small_batches: RunningServer) -> None:
    link = create_link(api, small_batches, "generic-jdbc-connector", pg_link())
    response = api.post(f"{small_batches.cdm}/job", json={"jobs": [{
        "name": f"w{uuid.uuid4().hex[:8]}", "job_type": "NORMAL_JOB",
        "from-connector-name": "generic-jdbc-connector", "from-link-name": link,
        "to-connector-name": "generic-jdbc-connector", "to-link-name": link,
        "from-config-values": config_values("fromJobConfig", {"fromJobConfig.tableName": "src"}),
        "to-config-values": config_values("toJobConfig", {"toJobConfig.tableName": "dst",
                                                    "toJobConfig.writeMode": "MERGE"}),
        "driver-config-values": {"configs": []}}]})
    assert response.status_code == 400
    assert response.json()["errCode"] == "Cdm.0014" and "writeMode" in response.json()["externalMessage"]
