"""Links and jobs of the file connectors made through the HTTP API, and PostgreSQL tables to copy:
shared by the end-to-end tests of local files and object storage."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from conftest import (
    RunningServer,
    config_values,
    create_link,
    pg_connect,
    pg_link,
)

FINAL = ("SUCCEEDED", "FAILED", "FAILURE_ON_SUBMIT")

# Every value a file must carry back unchanged: NULLs, empty text, unicode, separators, quotes and
# line breaks inside text, decimals wider than a double, time zones, dates out of a nanosecond
# timestamp's range.
PG_COLUMNS = """
    id bigint PRIMARY KEY,
    c_int integer,
    c_num numeric(12,2),
    c_num_wide numeric(38,10),
    c_double double precision,
    c_real real,
    c_varchar varchar(64),
    c_text text,
    c_bool boolean,
    c_date date,
    c_time time,
    c_ts timestamp,
    c_tstz timestamptz
"""
PG_ROWS = [
    "(1, 2, 1234.56, 12345678901234567890.0123456789, 3.141592653589793, 0.5, 'plain', 'a,b;c \"quoted\" ''single''',"
    " true, '2024-02-29', '13:14:15.123456', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.123456+02')",
    "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "(3, -2147483648, -9999999999.99, -9999999999999999999999999999.9999999999, -1.7976931348623157e308, -3.4e38,"
    " '', '', false, '1000-01-01', '00:00:00', '1000-01-01 00:00:00', '1970-01-01 00:00:00.000001+00')",
    "(4, 2147483647, 9999999999.99, 0.0000000001, 1e-300, 3.4e38, 'unicode 漢字 😀 Ω ñ',"
    " E'two\\nlines\\r\\nand a tab\\t' || repeat('长文本 ', 200), true, '9999-12-31', '23:59:59.999999',"
    " '9999-12-31 23:59:59.999999', '2038-01-19 03:14:08.999999+00')",
]



def make_source_table(schema: str, table: str = "src") -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}"."{table}" ({PG_COLUMNS})')
        conn.execute(f'INSERT INTO "{schema}"."{table}" VALUES {", ".join(PG_ROWS)}')


def rows(schema: str, table: str, order: str = "id") -> list[tuple[Any, ...]]:
    with pg_connect() as conn:
        return conn.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY {order}').fetchall()


def postgres_link(api: httpx.Client, server: RunningServer) -> str:
    return create_link(api, server, "generic-jdbc-connector", pg_link())


def pg_table_source(
    api: httpx.Client, server: RunningServer, schema: str, table: str, **inputs: str
) -> tuple[str, str, dict[str, str]]:
    """A job source reading a PostgreSQL table, on a new link: (connector, link, inputs)."""
    return (
        "generic-jdbc-connector",
        postgres_link(api, server),
        {"fromJobConfig.schemaName": schema, "fromJobConfig.tableName": table, **inputs},
    )


def create_job(
    api: httpx.Client, server: RunningServer, source: tuple[str, str, dict[str, str]],
    destination: tuple[str, str, dict[str, str]], extractors: int = 1, throttling: dict[str, str] | None = None,
) -> httpx.Response:
    """``source`` and ``destination`` are (connector, link, inputs); ``throttling`` more
    throttlingConfig inputs (dirty data)."""
    (from_connector, from_link, from_job), (to_connector, to_link, to_job) = source, destination
    return api.post(f"{server.cdm}/job", json={"jobs": [{
        "name": f"j_{uuid.uuid4().hex[:10]}", "job_type": "NORMAL_JOB",
        "from-connector-name": from_connector, "from-link-name": from_link,
        "to-connector-name": to_connector, "to-link-name": to_link,
        "from-config-values": config_values("fromJobConfig", from_job),
        "to-config-values": config_values("toJobConfig", to_job),
        "driver-config-values": config_values("throttlingConfig", {
            "throttlingConfig.numExtractors": str(extractors), **(throttling or {})}),
    }]})


def run(api: httpx.Client, server: RunningServer, source: tuple[str, str, dict[str, str]],
        destination: tuple[str, str, dict[str, str]], extractors: int = 1,
        throttling: dict[str, str] | None = None) -> dict[str, Any]:
    """Create the job, start it and wait for the end of its run; the final submission."""
    response = create_job(api, server, source, destination, extractors, throttling)
    assert response.status_code == 200, response.text
    return start_and_wait(api, server, str(response.json()["name"]))


def start_and_wait(api: httpx.Client, server: RunningServer, job: str, timeout: float = 120) -> dict[str, Any]:
    api.put(f"{server.cdm}/job/{job}/start").raise_for_status()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = api.get(f"{server.cdm}/job/{job}/status")
        assert response.status_code == 200, response.text
        submission: dict[str, Any] = response.json()["submissions"][0]
        if submission["status"] in FINAL:
            submission["job"] = job
            return submission
        time.sleep(0.2)
    raise AssertionError(f"{job} did not finish within {timeout} s")


def succeeded(submission: dict[str, Any]) -> dict[str, Any]:
    assert submission["status"] == "SUCCEEDED", (submission.get("error-summary"), submission.get("error-details"))
    return submission


def failed(submission: dict[str, Any]) -> str:
    """The error summary of a run that must have failed."""
    assert submission["status"] == "FAILED", submission
    return str(submission["error-summary"])
