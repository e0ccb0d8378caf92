"""Scheduled jobs (schedulerConfig) and deleting a job after its run (disposableType), through the
HTTP API of a real server; schedules survive a restart of the server."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import RunningServer, pg_link, start_server
from job_support import (
    FAILING_WHERE,
    SLOW_WHERE,
    Jobs,
    config_values,
    date_in,
    ended_runs,
    set_next_run,
    wait_until,
)

# A scheduler that looks every 0.2 s, and a "minute" of 3 s so that minute cycles pass quickly.
MINUTE_SECONDS = 3
FAST_SCHEDULES = {"OPENCDM_SCHEDULER_TICK": "0.2", "OPENCDM_SCHEDULER_MINUTE": str(MINUTE_SECONDS)}


def schedule(**inputs: str) -> dict[str, str]:
    return {"schedulerConfig.isSchedulerJob": "true", **{f"schedulerConfig.{k}": v for k, v in inputs.items()}}


@pytest.fixture(scope="module")
def scheduling_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("scheduling-home"), env=FAST_SCHEDULES)
    yield running
    running.stop()


@pytest.fixture
def jobs(scheduling_server: RunningServer, pg_schema: str) -> Iterator[Jobs]:
    with scheduling_server.client() as api:
        yield Jobs(api, scheduling_server, pg_schema)


def test_a_scheduled_job_runs_at_its_start_date_then_every_cycle_until_its_stop_date(jobs: Jobs) -> None:
    # Written in Shanghai time, eight hours ahead of UTC: the job's time zone is the one that counts.
    start, start_ms = date_in("Asia/Shanghai", 3)
    stop, _ = date_in("Asia/Shanghai", 3 + MINUTE_SECONDS + 1)
    job = jobs.create(schedule(cycleType="minute", cycle="1", startDate=start, stopDate=stop,
                               timeZone="Asia/Shanghai"))
    shown = jobs.show(job)
    assert (shown["flag"], shown["next_run_date"]) == (1, start_ms)

    # Once the second run is due, the stop date leaves no further run.
    wait_until("the schedule's end", lambda: "next_run_date" not in jobs.show(job))
    runs = wait_until("two runs", lambda: ended_runs(jobs, job, 2))
    assert [run["status"] for run in runs] == ["SUCCEEDED", "SUCCEEDED"], runs
    assert all(run["is-execute-auto"] and run["attempt"] == 1 for run in runs), runs
    second, first = runs
    assert first["creation-date"] >= start_ms
    assert second["creation-date"] >= start_ms + MINUTE_SECONDS * 1000
    assert jobs.show(job)["flag"] == 0


def test_a_run_due_while_the_last_one_still_runs_is_skipped(jobs: Jobs) -> None:
    start, _ = date_in("UTC", 2)
    stop, _ = date_in("UTC", 2 + MINUTE_SECONDS + 1)
    job = jobs.create(schedule(cycleType="minute", startDate=start, stopDate=stop, timeZone="UTC"),
                      rows=20000, where=SLOW_WHERE)
    wait_until("a skipped run", lambda: jobs.show(job)["skipped_runs"] >= 1)
    (only,) = jobs.history(job)
    assert only["status"] in ("BOOTING", "RUNNING") and only["is-execute-auto"]
    assert jobs.api.put(f"{jobs.server.cdm}/job/{job}/stop").status_code == 200
    wait_until("the stopped run", lambda: ended_runs(jobs, job, 1))



def test_a_scheduled_run_that_cannot_start_is_recorded_as_failure_on_submit(jobs: Jobs) -> None:
    start, _ = date_in("UTC", 2)
    job = jobs.create(schedule(cycleType="day", startDate=start, timeZone="UTC"))
    disabled = jobs.api.put(f"{jobs.server.cdm}/link/{jobs.link}", json={"links": [{
        "name": jobs.link, "connector-name": "generic-jdbc-connector", "enabled": False,
        "link-config-values": config_values("linkConfig", pg_link())}]})
    assert disabled.status_code == 200, disabled.text
    (refused,) = wait_until("the scheduled run", lambda: ended_runs(jobs, job, 1))
    assert refused["status"] == "FAILURE_ON_SUBMIT" and refused["is-execute-auto"]
    assert jobs.link in refused["error-summary"] and "disabled" in refused["error-summary"]
    assert jobs.show(job)["next_run_date"] > refused["creation-date"]  # the schedule goes on

def test_schedule_inputs_are_checked_and_turning_the_schedule_off_ends_it(jobs: Jobs) -> None:
    job = jobs.create()

    def refused(driver: dict[str, str], code: str = "Cdm.0014") -> str:
        response = jobs.put(job, None, driver)
        assert response.status_code == 400, response.text
        assert response.json()["errCode"] == code, response.text
        message: str = response.json()["externalMessage"]
        return message

    assert "cycleType" in refused(schedule(cycleType="yearly"))
    assert "cycle" in refused(schedule(cycleType="hour", cycle="0"), "Cdm.0024")
    assert "startDate" in refused(schedule(cycleType="day", startDate="tomorrow"))
    assert "runAt" in refused(schedule(cycleType="week", runAt="mon,funday"))
    assert "stopDate" in refused(schedule(cycleType="day", startDate="2030-01-02 00:00:00",
                                          stopDate="2030-01-01 00:00:00"))
    assert "no run left" in refused(schedule(cycleType="day", startDate="2020-01-01 00:00:00",
                                             stopDate="2020-02-01 00:00:00"))
    assert "disposableType" in refused({"schedulerConfig.disposableType": "SOMETIMES"})
    assert "retryJobType" in refused({"retryJobConfig.retryJobType": "RETRY_FOREVER"})
    created = jobs.post(f"{job}_x", None, schedule(cycleType="minute", startDate="someday"))
    assert created.status_code == 400 and created.json()["errCode"] == "Cdm.0014"

    later, later_ms = date_in("UTC", 3600)
    assert jobs.put(job, None, schedule(cycleType="hour", startDate=later, timeZone="UTC")).status_code == 200
    assert jobs.show(job)["next_run_date"] == later_ms
    assert jobs.put(job, None, schedule(cycleType="hour", startDate=later, timeZone="UTC",
                                        disposableType="NONE")).status_code == 200
    assert jobs.show(job)["next_run_date"] == later_ms
    assert jobs.put(job, None, {"schedulerConfig.isSchedulerJob": "false"}).status_code == 200
    shown = jobs.show(job)
    assert shown["flag"] == 0 and "next_run_date" not in shown


def test_delete_after_succeed_deletes_the_job_after_a_successful_run_only(jobs: Jobs) -> None:
    keeps = jobs.create({"schedulerConfig.disposableType": "DELETE_AFTER_SUCCEED"}, where=FAILING_WHERE)
    goes = jobs.create({"schedulerConfig.disposableType": "DELETE_AFTER_SUCCEED"})
    assert jobs.start(keeps)["isDeleteJob"] is True
    (failed,) = wait_until("the failing run", lambda: ended_runs(jobs, keeps, 1))
    assert failed["status"] == "FAILED" and failed["isDeleteJob"] is True

    jobs.start(goes)
    wait_until("the job's deletion", lambda: not jobs.exists(goes))
    assert jobs.destination_rows(goes) == 10  # the run ended, and committed, before the job went
    # Finished runs are followed up oldest first, so the failed one was seen to before.
    assert jobs.exists(keeps)


def test_delete_deletes_the_job_after_a_failed_run_too_with_its_history(jobs: Jobs) -> None:
    job = jobs.create({"schedulerConfig.disposableType": "DELETE"}, where=FAILING_WHERE)
    jobs.start(job)
    wait_until("the job's deletion", lambda: not jobs.exists(job))
    history = jobs.api.get(f"{jobs.server.cdm}/submissions", params={"jname": job})
    assert history.status_code == 400 and history.json()["errCode"] == "Cdm.0100"


def test_a_restart_neither_repeats_a_run_nor_loses_one_due_meanwhile(tmp_path: Path, pg_schema: str) -> None:
    home = tmp_path / "home"
    first = start_server(home, env=FAST_SCHEDULES)
    try:
        with first.client() as api:
            jobs = Jobs(api, first, pg_schema)
            hourly_start, hourly_start_ms = date_in("UTC", 2)
            hourly = jobs.create(schedule(cycleType="hour", startDate=hourly_start, timeZone="UTC"), prefix="hourly")
            # A daily job whose runs are at this time of day minus an hour: the next one is ~23 h away.
            daily_start, _ = date_in("UTC", -10 * 86400 - 3600)
            daily = jobs.create(schedule(cycleType="day", startDate=daily_start, timeZone="UTC"), prefix="daily")
            upcoming = jobs.show(daily)["next_run_date"]
            wait_until("the hourly job's first run", lambda: ended_runs(jobs, hourly, 1))
    finally:
        assert first.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    # The server was down for three days: three daily runs fell due meanwhile.
    set_next_run(first, daily, upcoming - 3 * 86400_000)

    second = start_server(home, env=FAST_SCHEDULES)
    try:
        with second.client() as api:
            jobs = Jobs(api, second, pg_schema)
            (caught_up,) = wait_until("the missed run", lambda: ended_runs(jobs, daily, 1))
            assert caught_up["status"] == "SUCCEEDED" and caught_up["is-execute-auto"]
            assert jobs.show(daily)["next_run_date"] == upcoming  # once, then back on its times
            # The new server has been through its schedules: the hourly run it inherited stays done.
            (ran_once,) = jobs.history(hourly)
            assert ran_once["creation-date"] >= hourly_start_ms
            assert jobs.show(hourly)["next_run_date"] == hourly_start_ms + 3600_000
    finally:
        second.stop()



def test_stopping_a_job_whose_failed_run_waits_for_a_retry_cancels_the_retry(jobs: Jobs) -> None:
    # This server waits the default 10 s before a first retry: time enough to cancel it.
    job = jobs.create({"retryJobConfig.retryJobType": "RETRY_TRIPLE"}, where=FAILING_WHERE)
    jobs.start(job)

    def waiting_for_retry() -> dict[str, Any] | None:
        latest = jobs.history(job)[0]
        return latest if latest.get("retry-date") else None

    failed = wait_until("the pending retry", waiting_for_retry)
    assert failed["status"] == "FAILED" and failed["retry-date"] > failed["last-update-date"]
    assert jobs.api.put(f"{jobs.server.cdm}/job/{job}/stop").status_code == 200
    (cancelled,) = jobs.history(job)
    assert "retry-date" not in cancelled
    again = jobs.api.put(f"{jobs.server.cdm}/job/{job}/stop")
    assert again.status_code == 400 and again.json()["errCode"] == "Cdm.0053"
