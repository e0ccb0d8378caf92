"""The Dask executor: a cluster whose executor is a Dask scheduler runs its jobs' partitions as
tasks on that scheduler's workers (here a distributed.LocalCluster of 3 worker processes on
loopback, started by the tests), each task with its own database connections."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from opencdm.child_server import free_port

from conftest import RunningServer, create_link, pg_connect, pg_link, set_executor, start_server
from job_support import finished_run, start_copy_job

distributed = pytest.importorskip("distributed")

ROWS = 20000


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=3, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
    )
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def dask_server(tmp_path_factory: pytest.TempPathFactory, dask_cluster: Any) -> Iterator[RunningServer]:
    """A server whose (bootstrap) cluster runs partitions on ``dask_cluster``, set by the admin command."""
    home = tmp_path_factory.mktemp("dask-home")
    running = start_server(home, env={"OPENCDM_BATCH_ROWS": "500", "OPENCDM_PROGRESS_INTERVAL": "0.2"})
    set_executor(running, dask_cluster.scheduler_address).check_returncode()
    yield running
    running.stop()


@pytest.fixture
def dask_api(dask_server: RunningServer) -> Iterator[httpx.Client]:
    with dask_server.client() as client:
        yield client


def _source(schema: str, rows: int = ROWS) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}".src (id bigint PRIMARY KEY, v text)')
        conn.execute(f"""INSERT INTO "{schema}".src SELECT g, 'v' || g FROM generate_series(1, {rows}) g""")


def _slow_source(schema: str, rows: int) -> None:
    """``slow``: a view of ``rows`` rows of ``src`` that takes about 1 ms a row to read (a run long
    enough to be stopped or hit mid-copy), while planning (min and max of id) stays quick."""
    _source(schema, rows)
    with pg_connect() as conn:
        # STABLE, so that a query that does not read v does not call it.
        conn.execute(f"""CREATE FUNCTION "{schema}".slowly(t text) RETURNS text LANGUAGE plpgsql STABLE AS
            $$ BEGIN PERFORM pg_sleep(0.001); RETURN t; END $$""")
        conn.execute(f'CREATE VIEW "{schema}".slow AS SELECT id, "{schema}".slowly(v) AS v FROM "{schema}".src')


def _rows(schema: str, table: str) -> list[tuple[Any, ...]]:
    with pg_connect() as conn:
        return conn.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY id').fetchall()


def _start(
    api: httpx.Client, server: RunningServer, schema: str, extractors: int, table: str = "src",
    driver: dict[str, str] | None = None,
) -> str:
    link = create_link(api, server, "generic-jdbc-connector", pg_link())
    return start_copy_job(
        api, server, link,
        {"fromJobConfig.schemaName": schema, "fromJobConfig.tableName": table, "fromJobConfig.partitionColumn": "id"},
        link, {"toJobConfig.schemaName": schema, "toJobConfig.tableName": "dst",
               "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}, extractors=extractors, driver=driver,
    )


def _counters(run: dict[str, Any]) -> dict[str, int]:
    counters: dict[str, int] = run["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]
    return counters


def _run_log(api: httpx.Client, server: RunningServer, submission: int) -> list[str]:
    lines = api.get(f"{server.cdm}/submissions/{submission}/log").json()["lines"]
    return [line["message"] for line in lines]


def _workers_used(api: httpx.Client, server: RunningServer, submission: int) -> set[str]:
    found = (re.match(rf"submission {submission}: copier \d+ started on (\S+)", line)
             for line in _run_log(api, server, submission))
    return {match.group(1) for match in found if match}


def test_partitions_run_as_tasks_on_several_dask_workers(
    dask_api: httpx.Client, dask_server: RunningServer, pg_schema: str
) -> None:
    _source(pg_schema)
    done = finished_run(dask_api, dask_server, _start(dask_api, dask_server, pg_schema, extractors=8))
    assert done["status"] == "SUCCEEDED", str(done)
    assert _counters(done)["ROWS_READ"] == _counters(done)["ROWS_WRITTEN"] == ROWS
    assert _rows(pg_schema, "dst") == _rows(pg_schema, "src")
    log = "\n".join(_run_log(dask_api, dask_server, done["submission-id"]))
    # As many copiers as the cluster has threads (3 workers of one thread each).
    assert re.search(rf"submission {done['submission-id']}: \d+ partitions on 3 Dask tasks of tcp://127\.0\.0\.1:", log)
    assert len(_workers_used(dask_api, dask_server, done["submission-id"])) > 1


def test_a_failing_partition_fails_the_run_with_its_error_and_commits_nothing(
    dask_api: httpx.Client, dask_server: RunningServer, pg_schema: str
) -> None:
    _source(pg_schema)
    with pg_connect() as conn:
        # Rows of one partition only break the constraint.
        conn.execute(f'CREATE TABLE "{pg_schema}".dst (id bigint, v text CHECK (v <> \'v19999\'))')
    done = finished_run(dask_api, dask_server, _start(dask_api, dask_server, pg_schema, extractors=4))
    assert done["status"] == "FAILED"
    assert 'violates check constraint "dst_v_check"' in done["error-summary"]
    assert _rows(pg_schema, "dst") == []


def _wait_for_rows(api: httpx.Client, server: RunningServer, job: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run: dict[str, Any] = api.get(f"{server.cdm}/job/{job}/status").json()["submissions"][0]
        if run["status"] == "RUNNING" and _counters(run).get("ROWS_READ", 0) > 0:
            return run
        assert run["status"] in ("BOOTING", "RUNNING"), str(run)
        time.sleep(0.1)
    raise AssertionError(f"{job} read no rows")


def test_stop_job_stops_the_tasks_and_commits_nothing(
    dask_api: httpx.Client, dask_server: RunningServer, pg_schema: str
) -> None:
    _slow_source(pg_schema, ROWS)
    job = _start(dask_api, dask_server, pg_schema, extractors=3, table="slow")
    _wait_for_rows(dask_api, dask_server, job)
    assert dask_api.put(f"{dask_server.cdm}/job/{job}/stop").status_code == 200
    done = finished_run(dask_api, dask_server, job)
    assert done["status"] == "FAILED"
    assert done["error-summary"] == "Job stopped by user."
    assert _rows(pg_schema, "dst") == []


@pytest.mark.parametrize("resumable", [False, True], ids=["atomic", "resumable"])
def test_a_worker_killed_mid_partition_loses_and_doubles_no_row(
    dask_api: httpx.Client, dask_server: RunningServer, dask_cluster: Any, pg_schema: str, resumable: bool
) -> None:
    """Dask runs the lost task again (on the worker its nanny starts anew, or another): the lost
    attempt's transaction died with it, so its partitions are copied once, and counted once. A
    resumable run's partitions commit one by one: the new attempt skips those already committed."""
    rows = 6000
    _slow_source(pg_schema, rows)
    driver = {"throttlingConfig.resumable": "true"} if resumable else None
    job = _start(dask_api, dask_server, pg_schema, extractors=3, table="slow", driver=driver)
    run = _wait_for_rows(dask_api, dask_server, job)
    with distributed.Client(dask_cluster.scheduler_address, set_as_default=False) as client:
        pids = client.run(os.getpid)
    used = _workers_used(dask_api, dask_server, run["submission-id"])
    victim = sorted(used)[0]
    os.kill(pids[victim], signal.SIGKILL)
    done = finished_run(dask_api, dask_server, job)
    assert done["status"] == "SUCCEEDED", str(done)
    assert _rows(pg_schema, "dst") == _rows(pg_schema, "src")
    assert _counters(done)["ROWS_READ"] == _counters(done)["ROWS_WRITTEN"] == rows
    if not resumable:  # a resumable copier may have committed its whole share before the kill
        log = _run_log(dask_api, dask_server, run["submission-id"])
        assert any("again: its first attempt is lost" in line for line in log), log


