"""Hostile requests: forged and replayed signatures, oversized and deep bodies, out-of-range pages,
names that would be stored but never found again, and methods a path does not take."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e.job_support import finished_run

from conftest import RunningServer, start_server
from helpers import (
    assert_cdm_error,
    assert_gateway_error,
    authorization,
    job_body,
    sdk_signature,
    signed_headers,
    sqlite_link_body,
    sqlite_source,
)

LIMIT = 64 * 1024


def _server_with_links(tmp_path_factory: pytest.TempPathFactory, name: str,
                       env: dict[str, str]) -> RunningServer:
    """A server of its own with the links ``src`` (a SQLite table ``t``) and ``dst``."""
    files = tmp_path_factory.mktemp(f"{name}-files")
    running = start_server(tmp_path_factory.mktemp(f"{name}-home"), env={**env, "OPENCDM_FILE_ROOTS": str(files)})
    running.files = files  # type: ignore[attr-defined]
    with running.client() as api:
        source = sqlite_source(files / "source.db")
        assert api.post(f"{running.cdm}/link", json=sqlite_link_body("src", source)).status_code == 200
        assert api.post(f"{running.cdm}/link", json=sqlite_link_body("dst", files / "t.db")).status_code == 200
    return running


@pytest.fixture(scope="module")
def small_bodies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = _server_with_links(tmp_path_factory, "hardening", {"OPENCDM_MAX_BODY_BYTES": str(LIMIT)})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def refusing_replays(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose operator asked for replays to be refused (OPENCDM_REFUSE_REPLAYS)."""
    running = _server_with_links(tmp_path_factory, "no-replays", {"OPENCDM_REFUSE_REPLAYS": "true"})
    yield running
    running.stop()


def _signed(server: RunningServer, method: str, target: str, body: bytes = b"") -> dict[str, str]:
    creds = server.credentials
    return signed_headers(server.url, method, target, creds["access_key"], creds["secret_key"], server.project_id,
                          body)


# --- signatures ------------------------------------------------------------------------------------


def test_a_body_hash_header_does_not_replace_the_body(small_bodies: RunningServer) -> None:
    """An X-Sdk-Content-Sha256 naming a captured body's hash cannot carry another body."""
    server = small_bodies
    target = f"{server.cdm}/job"
    captured = b'{"jobs": []}'
    forged = job_body_bytes("forged", "src", "dst")
    headers = {
        "Content-Type": "application/json;charset=utf-8", "Host": f"127.0.0.1:{server.port}",
        "User-Agent": "huaweicloud-usdk-python/3.0", "X-Project-Id": server.project_id,
        "X-Sdk-Date": _signed(server, "POST", target)["X-Sdk-Date"],
        "X-Sdk-Content-Sha256": hashlib.sha256(captured).hexdigest(),
    }
    # What an attacker holds: a signature over the captured body, with the hash header signed too.
    names, signature = sdk_signature("POST", target, headers, captured, server.credentials["secret_key"])
    headers["Authorization"] = authorization(server.credentials["access_key"], names, signature)
    response = httpx.post(server.url + target, headers=headers, content=forged)
    assert_gateway_error(response, 401, "APIGW.0301")
    with server.client() as api:
        assert_cdm_error(api.get(f"{server.cdm}/job/forged"), "Cdm.0100")


def job_body_bytes(name: str, source: str, target: str) -> bytes:
    return httpx.Request("POST", "http://x", json=job_body(name, source, target)).content


