"""No link reaches the server's own metadata store over the network (issue 20: a tenant linked to the
PostgreSQL store database, copied `users` out, wrote itself into `project_members` and took over
the admin project), however its host is spelt, at CreateLink, validation, UpdateLink and when a run
opens it; and OPENCDM_LINK_ALLOW limits the hosts links may reach at all."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pymysql
import pytest
from psycopg.types.json import Json

from conftest import (
    MY_HOST,
    MY_PORT,
    MY_USER,
    PG_DATABASE,
    PG_HOST,
    PG_PORT,
    PG_USER,
    RunningServer,
    config_values,
    mysql_link,
    pg_connect,
    pg_link,
    start_server,
)
from helpers import Tenant, create_tenant, tenant_token

PASSWORD = "Tenant-S3cret-pw"


def _own_host_spellings() -> list[str]:
    """This machine's name, the addresses it resolves to, and the addresses of its interfaces that
    lead out (found by "connecting" a UDP socket, which sends nothing)."""
    hostname = socket.gethostname()
    addresses = {str(info[4][0]) for info in socket.getaddrinfo(hostname, None, proto=socket.IPPROTO_TCP)}
    for family, outside in ((socket.AF_INET, "198.51.100.1"), (socket.AF_INET6, "2001:db8::1")):
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((outside, 9))
            except OSError:  # no route of that family
                continue
            addresses.add(str(probe.getsockname()[0]))
    return [hostname, *sorted(addresses)]


# Every one of them reaches the PostgreSQL at 127.0.0.1:5432, or would if it listened there.
STORE_SPELLINGS = list(dict.fromkeys([
    "127.0.0.1", "127.1", "127.0.0.2", "localhost", "LocalHost", "::1", "[::1]", "0.0.0.0",
    "::ffff:127.0.0.1", "[::ffff:127.0.0.1]", "2130706433", "0x7f000001", "no-such-host.invalid,127.0.0.1",
    *_own_host_spellings(),
]))


@dataclass
class StoreServer:
    """A server whose metadata store is a PostgreSQL database of the tests' PostgreSQL, and a
    tenant project on it."""

    server: RunningServer
    database: str
    tenant: Tenant
    api: httpx.Client

    @property
    def cdm(self) -> str:
        return f"/v1.1/{self.tenant.project_id}/clusters/{self.tenant.cluster_id}/cdm"

    def store(self) -> psycopg.Connection[Any]:
        return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=self.database, autocommit=True)

    def link_body(self, name: str, inputs: dict[str, str], connector: str = "generic-jdbc-connector") -> dict[str, Any]:
        return {"links": [{"name": name, "connector-name": connector, "enabled": True,
                           "link-config-values": config_values("linkConfig", inputs)}]}

    def create_link(self, inputs: dict[str, str], validate: bool = False,
                    connector: str = "generic-jdbc-connector") -> tuple[str, httpx.Response]:
        name = f"l_{uuid.uuid4().hex[:10]}"
        query = "?validate=true" if validate else ""
        return name, self.api.post(f"{self.cdm}/link{query}", json=self.link_body(name, inputs, connector))


def _admin_pg() -> psycopg.Connection[Any]:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, autocommit=True)


@contextmanager
def pg_store_database() -> Iterator[str]:
    database = f"opencdm_store_{uuid.uuid4().hex[:8]}"
    with _admin_pg() as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        yield database
    finally:
        with _admin_pg() as conn:
            conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


@pytest.fixture(scope="module")
def pg_store(pg_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreServer]:
    with pg_store_database() as database:
        url = f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"
        server = start_server(tmp_path_factory.mktemp("pg-store-home"), env={"OPENCDM_DATABASE_URL": url})
        try:
            tenant = create_tenant(server, f"tenant_{uuid.uuid4().hex[:6]}", url)
            with httpx.Client(base_url=server.url, headers={"X-Auth-Token": tenant_token(server, tenant)},
                              timeout=60) as api:
                yield StoreServer(server, database, tenant, api)
        finally:
            server.stop()


def store_link(store: StoreServer, host: str) -> dict[str, str]:
    return {**pg_link(), "linkConfig.host": host, "linkConfig.database": store.database,
            "linkConfig.password": PASSWORD}


def refusal(response: httpx.Response) -> str:
    """The message of a Cdm.0014 refusal, which must not echo the link's password."""
    assert response.status_code == 400, response.text
    assert response.json()["errCode"] == "Cdm.0014", response.text
    assert PASSWORD not in response.text
    return str(response.json()["externalMessage"])


