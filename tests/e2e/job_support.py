"""PostgreSQL copy jobs made through the HTTP API, and polling their runs: shared by the tests of
schedules, retries and job groups."""

from __future__ import annotations

import math
import sqlite3
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx

from conftest import RunningServer, config_values, create_link, pg_connect, pg_link

T = TypeVar("T")
FINAL = ("SUCCEEDED", "FAILED", "FAILURE_ON_SUBMIT")
# About 1 ms per row on the database side: a run that is still going while the test acts.
SLOW_WHERE = "(SELECT true FROM pg_sleep(0.001 + 0 * id))"
# Fails every run: PostgreSQL refuses the source query.
FAILING_WHERE = "1 / 0 = 1"




def driver_values(values: dict[str, str]) -> dict[str, Any]:
    """driver-config-values with each input in its own config (schedulerConfig, retryJobConfig, ...)."""
    return {"configs": [
        {"name": name.split(".")[0], "inputs": [{"name": name, "value": value}]} for name, value in values.items()
    ]}


def job_entity(name: str, link: str, schema: str, where: str | None, driver: dict[str, str]) -> dict[str, Any]:
    source = {"fromJobConfig.schemaName": schema, "fromJobConfig.tableName": f"src_{name}"}
    if where:
        source["fromJobConfig.whereClause"] = where
    return {
        "name": name, "job_type": "NORMAL_JOB",
        "from-connector-name": "generic-jdbc-connector", "from-link-name": link,
        "to-connector-name": "generic-jdbc-connector", "to-link-name": link,
        "from-config-values": config_values("fromJobConfig", source),
        "to-config-values": config_values("toJobConfig", {
            "toJobConfig.schemaName": schema, "toJobConfig.tableName": f"dst_{name}",
            "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST",
            # A job run again (a schedule's, a retry's) copies the whole table again: the created
            # table keeps the source's primary key, so each run replaces what the last one wrote.
            "toJobConfig.beforeImportType": "shouldClearTable"}),
        "driver-config-values": driver_values(driver),
    }


