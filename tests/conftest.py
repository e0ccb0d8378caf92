"""Shared fixtures: real PostgreSQL and MariaDB on loopback (skipped on a user's machine without
them, a failure under CI=true), and scratch schemas/databases that tests may freely fill."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

import psycopg
import pytest

PG_HOST = os.environ.get("OPENCDM_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("OPENCDM_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("OPENCDM_TEST_PG_USER", "postgres")
PG_DATABASE = os.environ.get("OPENCDM_TEST_PG_DATABASE", "test")
MY_HOST = os.environ.get("OPENCDM_TEST_MYSQL_HOST", "127.0.0.1")
MY_PORT = int(os.environ.get("OPENCDM_TEST_MYSQL_PORT", "3306"))
MY_USER = os.environ.get("OPENCDM_TEST_MYSQL_USER", "root")
MY_DATABASE = os.environ.get("OPENCDM_TEST_MYSQL_DATABASE", "test")


def _unavailable(what: str, exc: Exception) -> NoReturn:
    _cannot_test(f"{what} is not reachable ({exc}); start it to run these tests")


def _cannot_test(message: str) -> NoReturn:
    """Skip: what the tests need is not on this machine (under CI=true, where it must be: fail)."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_available() -> None:
    import psycopg

    try:
        psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        _unavailable(f"PostgreSQL at {PG_HOST}:{PG_PORT}", exc)


@pytest.fixture(scope="session")
def mysql_available() -> None:
    import pymysql

    try:
        pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, database=MY_DATABASE, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001
        _unavailable(f"MariaDB/MySQL at {MY_HOST}:{MY_PORT}", exc)


@pytest.fixture
def pg_schema(pg_available: None) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture
def mysql_database(mysql_available: None) -> Iterator[str]:
    """A fresh MariaDB database (utf8mb4), dropped afterwards."""
    import pymysql

    name = f"t_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    conn.close()
    yield name
    conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE `{name}`")
    conn.close()


def pg_link() -> dict[str, str]:
    """Flat link inputs of a generic-jdbc-connector link to the test PostgreSQL."""
    return {
        "linkConfig.databaseType": "POSTGRESQL",
        "linkConfig.host": PG_HOST,
        "linkConfig.port": str(PG_PORT),
        "linkConfig.database": PG_DATABASE,
        "linkConfig.username": PG_USER,
        "linkConfig.password": "",
    }


def mysql_link(database: str) -> dict[str, str]:
    return {
        "linkConfig.databaseType": "MYSQL",
        "linkConfig.host": MY_HOST,
        "linkConfig.port": str(MY_PORT),
        "linkConfig.database": database,
        "linkConfig.username": MY_USER,
        "linkConfig.password": "",
    }


def sqlite_link(path: str) -> dict[str, str]:
    return {"linkConfig.databaseType": "SQLITE", "linkConfig.database": path}


def config_values(config: str, values: Mapping[str, str]) -> dict[str, Any]:
    """CDM config values holding one config: ``{"configs": [{"name", "inputs": [...]}]}``."""
    return {"configs": [{"name": config, "inputs": [{"name": k, "value": v} for k, v in values.items()]}]}


def pg_connect() -> psycopg.Connection[Any]:
    """An autocommit connection to the test PostgreSQL."""
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, autocommit=True)


def pg_column_types(schema: str, table: str) -> list[tuple[str, str]]:
    """A PostgreSQL table's columns and their types, in order."""
    with pg_connect() as conn:
        return conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (f'"{schema}"."{table}"',),
        ).fetchall()


# --- the real server -----------------------------------------------------------------------------

import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx  # noqa: E402

from opencdm.child_server import ChildServer, free_port  # noqa: E402


@dataclass
class RunningServer(ChildServer):
    """An ``opencdm serve`` process on a loopback port, with its bootstrap credentials."""

    # Where its (bootstrap) cluster runs partitions: "local" or a Dask scheduler address.
    executor: str = "local"

    @property
    def project_id(self) -> str:
        return self.credentials["project_id"]

    @property
    def cluster_id(self) -> str:
        return self.credentials["cluster_id"]

    def token(self, user: str | None = None, password: str | None = None, project: str | None = None) -> str:
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user or self.credentials["user"], "password": password or self.credentials["password"],
                "domain": {"name": "Default"}}}},
            "scope": {"project": {"id": project or self.project_id}},
        }}
        response = httpx.post(f"{self.url}/v3/auth/tokens", json=body, verify=self.verify)
        assert response.status_code == 201, response.text
        return response.headers["X-Subject-Token"]

    def client(self) -> httpx.Client:
        """An HTTP client authenticated with a token of the bootstrap admin."""
        return httpx.Client(base_url=self.url, headers={"X-Auth-Token": self.token()}, timeout=30,
                            verify=self.verify)

    def stop(self, sig: int | None = None) -> int:
        import signal as _signal

        if self.process.poll() is None:
            self.process.send_signal(sig or _signal.SIGTERM)
        return self.process.wait(timeout=60)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    home: Path, env: dict[str, str] | None = None, port: int | None = None, wrapper: tuple[str, ...] = (),
    log_dir: Path | None = None, ca_file: Path | None = None, options: tuple[str, ...] = (),
) -> RunningServer:
    """``opencdm serve`` on ``port``; ``wrapper`` is a command that runs it (e.g. with fewer privileges);
    its output goes to a log file in ``log_dir`` (default: the home). With ``ca_file``, ``env`` gives it
    a certificate that CA signed (OPENCDM_SSL_CERTFILE, OPENCDM_SSL_KEYFILE, or ``options`` of ``serve``)
    and it serves HTTPS."""
    port = port or free_port()
    inherited = {k: v for k, v in os.environ.items() if k != "OPENCDM_DATABASE_URL"}
    return RunningServer.start(
        sys.executable, home, {**inherited, **(env or {})}, (log_dir or home) / f"server-{port}.log",
        port=port, wrapper=wrapper, ca_file=ca_file, options=options,
    )