def test_an_unreachable_scheduler_fails_the_run_saying_so(
    tmp_path: Path, pg_schema: str
) -> None:
    home = tmp_path / "home"
    running = start_server(home)
    try:
        set_executor(running, f"tcp://127.0.0.1:{free_port()}").check_returncode()
        _source(pg_schema, 100)
        with running.client() as api:
            done = finished_run(api, running, _start(api, running, pg_schema, extractors=2))
        assert done["status"] == "FAILED"
        assert done["error-summary"].startswith("The cluster's Dask scheduler tcp://127.0.0.1:")
        assert "cannot be reached" in done["error-summary"]
        assert _rows(pg_schema, "dst") == []
    finally:
        running.stop()


def test_the_admin_command_refuses_an_executor_that_is_not_one(dask_server: RunningServer) -> None:
    refused = set_executor(dask_server, "http://127.0.0.1:8786")
    assert refused.returncode == 1
    assert "neither 'local' nor a Dask scheduler address" in refused.stderr


class OwnScheduler:
    """A Dask scheduler in a process of its own, to be killed and started again on the same address,
    and two workers (started again with it: a worker that lost its scheduler shuts down)."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self._dask = str(Path(sys.executable).parent / "dask")
        self._log = open(log, "wb")  # noqa: SIM115 - closed by close()
        self.scheduler = self._spawn("scheduler", "--host", "127.0.0.1", "--port", str(self.port))
        self._workers = self._spawn("worker", self.address, "--nworkers", "2", "--nthreads", "1")
        self._wait_for_workers()

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([self._dask, *args, "--no-dashboard"], stdout=self._log, stderr=subprocess.STDOUT)

    def _wait_for_workers(self) -> None:
        with distributed.Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)

    def kill(self) -> None:
        self.scheduler.kill()
        self.scheduler.wait()

    def restart(self) -> None:
        """A new scheduler and workers on the same address, as an operator would after a crash."""
        self._workers.kill()
        self._workers.wait()
        self.scheduler = self._spawn("scheduler", "--host", "127.0.0.1", "--port", str(self.port))
        self._workers = self._spawn("worker", self.address, "--nworkers", "2", "--nthreads", "1")
        self._wait_for_workers()

    def close(self) -> None:
        for process in (self._workers, self.scheduler):
            process.kill()
            process.wait()
        self._log.close()


@pytest.fixture
def own_scheduler(tmp_path: Path) -> Iterator[OwnScheduler]:
    scheduler = OwnScheduler(tmp_path / "dask.log")
    try:
        yield scheduler
    finally:
        scheduler.close()


@pytest.fixture
def server_on_own_scheduler(tmp_path: Path, own_scheduler: OwnScheduler) -> Iterator[RunningServer]:
    running = start_server(tmp_path / "home", env={"OPENCDM_BATCH_ROWS": "500", "OPENCDM_PROGRESS_INTERVAL": "0.2"})
    try:
        set_executor(running, own_scheduler.address).check_returncode()
        yield running
    finally:
        running.stop()


def test_a_killed_scheduler_fails_an_atomic_run_cleanly(
    server_on_own_scheduler: RunningServer, own_scheduler: OwnScheduler, pg_schema: str
) -> None:
    running = server_on_own_scheduler
    _slow_source(pg_schema, 6000)
    with running.client() as api:
        job = _start(api, running, pg_schema, extractors=2, table="slow")
        _wait_for_rows(api, running, job)
        own_scheduler.kill()
        done = finished_run(api, running, job)
    assert done["status"] == "FAILED"
    lost = f"The cluster's Dask scheduler {own_scheduler.address} was lost during the run"
    assert done["error-summary"].startswith(lost)
    assert _rows(pg_schema, "dst") == []


def _dst_count(schema: str) -> int:
    with pg_connect() as conn:
        if conn.execute("SELECT to_regclass(%s)", (f'"{schema}".dst',)).fetchone() == (None,):
            return 0
        row = conn.execute(f'SELECT count(*) FROM "{schema}".dst').fetchone()
        return int(row[0]) if row else 0


def test_a_resumable_run_resumes_after_the_scheduler_was_killed_and_started_again(
    server_on_own_scheduler: RunningServer, own_scheduler: OwnScheduler, pg_schema: str
) -> None:
    running, rows = server_on_own_scheduler, 6000
    _slow_source(pg_schema, rows)
    with running.client() as api:
        job = _start(api, running, pg_schema, extractors=2, table="slow",
                     driver={"throttlingConfig.resumable": "true"})
        deadline = time.monotonic() + 60
        while _dst_count(pg_schema) == 0:  # a partition committed
            assert time.monotonic() < deadline, "no partition committed"
            time.sleep(0.1)
        own_scheduler.kill()
        failed = finished_run(api, running, job)
        committed = _dst_count(pg_schema)
        own_scheduler.restart()
        assert api.put(f"{running.cdm}/job/{job}/start").status_code == 200
        resumed = finished_run(api, running, job)
    assert failed["status"] == "FAILED", str(failed)
    assert failed["error-summary"].startswith(f"The cluster's Dask scheduler {own_scheduler.address} was lost")
    assert 0 < committed < rows
    assert resumed["status"] == "SUCCEEDED", str(resumed)
    assert resumed["partitions-skipped"] > 0
    assert _counters(resumed)["ROWS_WRITTEN"] == rows - committed
    assert _rows(pg_schema, "dst") == _rows(pg_schema, "src")  # every row once
