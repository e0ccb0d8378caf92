"""What an operator watches: a run's own log over the API, the server's JSON log lines, and
/metrics in Prometheus's format, each scoped to the caller's project."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e.job_support import finished_run, wait_until
from prometheus_client.parser import text_string_to_metric_families

from conftest import RunningServer, start_server
from helpers import (
    Tenant,
    assert_cdm_error,
    assert_gateway_error,
    create_tenant,
    job_body,
    sqlite_link_body,
    sqlite_source,
    tenant_token,
)

METRICS_TOKEN = "scrape-me-0123456789"
ROWS = 1200


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of its own: its log holds this module's requests only, and it has a metrics token."""
    server = start_server(tmp_path_factory.mktemp("observed"), env={"OPENCDM_METRICS_TOKEN": METRICS_TOKEN})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def runs(observed: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run that copies ROWS rows, and one that fails (its source table does not exist)."""
    folder = tmp_path_factory.mktemp("observed-data")
    with observed.client() as api:
        for name, database in (("src", sqlite_source(folder / "src.db", rows=ROWS)), ("dst", folder / "dst.db")):
            api.post(f"{observed.cdm}/link", json=sqlite_link_body(name, database)).raise_for_status()
        api.post(f"{observed.cdm}/job", json=job_body("copies", "src", "dst")).raise_for_status()
        api.post(f"{observed.cdm}/job", json=job_body("fails", "src", "dst", table="missing")).raise_for_status()
        started = api.put(f"{observed.cdm}/job/copies/start")
        started.raise_for_status()
        api.put(f"{observed.cdm}/job/fails/start").raise_for_status()
        return {
            "copies": finished_run(api, observed, "copies"), "fails": finished_run(api, observed, "fails"),
            "start_request_id": started.headers["X-Request-Id"],
        }


@pytest.fixture(scope="module")
def other(observed: RunningServer) -> Tenant:
    return create_tenant(observed, "observer")


def run_log(api: httpx.Client, server: RunningServer, submission: dict[str, Any]) -> dict[str, Any]:
    """The run's log, once it holds the line its server writes after reaping the worker (the run's
    status is final a moment before)."""

    def ended() -> dict[str, Any] | None:
        response = api.get(f"{server.cdm}/submissions/{submission['submission-id']}/log")
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer if any(line["message"].startswith("run ended ") for line in answer["lines"]) else None

    return wait_until(f"the end of run {submission['submission-id']} in its log", ended, timeout=30)


def test_a_run_keeps_its_own_log_from_request_to_end(observed: RunningServer, runs: dict[str, Any]) -> None:
    copied = runs["copies"]
    assert copied["status"] == "SUCCEEDED", copied
    with observed.client() as api:
        log = run_log(api, observed, copied)
    assert log["submission-id"] == copied["submission-id"] and log["job-name"] == "copies"
    assert log["status"] == "SUCCEEDED"
    messages = [line["message"] for line in log["lines"]]
    assert messages[0] == f"run of job copies requested by {observed.credentials['user']}"
    assert messages[1].startswith("run claimed by server ") and messages[2].startswith("worker process ")
    assert any(f"{ROWS} rows in" in message for message in messages), messages  # the worker's own line
    assert messages[-1].startswith(f"run ended SUCCEEDED: {ROWS} rows read, {ROWS} written, 0 skipped, in ")
    times = [line["time"] for line in log["lines"]]
    assert times == sorted(times) and copied["creation-date"] <= times[0] <= times[-1]
    assert {line["level"] for line in log["lines"]} == {"INFO"}


def test_a_failed_run_logs_its_error(observed: RunningServer, runs: dict[str, Any]) -> None:
    failed = runs["fails"]
    assert failed["status"] == "FAILED", failed
    with observed.client() as api:
        lines = run_log(api, observed, failed)["lines"]
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert errors and "missing" in errors[0]["message"], lines
    assert lines[-1]["level"] == "WARNING" and lines[-1]["message"].startswith("run ended FAILED: ")
    assert failed["error-summary"] in lines[-1]["message"]


def test_a_run_log_is_only_its_projects(observed: RunningServer, runs: dict[str, Any], other: Tenant) -> None:
    submission_id = runs["copies"]["submission-id"]
    with httpx.Client(base_url=observed.url, headers={"X-Auth-Token": tenant_token(observed, other)}) as stranger:
        # Through the owner's project: refused; through its own project: the cluster is not its own.
        assert_gateway_error(stranger.get(f"{observed.cdm}/submissions/{submission_id}/log"), 403, "APIGW.0302")
        theirs = f"/v1.1/{other.project_id}/clusters/{observed.cluster_id}/cdm/submissions/{submission_id}/log"
        assert_cdm_error(stranger.get(theirs), "Cdm.0001")
        # Their own cluster does not hold it either.
        mine = f"/v1.1/{other.project_id}/clusters/{other.cluster_id}/cdm/submissions/{submission_id}/log"
        assert "doesn't exist" in assert_cdm_error(stranger.get(mine), "Cdm.0100")
    with observed.client() as api:
        assert_cdm_error(api.get(f"{observed.cdm}/submissions/999999/log"), "Cdm.0100")
        assert api.get(f"{observed.cdm}/submissions/0/log").status_code == 400


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


def test_metrics_show_the_callers_project(observed: RunningServer, runs: dict[str, Any], other: Tenant) -> None:
    with observed.client() as api:
        answer = api.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    found = samples(answer.text)
    assert found[("opencdm_rows_written_total", ())] == ROWS
    assert found[("opencdm_rows_read_total", ())] == ROWS
    assert found[("opencdm_runs", (("status", "SUCCEEDED"),))] == 1
    assert found[("opencdm_runs", (("status", "FAILED"),))] == 1
    assert found[("opencdm_runs_running", ())] == 0 and found[("opencdm_runs_queued", ())] == 0
    assert found[("opencdm_run_duration_seconds_count", ())] == 2
    assert found[("opencdm_run_duration_seconds_bucket", (("le", "+Inf"),))] == 2
    start_route = "/v1.1/{project_id}/clusters/{cluster_id}/cdm/job/{job_name:path}/start"
    assert found[("opencdm_api_request_duration_seconds_count",
                  (("method", "PUT"), ("route", start_route), ("status", "200")))] == 2
    # Another project's user sees none of these runs, and none of this project's requests.
    stranger = httpx.get(f"{observed.url}/metrics", headers={"X-Auth-Token": tenant_token(observed, other)})
    assert stranger.status_code == 200
    assert not [key for key in samples(stranger.text) if key[0].startswith(("opencdm_rows", "opencdm_runs"))]
    routes = {dict(labels).get("route") for name, labels in samples(stranger.text)
              if name.startswith("opencdm_api_request_duration_seconds")}
    assert start_route not in routes, routes  # only this project started jobs
    assert not [key for key in samples(stranger.text) if "project" in dict(key[1])]


def test_request_latencies_are_each_projects_own(observed: RunningServer, other: Tenant) -> None:
    """A tenant's API calls, by route and status, are the tenant's business: its own project sees them,
    another sees none, the metrics token sees both, labelled by project."""
    token = tenant_token(observed, other)
    cdm = f"/v1.1/{other.project_id}/clusters/{other.cluster_id}/cdm"
    for _ in range(3):
        assert httpx.get(f"{observed.url}{cdm}/job/secret_plan", headers={"X-Auth-Token": token}).status_code == 400
    show_job = "/v1.1/{project_id}/clusters/{cluster_id}/cdm/job/{job_name:path}"
    key = ("opencdm_api_request_duration_seconds_count", (("method", "GET"), ("route", show_job), ("status", "400")))
    own = samples(httpx.get(f"{observed.url}/metrics", headers={"X-Auth-Token": token}).text)
    assert own[key] == 3
    with observed.client() as api:
        bootstrap_view = samples(api.get("/metrics").text)
    assert key not in bootstrap_view
    scraped = samples(httpx.get(f"{observed.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text)
    labelled = (key[0], tuple(sorted([*key[1], ("project", other.project_id)])))
    assert scraped[labelled] == 3


def test_metrics_token_shows_every_project_and_nothing_else_opens_them(
    observed: RunningServer, runs: dict[str, Any]
) -> None:
    scraped = httpx.get(f"{observed.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200
    project = (("project", observed.project_id),)
    assert samples(scraped.text)[("opencdm_rows_written_total", project)] == ROWS
    assert_gateway_error(httpx.get(f"{observed.url}/metrics"), 401, "APIGW.0301")
    wrong = httpx.get(f"{observed.url}/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and METRICS_TOKEN not in wrong.text


def test_the_server_logs_one_json_line_per_request_and_run_event(
    observed: RunningServer, runs: dict[str, Any]
) -> None:
    records = [json.loads(line) for line in observed.log().splitlines() if line.startswith('{"time"')]
    assert records and all({"time", "level", "logger", "message"} <= set(record) for record in records)
    start = [record for record in records if record.get("request_id") == runs["start_request_id"]]
    assert len(start) == 1, start
    assert start[0]["logger"] == "opencdm.requests" and start[0]["method"] == "PUT" and start[0]["status"] == 200
    assert start[0]["path"] == f"{observed.cdm}/job/copies/start" and start[0]["duration_ms"] > 0
    ended = [record for record in records if record["logger"] == "opencdm.runs" and record["message"] == "run ended"]
    copied = next(record for record in ended if record["job"] == "copies")
    assert copied["submission"] == runs["copies"]["submission-id"] and copied["rows_written"] == ROWS
    assert copied["status"] == "SUCCEEDED"


def test_text_logs_remain_available(tmp_path: Path) -> None:
    server = start_server(tmp_path / "text", env={"OPENCDM_LOG_FORMAT": "text"})
    try:
        httpx.get(f"{server.url}/metrics")
    finally:
        server.stop()
    requests = [json.loads(line.split(" request ", 1)[1]) for line in server.log().splitlines()
                if " opencdm.requests INFO request {" in line]
    assert [request["status"] for request in requests if request["path"] == "/metrics"] == [401]
