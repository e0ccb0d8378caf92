"""A Dask worker that cannot see the server's disk, as on another machine: it runs in a mount
namespace of its own, where the tests' temporary directory (the server's home, its SQLite files and
nas roots) is an empty file system of its own, holding only a stale copy of a SQLite source at the
server's path. Nothing of a job may be resolved on that disk: local-path ends run on the server, and
dirty data comes back to it."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from opencdm.child_server import free_port
from opencdm.connectors import get_connector

from conftest import (
    RunningServer,
    S3Server,
    config_values,
    create_link,
    pg_connect,
    pg_link,
    set_executor,
    sqlite_link,
    start_server,
)
from job_support import Copy, finished_run

distributed = pytest.importorskip("distributed")

ROWS = 1000
STALE_ROWS = 10


@dataclass
class ForeignCluster:
    server: RunningServer
    # A SQLite database on the server's disk; the worker sees a stale copy at the same path.
    source: Path
    scheduler: str


def _sqlite_source(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE src (id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO src VALUES (?, ?)", [(i, f"v{i}") for i in range(1, rows + 1)])


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory, local_paths_allowed: Path) -> Iterator[ForeignCluster]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a worker with a disk of its own needs root and unshare (a mount namespace)")
    hidden = local_paths_allowed  # the tests' temporary directory: every server's home and files
    source = tmp_path_factory.mktemp("foreign-data") / "source.db"
    _sqlite_source(source, ROWS)
    elsewhere = Path(tempfile.mkdtemp())  # outside the hidden directory: what the worker copies in
    _sqlite_source(elsewhere / "stale.db", STALE_ROWS)
    dask = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    log = open(tmp_path_factory.mktemp("foreign-dask") / "dask.log", "wb")  # noqa: SIM115 - closed below
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount -t tmpfs tmpfs "$1" && mkdir -p "$2" && cp "$3" "$4" && exec "$5" worker "$6" --nthreads 2 '
         "--no-dashboard",
         "sh", str(hidden), str(source.parent), str(elsewhere / "stale.db"), str(source), dask, address],
        stdout=log, stderr=subprocess.STDOUT,
    )
    running = None
    try:
        with distributed.Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=60)
        running = start_server(tmp_path_factory.mktemp("foreign-home"))
        set_executor(running, address).check_returncode()
        yield ForeignCluster(running, source, address)
    finally:
        if running is not None:
            running.stop()
        for process in (worker, scheduler):
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(elsewhere)


@pytest.fixture
def api(foreign: ForeignCluster) -> Iterator[httpx.Client]:
    with foreign.server.client() as client:
        yield client


def _run_log(api: httpx.Client, server: RunningServer, run: dict[str, Any]) -> str:
    lines = api.get(f"{server.cdm}/submissions/{run['submission-id']}/log").json()["lines"]
    return "\n".join(line["message"] for line in lines)


def _pg_count(schema: str, table: str) -> int:
    with pg_connect() as conn:
        row = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize(("connector", "inputs", "place"), [
    ("generic-jdbc-connector", sqlite_link("{root}/a.db"), "the SQLite database {root}/a.db"),
    ("nas-connector", {"linkConfig.rootDirectory": "{root}"}, "the nas directory {root}"),
    ("iceberg-connector", {"linkConfig.catalogType": "sql", "linkConfig.catalogUri": "sqlite:///{root}/c.db",
                           "linkConfig.warehouse": "{root}/lake"}, "the Iceberg warehouse {root}/lake"),
    ("iceberg-connector", {"linkConfig.catalogType": "sql", "linkConfig.catalogUri": "sqlite:///{root}/c.db",
                           "linkConfig.warehouse": "s3://lake/x", "linkConfig.server": "127.0.0.1",
                           "linkConfig.accessKey": "a", "linkConfig.securityKey": "b"},
     "the Iceberg catalog {root}/c.db"),
    ("generic-jdbc-connector", pg_link(), None),
], ids=["sqlite", "nas", "iceberg-warehouse", "iceberg-catalog", "postgresql"])
def test_every_end_on_the_servers_disk_is_known_as_such(
    connector: str, inputs: dict[str, str], place: str | None, tmp_path: Path
) -> None:
    """What makes a job's partitions run on the server rather than on a Dask worker."""
    root = os.path.realpath(tmp_path)
    link = {name: value.format(root=root) for name, value in inputs.items()}
    expected = place.format(root=root) if place is not None else None
    assert get_connector(connector).server_disk_place(link) == expected