@pytest.mark.parametrize("host", STORE_SPELLINGS)
def test_a_link_to_the_store_database_is_refused_however_its_host_is_spelt(pg_store: StoreServer, host: str) -> None:
    for validate in (False, True):
        name, response = pg_store.create_link(store_link(pg_store, host), validate=validate)
        message = refusal(response)
        assert "this server's own metadata store (OPENCDM_DATABASE_URL)" in message, message
        assert pg_store.api.get(f"{pg_store.cdm}/link/{name}").json()["errCode"] == "Cdm.0101"


def test_an_update_cannot_turn_a_link_towards_the_store(pg_store: StoreServer) -> None:
    inputs = {**pg_link(), "linkConfig.host": "localhost", "linkConfig.password": PASSWORD}
    name, response = pg_store.create_link(inputs)
    assert response.status_code == 200, response.text
    for host in ("localhost", "127.1", socket.gethostname()):
        body = pg_store.link_body(name, store_link(pg_store, host))
        message = refusal(pg_store.api.put(f"{pg_store.cdm}/link/{name}", json=body))
        assert "metadata store" in message
    shown = pg_store.api.get(f"{pg_store.cdm}/link/{name}").json()["links"][0]
    values = {i["name"]: i.get("value") for c in shown["link-config-values"]["configs"] for i in c["inputs"]}
    assert values["linkConfig.database"] == PG_DATABASE


def test_other_databases_of_the_store_server_stay_reachable(pg_store: StoreServer) -> None:
    """The store's PostgreSQL also serves the users' data (here `test`): PostgreSQL has no query
    across databases, so a link there is fine, as is one to the store's database on another port."""
    _, response = pg_store.create_link({**pg_link(), "linkConfig.host": "localhost"}, validate=True)
    assert response.status_code == 200, response.text
    assert response.json()["validation-result"] == []
    _, response = pg_store.create_link({**store_link(pg_store, "127.0.0.1"), "linkConfig.port": "5433"})
    assert response.status_code == 200, response.text


