"""Counters that tell what landed: written means committed. A run rolled back reports 0 written
(its log says what it had written), a resumable run that failed reports the partitions it
committed, /metrics counts committed rows only; and the stage table of a run killed outright is
dropped by the job's next run."""

from __future__ import annotations

import os
import signal
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_run_control import SLOW_WHERE, private_server, status_of, wait_for, wait_for_rows, worker_pid

from conftest import ON_EACH_EXECUTOR, RunningServer, create_link, on_each_executor, pg_connect, pg_link
from job_support import finished_run, start_copy_job, wait_until

__all__ = ["private_server"]  # the fixture ON_EACH_EXECUTOR parametrises

ROWS = 4000
COUNTERS = "org.apache.sqoop.submission.counter.SqoopCounters"

server = on_each_executor()


def _source(schema: str, rows: int = ROWS) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}".src (id bigint PRIMARY KEY, note text)')
        conn.execute(f"""INSERT INTO "{schema}".src SELECT g, 'n' || g FROM generate_series(1, {rows}) g""")


def _destination_refusing_at_commit(schema: str) -> None:
    """A destination that takes every row and refuses the commit: its key is checked at commit time,
    and the last source row's key is there already."""
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}".dst (id bigint, note text, '
                     "CONSTRAINT dst_key UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)")
        conn.execute(f"""INSERT INTO "{schema}".dst VALUES ({ROWS}, 'there already')""")


def _destination_rows(schema: str) -> int:
    with pg_connect() as conn:
        row = conn.execute(f'SELECT count(*) FROM "{schema}".dst').fetchone()
    return int(row[0]) if row else 0


def _written(submission: dict[str, Any]) -> int:
    return int(submission["counters"][COUNTERS]["ROWS_WRITTEN"])


def _history(api: httpx.Client, server: RunningServer, job: str) -> list[dict[str, Any]]:
    response = api.get(f"{server.cdm}/submissions", params={"jname": job})
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()["submissions"]
    return runs


def _log(api: httpx.Client, server: RunningServer, submission_id: int) -> list[str]:
    """The run's log, once it holds the line its server writes after reaping the worker."""

    def ended() -> list[str] | None:
        response = api.get(f"{server.cdm}/submissions/{submission_id}/log")
        assert response.status_code == 200, response.text
        messages = [line["message"] for line in response.json()["lines"]]
        return messages if any(message.startswith("run ended ") for message in messages) else None

    return wait_until(f"the end of run {submission_id} in its log", ended, timeout=30)


def _end(log: list[str]) -> str:
    return next(message for message in log if message.startswith("run ended "))


def _rows_written_total(api: httpx.Client) -> float:
    """The project's opencdm_rows_written_total (no series before its first run)."""
    answer = api.get("/metrics")
    assert answer.status_code == 200, answer.text
    return next((sample.value for family in text_string_to_metric_families(answer.text)
                 for sample in family.samples if sample.name == "opencdm_rows_written_total"), 0.0)


def _stage_tables(schema: str) -> list[str]:
    with pg_connect() as conn:
        return [row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE %s",
            (schema, "%opencdm_stage%"),
        )]


def test_a_run_rolled_back_reports_nothing_written(api: httpx.Client, server: RunningServer, pg_schema: str) -> None:
    """Every row was written, then the commit was refused: nothing landed, and nothing is counted."""
    _source(pg_schema)
    _destination_refusing_at_commit(pg_schema)
    link = create_link(api, server, "generic-jdbc-connector", pg_link())
    total_before = _rows_written_total(api)
    job = start_copy_job(api, server, link, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"},
                         link, {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst",
                                "toJobConfig.tablePreparation": "DO_NOTHING"})
    failed = finished_run(api, server, job)
    assert failed["status"] == "FAILED", failed
    assert _destination_rows(pg_schema) == 1  # rolled back: only the row that was there
    assert _written(failed) == 0 and failed["write_rows"] == 0
    assert failed["counters"][COUNTERS]["ROWS_READ"] == ROWS  # read, it was
    [in_history] = _history(api, server, job)
    assert _written(in_history) == 0
    log = _log(api, server, failed["submission-id"])
    assert f"submission {failed['submission-id']}: {ROWS} rows written, then rolled back" in log, log
    assert f"run ended FAILED: {ROWS} rows read, 0 written, 0 skipped" in _end(log), log
    assert _rows_written_total(api) == total_before


