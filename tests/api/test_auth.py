"""Authentication (IAM tokens, AK/SK over HTTP), project isolation, and secrets at rest."""

from __future__ import annotations

import json
import sqlite3
import stat
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from opencdm.service.iam import now_ms
from opencdm.store.models import Job

from conftest import RunningServer, start_server
from helpers import (
    Tenant,
    assert_cdm_error,
    assert_gateway_error,
    create_tenant,
    server_store,
    signed_call,
    signed_headers,
    tenant_token,
    without_request_id,
)

TOKENS = "/v3/auth/tokens"


def token_body(user: str, password: str, project: dict[str, str], domain: dict[str, str] | None) -> dict[str, Any]:
    user_part: dict[str, Any] = {"name": user, "password": password}
    if domain is not None:
        user_part["domain"] = domain
    return {"auth": {
        "identity": {"methods": ["password"], "password": {"user": user_part}},
        "scope": {"project": project},
    }}


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def tenant_b(server: RunningServer) -> Tenant:
    """A second project with its own admin, AK/SK pair and cluster, in the shared server's store."""
    return create_tenant(server, f"tenant_b_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def job_in_a(server: RunningServer) -> str:
    """A job in project A's cluster, written straight into the store (no connector needed)."""
    name = f"secret_job_{uuid.uuid4().hex[:8]}"
    stamp = now_ms()
    with server_store(server) as state, state.store.session() as session:
        session.add(Job(
            cluster_id=server.cluster_id, name=name, job_type="NORMAL_JOB",
            from_connector_name="generic-jdbc-connector", from_link_name="a_src",
            to_connector_name="generic-jdbc-connector", to_link_name="a_dst",
            from_config={"configs": []}, to_config={"configs": []}, driver_config={"configs": []},
            group_name="DEFAULT", enabled=True, creation_user="admin", creation_ms=stamp,
            update_user="admin", update_ms=stamp,
        ))
    return name


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose tokens live 1 s and whose admin password is set by the operator."""
    running = start_server(tmp_path_factory.mktemp("short-lived"), env={
        "OPENCDM_TOKEN_TTL": "1", "OPENCDM_ADMIN_PASSWORD": "Operator-Chosen-Pa55word",
    })
    yield running
    running.stop()


# --- tokens ----------------------------------------------------------------------------------------


def test_token_is_issued(server: RunningServer) -> None:
    body = token_body(server.credentials["user"], server.credentials["password"],
                      {"id": server.project_id}, {"name": "Default"})
    before = datetime.now(UTC)
    response = httpx.post(server.url + TOKENS, json=body)
    assert response.status_code == 201, response.text
    token = response.headers["X-Subject-Token"]
    assert len(token) >= 32
    issued = response.json()["token"]
    assert issued["project"]["id"] == server.project_id
    assert issued["user"]["name"] == server.credentials["user"]
    assert issued["methods"] == ["password"]
    # Default lifetime: 24 h, like IAM.
    expires_at = parse_iso(issued["expires_at"])
    assert timedelta(hours=23) < expires_at - before < timedelta(hours=25)
    assert parse_iso(issued["issued_at"]) < expires_at
    # The token is never echoed in the body (only the header carries it).
    assert token not in response.text
    listed = httpx.get(f"{server.url}/v1.1/{server.project_id}/clusters", headers={"X-Auth-Token": token})
    assert listed.status_code == 200, listed.text
    assert [c["id"] for c in listed.json()["clusters"]] == [server.cluster_id]


@pytest.mark.parametrize("domain", [None, {"name": "Default"}], ids=["no-domain", "Default"])
@pytest.mark.parametrize("scope", ["id", "name"])
def test_token_scopes_and_domains(server: RunningServer, domain: dict[str, str] | None, scope: str) -> None:
    project = {"id": server.project_id} if scope == "id" else {"name": "opencdm"}
    body = token_body(server.credentials["user"], server.credentials["password"], project, domain)
    response = httpx.post(server.url + TOKENS, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["token"]["project"]["id"] == server.project_id
    token = response.headers["X-Subject-Token"]
    listed = httpx.get(f"{server.url}/v1.1/{server.project_id}/clusters", headers={"X-Auth-Token": token})
    assert listed.status_code == 200, listed.text


def test_wrong_credentials_are_401_without_saying_which_part(server: RunningServer, tenant_b: Tenant) -> None:
    user, password = server.credentials["user"], server.credentials["password"]
    project = {"id": server.project_id}
    wrong_password = httpx.post(server.url + TOKENS, json=token_body(user, password + "x", project, None))
    body = assert_gateway_error(wrong_password, 401, "APIGW.0301")
    assert password not in body["error_msg"]
    unknown_user = httpx.post(server.url + TOKENS, json=token_body("nobody", password, project, None))
    wrong_domain = httpx.post(server.url + TOKENS, json=token_body(user, password, project, {"name": "Other"}))
    # No user enumeration: an unknown user reads exactly like a wrong password.
    assert without_request_id(unknown_user) == without_request_id(wrong_password)
    assert without_request_id(wrong_domain) == without_request_id(wrong_password)
    # A real user asking for a project they are not a member of, or for no real project.
    for other in ({"id": tenant_b.project_id}, {"name": tenant_b.project_name}, {"id": uuid.uuid4().hex}):
        assert_gateway_error(httpx.post(server.url + TOKENS, json=token_body(user, password, other, None)),
                             401, "APIGW.0301")


MALFORMED_TOKEN_BODIES: list[bytes] = [
    b"", b"not json", b"[]", b"null", b"{}", b'{"auth": null}', b'{"auth": {"identity": "x"}}',
    b'{"auth": {"identity": {"methods": ["token"], "token": {"id": "x"}}}}',
    b'{"auth": {"identity": {"methods": "password", "password": {"user": {"name": "admin", "password": "x"}}}, '
    b'"scope": {"project": {"id": "x"}}}}',
    b'{"auth": {"identity": {"methods": ["password"], "password": {"user": []}}}}',
    b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "x", '
    b'"domain": "Default"}}}, "scope": {"project": {"id": "x"}}}}',
    b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "x"}}}, '
    b'"scope": {"project": "x"}}}',
    b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "x"}}}, '
    b'"scope": {"project": {}}}}',
    b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": null}}}, '
    b'"scope": {"project": {"id": "x"}}}}',
    b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": ["admin"], "password": "x"}}}, '
    b'"scope": {"project": {"id": "x"}}}}',
    b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "x"}}}}}',
]


@pytest.mark.parametrize("body", MALFORMED_TOKEN_BODIES)
def test_malformed_token_request_is_400_with_a_clear_message(server: RunningServer, body: bytes) -> None:
    response = httpx.post(server.url + TOKENS, content=body, headers={"Content-Type": "application/json"})
    error = assert_gateway_error(response, 400, "IAM.0001")
    assert "auth" in error["error_msg"], error


# --- credentials on /v1.1 calls --------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    {},
    {"X-Auth-Token": "forged-token-" + "a" * 40},
    {"X-Auth-Token": ""},
    {"Authorization": "Bearer something"},
], ids=["none", "forged", "empty", "bearer"])
def test_calls_without_valid_credentials_are_401(server: RunningServer, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/clusters"), ("GET", f"/clusters/{server.cluster_id}/cdm/job/all"),
                         ("DELETE", f"/clusters/{server.cluster_id}/cdm/link/x")):
        response = httpx.request(method, f"{server.url}/v1.1/{server.project_id}{path}", headers=headers)
        assert_gateway_error(response, 401, "APIGW.0301")


def test_a_real_token_with_a_flipped_character_is_401(server: RunningServer) -> None:
    token = server.token()
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    response = httpx.get(f"{server.url}/v1.1/{server.project_id}/clusters", headers={"X-Auth-Token": forged})
    assert_gateway_error(response, 401, "APIGW.0301")


def test_credentials_are_checked_before_the_body(server: RunningServer, tenant_b: Tenant) -> None:
    # FastAPI parses a JSON body before it resolves dependencies; an anonymous caller, or one of
    # another project, must still get 401/403 and learn nothing about what the endpoint expects.
    url = f"{server.url}{server.cdm}/link"
    bad_json = httpx.post(url, content=b'{"links": [', headers={"Content-Type": "application/json"})
    assert_gateway_error(bad_json, 401, "APIGW.0301")
    assert_gateway_error(httpx.post(url, json={"links": "x"}), 401, "APIGW.0301")
    intruder = {"X-Auth-Token": tenant_token(server, tenant_b), "Content-Type": "application/json"}
    assert_gateway_error(httpx.post(url, content=b'{"links": [', headers=intruder), 403, "APIGW.0302")
    assert_gateway_error(httpx.post(url, content=b"{}", headers=intruder), 403, "APIGW.0302")


def test_aksk_over_http(server: RunningServer) -> None:
    creds = server.credentials
    target = f"/v1.1/{server.project_id}/clusters/{server.cluster_id}/cdm/job/all?filter=a%20b&page_size=10"
    ok = signed_call(server.url, "GET", target, creds["access_key"], creds["secret_key"], server.project_id)
    assert ok.status_code == 200, ok.text
    wrong_sk = signed_call(server.url, "GET", target, creds["access_key"], creds["secret_key"][::-1],
                           server.project_id)
    assert_gateway_error(wrong_sk, 401, "APIGW.0301")
    unknown_ak = signed_call(server.url, "GET", target, "UNKNOWNAK00000000000", creds["secret_key"],
                             server.project_id)
    assert_gateway_error(unknown_ak, 401, "APIGW.0301")
    stale = signed_headers(server.url, "GET", target, creds["access_key"], creds["secret_key"], server.project_id,
                           when=datetime.now(UTC) - timedelta(minutes=16))
    assert_gateway_error(httpx.get(server.url + target, headers=stale), 401, "APIGW.0301")
    # A signature is bound to its body: the same headers with another body fail.
    body = b'{"variables": {}}'
    start = f"{server.cdm}/job/nope/start"
    headers = signed_headers(server.url, "PUT", start, creds["access_key"], creds["secret_key"], server.project_id,
                             body)
    assert_cdm_error(httpx.put(server.url + start, headers=headers, content=body), "Cdm.0100")
    tampered = httpx.put(server.url + start, headers=headers, content=b'{"variables": {"a": "b"}}')
    assert_gateway_error(tampered, 401, "APIGW.0301")


def test_expired_token_is_401(short_lived: RunningServer) -> None:
    token = short_lived.token()
    url = f"{short_lived.url}/v1.1/{short_lived.project_id}/clusters"
    assert httpx.get(url, headers={"X-Auth-Token": token}).status_code == 200
    time.sleep(2.1)
    assert_gateway_error(httpx.get(url, headers={"X-Auth-Token": token}), 401, "APIGW.0301")


def test_admin_password_from_the_environment(short_lived: RunningServer) -> None:
    assert short_lived.credentials["password"] == "Operator-Chosen-Pa55word"
    body = token_body("admin", "Operator-Chosen-Pa55word", {"id": short_lived.project_id}, {"name": "Default"})
    assert httpx.post(short_lived.url + TOKENS, json=body).status_code == 201
    body = token_body("admin", "not-the-password", {"id": short_lived.project_id}, None)
    assert_gateway_error(httpx.post(short_lived.url + TOKENS, json=body), 401, "APIGW.0301")


# --- project isolation -----------------------------------------------------------------------------


def test_token_of_b_is_forbidden_in_a_and_nothing_leaks(
    server: RunningServer, tenant_b: Tenant, job_in_a: str
) -> None:
    own = server.client()
    # The job really exists in A (so a difference below would be a leak).
    assert own.get(f"{server.cdm}/job/{job_in_a}/status").json()["submissions"][0]["status"] == "NEVER_EXECUTED"

    intruder = httpx.Client(base_url=server.url, headers={"X-Auth-Token": tenant_token(server, tenant_b)})
    a_cluster = f"/v1.1/{server.project_id}/clusters/{server.cluster_id}"
    no_cluster = f"/v1.1/{server.project_id}/clusters/{uuid.uuid4()}"
    missing_job = f"missing_{uuid.uuid4().hex[:8]}"
    pairs = [  # (exists in A, does not exist in A): B must not tell them apart
        (("GET", a_cluster), ("GET", no_cluster)),
        (("GET", f"{a_cluster}/cdm/job/{job_in_a}"), ("GET", f"{a_cluster}/cdm/job/{missing_job}")),
        (("GET", f"{a_cluster}/cdm/job/{job_in_a}/status"), ("GET", f"{a_cluster}/cdm/job/{missing_job}/status")),
        (("GET", f"{a_cluster}/cdm/job/{job_in_a}/status"), ("GET", f"{no_cluster}/cdm/job/{job_in_a}/status")),
        (("PUT", f"{a_cluster}/cdm/job/{job_in_a}/stop"), ("PUT", f"{a_cluster}/cdm/job/{missing_job}/stop")),
        (("DELETE", f"{a_cluster}/cdm/job/{job_in_a}"), ("DELETE", f"{a_cluster}/cdm/job/{missing_job}")),
        (("GET", f"{a_cluster}/cdm/submissions?jname={job_in_a}"),
         ("GET", f"{a_cluster}/cdm/submissions?jname={missing_job}")),
    ]
    forbidden: tuple[int, dict[str, Any]] | None = None
    for existing, missing in pairs:
        seen = without_request_id(intruder.request(*existing))
        assert seen == without_request_id(intruder.request(*missing)), (existing, missing)
        forbidden = forbidden or seen
        assert seen == forbidden
    assert forbidden is not None and forbidden[0] == 403
    assert forbidden[1]["error_code"] == "APIGW.0302"
    # The DELETE did nothing.
    assert own.get(f"{server.cdm}/job/{job_in_a}/status").status_code == 200
    # Listing A's clusters and A's catalogue is just as forbidden.
    for path in ("/clusters", "/datastores", "/enterprise-projects"):
        assert without_request_id(intruder.get(f"/v1.1/{server.project_id}{path}")) == forbidden
    intruder.close()
    own.close()


def test_token_is_never_accepted_for_another_project(server: RunningServer, tenant_b: Tenant) -> None:
    a_token, b_token = server.token(), tenant_token(server, tenant_b)
    for token, project in ((a_token, tenant_b.project_id), (b_token, server.project_id)):
        response = httpx.get(f"{server.url}/v1.1/{project}/clusters", headers={"X-Auth-Token": token})
        assert_gateway_error(response, 403, "APIGW.0302")
    # Nor by claiming the other project in X-Project-Id, on either side of the path.
    for path_project, header_project in ((tenant_b.project_id, tenant_b.project_id),
                                         (tenant_b.project_id, server.project_id)):
        response = httpx.get(f"{server.url}/v1.1/{path_project}/clusters",
                             headers={"X-Auth-Token": a_token, "X-Project-Id": header_project})
        assert_gateway_error(response, 403, "APIGW.0302")
    # B's own project, with a conflicting X-Project-Id header.
    response = httpx.get(f"{server.url}/v1.1/{tenant_b.project_id}/clusters",
                         headers={"X-Auth-Token": b_token, "X-Project-Id": server.project_id})
    assert_gateway_error(response, 403, "APIGW.0302")


def test_aksk_of_b_is_forbidden_in_a(server: RunningServer, tenant_b: Tenant, job_in_a: str) -> None:
    status = f"/v1.1/{server.project_id}/clusters/{server.cluster_id}/cdm/job/{job_in_a}/status"
    missing = f"/v1.1/{server.project_id}/clusters/{server.cluster_id}/cdm/job/missing_job/status"
    seen = []
    for target in (status, missing):
        # X-Project-Id = A (what the SDK sends for project A) and = B (its real project).
        for header_project in (server.project_id, tenant_b.project_id):
            response = signed_call(server.url, "GET", target, tenant_b.access_key, tenant_b.secret_key,
                                   header_project)
            assert_gateway_error(response, 403, "APIGW.0302")
            seen.append(without_request_id(response))
    assert all(item == seen[0] for item in seen)
    # And the same pair works on B's own project.
    own = signed_call(server.url, "GET", f"/v1.1/{tenant_b.project_id}/clusters", tenant_b.access_key,
                      tenant_b.secret_key, tenant_b.project_id)
    assert own.status_code == 200, own.text
    assert [c["id"] for c in own.json()["clusters"]] == [tenant_b.cluster_id]


def test_clusters_of_a_look_missing_from_b(server: RunningServer, tenant_b: Tenant, job_in_a: str) -> None:
    b = httpx.Client(base_url=server.url, headers={"X-Auth-Token": tenant_token(server, tenant_b)})
    random_id = str(uuid.uuid4())
    for suffix in ("", f"/cdm/job/{job_in_a}/status", f"/cdm/job/{job_in_a}", "/cdm/link/a_src",
                   "/enterprise-projects"):
        messages = []
        for cluster in (server.cluster_id, random_id):
            message = assert_cdm_error(b.get(f"/v1.1/{tenant_b.project_id}/clusters/{cluster}{suffix}"), "Cdm.0001")
            messages.append(message.replace(cluster, "<cluster>"))
        assert messages[0] == messages[1], messages
    # Running a job of A through B's project: the same "no such cluster".
    started = b.put(f"/v1.1/{tenant_b.project_id}/clusters/{server.cluster_id}/cdm/job/{job_in_a}/start")
    assert_cdm_error(started, "Cdm.0001")
    # And A's list does not show B's cluster.
    with server.client() as a:
        ids = [c["id"] for c in a.get(f"/v1.1/{server.project_id}/clusters").json()["clusters"]]
        assert tenant_b.cluster_id not in ids
        assert_cdm_error(a.get(f"/v1.1/{server.project_id}/clusters/{tenant_b.cluster_id}"), "Cdm.0001")
    b.close()


# --- secrets at rest -------------------------------------------------------------------------------


def _rows(db: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(f"SELECT * FROM {table}").fetchall()


def test_passwords_secret_keys_and_tokens_are_not_stored_in_clear(server: RunningServer, tenant_b: Tenant) -> None:
    token = server.token()
    db = server.home / "opencdm.db"
    password, secret_key = server.credentials["password"], server.credentials["secret_key"]
    users, keys, tokens = _rows(db, "users"), _rows(db, "access_keys"), _rows(db, "tokens")
    assert users and keys and tokens
    for row in users + keys + tokens:
        text = json.dumps(row, default=str)
        for secret in (password, secret_key, tenant_b.password, tenant_b.secret_key, token):
            assert secret not in text
    # The AK itself is an identifier and may be stored as is; the SK must not be, anywhere.
    raw = b"".join(path.read_bytes() for path in server.home.glob("opencdm.db*"))
    for secret in (secret_key, tenant_b.secret_key, password, token):
        assert secret.encode() not in raw


def test_credentials_file_is_private(server: RunningServer) -> None:
    for name in ("credentials.json", "secret.key"):
        mode = stat.S_IMODE((server.home / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
