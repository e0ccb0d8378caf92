"""The ``opencdm`` command line against a real server (admin commands on its store, the rest over HTTP),
and the client's reading of both error shapes."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

import opencdm
from opencdm.cli import app
from opencdm.client import CdmApiError, CdmClient, Credentials

from conftest import RunningServer, sqlite_link, start_server

Cli = Callable[..., Result]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """This module's own server, instead of the session's: its tests add projects and clusters, which
    the tests of the shared one do not expect (tests/api/test_sdk.py lists its clusters)."""
    running = start_server(tmp_path_factory.mktemp("cli-home"))
    yield running
    running.stop()


@pytest.fixture
def cli(server: RunningServer) -> Cli:
    """Runs ``opencdm ...`` with the environment of a user on the server host (credentials.json)."""
    runner = CliRunner()
    env: dict[str, str | None] = {
        "OPENCDM_URL": server.url, "OPENCDM_HOME": str(server.home), "OPENCDM_DATABASE_URL": None,
        "OPENCDM_USER": None, "OPENCDM_PASSWORD": None, "OPENCDM_PROJECT_ID": None, "OPENCDM_CLUSTER_ID": None,
    }

    def run(*args: str, extra_env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, list(args), env={**env, **(extra_env or {})})

    return run


def unique(prefix: str) -> str:
    # The server is shared by the module's tests: names must not collide across them.
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def inputs(pairs: dict[str, str]) -> list[str]:
    return [arg for key, value in pairs.items() for arg in ("--input", f"{key}={value}")]


def make_sqlite(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(20))")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(rows)])


def make_links(cli: Cli, tmp_path: Path, rows: int = 1000) -> tuple[str, str]:
    make_sqlite(tmp_path / "src.db", rows)
    names = unique("src"), unique("dst")
    for name, db in zip(names, ("src.db", "dst.db"), strict=True):
        result = cli("link", "create", name, "--connector", "generic-jdbc-connector",
                     *inputs(sqlite_link(str(tmp_path / db))))
        assert result.exit_code == 0, result.output
    return names


def make_copy_job(cli: Cli, links: tuple[str, str], table: str = "t") -> str:
    name = unique("copy")
    result = cli("job", "create", name, "--from-link", links[0], "--to-link", links[1],
                 "--from", f"fromJobConfig.tableName={table}", "--to", "tableName=t",
                 "--to", "tablePreparation=CREATE_WHEN_NOT_EXIST",
                 "--driver", "throttlingConfig.numExtractors=1")
    assert result.exit_code == 0, result.output
    return name


def test_admin_creates_a_project_a_user_and_an_access_key(cli: Cli, server: RunningServer) -> None:
    project_name, user = unique("proj"), unique("user")
    project = as_json(cli("admin", "project", "create", project_name, "--json"))
    assert project["name"] == project_name and len(project["id"]) == 32

    created = as_json(cli("admin", "user", "create", user, "--password", "Pa55-word", "--project", project_name,
                          "--json"))
    assert created["projects"] == [project["id"]]
    pair = as_json(cli("admin", "ak", "create", "--user", user, "--project", project["id"], "--json"))
    assert len(pair["access_key"]) == 20 and len(pair["secret_key"]) == 40

    assert server.token(user, "Pa55-word", project["id"])
    listed = as_json(cli("admin", "project", "list", "--json"))["projects"]
    assert project_name in {p["name"] for p in listed}

    # The new user works through the client commands, in its own project with its own cluster.
    cluster = as_json(cli("admin", "cluster", "create", "etl", "--project", project_name, "--json"))
    as_user = {"OPENCDM_USER": user, "OPENCDM_PASSWORD": "Pa55-word", "OPENCDM_PROJECT_ID": project_name}
    clusters = as_json(cli("cluster", "list", "--json", extra_env=as_user))["clusters"]
    assert [c["id"] for c in clusters] == [cluster["id"]]
    assert as_json(cli("job", "list", "--json", extra_env=as_user))["total"] == 0


def test_admin_errors_exit_1_with_a_message(cli: Cli) -> None:
    name = unique("proj")
    assert cli("admin", "project", "create", name).exit_code == 0
    duplicate = cli("admin", "project", "create", name)
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    unknown = cli("admin", "user", "create", unique("user"), "--password", "x", "--project", "no-such-project")
    assert unknown.exit_code == 1 and "Project no-such-project does not exist" in unknown.output


def test_admin_on_a_new_store_bootstraps_it_first(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    result = CliRunner().invoke(
        app, ["admin", "project", "create", "analytics", "--json"],
        env={"OPENCDM_HOME": str(home), "OPENCDM_DATABASE_URL": None},
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "analytics"
    credentials = json.loads((home / "credentials.json").read_text())
    assert credentials["user"] == "admin" and len(credentials["project_id"]) == 32
    listed = CliRunner().invoke(app, ["admin", "project", "list", "--json"], env={"OPENCDM_HOME": str(home)})
    names = {project["name"] for project in json.loads(listed.stdout)["projects"]}
    assert {"analytics", "opencdm"} <= names


def test_link_create_show_update_delete_never_shows_the_password(cli: Cli, tmp_path: Path) -> None:
    name, secret = unique("link"), "S3cret-" + uuid.uuid4().hex
    values = {**sqlite_link(str(tmp_path / "a.db")), "linkConfig.password": secret}
    created = cli("link", "create", name, *inputs(values))
    assert created.exit_code == 0, created.output

    shown = cli("link", "show", name)
    assert shown.exit_code == 0, shown.output
    assert "linkConfig.database" in shown.output and secret not in shown.output
    assert secret not in cli("link", "show", name, "--json").output

    assert cli("link", "update", name, "--input", "linkConfig.username=bob").exit_code == 0
    link = as_json(cli("link", "show", name, "--json"))["links"][0]
    by_name = {item["name"]: item for item in link["link-config-values"]["configs"][0]["inputs"]}
    assert by_name["linkConfig.username"]["value"] == "bob"
    assert by_name["linkConfig.password"]["sensitive"] is True  # kept, still not shown

    deleted = cli("link", "delete", name)
    assert deleted.exit_code == 0, deleted.output
    gone = cli("link", "show", name)
    assert gone.exit_code == 1 and "Cdm.0101" in gone.output


def test_link_list_shows_names_connectors_and_dates_but_no_input(cli: Cli, tmp_path: Path) -> None:
    secret = "S3cret-" + uuid.uuid4().hex
    names = sorted(unique("listed") for _ in range(2))
    for name in names:
        values = {**sqlite_link(str(tmp_path / f"{name}.db")), "linkConfig.password": secret}
        assert cli("link", "create", name, *inputs(values)).exit_code == 0

    listed = as_json(cli("link", "list", "--json"))["links"]
    mine = [link for link in listed if link["name"] in names]
    assert [link["name"] for link in mine] == names
    assert all(link["connector-name"] == "generic-jdbc-connector" and link["creation-date"] for link in mine)
    table = cli("link", "list", extra_env={"COLUMNS": "250"})  # wide enough for one line per link
    assert table.exit_code == 0, table.output
    for name in names:
        assert name in table.output
    assert "generic-jdbc-connector" in table.output and "by admin" in table.output
    assert secret not in table.output and secret not in cli("link", "list", "--json").output
    assert str(tmp_path) not in table.output  # inputs are for link show


def test_serve_prints_the_console_url(tmp_path: Path) -> None:
    server = start_server(tmp_path / "home")
    try:
        assert f"web console at http://127.0.0.1:{server.port}/console/" in server.log()
    finally:
        server.stop()


def test_link_validate_reports_problems_and_saves_nothing(cli: Cli, tmp_path: Path) -> None:
    name = unique("link")
    result = cli("link", "create", name, "--validate", *inputs(sqlite_link(str(tmp_path / "no" / "dir" / "x.db"))))
    assert result.exit_code == 1 and "ERROR" in result.output
    assert cli("link", "show", name).exit_code == 1


def test_job_create_list_show_status(cli: Cli, tmp_path: Path) -> None:
    links = make_links(cli, tmp_path)
    name = make_copy_job(cli, links)

    listed = as_json(cli("job", "list", "--filter", name, "--json"))
    assert listed["total"] == 1 and listed["jobs"][0]["from-connector-name"] == "generic-jdbc-connector"
    table = cli("job", "list", "--filter", name)
    assert table.exit_code == 0 and name in table.output

    shown = cli("job", "show", name)
    assert shown.exit_code == 0 and "toJobConfig.tablePreparation" in shown.output
    job = as_json(cli("job", "show", name, "--json"))["jobs"][0]
    assert job["to-link-name"] == links[1] and job["status"] == "NEW"

    status = as_json(cli("job", "status", name, "--json"))["submissions"][0]
    assert status["status"] == "NEVER_EXECUTED"
    assert "NEVER_EXECUTED" in cli("job", "status", name).output


def test_job_create_and_update_from_file(cli: Cli, tmp_path: Path) -> None:
    links = make_links(cli, tmp_path)
    name = make_copy_job(cli, links)
    job = as_json(cli("job", "show", name, "--json"))["jobs"][0]
    copy_name = unique("copy")
    body = tmp_path / "job.json"
    body.write_text(json.dumps({"jobs": [{**job, "name": copy_name}]}))
    assert as_json(cli("job", "create", "--file", str(body), "--json"))["name"] == copy_name

    job["to-config-values"]["configs"][0]["inputs"].append({"name": "toJobConfig.shouldClearTable", "value": "true"})
    body.write_text(json.dumps({"jobs": [job]}))
    assert cli("job", "update", name, "--file", str(body)).exit_code == 0
    assert "toJobConfig.shouldClearTable" in cli("job", "show", name).output

    assert cli("job", "delete", copy_name).exit_code == 0
    assert cli("job", "show", copy_name).exit_code == 1


def test_job_start_wait_copies_and_prints_the_counters(cli: Cli, tmp_path: Path) -> None:
    links = make_links(cli, tmp_path, rows=1000)
    name = make_copy_job(cli, links)

    result = cli("job", "start", name, "--wait")
    assert result.exit_code == 0, result.output
    assert "ROWS_WRITTEN" in result.output and "1,000" in result.output and "SUCCEEDED" in result.output
    with sqlite3.connect(tmp_path / "dst.db") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1000,)

    history = as_json(cli("job", "history", name, "--json"))
    assert history["total"] == 1 and history["submissions"][0]["status"] == "SUCCEEDED"

    log = cli("job", "log", name)
    assert log.exit_code == 0, log.output
    assert "SUCCEEDED" in log.output.splitlines()[0] and f"run of job {name} requested by" in log.output
    assert "run ended SUCCEEDED: 1000 rows read, 1000 written" in log.output
    run = history["submissions"][0]["submission-id"]
    assert as_json(cli("job", "log", name, "--run", str(run), "--json"))["lines"][-1]["level"] == "INFO"


def test_an_entire_database_job_is_created_run_and_shown_with_its_sub_jobs(cli: Cli, tmp_path: Path) -> None:
    source, target = make_links(cli, tmp_path, rows=10)
    with sqlite3.connect(tmp_path / "src.db") as conn:
        conn.execute("CREATE TABLE u (id INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO u VALUES (?)", [(i,) for i in range(4)])
    name = unique("whole")
    created = cli("job", "create", name, "--type", "BATCH_JOB", "--from-link", source, "--to-link", target,
                  "--to", "toJobConfig.tablePreparation=CREATE_WHEN_NOT_EXIST")
    assert created.exit_code == 0, created.output

    result = cli("job", "start", name, "--wait")
    assert result.exit_code == 0, result.output
    assert "SUCCEEDED" in result.output and "14" in result.output
    assert "0 running, 2 succeeded, 0 failed" in result.output
    with sqlite3.connect(tmp_path / "dst.db") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (10,)
        assert conn.execute("SELECT count(*) FROM u").fetchone() == (4,)

    assert [job["name"] for job in as_json(cli("job", "list", "--type", "BATCH_JOB", "--json"))["jobs"]] == [name]
    shown = cli("job", "show", name)
    assert f"{name}_t, {name}_u" in shown.output, shown.output
    assert name in cli("job", "show", f"{name}_u").output
    assert as_json(cli("job", "status", f"{name}_u", "--json"))["submissions"][0]["status"] == "SUCCEEDED"


def test_job_start_wait_exits_1_on_failure(cli: Cli, tmp_path: Path) -> None:
    links = make_links(cli, tmp_path)
    name = make_copy_job(cli, links, table="missing")
    result = cli("job", "start", name, "--wait")
    assert result.exit_code == 1
    assert "FAILED" in result.output and "missing" in result.output
    assert "ERROR" in cli("job", "log", name).output


def test_unknown_job_exits_1_with_the_cdm_message(cli: Cli) -> None:
    result = cli("job", "status", "no_such_job")
    assert result.exit_code == 1
    assert "Cdm.0100" in result.stderr and "no_such_job" in result.stderr


def test_cluster_commands(cli: Cli, server: RunningServer) -> None:
    assert server.cluster_id in cli("cluster", "list").output
    detail = as_json(cli("cluster", "show", "local", "--json"))
    assert detail["id"] == server.cluster_id and detail["status"] == "200"
    # Its own cluster: stopping the shared one would stop other tests' jobs.
    name = unique("pool")
    cluster = as_json(cli("admin", "cluster", "create", name, "--project", server.project_id, "--json"))
    assert cli("cluster", "stop", name).exit_code == 0
    assert as_json(cli("cluster", "show", cluster["id"], "--json"))["status"] == "900"
    assert cli("cluster", "start", name).exit_code == 0
    assert as_json(cli("cluster", "show", cluster["id"], "--json"))["status"] == "200"
    # With two clusters, --cluster picks one.
    jobs = cli("job", "--cluster", name, "list", "--json")
    assert as_json(jobs)["total"] == 0


def test_connection_options_may_follow_the_command(cli: Cli, server: RunningServer) -> None:
    name = unique("pool")
    as_json(cli("admin", "cluster", "create", name, "--project", server.project_id, "--json"))
    unreachable = {"OPENCDM_URL": "http://127.0.0.1:9"}
    for args in (["job", "list", "--json", "--url", server.url, "--cluster", name],
                 ["job", "list", f"--url={server.url}", f"--cluster={name}", "--json"],
                 ["job", "--url", server.url, "list", "--cluster", name, "--json"]):
        assert as_json(cli(*args, extra_env=unreachable))["total"] == 0, args
    # After "--" it is an argument again, not the option.
    assert "Job[--url] doesn't exist" in cli("job", "status", "--", "--url").stderr


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"opencdm {opencdm.__version__}"


def test_an_error_is_one_line_however_long(cli: Cli, tmp_path: Path) -> None:
    """CliRunner's terminal is 80 columns wide: a long message must not be folded."""
    home = tmp_path / ("deep" * 30)
    result = cli("job", "list", extra_env={"OPENCDM_HOME": str(home)})
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and str(home) in result.stderr, result.stderr