def test_a_resent_signed_request_is_served_as_cdm_serves_it(small_bodies: RunningServer) -> None:
    """The SDK's X-Sdk-Date has one-second steps: a client's second identical call within a second is
    signed byte for byte as the first. CDM's gateway serves it (inside the 15-minute window)."""
    server = small_bodies
    create = f"{server.cdm}/job"
    body = job_body_bytes("resent", "src", "dst")
    headers = _signed(server, "POST", create, body)
    assert httpx.post(server.url + create, headers=headers, content=body).status_code == 200
    # Served, and answered on its merits: the name is taken.
    assert_cdm_error(httpx.post(server.url + create, headers=headers, content=body), "Cdm.0104")
    with server.client() as api:
        assert api.delete(f"{server.cdm}/job/resent").status_code == 200
    assert httpx.post(server.url + create, headers=headers, content=body).status_code == 200
    with server.client() as api:
        assert api.get(f"{server.cdm}/job/resent").json()["jobs"][0]["name"] == "resent"

    # StartJob again right after a run that failed at once (its source table does not exist).
    start = f"{server.cdm}/job/fails_at_once/start"
    with server.client() as api:
        assert api.post(create, json=job_body("fails_at_once", "src", "dst", table="missing")).status_code == 200
    start_headers = _signed(server, "PUT", start)
    first = httpx.put(server.url + start, headers=start_headers)
    assert first.status_code == 200, first.text
    with server.client() as api:
        assert finished_run(api, server, "fails_at_once")["status"] == "FAILED"
    again = httpx.put(server.url + start, headers=start_headers)
    assert again.status_code == 200, again.text
    with server.client() as api:
        finished_run(api, server, "fails_at_once")
        history = api.get(f"{server.cdm}/submissions", params={"jname": "fails_at_once"}).json()
    assert history["total"] == 2, history


def test_a_resent_signature_carries_no_other_body_or_query(small_bodies: RunningServer) -> None:
    server = small_bodies
    create = f"{server.cdm}/job"
    body = job_body_bytes("tampered", "src", "dst")
    headers = _signed(server, "POST", create, body)
    other_body = job_body_bytes("tampered_too", "src", "dst")
    assert_gateway_error(httpx.post(server.url + create, headers=headers, content=other_body), 401, "APIGW.0301")
    listing = f"{server.cdm}/job/all?page_size=10"
    list_headers = _signed(server, "GET", listing)
    assert httpx.get(server.url + listing, headers=list_headers).status_code == 200
    assert_gateway_error(httpx.get(server.url + listing.replace("10", "100"), headers=list_headers),
                         401, "APIGW.0301")
    with server.client() as api:
        assert_cdm_error(api.get(f"{server.cdm}/job/tampered_too"), "Cdm.0100")


def test_a_replayed_state_changing_request_is_refused_when_asked(refusing_replays: RunningServer) -> None:
    server = refusing_replays
    create = f"{server.cdm}/job"
    body = job_body_bytes("replayed", "src", "dst")
    headers = _signed(server, "POST", create, body)
    assert httpx.post(server.url + create, headers=headers, content=body).status_code == 200
    with server.client() as api:
        assert api.delete(f"{server.cdm}/job/replayed").status_code == 200
    # The very same signed request, inside the date window: refused, and the job stays deleted.
    again = httpx.post(server.url + create, headers=headers, content=body)
    assert "replay" in assert_gateway_error(again, 401, "APIGW.0301")["error_msg"]
    with server.client() as api:
        assert_cdm_error(api.get(f"{server.cdm}/job/replayed"), "Cdm.0100")

    start = f"{server.cdm}/job/started/start"
    with server.client() as api:
        assert api.post(create, json=job_body("started", "src", "dst")).status_code == 200
    start_headers = _signed(server, "PUT", start)
    first = httpx.put(server.url + start, headers=start_headers)
    assert first.status_code == 200, first.text
    assert_gateway_error(httpx.put(server.url + start, headers=start_headers), 401, "APIGW.0301")
    with server.client() as api:
        history = api.get(f"{server.cdm}/submissions", params={"jname": "started"}).json()
    assert history["total"] == 1, history


def test_the_same_signed_get_may_come_twice_even_when_replays_are_refused(
    refusing_replays: RunningServer,
) -> None:
    """The SDK signs with one-second dates: a polling loop sends identical GETs."""
    server = refusing_replays
    target = f"{server.cdm}/link/src"
    headers = _signed(server, "GET", target)
    for _ in range(3):
        assert httpx.get(server.url + target, headers=headers).status_code == 200


# --- bodies ----------------------------------------------------------------------------------------


