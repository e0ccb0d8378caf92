"""API error handling through HTTP with a token: CDM's error shape and codes (docs/cdm-api.md §9), clear
messages for bad input, no 500s, and nothing half-created when a request fails."""

from __future__ import annotations

import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import RunningServer
from helpers import (
    assert_cdm_error,
    assert_gateway_error,
    job_body,
    sqlite_link_body,
    sqlite_source,
)

JSON = {"Content-Type": "application/json;charset=utf-8"}


def unique(prefix: str) -> str:
    # The server is shared by every API test module: names must not collide.
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def links(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Two SQLite links (a source with a table, an empty destination) for the job tests."""
    folder = tmp_path_factory.mktemp("errors-db")
    source, dest = unique("err_src"), unique("err_dst")
    with server.client() as api:
        for name, path in ((source, sqlite_source(folder / "src.db")), (dest, folder / "dst.db")):
            response = api.post(f"{server.cdm}/link", json=sqlite_link_body(name, path))
            assert response.status_code == 200, response.text
    return source, dest


# --- malformed requests ------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [JSON, {}], ids=["json-content-type", "no-content-type"])
def test_malformed_json_says_the_json_is_invalid(
    server: RunningServer, api: httpx.Client, headers: dict[str, str]
) -> None:
    response = api.post(f"{server.cdm}/link", content=b'{"links": [{"name": "x",', headers=headers)
    message = assert_cdm_error(response, response.json().get("errCode", "?"))
    assert response.json()["errCode"].startswith("Cdm.")
    assert "JSON" in message, message


def test_missing_required_field_is_named(server: RunningServer, api: httpx.Client, tmp_path: Path) -> None:
    body = sqlite_link_body(unique("no_connector"), tmp_path / "x.db")
    del body["links"][0]["connector-name"]
    message = assert_cdm_error(api.post(f"{server.cdm}/link", json=body), "Cdm.0014")
    assert "connector-name" in message, message

    job = job_body(unique("no_from_link"), "a", "b")
    del job["jobs"][0]["from-link-name"]
    message = assert_cdm_error(api.post(f"{server.cdm}/job", json=job), "Cdm.0014")
    assert "from-link-name" in message, message


@pytest.mark.parametrize(("field", "value"), [
    ("links", "not-a-list"),
    ("links", []),
    ("enabled", "maybe"),
    ("link-config-values", "linkConfig"),
    ("name", ["a", "list"]),
])
def test_wrong_type_is_400(
    server: RunningServer, api: httpx.Client, tmp_path: Path, field: str, value: Any
) -> None:
    body = sqlite_link_body(unique("typed"), tmp_path / "x.db")
    if field == "links":
        body["links"] = value
    else:
        body["links"][0][field] = value
    message = assert_cdm_error(api.post(f"{server.cdm}/link", json=body), "Cdm.0014")
    assert field in message, message


def test_unknown_connector(server: RunningServer, api: httpx.Client, tmp_path: Path) -> None:
    body = sqlite_link_body(unique("odd"), tmp_path / "x.db")
    body["links"][0]["connector-name"] = "no-such-connector"
    message = assert_cdm_error(api.post(f"{server.cdm}/link", json=body), "Cdm.0102")
    assert "no-such-connector" in message


@pytest.mark.parametrize("name", ["1bad name", "bad name", "1starts_with_digit", "bad/slash", "x" * 241, ""])
def test_link_name_rules(server: RunningServer, api: httpx.Client, tmp_path: Path, name: str) -> None:
    response = api.post(f"{server.cdm}/link", json=sqlite_link_body(name, tmp_path / "x.db"))
    assert response.status_code == 400, response.text
    assert response.json()["errCode"].startswith("Cdm.")


def test_duplicate_link_name(server: RunningServer, api: httpx.Client, tmp_path: Path) -> None:
    body = sqlite_link_body(unique("dup"), tmp_path / "x.db")
    assert api.post(f"{server.cdm}/link", json=body).status_code == 200
    message = assert_cdm_error(api.post(f"{server.cdm}/link", json=body), "Cdm.0315")
    assert body["links"][0]["name"] in message


def test_job_name_rules(server: RunningServer, api: httpx.Client, links: tuple[str, str]) -> None:
    for name in ("1bad name", "all"):
        response = api.post(f"{server.cdm}/job", json=job_body(name, *links))
        assert response.status_code == 400, response.text
        assert response.json()["errCode"].startswith("Cdm.")


def test_unknown_link_in_a_job(server: RunningServer, api: httpx.Client, links: tuple[str, str]) -> None:
    name = unique("orphan")
    message = assert_cdm_error(
        api.post(f"{server.cdm}/job", json=job_body(name, links[0], "no_such_link")), "Cdm.0101"
    )
    assert "no_such_link" in message
    # Nothing half-created: the job the failed request named does not exist.
    assert_cdm_error(api.get(f"{server.cdm}/job/{name}"), "Cdm.0100")


def test_failed_multi_job_create_leaves_nothing(
    server: RunningServer, api: httpx.Client, links: tuple[str, str]
) -> None:
    # The first job is valid, the second is not: the request is one transaction.
    good, bad = unique("good"), unique("bad")
    body = {"jobs": [job_body(good, *links)["jobs"][0], job_body(bad, links[0], "no_such_link")["jobs"][0]]}
    assert_cdm_error(api.post(f"{server.cdm}/job", json=body), "Cdm.0101")
    for name in (good, bad):
        assert_cdm_error(api.get(f"{server.cdm}/job/{name}"), "Cdm.0100")
        assert_cdm_error(api.get(f"{server.cdm}/job/{name}/status"), "Cdm.0100")
    listed = api.get(f"{server.cdm}/job/all", params={"filter": good}).json()
    assert listed["total"] == 0 and listed["jobs"] == [], listed


def test_failed_link_create_and_validate_only_leave_nothing(
    server: RunningServer, api: httpx.Client, tmp_path: Path
) -> None:
    name = unique("ghost")
    body = sqlite_link_body(name, tmp_path / "x.db")
    body["links"][0]["connector-name"] = "no-such-connector"
    assert_cdm_error(api.post(f"{server.cdm}/link", json=body), "Cdm.0102")
    assert_cdm_error(api.get(f"{server.cdm}/link/{name}"), "Cdm.0101")

    # validate=true checks but never persists (docs/cdm-api.md §6.1).
    sqlite3.connect(tmp_path / "x.db").close()
    checked = api.post(f"{server.cdm}/link", params={"validate": "true"},
                       json=sqlite_link_body(name, tmp_path / "x.db"))
    assert checked.status_code == 200, checked.text
    assert_cdm_error(api.get(f"{server.cdm}/link/{name}"), "Cdm.0101")


# --- unknown resources -------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "suffix"), [
    ("GET", ""),
    ("GET", "/status"),
    ("PUT", "/start"),
    ("PUT", "/stop"),
    ("DELETE", ""),
])
def test_unknown_job_is_cdm_0100(server: RunningServer, api: httpx.Client, method: str, suffix: str) -> None:
    name = unique("missing")
    message = assert_cdm_error(api.request(method, f"{server.cdm}/job/{name}{suffix}"), "Cdm.0100")
    assert name in message


def test_unknown_job_history_and_update(server: RunningServer, api: httpx.Client) -> None:
    assert_cdm_error(api.get(f"{server.cdm}/submissions", params={"jname": "missing_job"}), "Cdm.0100")
    assert_cdm_error(
        api.put(f"{server.cdm}/job/missing_job", json=job_body("missing_job", "a", "b")), "Cdm.0100"
    )


@pytest.mark.parametrize("path", ["/job/no%20such%20job%2Fx/status", "/job/a%2Fb", "/link/a%2Fb"])
def test_unknown_name_with_an_encoded_slash(server: RunningServer, api: httpx.Client, path: str) -> None:
    # The SDK percent-encodes path parameters with quote(v, safe=''), so "/" arrives as %2F (§11
    # capture "ShowJobStatus(unknown job, name with space and slash)"). Such a name can never exist,
    # and clients such as terraform read "gone" only from 400 + Cdm.0100/Cdm.0101.
    response = api.get(server.cdm + path)
    assert_cdm_error(response, "Cdm.0101" if "/link/" in path else "Cdm.0100")


def test_unknown_name_with_a_space(server: RunningServer, api: httpx.Client) -> None:
    message = assert_cdm_error(api.get(f"{server.cdm}/job/no%20such%20job/status"), "Cdm.0100")
    assert "no such job" in message


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_unknown_link_is_cdm_0101(server: RunningServer, api: httpx.Client, method: str) -> None:
    assert_cdm_error(api.request(method, f"{server.cdm}/link/{unique('missing')}"), "Cdm.0101")


def test_unknown_cluster(server: RunningServer, api: httpx.Client) -> None:
    other = f"/v1.1/{server.project_id}/clusters/{uuid.uuid4()}"
    assert_cdm_error(api.get(other), "Cdm.0001")
    assert_cdm_error(api.get(f"{other}/cdm/job/x/status"), "Cdm.0001")


@pytest.mark.parametrize("path", [
    "/v1.1/{project}/no-such-resource",
    "/v1.1/{project}/clusters/{cluster}/cdm/nothing",
    "/v2/{project}/clusters",
    "/",
])
def test_unknown_path_is_apigw_0101(server: RunningServer, api: httpx.Client, path: str) -> None:
    target = path.format(project=server.project_id, cluster=server.cluster_id)
    assert_gateway_error(api.get(target), 404, "APIGW.0101")
    # Without credentials too: the route table is not a secret, and nothing else is said.
    assert_gateway_error(httpx.get(server.url + target), 404, "APIGW.0101")


# --- robustness --------------------------------------------------------------------------------

GARBAGE_BODIES = [
    b"", b"null", b"[]", b'"text"', b"42", b"{}", b"{bad", b"\xff\xfe", b'{"links": [null]}',
    b'{"links": [{}]}', b'{"jobs": [null]}', b'{"jobs": [{}]}', b'{"jobs": {"name": "x"}}',
    b'{"links": [{"name": "x", "connector-name": "generic-jdbc-connector", "link-config-values": '
    b'{"configs": [{"name": "linkConfig", "inputs": [{"name": "linkConfig.database"}]}]}}]}',
    b'{"links": [{"name": "x", "connector-name": "generic-jdbc-connector", "link-config-values": '
    b'{"configs": [{"name": "linkConfig", "inputs": [{"value": 1}]}]}}]}',
    b'{"variables": "x"}', b'{"variables": [1]}',
]


@pytest.mark.parametrize(("method", "suffix"), [
    ("POST", "/link"),
    ("PUT", "/link/some_link"),
    ("POST", "/job"),
    ("PUT", "/job/some_job"),
    ("PUT", "/job/some_job/start"),
])
def test_garbage_bodies_never_500(server: RunningServer, api: httpx.Client, method: str, suffix: str) -> None:
    for body in GARBAGE_BODIES:
        response = api.request(method, server.cdm + suffix, content=body, headers=JSON)
        assert 400 <= response.status_code < 500, (body, response.status_code, response.text)
        assert response.json()["errCode"].startswith("Cdm."), (body, response.text)


def test_garbage_bodies_on_cluster_and_random_job_routes_never_500(server: RunningServer, api: httpx.Client) -> None:
    base = f"/v1.1/{server.project_id}"
    for method, path in (("POST", "/clusters/job"), ("POST", f"/clusters/{server.cluster_id}/action"),
                         ("POST", "/clusters")):
        for body in (b"{bad", b"[]", b"{}", b"null", b'{"jobs": [{}], "clusters": "x"}'):
            response = api.request(method, base + path, content=body, headers=JSON)
            assert 400 <= response.status_code < 500, (path, body, response.status_code, response.text)


def test_bad_query_parameters(server: RunningServer, api: httpx.Client) -> None:
    for params in ({"page_no": "0"}, {"page_no": "x"}, {"page_size": "-1"}):
        assert_cdm_error(api.get(f"{server.cdm}/job/all", params=params), "Cdm.0014")
    # jname is required by ShowSubmissions.
    message = assert_cdm_error(api.get(f"{server.cdm}/submissions"), "Cdm.0014")
    assert "jname" in message


def test_created_link_is_visible_to_the_next_request(
    server: RunningServer, api: httpx.Client, tmp_path: Path
) -> None:
    # A 200 must mean "committed": clients create a link and use it in the very next call.
    for _ in range(20):
        name = unique("at_once")
        assert api.post(f"{server.cdm}/link", json=sqlite_link_body(name, tmp_path / "x.db")).status_code == 200
        shown = api.get(f"{server.cdm}/link/{name}")
        assert shown.status_code == 200, shown.text
        assert api.delete(f"{server.cdm}/link/{name}").status_code == 200
        assert_cdm_error(api.get(f"{server.cdm}/link/{name}"), "Cdm.0101")


def test_racing_duplicate_creates_never_500(server: RunningServer, tmp_path: Path, links: tuple[str, str]) -> None:
    # Concurrent creates of one name all pass the service's "does it exist" check; the store's unique
    # constraint must then answer as a client conflict. Ideally every loser gets the duplicate-name
    # code; Cdm.0017 ("failed to save") is the safety net of the error handlers.
    token = server.token()

    def create(request: tuple[str, dict[str, Any]]) -> httpx.Response:
        path, body = request
        return httpx.post(server.url + server.cdm + path, json=body, headers={"X-Auth-Token": token}, timeout=60)

    for path, body, duplicate in (
        ("/link", sqlite_link_body(unique("race"), tmp_path / "x.db"), "Cdm.0315"),
        ("/job", job_body(unique("race"), *links), "Cdm.0104"),
    ):
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(create, [(path, body)] * 8))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [400] * 7, [r.text for r in responses]
        codes = {r.json()["errCode"] for r in responses if r.status_code == 400}
        assert codes <= {duplicate, "Cdm.0017"}, codes
