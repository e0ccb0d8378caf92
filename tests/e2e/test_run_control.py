"""Stopping jobs, crashes of a worker or of the server, and a clean server shutdown."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from conftest import (
    ON_EACH_EXECUTOR,
    PG_DATABASE,
    PG_HOST,
    PG_PORT,
    PG_USER,
    RunningServer,
    config_values,
    executor_address,
    start_server,
    use_executor,
)

# About 2 ms per row on the database side: a job that runs long enough to be stopped.
SLOW_WHERE = "(SELECT true FROM pg_sleep(0.001 + 0 * id))"
FAST_PROGRESS = {"OPENCDM_BATCH_ROWS": "100", "OPENCDM_PROGRESS_INTERVAL": "0.2"}



def make_slow_job(api: httpx.Client, server: RunningServer, schema: str, rows: int = 20000) -> str:
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE IF NOT EXISTS "{schema}".src (id int PRIMARY KEY, pad text)')
        conn.execute(f'TRUNCATE "{schema}".src')
        conn.execute(f"""INSERT INTO "{schema}".src SELECT g, repeat('x', 1000) FROM generate_series(1, {rows}) g""")
    link = f"pg_{uuid.uuid4().hex[:8]}"
    response = api.post(f"{server.cdm}/link", json={"links": [{
        "name": link, "connector-name": "generic-jdbc-connector",
        "link-config-values": config_values("linkConfig", {
            "linkConfig.databaseType": "POSTGRESQL", "linkConfig.host": PG_HOST,
            "linkConfig.port": str(PG_PORT), "linkConfig.database": PG_DATABASE,
            "linkConfig.username": PG_USER, "linkConfig.password": "unused"})}]})
    assert response.status_code == 200, response.text
    job = f"slow_{uuid.uuid4().hex[:8]}"
    response = api.post(f"{server.cdm}/job", json={"jobs": [{
        "name": job, "job_type": "NORMAL_JOB",
        "from-connector-name": "generic-jdbc-connector", "from-link-name": link,
        "to-connector-name": "generic-jdbc-connector", "to-link-name": link,
        "from-config-values": config_values("fromJobConfig", {
            "fromJobConfig.schemaName": schema, "fromJobConfig.tableName": "src",
            "fromJobConfig.whereClause": SLOW_WHERE}),
        "to-config-values": config_values("toJobConfig", {
            "toJobConfig.schemaName": schema, "toJobConfig.tableName": "dst",
            "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}),
        "driver-config-values": {"configs": []}}]})
    assert response.status_code == 200, response.text
    return job


def status_of(api: httpx.Client, server: RunningServer, job: str) -> dict[str, Any]:
    response = api.get(f"{server.cdm}/job/{job}/status")
    assert response.status_code == 200, response.text
    submission: dict[str, Any] = response.json()["submissions"][0]
    return submission


def wait_for(api: httpx.Client, server: RunningServer, job: str, statuses: tuple[str, ...],
             timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        submission = status_of(api, server, job)
        if submission["status"] in statuses:
            return submission
        time.sleep(0.2)
    raise AssertionError(f"{job} never reached {statuses}: {submission}")


def wait_for_rows(api: httpx.Client, server: RunningServer, job: str) -> dict[str, Any]:
    """Wait until the job is RUNNING and has written something (so it is really mid-way)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        submission = status_of(api, server, job)
        assert submission["status"] in ("BOOTING", "RUNNING"), submission
        if submission["status"] == "RUNNING" and submission.get("write_rows", 0) > 0:
            return submission
        time.sleep(0.2)
    raise AssertionError("the job never got going")


def destination_rows(schema: str) -> int:
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".dst',)).fetchone()
        if exists is None or exists[0] is None:
            return 0
        row = conn.execute(f'SELECT count(*) FROM "{schema}".dst').fetchone()
        return int(row[0]) if row else 0


def worker_pid(server: RunningServer, submission_id: int) -> int | None:
    """The pid of the live worker that runs this server's submission, as the store records it."""
    with sqlite3.connect(server.home / "opencdm.db") as conn:
        row = conn.execute("SELECT worker_pid FROM submissions WHERE id = ?", (submission_id,)).fetchone()
    pid = row[0] if row else None
    if pid is None:
        return None
    try:
        alive = b"opencdm.engine.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return int(pid) if alive else None


