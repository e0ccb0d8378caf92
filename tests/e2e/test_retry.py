"""retryJobConfig.retryJobType=RETRY_TRIPLE: a failed run is retried up to three times, each attempt
a run of its own in the job's history; a run the user stopped is not retried."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from conftest import RunningServer, pg_connect, start_server
from job_support import FAILING_WHERE, SLOW_WHERE, Jobs, ended_runs, wait_until

BACKOFF_SECONDS = 0.1
RETRIED = {"retryJobConfig.retryJobType": "RETRY_TRIPLE"}


@pytest.fixture(scope="module")
def retrying_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("retrying-home"),
                           env={"OPENCDM_SCHEDULER_TICK": "0.1", "OPENCDM_RETRY_BACKOFF": str(BACKOFF_SECONDS)})
    yield running
    running.stop()


@pytest.fixture
def jobs(retrying_server: RunningServer, pg_schema: str) -> Iterator[Jobs]:
    with retrying_server.client() as api:
        yield Jobs(api, retrying_server, pg_schema)


def no_further_attempt_after(attempt: int) -> None:
    """Wait past the moment a further attempt would start (the backoff doubles at each attempt).
    Nothing is announced when no retry follows a run, so only waiting can show that none does."""
    time.sleep(2 * BACKOFF_SECONDS * 2 ** (attempt - 1) + 0.5)


def test_a_run_that_keeps_failing_is_attempted_four_times(jobs: Jobs) -> None:
    job = jobs.create(RETRIED, where=FAILING_WHERE)
    assert jobs.start(job)["attempt"] == 1
    wait_until("four attempts", lambda: ended_runs(jobs, job, 4))
    no_further_attempt_after(4)
    runs = jobs.history(job)
    assert [run["attempt"] for run in runs] == [4, 3, 2, 1]
    assert all(run["status"] == "FAILED" and "division by zero" in run["error-summary"] for run in runs), runs
    assert not any(run["is-execute-auto"] for run in runs)  # retries of a run started by hand
    # Each attempt waited for the one before, and a growing backoff.
    created = [run["creation-date"] for run in reversed(runs)]
    updated = [run["last-update-date"] for run in reversed(runs)]
    assert all(created[i + 1] >= updated[i] + BACKOFF_SECONDS * 1000 * 2**i for i in range(3))


def test_retries_end_with_the_first_attempt_that_succeeds(jobs: Jobs) -> None:
    # The source query divides by the number of rows in a gate table: it fails until the gate is opened.
    job = jobs.create(RETRIED, where=f'1 / (SELECT count(*) FROM "{jobs.schema}".gate)::int = 1')
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{jobs.schema}".gate (opened int)')
    jobs.start(job)
    wait_until("the first attempt's failure", lambda: ended_runs(jobs, job, 1))
    with pg_connect() as conn:
        conn.execute(f'INSERT INTO "{jobs.schema}".gate VALUES (1)')
    wait_until("a successful attempt", lambda: jobs.history(job)[0]["status"] == "SUCCEEDED")
    no_further_attempt_after(len(jobs.history(job)))
    runs = jobs.history(job)
    assert runs[0]["status"] == "SUCCEEDED" and jobs.destination_rows(job) == 10
    assert [run["status"] for run in runs[1:]] == ["FAILED"] * (len(runs) - 1)
    assert [run["attempt"] for run in runs] == list(range(len(runs), 0, -1))


def test_a_run_stopped_by_the_user_is_not_retried(jobs: Jobs) -> None:
    job = jobs.create(RETRIED, rows=20000, where=SLOW_WHERE)
    jobs.start(job)
    wait_until("the run", lambda: jobs.history(job)[0]["status"] == "RUNNING")
    assert jobs.api.put(f"{jobs.server.cdm}/job/{job}/stop").status_code == 200
    (stopped,) = wait_until("the stopped run", lambda: ended_runs(jobs, job, 1))
    assert stopped["status"] == "FAILED" and "stopped by user" in stopped["error-summary"].lower()
    no_further_attempt_after(1)
    assert len(jobs.history(job)) == 1
