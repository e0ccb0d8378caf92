"""Helpers shared by the API tests: an independent SDK-HMAC-SHA256 signer, CDM-shaped request bodies,
error-shape assertions, and extra projects/credentials written straight into a server's store."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx

from opencdm.api.state import ServerState
from opencdm.server import open_state
from opencdm.service import iam
from opencdm.settings import Settings

from conftest import RunningServer, config_values, sqlite_link

SDK_USER_AGENT = "huaweicloud-usdk-python/3.0"
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

# --- signing ---------------------------------------------------------------------------------------
# Written from docs/cdm-api.md §4.1 (what the SDK's Signer does), deliberately without importing the
# server's code, so a test that signs with it checks the server against the spec, not against itself.


def sdk_signature(
    method: str, target: str, headers: Mapping[str, str], body: bytes, secret_key: str
) -> tuple[str, str]:
    """(SignedHeaders, Signature) of a request the way the SDK computes them; ``target`` is path?query."""
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    signed = sorted(name for name in lowered if "_" not in name)
    path, _, query = target.partition("?")
    canonical_uri = "/".join(quote(segment, safe="~") for segment in unquote(path).split("/"))
    if not canonical_uri.endswith("/"):
        canonical_uri += "/"
    canonical_query = "&".join(
        f"{quote(key, safe='~')}={quote(value, safe='~')}"
        for key, value in sorted(parse_qsl(query, keep_blank_values=True))
    )
    canonical = "\n".join([
        method.upper(),
        canonical_uri,
        canonical_query,
        "".join(f"{name}:{lowered[name]}\n" for name in signed),
        ";".join(signed),
        hashlib.sha256(body).hexdigest(),
    ])
    string_to_sign = "\n".join([
        "SDK-HMAC-SHA256", lowered["x-sdk-date"], hashlib.sha256(canonical.encode()).hexdigest()
    ])
    signature = hmac.new(secret_key.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    return ";".join(signed), signature


def authorization(access_key: str, signed_headers: str, signature: str) -> str:
    return f"SDK-HMAC-SHA256 Access={access_key}, SignedHeaders={signed_headers}, Signature={signature}"


def signed_headers(
    base_url: str,
    method: str,
    target: str,
    access_key: str,
    secret_key: str,
    project_id: str,
    body: bytes = b"",
    when: datetime | None = None,
) -> dict[str, str]:
    """The headers the SDK would send for ``method target`` (target = raw path?query)."""
    headers = {
        "Content-Type": "application/json;charset=utf-8" if body else "application/json",
        "Host": urlsplit(base_url).netloc,
        "User-Agent": SDK_USER_AGENT,
        "X-Project-Id": project_id,
        "X-Sdk-Date": (when or datetime.now(UTC)).strftime(SDK_DATE_FORMAT),
    }
    names, signature = sdk_signature(method, target, headers, body, secret_key)
    headers["Authorization"] = authorization(access_key, names, signature)
    return headers


def signed_call(
    base_url: str, method: str, target: str, access_key: str, secret_key: str, project_id: str,
    body: bytes = b"",
) -> httpx.Response:
    headers = signed_headers(base_url, method, target, access_key, secret_key, project_id, body)
    # Sent as raw bytes so httpx neither re-encodes the path nor adds a body.
    return httpx.request(method, base_url + target, headers=headers, content=body or None, timeout=30)


# --- request bodies --------------------------------------------------------------------------------



def sqlite_link_body(name: str, database: Path) -> dict[str, Any]:
    return {"links": [{
        "name": name,
        "connector-name": "generic-jdbc-connector",
        "enabled": True,
        "link-config-values": config_values("linkConfig", sqlite_link(str(database))),
    }]}


def job_body(name: str, from_link: str, to_link: str, table: str = "t", num_extractors: str = "1") -> dict[str, Any]:
    return {"jobs": [{
        "name": name,
        "job_type": "NORMAL_JOB",
        "from-connector-name": "generic-jdbc-connector",
        "from-link-name": from_link,
        "to-connector-name": "generic-jdbc-connector",
        "to-link-name": to_link,
        "from-config-values": config_values("fromJobConfig", {
            "fromJobConfig.useSql": "false", "fromJobConfig.tableName": table}),
        "to-config-values": config_values("toJobConfig", {
            "toJobConfig.tableName": f"{table}_copy",
            "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST",
        }),
        "driver-config-values": {"configs": [
            config_values("throttlingConfig", {"throttlingConfig.numExtractors": num_extractors})["configs"][0],
            # CDM's own samples send empty configs with an object for inputs.
            {"name": "jarConfig", "inputs": {}},
        ]},
    }]}


def sqlite_source(path: Path, table: str = "t", rows: int = 3) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, name VARCHAR(20))")
        conn.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?, ?)", [(i, f"n{i}") for i in range(rows)])
    return path


# --- error shapes (docs/cdm-api.md §9) ----------------------------------------------------------------


def assert_cdm_error(response: httpx.Response, code: str, status: int = 400) -> str:
    """The CDM service error shape; returns the message for further checks."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errCode", "externalMessage"}, body
    assert body["errCode"] == code, body
    assert body["externalMessage"], body
    assert response.headers.get("X-Request-Id"), response.headers
    message: str = body["externalMessage"]
    return message


def assert_gateway_error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    """The API gateway's shape, which the SDK parses into ``error_code`` / ``error_msg``."""
    assert response.status_code == status, response.text
    body: dict[str, str] = response.json()
    assert set(body) == {"error_msg", "error_code", "request_id"}, body
    assert body["error_code"] == code, body
    assert body["error_msg"] and body["request_id"], body
    # The SDK takes request_id from the header, a human from the body: they must agree.
    assert response.headers.get("X-Request-Id") == body["request_id"], response.headers
    return body


def without_request_id(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    """Status and body minus the per-request id, to compare two answers for leaks."""
    body = dict(response.json())
    body.pop("request_id", None)
    return response.status_code, body


# --- extra identities in a running server's store --------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    """A project created next to the bootstrap one, with its own admin, AK/SK pair and cluster."""

    project_id: str
    project_name: str
    user: str
    password: str
    access_key: str
    secret_key: str
    cluster_id: str


@contextmanager
def server_store(server: RunningServer, database_url: str | None = None) -> Iterator[ServerState]:
    """The running server's own store (same OPENCDM_HOME, same secret key), opened in this process:
    ``database_url`` when the server was started with one."""
    # start_server drops OPENCDM_DATABASE_URL, so unless given one the server uses the SQLite file in its home.
    url = database_url or f"sqlite:///{server.home / 'opencdm.db'}"
    settings = replace(Settings.from_env(server.home), database_url=url)
    state = open_state(settings)
    try:
        yield state
    finally:
        state.store.dispose()


def create_tenant(server: RunningServer, name: str, database_url: str | None = None) -> Tenant:
    password = f"pw-{name}-Secret1"
    with server_store(server, database_url) as state, state.store.session() as session:
        project = iam.create_project(session, name)
        user = iam.create_user(session, f"{name}-admin", password, [project])
        access_key, secret_key = iam.create_access_key(session, state.box, user, project)
        cluster = iam.create_cluster(session, project, f"{name}-cluster")
        return Tenant(project.id, project.name, user.name, password, access_key, secret_key, cluster.id)


def tenant_token(server: RunningServer, tenant: Tenant) -> str:
    return server.token(tenant.user, tenant.password, tenant.project_id)