@pytest.fixture(scope="session", autouse=True)
def local_paths_allowed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Local paths (SQLite files, nas roots) are allowed only under OPENCDM_FILE_ROOTS: the tests'
    own temporary directory, for the connectors they call in this process and for every server they
    start (servers that must refuse local paths set it empty). The servers' homes lie in it too,
    which their own data stays out of reach of all the same."""
    root = tmp_path_factory.getbasetemp()
    previous = os.environ.get("OPENCDM_FILE_ROOTS")
    os.environ["OPENCDM_FILE_ROOTS"] = str(root)
    yield root
    if previous is None:
        os.environ.pop("OPENCDM_FILE_ROOTS", None)
    else:
        os.environ["OPENCDM_FILE_ROOTS"] = previous


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server shared by the tests that do not restart or stop it."""
    running = start_server(tmp_path_factory.mktemp("opencdm-home"))
    yield running
    running.stop()


def set_executor(server: RunningServer, executor: str) -> subprocess.CompletedProcess[str]:
    """``opencdm admin cluster set-executor`` on the server's (bootstrap) cluster."""
    return subprocess.run(
        [sys.executable, "-m", "opencdm", "admin", "cluster", "set-executor", server.cluster_id, executor],
        env={**os.environ, "OPENCDM_HOME": str(server.home)}, capture_output=True, text=True,
    )


@pytest.fixture(scope="session")
def dask_scheduler() -> Iterator[str]:
    """The address of a Dask cluster of two worker processes on loopback, shared by the session."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def use_executor(server: RunningServer, executor: str) -> RunningServer:
    """The server's (bootstrap) cluster set to run partitions on ``executor``."""
    if executor != server.executor:
        set_executor(server, executor).check_returncode()
        server.executor = executor
    return server


@pytest.fixture(scope="session")
def dask_server(tmp_path_factory: pytest.TempPathFactory, dask_scheduler: str) -> Iterator[RunningServer]:
    """A server whose (bootstrap) cluster runs partitions as tasks on the session's Dask cluster."""
    running = start_server(tmp_path_factory.mktemp("dask-home"))
    try:
        yield use_executor(running, dask_scheduler)
    finally:
        running.stop()


def on_each_executor() -> Any:
    """A ``server`` fixture for a module of engine tests (``server = on_each_executor()``): each of
    its tests runs on the shared server (local executor), then on ``dask_server``."""

    @pytest.fixture(params=["local", "dask"], name="server")
    def server_on_each_executor(server: RunningServer, request: pytest.FixtureRequest) -> RunningServer:
        return server if request.param == "local" else request.getfixturevalue("dask_server")

    return server_on_each_executor


# For a test on a server of its own whose fixture takes the executor as its parameter (and passes
# it through executor_address): the test runs on each.
ON_EACH_EXECUTOR = pytest.mark.parametrize("private_server", ["local", "dask"], indirect=True)


def executor_address(executor: str, request: pytest.FixtureRequest) -> str:
    """``local``, or the session's Dask scheduler: for tests that start servers of their own."""
    return executor if executor == "local" else str(request.getfixturevalue("dask_scheduler"))


@pytest.fixture(scope="session")
def rootless_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose operator allowed no local directory (OPENCDM_FILE_ROOTS unset)."""
    running = start_server(tmp_path_factory.mktemp("rootless-home"), env={"OPENCDM_FILE_ROOTS": ""})
    yield running
    running.stop()


@pytest.fixture
def api(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="session")
def file_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory ``file_server`` allows nas links (and local Iceberg warehouses) under."""
    return tmp_path_factory.mktemp("files")


@pytest.fixture(scope="session")
def file_server(tmp_path_factory: pytest.TempPathFactory, file_root: Path) -> Iterator[RunningServer]:
    """A server whose links may use ``file_root``; small batches, so a run writes several files."""
    running = start_server(tmp_path_factory.mktemp("file-server-home"), env={
        "OPENCDM_FILE_ROOTS": str(file_root), "OPENCDM_BATCH_ROWS": "100", "OPENCDM_PROGRESS_INTERVAL": "0.2",
    })
    yield running
    running.stop()


