"""Several `opencdm serve` on one PostgreSQL store (OPENCDM_DATABASE_URL): any server answers, a
user's stop reaches the run through any of them, a dead or paused owner's run is taken over within
two lease periods and the paused owner writes nothing after, and a schedule fires once per due time.
Each test has its own store database, and its own servers when it kills or pauses one."""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import PG_DATABASE, PG_HOST, PG_PORT, PG_USER, RunningServer, start_server
from job_support import SLOW_WHERE, Jobs, date_in, ended_runs, wait_until

LEASE_SECONDS = 2.0
MINUTE_SECONDS = 2
SERVER_ENV = {
    "OPENCDM_SECRET_KEY": "one key for every server of the store",
    "OPENCDM_LEASE_SECONDS": str(LEASE_SECONDS),
    "OPENCDM_BATCH_ROWS": "100",
    "OPENCDM_PROGRESS_INTERVAL": "0.2",
    "OPENCDM_SCHEDULER_TICK": "0.05",
    "OPENCDM_SCHEDULER_MINUTE": str(MINUTE_SECONDS),
    "OPENCDM_RETRY_BACKOFF": "0.5",
}
TAKEN_OVER = "The run was taken over: the OpenCDM server that ran it stopped renewing its lease."


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, autocommit=True)


@pytest.fixture
def store_database(pg_available: None) -> Iterator[str]:
    name = f"opencdm_store_{uuid.uuid4().hex[:8]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with _admin() as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _store(database: str) -> psycopg.Connection[Any]:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=database, autocommit=True)


