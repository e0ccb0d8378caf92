"""docs/connectors/writing-a-connector.md holds a complete connector and the one registry line that
adds it. Both are taken from the page as written — its code into a connector folder of a scratch
directory, its line appended to ``CONNECTORS`` — on a server of this module's own, and the example
copies rows both ways through the HTTP API: a page whose code or line is broken fails here."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import RunningServer, config_values, create_link, post_link, sqlite_link, start_server

PAGE = Path(__file__).parents[2] / "docs" / "connectors" / "writing-a-connector.md"
CONNECTOR_FILE = re.compile(r"```python\n# src/opencdm/connectors/(\S+)\n(.*?)```", re.DOTALL)
REGISTRY_LINE = re.compile(r'^ {4}"(opencdm\.connectors\.[\w.]+:\w+)",$', re.MULTILINE)
NAME = "jsonl-connector"
ROWS = [
    {"id": 1, "name": "first", "price": 1.5, "paid": True},
    {"id": 2, "name": "déjà vu", "price": None, "paid": False},
    *({"id": i, "name": f"row {i}", "price": i / 4, "paid": i % 2 == 0} for i in range(3, 301)),
]
# Run in the server's processes (and its fork server's) as they start: what a registry line in the
# source does, done from outside the source tree.
SITECUSTOMIZE = """\
import opencdm.connectors

opencdm.connectors.__path__.append({folder!r})
opencdm.connectors.CONNECTORS = (*opencdm.connectors.CONNECTORS, {line!r})
"""


def page_connector() -> tuple[dict[str, str], str]:
    """The page's connector files (path under src/opencdm/connectors/ -> code) and its registry line."""
    text = PAGE.read_text()
    files = {path: code for path, code in CONNECTOR_FILE.findall(text)}
    lines = REGISTRY_LINE.findall(text)
    assert files and len(lines) == 1, "the page shows its connector's files and exactly one registry line"
    return files, lines[0]


@pytest.fixture(scope="module")
def example_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    files, line = page_connector()
    scratch = tmp_path_factory.mktemp("writing-a-connector")
    for path, code in files.items():
        (scratch / "connectors" / path).parent.mkdir(parents=True, exist_ok=True)
        (scratch / "connectors" / path).write_text(code)
    (scratch / "site").mkdir()
    (scratch / "site" / "sitecustomize.py").write_text(
        SITECUSTOMIZE.format(folder=str(scratch / "connectors"), line=line)
    )
    python_path = os.pathsep.join(path for path in (str(scratch / "site"), os.environ.get("PYTHONPATH")) if path)
    running = start_server(tmp_path_factory.mktemp("example-home"), env={"PYTHONPATH": python_path})
    yield running
    running.stop()


@pytest.fixture
def api(example_server: RunningServer) -> Iterator[httpx.Client]:
    with example_server.client() as client:
        yield client


def post_job(api: httpx.Client, server: RunningServer, source: tuple[str, str, dict[str, str]],
             destination: tuple[str, str, dict[str, str]], driver: dict[str, str] | None = None) -> httpx.Response:
    (from_connector, from_link, from_job), (to_connector, to_link, to_job) = source, destination
    return api.post(f"{server.cdm}/job", json={"jobs": [{
        "name": f"j_{uuid.uuid4().hex[:10]}", "job_type": "NORMAL_JOB",
        "from-connector-name": from_connector, "from-link-name": from_link,
        "to-connector-name": to_connector, "to-link-name": to_link,
        "from-config-values": config_values("fromJobConfig", from_job),
        "to-config-values": config_values("toJobConfig", to_job),
        "driver-config-values": config_values("throttlingConfig", driver or {}),
    }]})


