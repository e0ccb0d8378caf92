"""throttlingConfig.resumable: partitions commit one by one, and a run after one whose worker or whole
server was killed copies only the partitions not yet committed: no duplicates, no gaps."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from test_run_control import FAST_PROGRESS, SLOW_WHERE, status_of, wait_for, worker_pid

from conftest import RunningServer, executor_address, pg_connect, pg_link, start_server, use_executor
from job_support import Copy

# The source's rows per copier. A run cuts it into eight partitions, read at about 2 ms a row
# (SLOW_WHERE), after reading it all once to plan them: killed after two partitions, a run still has
# some 3 s of copying left (as long as a server takes to start again), and each row more costs every run.
ROWS_PER_COPIER = 2000


def _source(schema: str, rows: int) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}".src (id int PRIMARY KEY, pad text)')
        conn.execute(f"""INSERT INTO "{schema}".src SELECT g, repeat('x', 100) FROM generate_series(1, {rows}) g""")


def _resumable_job(api: httpx.Client, server: RunningServer, schema: str, extractors: int) -> tuple[Copy, int]:
    """The job, and the rows of its source."""
    rows = ROWS_PER_COPIER * extractors
    _source(schema, rows)
    job = Copy(api, server, pg_link(), schema)
    # A partition copied twice would fail the run on the created table's key (the source's).
    job.create({"fromJobConfig.schemaName": schema, "fromJobConfig.whereClause": SLOW_WHERE},
               driver={"throttlingConfig.resumable": "true", "throttlingConfig.numExtractors": str(extractors)})
    return job, rows


def _committed_rows(schema: str) -> int:
    with pg_connect() as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".dst',)).fetchone()
        if found is None or found[0] is None:
            return 0
        row = conn.execute(f'SELECT count(*) FROM "{schema}".dst').fetchone()
        return int(row[0]) if row else 0


def _wait_for_committed_partitions(schema: str, rows: int) -> None:
    deadline = time.monotonic() + 60
    while _committed_rows(schema) < rows // 4:
        assert time.monotonic() < deadline, "no partition committed"
        time.sleep(0.2)


def _assert_exactly_the_source(schema: str, rows: int) -> None:
    with pg_connect() as conn:
        found = conn.execute(f'SELECT count(*), count(DISTINCT id), min(id), max(id) FROM "{schema}".dst').fetchone()
    assert found == (rows, rows, 1, rows)


def _resume(api: httpx.Client, server: RunningServer, job: Copy, schema: str, rows: int) -> None:
    committed = _committed_rows(schema)
    assert 0 < committed < rows
    done = job.run()
    assert done["status"] == "SUCCEEDED", (done.get("error-summary"), done.get("error-details"))
    assert done["partitions-skipped"] >= 2
    counters = done["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]
    assert counters["ROWS_WRITTEN"] == rows - committed
    _assert_exactly_the_source(schema, rows)
    again = job.run()  # a run after a success starts afresh
    assert again["partitions-skipped"] == 0


@pytest.fixture
def own_server(tmp_path: Path, request: pytest.FixtureRequest) -> RunningServer:
    """A server of the test's own; its partitions run on the executor the test names, or locally."""
    running = start_server(tmp_path / "home", env=FAST_PROGRESS)
    yield use_executor(running, executor_address(getattr(request, "param", "local"), request))  # type: ignore[misc]
    if running.process.poll() is None:
        running.stop()


# On Dask, the copiers of the killed worker's run are tasks of their own: they stop as soon as
# their run's client is gone, and do not go on committing partitions the resumed run copies.
@pytest.mark.parametrize("own_server", ["local", "dask"], indirect=True)
def test_a_run_after_a_killed_worker_copies_only_what_was_not_committed(
    own_server: RunningServer, pg_schema: str
) -> None:
    with own_server.client() as api:
        job, rows = _resumable_job(api, own_server, pg_schema, extractors=1)
        started = api.put(f"{own_server.cdm}/job/{job.name}/start")
        assert started.status_code == 200, started.text
        _wait_for_committed_partitions(pg_schema, rows)
        submission = status_of(api, own_server, job.name)
        worker = worker_pid(own_server, submission["submission-id"])
        assert worker is not None
        os.kill(worker, signal.SIGKILL)
        wait_for(api, own_server, job.name, ("FAILED",), timeout=30)
        _resume(api, own_server, job, pg_schema, rows)


def test_a_run_after_a_killed_server_resumes_its_parallel_partitions(tmp_path: Path, pg_schema: str) -> None:
    home = tmp_path / "home"
    first = start_server(home, env=FAST_PROGRESS)
    with first.client() as api:
        job, rows = _resumable_job(api, first, pg_schema, extractors=2)
        started = api.put(f"{first.cdm}/job/{job.name}/start")
        assert started.status_code == 200, started.text
        _wait_for_committed_partitions(pg_schema, rows)
    first.stop(signal.SIGKILL)

    second = start_server(home, env=FAST_PROGRESS)
    try:
        with second.client() as api:
            assert status_of(api, second, job.name)["status"] == "FAILED"
            job.api, job.server = api, second
            _resume(api, second, job, pg_schema, rows)
    finally:
        second.stop()


def test_a_partition_committed_but_not_recorded_in_the_store_is_not_copied_again(
    own_server: RunningServer, pg_schema: str
) -> None:
    """A worker killed between a partition's commit and the store's record of it: the destination
    kept its own record, in the partition's transaction, and the next run skips the partition."""
    with own_server.client() as api:
        job, rows = _resumable_job(api, own_server, pg_schema, extractors=1)
        assert api.put(f"{own_server.cdm}/job/{job.name}/start").status_code == 200
        _wait_for_committed_partitions(pg_schema, rows)
        worker = worker_pid(own_server, status_of(api, own_server, job.name)["submission-id"])
        assert worker is not None
        os.kill(worker, signal.SIGKILL)
        wait_for(api, own_server, job.name, ("FAILED",), timeout=30)
        # As if the worker had died just after the last commit, before the store recorded it.
        with sqlite3.connect(own_server.home / "opencdm.db") as store:
            forgotten = store.execute(
                "UPDATE resumable_partitions SET committed_rows = NULL WHERE position = "
                "(SELECT max(position) FROM resumable_partitions WHERE committed_rows IS NOT NULL)"
            ).rowcount
        assert forgotten == 1
        with pg_connect() as conn:
            recorded = conn.execute(f'SELECT count(*) FROM "{pg_schema}".opencdm_partition_commits').fetchone()
        assert recorded is not None and recorded[0] >= 1
        _resume(api, own_server, job, pg_schema, rows)  # the key of dst fails a partition copied twice
        with pg_connect() as conn:
            left = conn.execute(f'SELECT count(*) FROM "{pg_schema}".opencdm_partition_commits').fetchone()
        assert left == (0,)  # a run that succeeded forgets its records
