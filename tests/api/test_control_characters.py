"""Characters no name or value holds, on a SQLite store and on a PostgreSQL one: a NUL anywhere (path,
query, JSON body, the login's fields) is refused as invalid input, where PostgreSQL used to answer it
with a 500 and a reset connection; a control character after a name in a path (``name%0A``) does not
stand for that name, where the router used to find, start and delete ``name``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from conftest import PG_DATABASE, PG_HOST, PG_PORT, PG_USER, RunningServer, start_server
from helpers import assert_cdm_error, assert_gateway_error, job_body, sqlite_link_body, sqlite_source


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, autocommit=True)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose store is SQLite or PostgreSQL, with the links ``src`` and ``dst`` and the job ``name``."""
    env: dict[str, str] = {}
    database = None
    if request.param == "postgresql":
        request.getfixturevalue("pg_available")
        database = f"opencdm_store_{uuid.uuid4().hex[:8]}"
        with _admin() as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        env["OPENCDM_DATABASE_URL"] = f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"
    files = tmp_path_factory.mktemp(f"control-{request.param}")
    server = start_server(files / "home", env=env)
    server.files = files  # type: ignore[attr-defined]
    try:
        with server.client() as api:
            source = sqlite_source(files / "source.db")
            assert api.post(f"{server.cdm}/link", json=sqlite_link_body("src", source)).status_code == 200
            assert api.post(f"{server.cdm}/link", json=sqlite_link_body("dst", files / "t.db")).status_code == 200
            assert api.post(f"{server.cdm}/job", json=job_body("name", "src", "dst")).status_code == 200
        yield server
    finally:
        server.stop()
        if database is not None:
            with _admin() as conn:
                conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


def _login(server: RunningServer, user: str, password: str, project: str) -> dict[str, Any]:
    return {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": user, "password": password}}},
        "scope": {"project": {"name": project}},
    }}


def test_a_nul_is_invalid_input_everywhere_and_the_connection_stays_open(store_server: RunningServer) -> None:
    server = store_server
    cdm = server.cdm
    credentials = server.credentials
    files = server.files  # type: ignore[attr-defined]
    with server.client() as api:
        link_with_nul = sqlite_link_body("nul", files / "nul.db")
        link_with_nul["links"][0]["link-config-values"]["configs"][0]["inputs"][0]["value"] = "SQLITE\x00"
        job_with_nul = job_body("nul_job", "src", "dst", table="t\x00")
        refused = {
            "path, job": api.get(f"{cdm}/job/na%00me"),
            "path, link": api.delete(f"{cdm}/link/src%00"),
            "path, start": api.put(f"{cdm}/job/name%00/start"),
            "query, filter": api.get(f"{cdm}/job/all", params={"filter": "na\x00me"}),
            "query, jname": api.get(f"{cdm}/submissions", params={"jname": "name\x00"}),
            "body, link name": api.post(f"{cdm}/link", json=sqlite_link_body("a\x00b", files / "n.db")),
            "body, link input": api.post(f"{cdm}/link", json=link_with_nul),
            "body, job input": api.post(f"{cdm}/job", json=job_with_nul),
            "body, job update": api.put(f"{cdm}/job/name", json=job_body("name", "src", "dst", table="t\x00")),
            "body, start variables": api.put(f"{cdm}/job/name/start", json={"variables": {"x": "\x00"}}),
        }
        for where, response in refused.items():
            assert "NUL" in assert_cdm_error(response, "Cdm.0014"), where
        # The login answers in IAM's shape, as for any other malformed login.
        for field in ("user", "password", "project"):
            given = {"user": credentials["user"], "password": credentials["password"], "project": "opencdm"}
            given[field] += "\x00"
            login = api.post("/v3/auth/tokens", json=_login(server, **given))
            assert "NUL" in assert_gateway_error(login, 400, "IAM.0001")["error_msg"], field
        assert "NUL" in assert_gateway_error(api.post("/v3/auth/tokens%00"), 400, "IAM.0001")["error_msg"]
        # The kept-alive connection still serves, and nothing was written or changed.
        jobs = api.get(f"{cdm}/job/all", params={"page_size": 1000}).json()["jobs"]
        assert [job["name"] for job in jobs] == ["name"]
        assert api.get(f"{cdm}/job/name/status").json()["submissions"][0]["status"] == "NEVER_EXECUTED"
        shown = api.get(f"{cdm}/job/name").json()["jobs"][0]
        tables = [i["value"] for c in shown["from-config-values"]["configs"] for i in c["inputs"]
                  if i["name"] == "fromJobConfig.tableName"]
        assert tables == ["t"]
        assert [link["name"] for link in api.get(f"{cdm}/links").json()["links"]] == ["dst", "src"]
        # A text that only looks like an escaped NUL ("\\u0000" in JSON) is no NUL: refused for the
        # characters a name may not hold, as any other.
        response = api.post(f"{cdm}/link", json=sqlite_link_body("looks\\u0000like", files / "n.db"))
        assert response.status_code == 400 and "NUL" not in response.text, response.text
    assert "unexpected error" not in server.log()


@pytest.mark.parametrize("control", ["%0A", "%0D", "%09", "%0D%0A"])
def test_a_name_followed_by_a_control_character_is_not_that_name(
    store_server: RunningServer, control: str
) -> None:
    server = store_server
    cdm = server.cdm
    with server.client() as api:
        for response in (
            api.delete(f"{cdm}/job/name{control}"),
            api.get(f"{cdm}/job/name{control}"),
            api.put(f"{cdm}/job/name/start{control}"),
            api.put(f"{cdm}/job/name{control}/start"),
            api.get(f"{cdm}/job/name/status{control}"),
            api.delete(f"{cdm}/link/src{control}"),
            api.get(f"{cdm}/link/src{control}"),
            api.put(f"{cdm}/link/src{control}", json=sqlite_link_body("src", server.files / "other.db"))  # type: ignore[attr-defined],
        ):
            assert_cdm_error(response, "Cdm.0014")
        # Still there, untouched, never started.
        assert api.get(f"{cdm}/job/name").status_code == 200
        assert api.get(f"{cdm}/job/name/status").json()["submissions"][0]["status"] == "NEVER_EXECUTED"
        link = api.get(f"{cdm}/link/src").json()["links"][0]
        database = [i["value"] for c in link["link-config-values"]["configs"] for i in c["inputs"]
                    if i["name"] == "linkConfig.database"]
        assert database and not database[0].endswith("other.db")


def test_an_anonymous_caller_gets_the_same_answer(store_server: RunningServer) -> None:
    """Refused for its characters alone: the answer says nothing about the caller's access."""
    response = httpx.delete(f"{store_server.url}{store_server.cdm}/job/name%0A")
    assert_cdm_error(response, "Cdm.0014")