def test_bad_input_pair_is_a_usage_error(cli: Cli) -> None:
    result = cli("link", "create", unique("link"), "--input", "linkConfig.host")
    assert result.exit_code == 2 and "KEY=VALUE" in result.output


def test_missing_credentials_are_explained(cli: Cli, tmp_path: Path) -> None:
    result = cli("job", "list", extra_env={"OPENCDM_HOME": str(tmp_path)})
    assert result.exit_code == 1 and "OPENCDM_USER" in result.output


def test_client_raises_both_error_shapes_with_their_codes() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v3/auth/tokens":
            return httpx.Response(201, headers={"X-Subject-Token": "t"}, json={"token": {"project": {"id": "p1"}}})
        if request.url.path.endswith("/clusters"):
            assert request.headers["X-Auth-Token"] == "t"
            return httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": "token expired"})
        return httpx.Response(400, json={"errCode": "Cdm.0001", "externalMessage": "Cluster [x] does not exist."})

    credentials = Credentials(user="u", password="p", project="demo")
    with CdmClient("http://cdm.test", credentials, transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(CdmApiError) as gateway:
            client.list_clusters()
        assert (gateway.value.status_code, gateway.value.code) == (401, "APIGW.0301")
        with pytest.raises(CdmApiError, match=r"^Cdm\.0001: Cluster \[x\] does not exist\.$"):
            client.show_cluster("x")