@pytest.fixture
def private_server(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """A server of the test's own, to be stopped, killed or restarted; its partitions run on the
    executor the test names (ON_EACH_EXECUTOR), or locally."""
    running = start_server(tmp_path / "home", env=FAST_PROGRESS)
    yield use_executor(running, executor_address(getattr(request, "param", "local"), request))
    if running.process.poll() is None:
        running.stop()


@ON_EACH_EXECUTOR
def test_progress_moves_and_stop_ends_the_job_within_seconds(
    private_server: RunningServer, pg_schema: str
) -> None:
    with private_server.client() as api:
        job = make_slow_job(api, private_server, pg_schema)
        assert status_of(api, private_server, job)["status"] == "NEVER_EXECUTED"
        api.put(f"{private_server.cdm}/job/{job}/start").raise_for_status()
        again = api.put(f"{private_server.cdm}/job/{job}/start")
        assert again.status_code == 400 and again.json()["errCode"] == "Cdm.0052"
        first = wait_for_rows(api, private_server, job)
        time.sleep(1.0)
        later = status_of(api, private_server, job)
        assert later["write_rows"] > first["write_rows"]
        assert 0 < later["progress"] < 100 and later["progress"] >= first["progress"]

        stopped_at = time.monotonic()
        assert api.put(f"{private_server.cdm}/job/{job}/stop").status_code == 200
        final = wait_for(api, private_server, job, ("FAILED", "SUCCEEDED"), timeout=20)
        assert time.monotonic() - stopped_at < 15
        assert final["status"] == "FAILED"
        assert final["progress"] == -1
        assert "stopped by user" in final["error-summary"].lower()
        not_running = api.put(f"{private_server.cdm}/job/{job}/stop")
        assert not_running.status_code == 400 and not_running.json()["errCode"] == "Cdm.0053"
    # The run was rolled back: nothing half-written.
    assert destination_rows(pg_schema) == 0
    started, ended = run_log_lines(private_server, job)
    assert started["submission"] == final["submission-id"]
    assert ended["status"] == "FAILED" and "stopped by user" in ended["error"].lower()
    assert ended["rows_written"] == final["write_rows"] and ended["duration_s"] > 1


def run_log_lines(server: RunningServer, job: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The server log's one-line records of the job's run: (started, ended)."""
    records: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 10
    while len(records) < 2 and time.monotonic() < deadline:  # the end is logged once the worker is reaped
        for line in server.log().splitlines():
            record = json.loads(line) if line.startswith('{"time"') else {}
            if record.get("logger") == "opencdm.runs" and record["job"] == job:
                records[record["message"].split()[-1]] = record
        time.sleep(0.2)
    return records["started"], records["ended"]


@ON_EACH_EXECUTOR
def test_a_run_that_succeeds_is_logged_with_its_counters(private_server: RunningServer, pg_schema: str) -> None:
    with private_server.client() as api:
        job = make_slow_job(api, private_server, pg_schema, rows=50)
        api.put(f"{private_server.cdm}/job/{job}/start").raise_for_status()
        final = wait_for(api, private_server, job, ("SUCCEEDED", "FAILED"))
    assert final["status"] == "SUCCEEDED", final
    _, ended = run_log_lines(private_server, job)
    assert ended["status"] == "SUCCEEDED" and ended["rows_written"] == 50 and ended["error"] is None


@ON_EACH_EXECUTOR
def test_a_crashed_worker_fails_the_run_not_the_server(private_server: RunningServer, pg_schema: str) -> None:
    with private_server.client() as api:
        job = make_slow_job(api, private_server, pg_schema)
        api.put(f"{private_server.cdm}/job/{job}/start").raise_for_status()
        submission = wait_for_rows(api, private_server, job)
        worker = worker_pid(private_server, submission["submission-id"])
        assert worker is not None
        os.kill(worker, signal.SIGKILL)
        final = wait_for(api, private_server, job, ("FAILED",), timeout=20)
        assert "ended unexpectedly" in final["error-summary"]
        _, ended = run_log_lines(private_server, job)
        assert ended["status"] == "FAILED" and ended["worker_exit"] == -signal.SIGKILL
        assert "ended unexpectedly" in ended["error"]
        # The server is still there and serves the next run.
        assert api.get(f"/v1.1/{private_server.project_id}/clusters").status_code == 200
    assert destination_rows(pg_schema) == 0


def server_running_a_slow_job(home: Path, schema: str) -> tuple[RunningServer, str, int]:
    """A new server in ``home`` whose worker is mid-way through a slow job."""
    server = start_server(home, env=FAST_PROGRESS)
    with server.client() as api:
        job = make_slow_job(api, server, schema)
        api.put(f"{server.cdm}/job/{job}/start").raise_for_status()
        submission_id = int(wait_for_rows(api, server, job)["submission-id"])
    assert worker_pid(server, submission_id) is not None
    return server, job, submission_id


def test_restart_after_a_server_crash_leaves_nothing_running(tmp_path: Path, pg_schema: str) -> None:
    home = tmp_path / "home"
    first, job, submission_id = server_running_a_slow_job(home, pg_schema)
    first.stop(signal.SIGKILL)

    second = start_server(home, env=FAST_PROGRESS)
    try:
        with second.client() as api:
            final = status_of(api, second, job)
            assert final["status"] == "FAILED"
            assert "server" in final["error-summary"].lower()
        deadline = time.monotonic() + 15
        while worker_pid(first, submission_id) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert worker_pid(first, submission_id) is None
    finally:
        second.stop()


def test_sigterm_stops_running_jobs_and_exits_cleanly(tmp_path: Path, pg_schema: str) -> None:
    home = tmp_path / "home"
    first, job, submission_id = server_running_a_slow_job(home, pg_schema)
    started = time.monotonic()
    # uvicorn re-raises the signal after its graceful shutdown, as a well-behaved process does.
    assert first.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in first.log()
    assert time.monotonic() - started < 20
    assert worker_pid(first, submission_id) is None
    assert destination_rows(pg_schema) == 0

    second = start_server(home, env=FAST_PROGRESS)
    try:
        with second.client() as api:
            final = status_of(api, second, job)
        assert final["status"] == "FAILED"
        assert "shut down" in final["error-summary"]
    finally:
        second.stop()


def parent_of(pid: int) -> int:
    # Field 4 of /proc/PID/stat, counted after the command's closing parenthesis.
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def test_runs_are_forked_from_one_server_that_imported_the_engine_once(
    private_server: RunningServer, pg_schema: str
) -> None:
    """A StartJob does not pay for a Python start and the engine's imports (~0.7 s of CPU each,
    more than the machine's two cores under StartJob churn): every worker is forked from one fork
    server that imported the worker module before the first job."""
    parents = set()
    with private_server.client() as api:
        job = make_slow_job(api, private_server, pg_schema)
        for _ in range(2):
            api.put(f"{private_server.cdm}/job/{job}/start").raise_for_status()
            pid = worker_pid(private_server, int(wait_for_rows(api, private_server, job)["submission-id"]))
            assert pid is not None
            parents.add(parent_of(pid))
            api.put(f"{private_server.cdm}/job/{job}/stop").raise_for_status()
            wait_for(api, private_server, job, ("FAILED",))
    (fork_server,) = parents
    assert parent_of(fork_server) == private_server.process.pid
    assert b"opencdm.engine.worker" in Path(f"/proc/{fork_server}/cmdline").read_bytes()


def test_workers_run_at_the_configured_niceness(tmp_path: Path, pg_schema: str) -> None:
    """OPENCDM_WORKER_NICE puts copies behind API requests when both want the CPU."""
    server = start_server(tmp_path / "home", env={**FAST_PROGRESS, "OPENCDM_WORKER_NICE": "7"})
    try:
        with server.client() as api:
            job = make_slow_job(api, server, pg_schema)
            api.put(f"{server.cdm}/job/{job}/start").raise_for_status()
            pid = worker_pid(server, int(wait_for_rows(api, server, job)["submission-id"]))
            assert pid is not None
            # Field 19 of /proc/PID/stat, counted after the command's closing parenthesis.
            niceness = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[16])
            assert niceness == os.getpriority(os.PRIO_PROCESS, 0) + 7
            api.put(f"{server.cdm}/job/{job}/stop").raise_for_status()
    finally:
        server.stop()