def test_an_oversized_body_is_refused_with_413_before_it_is_read(small_bodies: RunningServer) -> None:
    server = small_bodies
    # Anonymous, declared length far over the limit, only the head sent: the answer comes anyway.
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(f"POST {server.cdm}/job HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {200 * 2**20}\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(4096):  # the server closes the connection after its answer
            answer += chunk
    text = answer.decode(errors="replace")
    assert text.startswith("HTTP/1.1 413"), text
    assert "Cdm.0014" in text and str(LIMIT) in text, text

    with server.client() as api:
        # Chunked (no Content-Length): counted as it arrives.
        chunked = api.post(f"{server.cdm}/job", content=iter([b"[" * 1024] * (LIMIT // 1024 + 8)),
                           headers={"Content-Type": "application/json"})
        assert "limit" in assert_cdm_error(chunked, "Cdm.0014", 413)
        # Just under the limit: read and judged on its content.
        padded = b'{"jobs": [], "pad": "' + b"x" * (LIMIT - 100) + b'"}'
        assert api.post(f"{server.cdm}/job", content=padded).status_code == 400


def test_deeply_nested_json_is_400(small_bodies: RunningServer) -> None:
    server = small_bodies
    deep = b"[" * 10_000 + b"]" * 10_000
    token = httpx.post(f"{server.url}/v3/auth/tokens", content=deep, headers={"Content-Type": "application/json"})
    assert token.status_code == 400, token.text
    assert token.json()["error_code"] == "IAM.0001"
    with server.client() as api:
        assert api.post(f"{server.cdm}/job", content=deep).status_code == 400


@pytest.mark.parametrize("page_no", ["9223372036854775807", "1e30", "0", "-1", "abc"])
def test_out_of_range_pages_are_400(small_bodies: RunningServer, page_no: str) -> None:
    server = small_bodies
    with server.client() as api:
        assert_cdm_error(api.get(f"{server.cdm}/job/all", params={"page_no": page_no}), "Cdm.0014")
        assert_cdm_error(api.get(f"{server.cdm}/submissions", params={"jname": "x", "page_no": page_no}),
                         "Cdm.0014")
        assert_cdm_error(api.get(f"{server.cdm}/job/all", params={"page_size": page_no}), "Cdm.0014")


# --- names and methods -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sec_nl\n", "tab\there", "a/b", "1st", "", "x" * 241, "émile"])
def test_a_name_no_route_could_find_again_is_refused_at_create(small_bodies: RunningServer, name: str) -> None:
    server = small_bodies
    files: Path = server.files  # type: ignore[attr-defined]
    with server.client() as api:
        link = api.post(f"{server.cdm}/link", json=sqlite_link_body(name, files / "n.db"))
        assert link.status_code == 400, link.text
        job = api.post(f"{server.cdm}/job", json=job_body(name, "src", "dst"))
        assert job.status_code == 400, job.text
        cluster = api.post(f"/v1.1/{server.project_id}/clusters", json={"cluster": {"name": name}})
        assert cluster.status_code == 400, cluster.text
        names = [j["name"] for j in api.get(f"{server.cdm}/job/all", params={"page_size": 1000}).json()["jobs"]]
    assert name not in names


def test_the_longest_valid_name_round_trips(small_bodies: RunningServer) -> None:
    server = small_bodies
    name = "L" + "o_-9" * 59 + "ngx"
    assert len(name) == 240
    with server.client() as api:
        assert api.post(f"{server.cdm}/job", json=job_body(name, "src", "dst")).status_code == 200
        assert api.get(f"{server.cdm}/job/{name}").json()["jobs"][0]["name"] == name
        assert api.delete(f"{server.cdm}/job/{name}").status_code == 200


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("POST", "/job/some_job", "DELETE, GET, PUT"),
    ("DELETE", "/submissions", "GET"),
    ("PATCH", "/link/some_link", "DELETE, GET, PUT"),
])
def test_405_names_the_allowed_methods(small_bodies: RunningServer, method: str, path: str, allowed: str) -> None:
    server = small_bodies
    with server.client() as api:
        response = api.request(method, server.cdm + path)
    assert response.status_code == 405, response.text
    assert response.headers["Allow"] == allowed
    assert response.json()["errCode"] == "Cdm.0014"


def test_405_to_an_anonymous_caller_learns_nothing_more_than_401(small_bodies: RunningServer) -> None:
    response = httpx.post(f"{small_bodies.url}{small_bodies.cdm}/job/some_job")
    assert_gateway_error(response, 401, "APIGW.0301")
