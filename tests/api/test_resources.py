"""Links, jobs and clusters through the HTTP API: the CDM rules a client relies on."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import RunningServer
from helpers import config_values as inputs
from helpers import job_body, sqlite_link_body


@pytest.fixture
def links(api: httpx.Client, server: RunningServer, tmp_path: Path) -> tuple[str, str]:
    """Two SQLite links, the first holding table t with 50 rows."""
    with sqlite3.connect(tmp_path / "a.db") as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(20))")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(50)])
    names = (f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}")
    for name, file in zip(names, ("a.db", "b.db"), strict=True):
        response = api.post(f"{server.cdm}/link", json=sqlite_link_body(name, tmp_path / file))
        assert response.status_code == 200, response.text
        assert response.json() == {"name": name, "validation-result": []}
    return names


def wait_done(api: httpx.Client, cdm: str, job: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        submission: dict[str, Any] = api.get(f"{cdm}/job/{job}/status").json()["submissions"][0]
        if submission["status"] not in ("BOOTING", "RUNNING"):
            return submission
        time.sleep(0.2)
    raise AssertionError(f"{job} did not finish")


def test_link_show_hides_the_password_and_keeps_it(api: httpx.Client, server: RunningServer, tmp_path: Path,
                                                   pg_available: None) -> None:
    name = f"pg{uuid.uuid4().hex[:8]}"
    body = {"links": [{"name": name, "connector-name": "generic-jdbc-connector",
                       "link-config-values": inputs("linkConfig", {
                           "linkConfig.databaseType": "POSTGRESQL", "linkConfig.host": "127.0.0.1",
                           "linkConfig.port": "5432", "linkConfig.database": "test",
                           "linkConfig.username": "postgres", "linkConfig.password": "Sup3r-Secret"})}]}
    assert api.post(f"{server.cdm}/link", json=body).status_code == 200
    shown = api.get(f"{server.cdm}/link/{name}")
    assert shown.status_code == 200
    assert "Sup3r-Secret" not in shown.text
    link = shown.json()["links"][0]
    assert isinstance(link["creation-date"], int) and isinstance(link["update-date"], int)
    items = {i["name"]: i for c in link["link-config-values"]["configs"] for i in c["inputs"]}
    assert items["linkConfig.password"]["sensitive"] is True and "value" not in items["linkConfig.password"]
    assert items["linkConfig.host"]["value"] == "127.0.0.1"
    # An update that does not resend the password keeps the stored one: validate still connects.
    body["links"][0]["link-config-values"] = inputs("linkConfig", {
        "linkConfig.databaseType": "POSTGRESQL", "linkConfig.host": "127.0.0.1", "linkConfig.port": "5432",
        "linkConfig.database": "test", "linkConfig.username": "postgres"})
    updated = api.put(f"{server.cdm}/link/{name}", json=body)
    assert updated.status_code == 200, updated.text
    assert "Sup3r-Secret" not in api.get(f"{server.cdm}/link/{name}").text
    assert api.delete(f"{server.cdm}/link/{name}").status_code == 200
    assert api.get(f"{server.cdm}/link/{name}").json()["errCode"] == "Cdm.0101"


def test_validate_connects_and_creates_nothing(api: httpx.Client, server: RunningServer,
                                               pg_available: None) -> None:
    name = f"v{uuid.uuid4().hex[:8]}"
    body = {"links": [{"name": name, "connector-name": "generic-jdbc-connector",
                       "link-config-values": inputs("linkConfig", {
                           "linkConfig.databaseType": "POSTGRESQL", "linkConfig.host": "127.0.0.1",
                           "linkConfig.port": "1", "linkConfig.database": "test",
                           "linkConfig.username": "postgres", "linkConfig.password": "x"})}]}
    # A link that does not work: HTTP 500 and only the validation result, as CDM answers
    # (docs/decisions/0007-link-validation-answer.md).
    failed = api.post(f"{server.cdm}/link", params={"validate": "true"}, json=body)
    assert failed.status_code == 500
    assert failed.headers["X-Request-Id"]
    (result,) = failed.json()["validation-result"]
    assert set(failed.json()) == {"validation-result"} and set(result) == {"linkConfig"}
    (problem,) = result["linkConfig"]
    assert set(problem) == {"message", "status"} and problem["status"] == "ERROR"
    assert "connect" in problem["message"].lower()
    assert api.get(f"{server.cdm}/link/{name}").json()["errCode"] == "Cdm.0101"

    body["links"][0]["link-config-values"]["configs"][0]["inputs"][2]["value"] = "5432"
    working = api.post(f"{server.cdm}/link", params={"validate": "true"}, json=body)
    assert working.status_code == 200
    assert working.json() == {"name": name, "validation-result": []}
    assert api.get(f"{server.cdm}/link/{name}").json()["errCode"] == "Cdm.0101"


def test_job_lifecycle(api: httpx.Client, server: RunningServer, links: tuple[str, str]) -> None:
    src, dst = links
    job = f"j{uuid.uuid4().hex[:8]}"
    created = api.post(f"{server.cdm}/job", json=job_body(job, src, dst, num_extractors="1"))
    assert created.status_code == 200, created.text
    assert api.post(f"{server.cdm}/job", json=job_body(job, src, dst)).json()["errCode"] == "Cdm.0104"

    never = api.get(f"{server.cdm}/job/{job}/status").json()["submissions"][0]
    assert never["status"] == "NEVER_EXECUTED"
    shown = api.get(f"{server.cdm}/job/{job}").json()
    assert shown["total"] == 0 and shown["jobs"][0]["status"] == "NEW"
    assert shown["jobs"][0]["from-link-name"] == src
    assert api.delete(f"{server.cdm}/link/{src}").json()["errCode"] == "Cdm.0321"

    # An empty StartJob body (Content-Length: 0, JSON content type) is the SDK's way of sending none.
    started = api.put(f"{server.cdm}/job/{job}/start", content=b"",
                      headers={"Content-Type": "application/json;charset=utf-8"})
    assert started.status_code == 200, started.text
    submission = started.json()["submissions"][0]
    assert submission["status"] == "BOOTING" and isinstance(submission["creation-date"], int)
    done = wait_done(api, server.cdm, job)
    assert done["status"] == "SUCCEEDED", done
    assert done["progress"] == 100
    assert done["last-udpate-user"] == done["last-update-user"]
    assert done["write_rows"] == 50
    assert api.get(f"{server.cdm}/job/{job}").json()["jobs"][0]["status"] == "SUCCEEDED"

    updated = job_body(job, src, dst, num_extractors="2")
    assert api.put(f"{server.cdm}/job/{job}", json=updated).status_code == 200
    driver = api.get(f"{server.cdm}/job/{job}").json()["jobs"][0]["driver-config-values"]
    assert {"name": "throttlingConfig.numExtractors", "value": "2"} in driver["configs"][0]["inputs"]

    assert api.delete(f"{server.cdm}/job/{job}").status_code == 200
    assert api.get(f"{server.cdm}/job/{job}").json()["errCode"] == "Cdm.0100"
    assert api.delete(f"{server.cdm}/link/{src}").status_code == 200


def test_job_list_filters_and_pages(api: httpx.Client, server: RunningServer, links: tuple[str, str]) -> None:
    src, dst = links
    tag = uuid.uuid4().hex[:6]
    for i in range(3):
        assert api.post(f"{server.cdm}/job", json=job_body(f"list_{tag}_{i}", src, dst)).status_code == 200
    page = api.get(f"{server.cdm}/job/all", params={"filter": tag, "page_no": 1, "page_size": 2}).json()
    assert page["total"] == 3 and page["page_no"] == 1 and page["page_size"] == 2
    assert [j["name"] for j in page["jobs"]] == [f"list_{tag}_0", f"list_{tag}_1"]
    second = api.get(f"{server.cdm}/job/all", params={"filter": tag, "page_no": 2, "page_size": 2}).json()
    assert [j["name"] for j in second["jobs"]] == [f"list_{tag}_2"]


def test_failed_run_reports_the_database_message(api: httpx.Client, server: RunningServer,
                                                 links: tuple[str, str]) -> None:
    src, dst = links
    job = f"f{uuid.uuid4().hex[:8]}"
    # Jobs are checked without connecting, so a missing table shows up when the job runs.
    assert api.post(f"{server.cdm}/job", json=job_body(job, src, dst, table="no_such_table")).status_code == 200
    assert api.put(f"{server.cdm}/job/{job}/start").status_code == 200
    failed = wait_done(api, server.cdm, job)
    assert failed["status"] == "FAILED" and failed["progress"] == -1
    assert "no_such_table" in failed["error-summary"]
    assert failed["error-details"]


def test_cluster_lifecycle(api: httpx.Client, server: RunningServer, tmp_path: Path) -> None:
    base = f"/v1.1/{server.project_id}"
    created = api.post(f"{base}/clusters", json={"cluster": {"name": f"c{uuid.uuid4().hex[:6]}", "vpcId": "v"}})
    assert created.status_code == 202, created.text
    cluster_id = created.json()["id"]
    listed = api.get(f"{base}/clusters").json()["clusters"]
    assert cluster_id in [c["id"] for c in listed]
    detail = api.get(f"{base}/clusters/{cluster_id}").json()
    assert detail["status"] == "200" and detail["isFrozen"] == "0"

    cdm = f"{base}/clusters/{cluster_id}/cdm"
    with sqlite3.connect(tmp_path / "c.db") as conn:
        conn.execute("CREATE TABLE t (id INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    assert api.post(f"{cdm}/link", json=sqlite_link_body("l1", tmp_path / "c.db")).status_code == 200
    assert api.post(f"{cdm}/job", json=job_body("j1", "l1", "l1")).status_code == 200

    stop = api.post(f"{base}/clusters/{cluster_id}/action", json={"stop": {"stopMode": "IMMEDIATELY"}})
    assert stop.status_code == 200 and isinstance(stop.json()["jobId"], list)
    assert api.get(f"{base}/clusters/{cluster_id}").json()["status"] == "900"
    refused = api.put(f"{cdm}/job/j1/start")
    assert refused.status_code == 400 and refused.json()["errCode"] == "Cdm.0056"

    assert api.post(f"{base}/clusters/{cluster_id}/action", json={"start": {}}).status_code == 200
    assert api.put(f"{cdm}/job/j1/start").status_code == 200
    restart = api.post(f"{base}/clusters/{cluster_id}/action", json={"restart": {"restartMode": "IMMEDIATELY"}})
    assert restart.status_code == 200 and isinstance(restart.json()["jobId"], str)
    assert api.get(f"{base}/clusters/{cluster_id}").json()["status"] == "200"
    assert wait_done(api, cdm, "j1")["status"] in ("SUCCEEDED", "FAILED")

    deleted = api.request("DELETE", f"{base}/clusters/{cluster_id}", json={"keep_last_manual_backup": 0})
    assert deleted.status_code == 202
    assert api.get(f"{base}/clusters/{cluster_id}").json()["errCode"] == "Cdm.0001"


def test_create_and_start_on_a_running_cluster(api: httpx.Client, server: RunningServer,
                                               links: tuple[str, str]) -> None:
    src, dst = links
    job = f"r{uuid.uuid4().hex[:8]}"
    body = {**job_body(job, src, dst), "clusters": [server.cluster_id]}
    response = api.post(f"/v1.1/{server.project_id}/clusters/job", json=body, headers={"X-Language": "en-us"})
    assert response.status_code == 200, response.text
    assert response.json()["submissions"][0]["job-name"] == job
    assert wait_done(api, server.cdm, job)["status"] == "SUCCEEDED"


def test_catalogue_describes_this_deployment(api: httpx.Client, server: RunningServer) -> None:
    base = f"/v1.1/{server.project_id}"
    datastores = api.get(f"{base}/datastores").json()["datastores"]
    flavors = api.get(f"{base}/datastores/{datastores[0]['id']}/flavors").json()
    flavor = flavors["versions"][0]["flavors"][0]
    assert flavor["cpu"] == os.cpu_count()
    assert api.get(f"{base}/flavors/{flavor['str_id']}").json()["str_id"] == flavor["str_id"]
    assert api.get(f"{base}/flavors/nope").json()["errCode"] == "Cdm.0001"
    assert api.get(f"{base}/regions/local/availability_zones").json()["availableZones"]
    assert api.get(f"{base}/enterprise-projects").json()["resources"]
    assert api.get("/openapi.json").json()["info"]["title"] == "OpenCDM"
    assert api.get("/docs").status_code == 200


def test_macros_and_start_variables_are_expanded_when_the_run_starts(
    api: httpx.Client, server: RunningServer, tmp_path: Path
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    with sqlite3.connect(tmp_path / "m.db") as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, day DATE)")
        conn.executemany("INSERT INTO events VALUES (?, ?)",
                         [(i, (today - dt.timedelta(days=i)).isoformat()) for i in range(5)])
    link = f"m{uuid.uuid4().hex[:8]}"
    assert api.post(f"{server.cdm}/link", json=sqlite_link_body(link, tmp_path / "m.db")).status_code == 200
    job = f"macro{uuid.uuid4().hex[:6]}"
    body = job_body(job, link, link, table="events")
    body["jobs"][0]["from-config-values"] = inputs("fromJobConfig", {
        "fromJobConfig.tableName": "events",
        "fromJobConfig.whereClause": "day >= '${dateformat(yyyy-MM-dd, -2, DAY)}'"})
    body["jobs"][0]["to-config-values"] = inputs("toJobConfig", {
        "toJobConfig.tableName": "events_${dateformat(yyyyMMdd)}_${suffix}",
        "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"})
    body["jobs"][0]["driver-config-values"] = inputs("schedulerConfig", {"schedulerConfig.timeZone": "UTC"})
    assert api.post(f"{server.cdm}/job", json=body).status_code == 200
    assert api.put(f"{server.cdm}/job/{job}/start", json={"variables": {"suffix": "eu"}}).status_code == 200
    done = wait_done(api, server.cdm, job)
    assert done["status"] == "SUCCEEDED", done
    with sqlite3.connect(tmp_path / "m.db") as conn:
        copied = conn.execute(f"SELECT id FROM events_{today:%Y%m%d}_eu ORDER BY id").fetchall()
    assert copied == [(0,), (1,), (2,)]
    # The job keeps its macros as written; only the run saw them expanded.
    shown = api.get(f"{server.cdm}/job/{job}").json()["jobs"][0]["to-config-values"]
    assert "${suffix}" in str(shown)


def test_an_unknown_variable_fails_the_run_with_its_name(
    api: httpx.Client, server: RunningServer, links: tuple[str, str]
) -> None:
    src, dst = links
    job = f"v{uuid.uuid4().hex[:8]}"
    body = job_body(job, src, dst)
    body["jobs"][0]["to-config-values"] = inputs("toJobConfig", {"toJobConfig.tableName": "t_${missing}"})
    assert api.post(f"{server.cdm}/job", json=body).status_code == 200
    assert api.put(f"{server.cdm}/job/{job}/start").status_code == 200
    failed = wait_done(api, server.cdm, job)
    assert failed["status"] == "FAILED" and "${missing}" in failed["error-summary"]


def test_a_bad_time_zone_is_refused_when_the_job_is_created(
    api: httpx.Client, server: RunningServer, links: tuple[str, str]
) -> None:
    body = job_body(f"z{uuid.uuid4().hex[:8]}", *links)
    body["jobs"][0]["driver-config-values"] = inputs("schedulerConfig", {"schedulerConfig.timeZone": "Mars/Olympus"})
    refused = api.post(f"{server.cdm}/job", json=body)
    assert refused.status_code == 400 and "Mars/Olympus" in refused.json()["externalMessage"]