def test_a_sqlite_source_is_read_on_the_server_not_from_the_workers_stale_copy(
    foreign: ForeignCluster, api: httpx.Client, pg_schema: str
) -> None:
    server = foreign.server
    job = Copy(api, server, sqlite_link(str(foreign.source)), pg_schema)
    job.create({"fromJobConfig.schemaName": "main", "fromJobConfig.partitionColumn": "id"},
               driver={"throttlingConfig.numExtractors": "2"})
    done = job.run()
    assert done["status"] == "SUCCEEDED", done
    assert done["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]["ROWS_WRITTEN"] == ROWS
    assert _pg_count(pg_schema, "dst") == ROWS
    log = _run_log(api, server, done)
    assert f"its source is the SQLite database {foreign.source} on this server's disk" in log, log
    assert "its partitions run in processes of this server" in log
    assert "Dask tasks" not in log


def test_dirty_data_of_copiers_on_the_worker_comes_back_to_the_server(
    foreign: ForeignCluster, api: httpx.Client, pg_schema: str
) -> None:
    server = foreign.server
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id int PRIMARY KEY, v text)')
        conn.execute(f"""INSERT INTO "{pg_schema}".src SELECT g, CASE WHEN g % 100 = 0 THEN 'bad' ELSE 'v' END
                         FROM generate_series(1, {ROWS}) g""")
        conn.execute(f"""CREATE TABLE "{pg_schema}".dst (id int PRIMARY KEY, v text CHECK (v <> 'bad'))""")
    job = Copy(api, server, pg_link(), pg_schema)
    job.create({"fromJobConfig.schemaName": pg_schema, "fromJobConfig.partitionColumn": "id"}, driver={
        "throttlingConfig.numExtractors": "2", "throttlingConfig.maxErrorRecords": "10",
        "throttlingConfig.recordDirtyData": "true"})
    done = job.run()
    assert done["status"] == "SUCCEEDED", done
    assert "Dask tasks" in _run_log(api, server, done)  # the copiers ran on the worker
    bad = list(range(100, ROWS + 1, 100))
    answer = api.get(f"{server.cdm}/submissions/{done['submission-id']}/dirty").json()
    assert sorted(record["row"]["id"] for record in answer["records"]) == bad
    assert all("check constraint" in record["reason"] for record in answer["records"])
    assert list((server.home / "dirty-data" / server.project_id / job.name).iterdir())


def test_a_file_destination_is_written_by_the_server_saying_so(
    foreign: ForeignCluster, api: httpx.Client, pg_schema: str, s3_server: S3Server
) -> None:
    server = foreign.server
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id int PRIMARY KEY, v text)')
        conn.execute(f"""INSERT INTO "{pg_schema}".src SELECT g, 'v' || g FROM generate_series(1, {ROWS}) g""")
    bucket = s3_server.create_bucket()
    obs = create_link(api, server, "obs-connector", s3_server.link_inputs())
    source = create_link(api, server, "generic-jdbc-connector", pg_link())
    response = api.post(f"{server.cdm}/job", json={"jobs": [{
        "name": "to_files", "job_type": "NORMAL_JOB",
        "from-connector-name": "generic-jdbc-connector", "from-link-name": source,
        "to-connector-name": "obs-connector", "to-link-name": obs,
        "from-config-values": config_values("fromJobConfig", {
            "fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"}),
        "to-config-values": config_values("toJobConfig", {
            "toJobConfig.bucketName": bucket, "toJobConfig.outputDirectory": "/out",
            "toJobConfig.outputFormat": "CSV_FILE"}),
        "driver-config-values": {"configs": []}}]})
    assert response.status_code == 200, response.text
    assert api.put(f"{server.cdm}/job/to_files/start").status_code == 200
    done = finished_run(api, server, "to_files")
    assert done["status"] == "SUCCEEDED", done
    assert done["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]["ROWS_WRITTEN"] == ROWS
    log = _run_log(api, server, done)
    assert f"this server's process copies the job, not the Dask cluster {foreign.scheduler}" in log, log