def run_job(api: httpx.Client, server: RunningServer, source: tuple[str, str, dict[str, str]],
            destination: tuple[str, str, dict[str, str]], driver: dict[str, str] | None = None) -> dict[str, Any]:
    """Create the job, start it, and return its run's counters once it succeeded."""
    created = post_job(api, server, source, destination, driver)
    assert created.status_code == 200, created.text
    job = created.json()["name"]
    api.put(f"{server.cdm}/job/{job}/start").raise_for_status()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        submission = api.get(f"{server.cdm}/job/{job}/status").json()["submissions"][0]
        if submission["status"] in ("SUCCEEDED", "FAILED"):
            assert submission["status"] == "SUCCEEDED", submission
            counters: dict[str, Any] = submission["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]
            return counters
        time.sleep(0.2)
    raise AssertionError(f"{job} did not finish")


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["errCode"] == "Cdm.0014", body
    return str(body["externalMessage"])


def test_the_pages_connector_copies_rows_both_ways(
    api: httpx.Client, example_server: RunningServer, tmp_path: Path
) -> None:
    server = example_server
    lines_inputs = {"linkConfig.directory": str(tmp_path)}
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    validated = api.post(f"{server.cdm}/link", params={"validate": "true"}, json={"links": [{
        "name": "lines", "connector-name": NAME, "link-config-values": config_values("linkConfig", lines_inputs)}]})
    assert validated.status_code == 200 and validated.json()["validation-result"] == [], validated.text
    lines = create_link(api, server, NAME, lines_inputs)
    database = create_link(api, server, "generic-jdbc-connector", sqlite_link(str(tmp_path / "rows.db")))

    # Into a table the run creates, in two partitions.
    counters = run_job(
        api, server, (NAME, lines, {"fromJobConfig.fileName": "in.jsonl"}),
        ("generic-jdbc-connector", database, {"toJobConfig.tableName": "lines",
                                              "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}),
        {"throttlingConfig.numExtractors": "2"},
    )
    assert counters["ROWS_READ"] == counters["ROWS_WRITTEN"] == len(ROWS)
    with sqlite3.connect(tmp_path / "rows.db") as conn:
        conn.row_factory = sqlite3.Row
        loaded = [dict(row) for row in conn.execute("SELECT id, name, price, paid FROM lines ORDER BY id")]
    assert loaded == [{**row, "paid": int(row["paid"])} for row in ROWS]

    # And back out of it, into a new file.
    counters = run_job(
        api, server, ("generic-jdbc-connector", database, {"fromJobConfig.tableName": "lines"}),
        (NAME, lines, {"toJobConfig.fileName": "out.jsonl"}),
    )
    assert counters["ROWS_WRITTEN"] == len(ROWS) and counters["BYTES_WRITTEN"] > 0
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(written, key=lambda row: row["id"]) == [{**row, "paid": int(row["paid"])} for row in ROWS]
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_the_pages_connector_is_described_and_refuses_what_it_does_not_know(
    api: httpx.Client, example_server: RunningServer, tmp_path: Path
) -> None:
    server = example_server
    described = api.get(f"{server.cdm}/connectors").json()["connectors"]
    assert {"name": NAME, "link-inputs": [{"name": "linkConfig.directory", "type": "STRING", "mandatory": True,
                                           "sensitive": False, "size": 1024}],
            "from-inputs": ["fromJobConfig.fileName"], "to-inputs": ["toJobConfig.fileName"]} in described

    assert "OPENCDM_FILE_ROOTS" in refusal(post_link(api, server, NAME, {"linkConfig.directory": "/etc"}))
    lines = create_link(api, server, NAME, {"linkConfig.directory": str(tmp_path)})
    database = create_link(api, server, "generic-jdbc-connector", sqlite_link(str(tmp_path / "rows.db")))
    table = ("generic-jdbc-connector", database, {"toJobConfig.tableName": "t"})
    misspelled = post_job(api, server, (NAME, lines, {"fromJobConfig.filename": "in.jsonl"}), table)
    assert "did you mean fromJobConfig.fileName?" in refusal(misspelled)
    outside = post_job(api, server, (NAME, lines, {"fromJobConfig.fileName": "../in.jsonl"}), table)
    assert "must name a file" in refusal(outside)
    resumable = post_job(api, server, ("generic-jdbc-connector", database, {"fromJobConfig.tableName": "t"}),
                         (NAME, lines, {"toJobConfig.fileName": "out.jsonl"}), {"throttlingConfig.resumable": "true"})
    assert f"{NAME} destinations do not allow" in refusal(resumable)