def test_a_failing_partition_among_two_reports_nothing_written(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    _source(pg_schema)
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".dst (LIKE "{pg_schema}".src, CHECK (id <> {ROWS}))')
    link = create_link(api, server, "generic-jdbc-connector", pg_link())
    job = start_copy_job(api, server, link, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"},
                         link, {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst",
                                "toJobConfig.tablePreparation": "DO_NOTHING"}, extractors=2)
    failed = finished_run(api, server, job)
    assert failed["status"] == "FAILED" and "check constraint" in failed["error-summary"], failed
    assert _destination_rows(pg_schema) == 0
    assert _written(failed) == 0 and _written(_history(api, server, job)[0]) == 0


@pytest.mark.parametrize("extractors", [1, 2])
def test_a_resumable_run_that_failed_reports_the_partitions_it_committed(
    api: httpx.Client, server: RunningServer, pg_schema: str, extractors: int
) -> None:
    """Partitions commit one by one; the one holding the last row is refused at its commit."""
    _source(pg_schema)
    _destination_refusing_at_commit(pg_schema)
    link = create_link(api, server, "generic-jdbc-connector", pg_link())
    total_before = _rows_written_total(api)
    job = start_copy_job(api, server, link, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"},
                         link, {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst",
                                "toJobConfig.tablePreparation": "DO_NOTHING"},
                         extractors=extractors, driver={"throttlingConfig.resumable": "true"})
    failed = finished_run(api, server, job)
    assert failed["status"] == "FAILED", failed
    committed = _destination_rows(pg_schema) - 1  # but the row that was there
    assert 0 < committed < ROWS
    assert _written(failed) == committed and _written(_history(api, server, job)[0]) == committed
    assert failed["counters"][COUNTERS]["ROWS_READ"] == ROWS  # the refused partition's rows too
    assert _rows_written_total(api) == total_before + committed
    log = _log(api, server, failed["submission-id"])
    assert f"run ended FAILED: {ROWS} rows read, {committed} written" in _end(log), log


@ON_EACH_EXECUTOR
def test_the_stage_table_of_a_killed_run_is_dropped_by_the_next_run(
    private_server: RunningServer, pg_schema: str
) -> None:
    """A parallel run that clears its destination writes into a stage table its copiers see: a
    worker killed outright leaves it, and the job's next run drops it and says so."""
    server = private_server
    _source(pg_schema, rows=3000)
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".dst (LIKE "{pg_schema}".src INCLUDING ALL)')
        conn.execute(f"""INSERT INTO "{pg_schema}".dst VALUES (-1, 'old')""")
    with server.client() as api:
        link = create_link(api, server, "generic-jdbc-connector", pg_link())
        job = start_copy_job(
            api, server, link, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src",
                                "fromJobConfig.whereClause": SLOW_WHERE},
            link, {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst",
                   "toJobConfig.tablePreparation": "DO_NOTHING", "toJobConfig.beforeImportType": "shouldClearTable"},
            extractors=2,
        )
        killed = wait_for_rows(api, server, job)
        [stage] = _stage_tables(pg_schema)
        worker = worker_pid(server, killed["submission-id"])
        assert worker is not None
        os.kill(worker, signal.SIGKILL)
        failed = wait_for(api, server, job, ("FAILED",), timeout=30)
        assert _written(failed) == 0  # what the dead worker wrote was rolled back
        killed_log = _log(api, server, killed["submission-id"])
        assert any(line.endswith("rows written, then rolled back") for line in killed_log), killed_log
        assert _stage_tables(pg_schema) == [stage]  # left behind until the job runs again

        assert api.put(f"{server.cdm}/job/{job}/start").status_code == 200
        done = wait_for(api, server, job, ("SUCCEEDED", "FAILED"), timeout=60)
        assert done["status"] == "SUCCEEDED", done
        assert _stage_tables(pg_schema) == []
        assert _destination_rows(pg_schema) == 3000
        dropped = f"stage table {pg_schema}.{stage}"
        assert (f"submission {done['submission-id']}: dropped {dropped}, left by run {killed['submission-id']} "
                "of the job (its worker was killed)") in _log(api, server, done["submission-id"])
        assert f"{dropped} dropped by run {done['submission-id']} of the job" in _log(
            api, server, killed["submission-id"])
        assert status_of(api, server, job)["submission-id"] == done["submission-id"]