class Jobs:
    """Jobs in one PostgreSQL schema, each copying its own ``src_<job>`` to ``dst_<job>``."""

    def __init__(self, api: httpx.Client, server: RunningServer, schema: str) -> None:
        self.api, self.server, self.schema = api, server, schema
        self.link = f"pg_{uuid.uuid4().hex[:8]}"
        response = api.post(f"{server.cdm}/link", json={"links": [{
            "name": self.link, "connector-name": "generic-jdbc-connector",
            "link-config-values": config_values("linkConfig", pg_link())}]})
        assert response.status_code == 200, response.text

    def create(self, driver: dict[str, str] | None = None, rows: int = 10, where: str | None = None,
               prefix: str = "job") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with pg_connect() as conn:
            conn.execute(f'CREATE TABLE "{self.schema}".src_{name} (id int PRIMARY KEY, pad text)')
            conn.execute(f"""INSERT INTO "{self.schema}".src_{name}
                             SELECT g, repeat('x', 100) FROM generate_series(1, {rows}) g""")
        response = self.post(name, where, driver or {})
        assert response.status_code == 200, response.text
        return name

    def post(self, name: str, where: str | None, driver: dict[str, str]) -> httpx.Response:
        return self.api.post(f"{self.server.cdm}/job",
                             json={"jobs": [job_entity(name, self.link, self.schema, where, driver)]})

    def put(self, name: str, where: str | None, driver: dict[str, str]) -> httpx.Response:
        return self.api.put(f"{self.server.cdm}/job/{name}",
                            json={"jobs": [job_entity(name, self.link, self.schema, where, driver)]})

    def start(self, name: str) -> dict[str, Any]:
        response = self.api.put(f"{self.server.cdm}/job/{name}/start")
        assert response.status_code == 200, response.text
        submission: dict[str, Any] = response.json()["submissions"][0]
        return submission

    def show(self, name: str) -> dict[str, Any]:
        response = self.api.get(f"{self.server.cdm}/job/{name}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()["jobs"][0]
        return job

    def exists(self, name: str) -> bool:
        response = self.api.get(f"{self.server.cdm}/job/{name}")
        if response.status_code == 400 and response.json()["errCode"] == "Cdm.0100":
            return False
        assert response.status_code == 200, response.text
        return True

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every run, newest first."""
        response = self.api.get(f"{self.server.cdm}/submissions", params={"jname": name, "page_size": 100})
        assert response.status_code == 200, response.text
        submissions: list[dict[str, Any]] = response.json()["submissions"]
        return submissions

    def destination_rows(self, name: str) -> int:
        with pg_connect() as conn:
            row = conn.execute(f'SELECT count(*) FROM "{self.schema}".dst_{name}').fetchone()
        return int(row[0]) if row else 0


def wait_until(what: str, found: Callable[[], T | None], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def ended_runs(jobs: Jobs, name: str, count: int) -> list[dict[str, Any]] | None:
    """The job's history once it has ``count`` runs and none is going, else None."""
    runs = jobs.history(name)
    return runs if len(runs) >= count and all(run["status"] in FINAL for run in runs) else None


def date_in(zone: str, seconds_from_now: float) -> tuple[str, int]:
    """A whole second at least ``seconds_from_now`` ahead, as schedulerConfig writes it in ``zone``,
    and as epoch milliseconds."""
    epoch = math.ceil(time.time() + seconds_from_now)
    return datetime.fromtimestamp(epoch, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S"), epoch * 1000


def set_next_run(server: RunningServer, job: str, next_run_ms: int) -> None:
    """Write a job's next scheduled run straight into a stopped server's store."""
    with sqlite3.connect(server.home / "opencdm.db") as conn:
        assert conn.execute("UPDATE jobs SET next_run_ms = ? WHERE name = ?", (next_run_ms, job)).rowcount == 1


class Copy:
    """One job from table src of a source link to table dst (in ``schema``) of a target link,
    PostgreSQL by default, started and polled through the API."""

    def __init__(self, api: httpx.Client, server: RunningServer, source_link: dict[str, str], schema: str,
                 target_link: dict[str, str] | None = None) -> None:
        self.api, self.server, self.schema = api, server, schema
        self.name = f"copy_{uuid.uuid4().hex[:8]}"
        self.source_link = create_link(api, server, "generic-jdbc-connector", source_link)
        self.target_link = create_link(api, server, "generic-jdbc-connector", target_link or pg_link())


    def entity(self, source: dict[str, str], target: dict[str, str], driver: dict[str, str]) -> dict[str, Any]:
        return {
            "name": self.name, "job_type": "NORMAL_JOB",
            "from-connector-name": "generic-jdbc-connector", "from-link-name": self.source_link,
            "to-connector-name": "generic-jdbc-connector", "to-link-name": self.target_link,
            "from-config-values": config_values("fromJobConfig", {"fromJobConfig.tableName": "src"} | source),
            "to-config-values": config_values("toJobConfig", {
                "toJobConfig.schemaName": self.schema, "toJobConfig.tableName": "dst",
                "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"} | target),
            "driver-config-values": driver_values(driver),
        }

    def create(self, source: dict[str, str], target: dict[str, str] | None = None,
               driver: dict[str, str] | None = None) -> None:
        response = self.api.post(f"{self.server.cdm}/job",
                                 json={"jobs": [self.entity(source, target or {}, driver or {})]})
        assert response.status_code == 200, response.text

    def update(self, source: dict[str, str], target: dict[str, str] | None = None) -> None:
        response = self.api.put(f"{self.server.cdm}/job/{self.name}",
                                json={"jobs": [self.entity(source, target or {}, {})]})
        assert response.status_code == 200, response.text

    def run(self) -> dict[str, Any]:
        response = self.api.put(f"{self.server.cdm}/job/{self.name}/start")
        assert response.status_code == 200, response.text
        return finished_run(self.api, self.server, self.name)

    def stored_cursor(self) -> str | None:
        response = self.api.get(f"{self.server.cdm}/job/{self.name}")
        assert response.status_code == 200, response.text
        value: str | None = response.json()["jobs"][0].get("incremental-cursor")
        return value

    def target(self, columns: str = "id, v") -> list[tuple[Any, ...]]:
        with pg_connect() as conn:
            return conn.execute(f'SELECT {columns} FROM "{self.schema}".dst ORDER BY id').fetchall()


def written(submission: dict[str, Any]) -> int:
    assert submission["status"] == "SUCCEEDED", submission
    return int(submission["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]["ROWS_WRITTEN"])


def start_copy_job(api: httpx.Client, server: RunningServer, from_link: str, from_job: dict[str, str], to_link: str,
                   to_job: dict[str, str], extractors: int = 1, driver: dict[str, str] | None = None) -> str:
    """A new generic-jdbc-connector job, started; its name."""
    job = f"j{uuid.uuid4().hex[:8]}"
    response = api.post(f"{server.cdm}/job", json={"jobs": [{
        "name": job, "job_type": "NORMAL_JOB",
        "from-connector-name": "generic-jdbc-connector", "from-link-name": from_link,
        "to-connector-name": "generic-jdbc-connector", "to-link-name": to_link,
        "from-config-values": config_values("fromJobConfig", from_job),
        "to-config-values": config_values("toJobConfig", to_job),
        "driver-config-values": config_values(
            "throttlingConfig", {"throttlingConfig.numExtractors": str(extractors), **(driver or {})}
        ),
    }]})
    assert response.status_code == 200, response.text
    assert api.put(f"{server.cdm}/job/{job}/start").status_code == 200
    return job


def finished_run(api: httpx.Client, server: RunningServer, job: str, timeout: float = 120) -> dict[str, Any]:
    """The job's latest run, once it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        submission: dict[str, Any] = api.get(f"{server.cdm}/job/{job}/status").json()["submissions"][0]
        if submission["status"] in FINAL:
            return submission
        time.sleep(0.2)
    raise AssertionError(f"the run of {job} did not end")
