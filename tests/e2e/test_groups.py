"""Job groups (groupJobConfig.groupName): list, start and delete the jobs of a group at once."""

from __future__ import annotations

import uuid

import httpx

from conftest import RunningServer
from job_support import FINAL, SLOW_WHERE, Jobs, ended_runs, wait_until


def test_a_group_is_listed_started_and_deleted_as_one(server: RunningServer, api: httpx.Client,
                                                       pg_schema: str) -> None:
    jobs = Jobs(api, server, pg_schema)
    group = f"nightly_{uuid.uuid4().hex[:6]}"
    in_group = {"groupJobConfig.groupName": group}
    members = sorted([jobs.create(in_group), jobs.create(in_group)])
    busy = jobs.create(in_group, rows=20000, where=SLOW_WHERE, prefix="slow")
    outsider = jobs.create()

    listed = api.get(f"{server.cdm}/job/all", params={"group_name": group, "page_size": 100}).json()
    assert listed["total"] == 3
    assert sorted(job["name"] for job in listed["jobs"]) == sorted([*members, busy])
    assert all(job["group_name"] == group for job in listed["jobs"])

    jobs.start(busy)
    started = api.put(f"{server.cdm}/group/{group}/start")
    assert started.status_code == 200, started.text
    body = started.json()
    assert sorted(s["job-name"] for s in body["submissions"]) == members
    (refused,) = body["validation-result"]
    assert (refused["name"], refused["errCode"], refused["status"]) == (busy, "Cdm.0052", "ERROR")
    for member in members:
        (run,) = wait_until(f"{member}'s run", lambda member=member: ended_runs(jobs, member, 1))
        assert run["status"] == "SUCCEEDED" and jobs.destination_rows(member) == 10

    # A group with a running job is not deleted, not even in part.
    running = api.delete(f"{server.cdm}/group/{group}")
    assert running.status_code == 400 and running.json()["errCode"] == "Cdm.0052", running.text
    assert all(jobs.exists(name) for name in [*members, busy])

    assert api.put(f"{server.cdm}/job/{busy}/stop").status_code == 200
    wait_until("the stopped run", lambda: jobs.history(busy)[0]["status"] in FINAL)
    assert api.delete(f"{server.cdm}/group/{group}").status_code == 200
    assert not any(jobs.exists(name) for name in [*members, busy])
    assert jobs.exists(outsider)

    for method, path in (("PUT", f"/group/{group}/start"), ("DELETE", f"/group/{group}")):
        gone = api.request(method, f"{server.cdm}{path}")
        assert gone.status_code == 400 and gone.json()["errCode"] == "Cdm.0001", gone.text