def test_a_run_checks_the_link_again(pg_store: StoreServer, pg_schema: str) -> None:
    """A link that pointed elsewhere when it was created and when the job was (its host's name may
    resolve differently by the time a run opens it; here its row changed in the store) is refused
    by the run: nothing is copied out of the store."""
    source, response = pg_store.create_link(pg_link())
    assert response.status_code == 200, response.text
    target, response = pg_store.create_link(pg_link())
    assert response.status_code == 200, response.text
    job = f"j{uuid.uuid4().hex[:8]}"
    response = pg_store.api.post(f"{pg_store.cdm}/job", json={"jobs": [{
        "name": job, "job_type": "NORMAL_JOB",
        "from-connector-name": "generic-jdbc-connector", "from-link-name": source,
        "to-connector-name": "generic-jdbc-connector", "to-link-name": target,
        "from-config-values": config_values("fromJobConfig", {
            "fromJobConfig.schemaName": "public", "fromJobConfig.tableName": "users"}),
        "to-config-values": config_values("toJobConfig", {
            "toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "stolen_users",
            "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}),
        "driver-config-values": config_values("throttlingConfig", {"throttlingConfig.numExtractors": "1"}),
    }]})
    assert response.status_code == 200, response.text
    with pg_store.store() as conn:
        row = conn.execute("SELECT inputs FROM links WHERE name = %s", (source,)).fetchone()
        assert row is not None
        conn.execute("UPDATE links SET inputs = %s WHERE name = %s",
                     (Json({**row[0], "linkConfig.database": pg_store.database}), source))
    assert pg_store.api.put(f"{pg_store.cdm}/job/{job}/start").status_code == 200
    ended = _finished(pg_store.api, pg_store.cdm, job)
    assert ended["status"] == "FAILED", ended
    assert "metadata store" in str(ended), ended
    with pg_connect() as conn:
        copied = conn.execute("SELECT to_regclass(%s)", (f'"{pg_schema}".stolen_users',)).fetchone()
    assert copied == (None,)


def _finished(api: httpx.Client, cdm: str, job: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        submissions = api.get(f"{cdm}/job/{job}/status").json()["submissions"]
        if submissions and submissions[0]["status"] in ("SUCCEEDED", "FAILED", "FAILURE_ON_SUBMIT"):
            return dict(submissions[0])
        time.sleep(0.2)
    raise AssertionError(f"the run of {job} did not end")


def test_an_iceberg_sql_catalog_in_the_store_database_is_refused(pg_store: StoreServer, tmp_path: Path) -> None:
    catalog = {"linkConfig.catalogType": "sql", "linkConfig.warehouse": str(tmp_path)}
    for host in ("127.1", "localhost", "[::1]"):
        uri = f"postgresql+psycopg://{PG_USER}:{PASSWORD}@{host}:{PG_PORT}/{pg_store.database}"
        for validate in (False, True):
            _, response = pg_store.create_link({**catalog, "linkConfig.catalogUri": uri}, validate, "iceberg-connector")
            assert "metadata store" in refusal(response)
    # Through psycopg's ?host=, or libpq parameters that would connect elsewhere than the URL's host.
    for uri in (
        f"postgresql://{PG_USER}:{PASSWORD}@/{pg_store.database}?host=127.0.0.1:{PG_PORT}",
        f"postgresql://{PG_USER}:{PASSWORD}@db.example.com/{pg_store.database}?hostaddr=127.0.0.1",
        f"postgresql://{PG_USER}:{PASSWORD}@db.example.com/{PG_DATABASE}?service=store",
    ):
        _, response = pg_store.create_link({**catalog, "linkConfig.catalogUri": uri}, connector="iceberg-connector")
        refusal(response)
    # Another database of the same server is a catalog like any other.
    uri = f"postgresql+psycopg://{PG_USER}@localhost:{PG_PORT}/{PG_DATABASE}"
    _, response = pg_store.create_link({**catalog, "linkConfig.catalogUri": uri}, True, "iceberg-connector")
    assert response.status_code == 200, response.text


PG_SOCKET_DIRECTORY = "/var/run/postgresql"


@pytest.mark.skipif(not os.path.exists(f"{PG_SOCKET_DIRECTORY}/.s.PGSQL.{PG_PORT}"),
                    reason="the tests' PostgreSQL has no unix socket in /var/run/postgresql")
def test_a_store_reached_through_a_unix_socket_is_refused_over_tcp(
    pg_available: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with pg_store_database() as database:
        url = f"postgresql+psycopg://{PG_USER}@/{database}?host={PG_SOCKET_DIRECTORY}&port={PG_PORT}"
        server = start_server(tmp_path_factory.mktemp("socket-store-home"), env={"OPENCDM_DATABASE_URL": url})
        try:
            with server.client() as api:
                for host in ("127.0.0.1", "localhost", socket.gethostname(), PG_SOCKET_DIRECTORY):
                    link = {**pg_link(), "linkConfig.host": host, "linkConfig.database": database,
                            "linkConfig.password": PASSWORD}
                    response = api.post(f"{server.cdm}/link", json={"links": [{
                        "name": f"l_{uuid.uuid4().hex[:10]}", "connector-name": "generic-jdbc-connector",
                        "link-config-values": config_values("linkConfig", link)}]})
                    # A socket directory is a local path: outside OPENCDM_FILE_ROOTS, refused as one.
                    assert ("metadata store" if host != PG_SOCKET_DIRECTORY else "outside the directories") in (
                        refusal(response)), host
        finally:
            server.stop()


@pytest.fixture(scope="module")
def mysql_store(mysql_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    database = f"opencdm_store_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{database}`")
    url = f"mysql+pymysql://{MY_USER}@{MY_HOST}:{MY_PORT}/{database}"
    server = start_server(tmp_path_factory.mktemp("mysql-store-home"), env={"OPENCDM_DATABASE_URL": url})
    try:
        yield server
    finally:
        server.stop()
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE `{database}`")
        admin.close()


def test_on_a_mariadb_store_no_database_of_its_server_is_reachable(mysql_store: RunningServer) -> None:
    """One MariaDB connection reads every database its user may (`SELECT … FROM store.users`): a
    link to any database of the store's server would reach the store."""
    with mysql_store.client() as api:
        for host in ("localhost", "127.1", "::ffff:127.0.0.1"):
            link = {**mysql_link("test"), "linkConfig.host": host, "linkConfig.password": PASSWORD}
            response = api.post(f"{mysql_store.cdm}/link", json={"links": [{
                "name": f"l_{uuid.uuid4().hex[:10]}", "connector-name": "generic-jdbc-connector",
                "link-config-values": config_values("linkConfig", link)}]})
            assert "the database server of this server's own metadata store" in refusal(response)
        # A PostgreSQL link on the same machine is another server.
        response = api.post(f"{mysql_store.cdm}/link?validate=true", json={"links": [{
            "name": f"l_{uuid.uuid4().hex[:10]}", "connector-name": "generic-jdbc-connector",
            "link-config-values": config_values("linkConfig", {**pg_link(), "linkConfig.host": "localhost"})}]})
        assert response.status_code == 200, response.text


# --- OPENCDM_LINK_ALLOW ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def allow_listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose links may reach 127.0.0.1 and a named host only."""
    server = start_server(tmp_path_factory.mktemp("allow-home"),
                          env={"OPENCDM_LINK_ALLOW": "127.0.0.1/32,db.example.com,10.0.0.0/8"})
    yield server
    server.stop()


def test_the_allow_list_refuses_hosts_outside_it(allow_listed: RunningServer, pg_available: None) -> None:
    with allow_listed.client() as api:

        def post(connector: str, inputs: dict[str, str], validate: bool = False) -> httpx.Response:
            return api.post(f"{allow_listed.cdm}/link{'?validate=true' if validate else ''}", json={"links": [{
                "name": f"l_{uuid.uuid4().hex[:10]}", "connector-name": connector,
                "link-config-values": config_values("linkConfig", inputs)}]})

        # Inside: 127.0.0.1 (a real database answers), a listed name, an address of a listed network.
        response = post("generic-jdbc-connector", pg_link(), validate=True)
        assert response.status_code == 200 and response.json()["validation-result"] == [], response.text
        for host in ("db.example.com", "10.1.2.3"):
            assert post("generic-jdbc-connector", {**pg_link(), "linkConfig.host": host}).status_code == 200
        # Outside: another loopback address, the machine's own name when it resolves elsewhere, an
        # object-storage endpoint, a REST catalog.
        for host in ("127.0.0.2", "192.168.1.1", "[::1]"):
            message = refusal(post("generic-jdbc-connector", {**pg_link(), "linkConfig.host": host,
                                                              "linkConfig.password": PASSWORD}))
            assert f"linkConfig.host names host [{host}]" in message and "OPENCDM_LINK_ALLOW" in message, message
        message = refusal(post("generic-jdbc-connector", {**pg_link(), "linkConfig.host": "no-such-host.invalid"}))
        assert "resolves to no address" in message
        obs = {"linkConfig.server": "192.168.1.1", "linkConfig.port": "9000", "linkConfig.protocol": "http",
               "linkConfig.accessKey": "ak", "linkConfig.securityKey": PASSWORD}
        assert "linkConfig.server names host [192.168.1.1]" in refusal(post("obs-connector", obs))
        rest = {"linkConfig.catalogType": "rest", "linkConfig.catalogUri": f"http://u:{PASSWORD}@192.168.1.1:8181",
                "linkConfig.warehouse": "wh"}
        assert "linkConfig.catalogUri names host [192.168.1.1]" in refusal(post("iceberg-connector", rest))


def test_a_run_obeys_the_allow_list_in_force_when_it_starts(
    tmp_path_factory: pytest.TempPathFactory, pg_schema: str
) -> None:
    """Links and a job made before the operator set OPENCDM_LINK_ALLOW: the next run is refused."""
    home = tmp_path_factory.mktemp("allow-later-home")
    server = start_server(home)
    try:
        with server.client() as api:
            with pg_connect() as conn:
                conn.execute(f'CREATE TABLE "{pg_schema}".src (id int PRIMARY KEY)')
            links = []
            for _ in range(2):
                name = f"l_{uuid.uuid4().hex[:10]}"
                response = api.post(f"{server.cdm}/link", json={"links": [{
                    "name": name, "connector-name": "generic-jdbc-connector",
                    "link-config-values": config_values("linkConfig", pg_link())}]})
                assert response.status_code == 200, response.text
                links.append(name)
            job = f"j{uuid.uuid4().hex[:8]}"
            response = api.post(f"{server.cdm}/job", json={"jobs": [{
                "name": job, "job_type": "NORMAL_JOB",
                "from-connector-name": "generic-jdbc-connector", "from-link-name": links[0],
                "to-connector-name": "generic-jdbc-connector", "to-link-name": links[1],
                "from-config-values": config_values("fromJobConfig", {
                    "fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"}),
                "to-config-values": config_values("toJobConfig", {
                    "toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst",
                    "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}),
            }]})
            assert response.status_code == 200, response.text
        server.stop()
        server = start_server(home, env={"OPENCDM_LINK_ALLOW": "10.0.0.0/8"})
        with server.client() as api:
            assert api.put(f"{server.cdm}/job/{job}/start").status_code == 200
            ended = _finished(api, server.cdm, job)
        assert ended["status"] == "FAILED" and "OPENCDM_LINK_ALLOW" in str(ended), ended
        with pg_connect() as conn:
            assert conn.execute("SELECT to_regclass(%s)", (f'"{pg_schema}".dst',)).fetchone() == (None,)
    finally:
        server.stop()


def test_the_server_refuses_to_start_with_a_malformed_allow_list(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "opencdm", "serve", "--host", "127.0.0.1", "--port", "1"],
        env={**os.environ, "OPENCDM_LINK_ALLOW": "10.0.0.0/8,10.0.0.0/33", "OPENCDM_HOME": str(tmp_path)},
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert done.returncode != 0 and "OPENCDM_LINK_ALLOW" in done.stderr and "10.0.0.0/33" in done.stderr