@pytest.fixture
def area(file_root: Path, request: pytest.FixtureRequest) -> Path:
    """A directory of the test's own under the allowed root: the root of its nas link."""
    name = re.sub(r"[^\w.-]", "_", request.node.name)[:60]
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=file_root))


@pytest.fixture
def nas(file_server: RunningServer, area: Path) -> str:
    """A nas-connector link on ``file_server`` rooted at ``area``."""
    with file_server.client() as client:
        return create_link(client, file_server, "nas-connector", {"linkConfig.rootDirectory": str(area)})


def post_link(api: httpx.Client, server: RunningServer, connector: str, inputs: dict[str, str]) -> httpx.Response:
    """CreateLink of a uniquely named link."""
    return api.post(f"{server.cdm}/link", json={"links": [{
        "name": f"l_{uuid.uuid4().hex[:10]}", "connector-name": connector, "enabled": True,
        "link-config-values": config_values("linkConfig", inputs)}]})


def create_link(api: httpx.Client, server: RunningServer, connector: str, inputs: dict[str, str]) -> str:
    """A new link's name."""
    response = post_link(api, server, connector, inputs)
    assert response.status_code == 200, response.text
    return str(response.json()["name"])


# --- a real S3-compatible server on loopback ---------------------------------------------------


@dataclass
class S3Server:
    """moto's S3 in server mode, checking signatures: only ``access_key``/``secret_key`` get in."""

    host: str
    port: int
    access_key: str
    secret_key: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)

    def create_bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def link_inputs(self, secret_key: str | None = None) -> dict[str, str]:
        """Flat inputs of an obs-connector link to this server."""
        return {
            "linkConfig.storageType": "OBS", "linkConfig.server": self.host, "linkConfig.port": str(self.port),
            "linkConfig.protocol": "http", "linkConfig.accessKey": self.access_key,
            "linkConfig.securityKey": secret_key or self.secret_key,
        }


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    import logging

    import boto3
    import moto.settings
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="opencdm")
    iam.put_user_policy(UserName="opencdm", PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="opencdm")["AccessKey"]
    # From here on moto checks every request's signature, as a real S3 does.
    previous = moto.settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    yield S3Server(host, port, key["AccessKeyId"], key["SecretAccessKey"])
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = previous
    server.stop()


# --- database servers that demand TLS (tests/tls_servers.py) -------------------------------------

from tls_servers import (  # noqa: E402
    Certificates,
    MariaDbServer,
    Missing,
    PostgresServer,
    make_certificates,
    start_mariadb,
    start_postgres,
)


@pytest.fixture(scope="session")
def tls_certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A test CA, a certificate for 127.0.0.1/localhost and one for another host name."""
    return make_certificates(tmp_path_factory.mktemp("tls"))


@contextmanager
def _tls_server(what: str, start: Callable[[], Any]) -> Iterator[Any]:
    try:
        server = start()
    except Missing as exc:
        _cannot_test(f"{what} cannot be started on this machine: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_tls(tls_certificates: Certificates) -> Iterator[PostgresServer]:
    """A PostgreSQL of the session's own that takes TLS connections only (``hostssl``), presenting
    the 127.0.0.1 certificate of ``tls_certificates``."""
    with _tls_server("PostgreSQL demanding TLS", lambda: start_postgres(tls_certificates)) as server:
        yield server


@pytest.fixture(scope="session")
def pg_tls_wrong_host(tls_certificates: Certificates) -> Iterator[PostgresServer]:
    """A TLS-only PostgreSQL presenting a certificate of the test CA for another host name."""
    with _tls_server("PostgreSQL demanding TLS",
                     lambda: start_postgres(tls_certificates, tls_certificates.wrong_host)) as server:
        yield server


@pytest.fixture(scope="session")
def mariadb_tls(tls_certificates: Certificates) -> Iterator[MariaDbServer]:
    """A MariaDB of the session's own with ``require_secure_transport=ON``."""
    with _tls_server("MariaDB demanding TLS", lambda: start_mariadb(tls_certificates)) as server:
        yield server


def pg_tls_link(server: PostgresServer, trust_test_ca: bool = True, **inputs: str) -> dict[str, str]:
    """Flat inputs of a PostgreSQL link to ``server`` with ``linkConfig.useSSL=true``, trusting the
    test CA (``linkConfig.sslCaCert``) unless told not to; ``inputs`` (``sslMode="require"``) add to them."""
    link = {
        "linkConfig.databaseType": "POSTGRESQL", "linkConfig.host": "127.0.0.1", "linkConfig.port": str(server.port),
        "linkConfig.database": server.database, "linkConfig.username": server.user, "linkConfig.password": "",
        "linkConfig.useSSL": "true",
    }
    if trust_test_ca:
        link["linkConfig.sslCaCert"] = server.certificates.ca_pem
    return {**link, **{f"linkConfig.{name}": value for name, value in inputs.items()}}