class Servers:
    """Two servers on one store, each with a home of its own, as on two machines: they share only
    the store and OPENCDM_SECRET_KEY (the second one is handed the first one's credentials)."""

    def __init__(self, root: Path, database: str) -> None:
        self.database = database
        env = {**SERVER_ENV, "OPENCDM_DATABASE_URL": f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"}
        self.first = start_server(root / "first", env=env)
        (root / "second").mkdir()
        shutil.copy(root / "first" / "credentials.json", root / "second" / "credentials.json")
        self.second = start_server(root / "second", env=env)

    def stop(self) -> None:
        for server in (self.first, self.second):
            if server.process.poll() is None:
                server.stop(signal.SIGKILL)

    def run_row(self, submission_id: int) -> dict[str, Any]:
        with _store(self.database) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
            row = cursor.execute("SELECT * FROM submissions WHERE id = %s", (submission_id,)).fetchone()
        assert row is not None
        return row


@pytest.fixture
def servers(tmp_path: Path, store_database: str) -> Iterator[Servers]:
    pair = Servers(tmp_path, store_database)
    yield pair
    pair.stop()


def _running_with_rows(jobs: Jobs, name: str) -> dict[str, Any] | None:
    run = jobs.history(name)[0]
    counters = run.get("counters", {}).get("org.apache.sqoop.submission.counter.SqoopCounters", {})
    written = counters.get("ROWS_WRITTEN", 0)
    return run if run["status"] == "RUNNING" and written > 0 else None


def _rows_kept(jobs: Jobs, name: str) -> int:
    """The rows in the job's destination; none when the table was never committed either."""
    try:
        return jobs.destination_rows(name)
    except psycopg.errors.UndefinedTable:
        return 0


def _signal_owner(server: RunningServer, worker_pid: int, sig: signal.Signals) -> None:
    """``sig`` to a server and to its worker's process group (which has a session of its own): all
    a machine runs for that server."""
    os.kill(server.process.pid, sig)
    os.killpg(worker_pid, sig)


def test_any_server_answers_and_a_stop_sent_to_the_other_one_stops_the_run(
    servers: Servers, pg_schema: str
) -> None:
    with servers.first.client() as first_api, servers.second.client() as second_api:
        on_first, on_second = Jobs(first_api, servers.first, pg_schema), Jobs(second_api, servers.second, pg_schema)
        quick = on_first.create(rows=50)
        assert on_second.start(quick)["status"] == "BOOTING"  # a job made through the first, run through the second
        runs = wait_until("the quick run", lambda: ended_runs(on_first, quick, 1))
        assert runs[0]["status"] == "SUCCEEDED" and on_first.destination_rows(quick) == 50

        slow = on_first.create(rows=20000, where=SLOW_WHERE)
        submission_id = on_first.start(slow)["submission-id"]
        wait_until("rows written", lambda: _running_with_rows(on_first, slow))
        # The first server started it: the second cannot signal its worker, only record the request.
        owner_pid = servers.run_row(submission_id)["worker_pid"]
        asked = time.monotonic()
        response = second_api.put(f"{servers.second.cdm}/job/{slow}/stop")
        assert response.status_code == 200, response.text
        stopped = wait_until("the stop", lambda: ended_runs(on_second, slow, 1), timeout=20)[0]
        took = time.monotonic() - asked
    assert stopped["status"] == "FAILED" and stopped["error-summary"] == "Job stopped by user.", stopped
    assert took < 5, took  # a second at most to reach the owner, then its worker's rollback
    assert _rows_kept(on_first, slow) == 0
    wait_until("the worker's end", lambda: not Path(f"/proc/{owner_pid}").exists(), timeout=15)


def test_a_killed_owners_run_is_taken_over_within_two_lease_periods_and_retried_by_the_other(
    servers: Servers, pg_schema: str
) -> None:
    with servers.second.client() as api:
        jobs = Jobs(api, servers.second, pg_schema)
        name = jobs.create(rows=4000, where=SLOW_WHERE, driver={"retryJobConfig.retryJobType": "RETRY_TRIPLE"})
        with servers.first.client() as first_api:
            submission_id = Jobs(first_api, servers.first, pg_schema).start(name)["submission-id"]
        wait_until("rows written", lambda: _running_with_rows(jobs, name))
        _signal_owner(servers.first, servers.run_row(submission_id)["worker_pid"], signal.SIGKILL)
        killed = time.monotonic()
        taken = wait_until("the takeover", lambda: (run := jobs.history(name)[-1])["status"] == "FAILED" and run,
                           timeout=4 * LEASE_SECONDS)
        took = time.monotonic() - killed
        runs = wait_until("the retry", lambda: ended_runs(jobs, name, 2), timeout=60)
    assert taken["error-summary"] == TAKEN_OVER, taken
    # It showed rows written while it ran; none was committed, so none counts as written.
    assert taken["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]["ROWS_WRITTEN"] == 0, taken
    assert took <= 2 * LEASE_SECONDS, took
    assert [(run["status"], run["attempt"]) for run in runs] == [("SUCCEEDED", 2), ("FAILED", 1)], runs
    assert jobs.destination_rows(name) == 4000  # the retry replaced what the dead run left uncommitted
    assert servers.first.process.wait(timeout=5) == -signal.SIGKILL


def test_a_paused_owner_writes_nothing_after_its_run_was_taken_over(servers: Servers, pg_schema: str) -> None:
    with servers.second.client() as api:
        jobs = Jobs(api, servers.second, pg_schema)
        name = jobs.create(rows=20000, where=SLOW_WHERE)
        with servers.first.client() as first_api:
            submission_id = Jobs(first_api, servers.first, pg_schema).start(name)["submission-id"]
        wait_until("rows written", lambda: _running_with_rows(jobs, name))
        worker_pid = servers.run_row(submission_id)["worker_pid"]
        _signal_owner(servers.first, worker_pid, signal.SIGSTOP)
        paused = time.monotonic()
        wait_until("the takeover", lambda: jobs.history(name)[0]["status"] == "FAILED", timeout=4 * LEASE_SECONDS)
        took = time.monotonic() - paused
        # The live server's scheduler settles the failed run (settled_ms) moments later: snapshot after that.
        def settled() -> dict[str, Any] | None:
            row = servers.run_row(submission_id)
            return row if row["settled_ms"] is not None else None

        taken_over = wait_until("the failed run to be settled", settled)
        _signal_owner(servers.first, worker_pid, signal.SIGCONT)
        # The worker wakes up mid-copy: its next write finds the run fenced off, and it rolls back.
        wait_until("the former owner's worker to end", lambda: not Path(f"/proc/{worker_pid}").exists(), timeout=30)
        time.sleep(2 * LEASE_SECONDS)  # time for any late write of the former owner to land
        after = servers.run_row(submission_id)
    assert took <= 2 * LEASE_SECONDS, took
    assert taken_over["status"] == "FAILED" and taken_over["error_summary"] == TAKEN_OVER, taken_over
    assert after == taken_over  # not one column changed: counters, status, owner, times
    assert _rows_kept(jobs, name) == 0
    assert "was taken over by another server" in servers.first.log()
    with servers.first.client() as first_api:  # the former owner serves on
        assert first_api.get(f"{servers.first.cdm}/job/{name}/status").status_code == 200


def test_a_minute_schedule_over_five_minutes_runs_exactly_five_times_across_servers(
    servers: Servers, pg_schema: str
) -> None:
    start, start_ms = date_in("UTC", 2)
    stop, _ = date_in("UTC", 2 + 4 * MINUTE_SECONDS + 1)
    with servers.first.client() as api:
        jobs = Jobs(api, servers.first, pg_schema)
        name = jobs.create({"schedulerConfig.isSchedulerJob": "true", "schedulerConfig.cycleType": "minute",
                            "schedulerConfig.startDate": start, "schedulerConfig.stopDate": stop,
                            "schedulerConfig.timeZone": "UTC"})
        wait_until("the schedule's end", lambda: "next_run_date" not in jobs.show(name), timeout=30)
        runs = wait_until("five runs", lambda: ended_runs(jobs, name, 5))
        time.sleep(MINUTE_SECONDS)
        assert len(jobs.history(name)) == 5
    assert [run["status"] for run in runs] == ["SUCCEEDED"] * 5, runs
    with _store(servers.database) as conn:
        due = [row[0] for row in conn.execute("SELECT scheduled_ms FROM submissions ORDER BY id")]
    assert due == [start_ms + minute * MINUTE_SECONDS * 1000 for minute in range(5)]


def test_a_run_admitted_by_a_server_that_died_before_starting_it_is_started_by_another(
    servers: Servers, pg_schema: str
) -> None:
    with servers.first.client() as api:
        jobs = Jobs(api, servers.first, pg_schema)
        name = jobs.create(rows=30)
        # What StartJob leaves when its server dies between admitting the run and claiming it.
        admitted_ms = int(time.time() * 1000) - 3 * round(LEASE_SECONDS * 1000)
        with _store(servers.database) as conn:
            conn.execute(
                "INSERT INTO submissions (job_id, cluster_id, job_name, status, progress, creation_user, creation_ms, "
                "last_update_user, last_update_ms, rows_read, rows_written, rows_skipped, bytes_read, bytes_written, "
                "update_rows, delete_rows, stop_requested, is_execute_auto, is_incrementing, is_delete_job, "
                "variables, attempt, partitions_skipped, fence) "
                "SELECT id, cluster_id, name, 'BOOTING', 0, 'admin', %s, 'admin', %s, 0, 0, 0, 0, 0, 0, 0, "
                "false, false, false, false, '{}', 1, 0, 0 FROM jobs WHERE name = %s",
                (admitted_ms, admitted_ms, name),
            )
        runs = wait_until("the run", lambda: ended_runs(jobs, name, 1), timeout=30)
    assert runs[0]["status"] == "SUCCEEDED" and jobs.destination_rows(name) == 30
