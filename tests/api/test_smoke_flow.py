"""The shortest end-to-end pass through the HTTP API: a SQLite → SQLite copy with a token."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx

from conftest import RunningServer, config_values


def test_sqlite_to_sqlite_copy(server: RunningServer, api: httpx.Client, tmp_path: Path) -> None:
    copy_sqlite_table(server, api, tmp_path)


def copy_sqlite_table(server: RunningServer, api: httpx.Client, tmp_path: Path) -> None:
    source = tmp_path / "src.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(20))")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(1000)])
    dest = tmp_path / "dst.db"
    for name, path in (("src_link", source), ("dst_link", dest)):
        response = api.post(f"{server.cdm}/link", json={"links": [{
            "name": name, "connector-name": "generic-jdbc-connector",
            "link-config-values": config_values("linkConfig", {"linkConfig.databaseType": "SQLITE",
                                                         "linkConfig.database": str(path)})}]})
        assert response.status_code == 200, response.text
    job = {"jobs": [{
        "name": "copy_t", "job_type": "NORMAL_JOB",
        "from-connector-name": "generic-jdbc-connector", "from-link-name": "src_link",
        "to-connector-name": "generic-jdbc-connector", "to-link-name": "dst_link",
        "from-config-values": config_values("fromJobConfig", {"fromJobConfig.tableName": "t"}),
        "to-config-values": config_values("toJobConfig", {"toJobConfig.tableName": "t",
                                                    "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}),
        "driver-config-values": {"configs": []}}]}
    assert api.post(f"{server.cdm}/job", json=job).status_code == 200
    started = api.put(f"{server.cdm}/job/copy_t/start")
    assert started.status_code == 200, started.text
    assert started.json()["submissions"][0]["status"] == "BOOTING"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        submission = api.get(f"{server.cdm}/job/copy_t/status").json()["submissions"][0]
        if submission["status"] in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.3)
    assert submission["status"] == "SUCCEEDED", submission
    counters = submission["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]
    assert counters["ROWS_READ"] == counters["ROWS_WRITTEN"] == 1000
    with sqlite3.connect(dest) as conn:
        assert conn.execute("SELECT count(*), sum(id) FROM t").fetchone() == (1000, sum(range(1000)))
