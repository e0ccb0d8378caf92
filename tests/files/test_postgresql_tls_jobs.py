"""Jobs through a PostgreSQL that demands TLS (tests/tls_servers.py), over the HTTP API: copies both
ways between it and a plaintext PostgreSQL, on the fast path (binary COPY passed through) and the
generic one (Arrow batches: another column type at the destination), with two extractors; a table
written to Parquet by DuckDB's scanner; and the server's own record that every connection of
OpenCDM was encrypted."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pyarrow.parquet as pq
import pytest
from files_support import run, succeeded

from conftest import RunningServer, config_values, create_link, pg_connect, pg_link, pg_tls_link
from tls_servers import PostgresServer

ROWS = 200
PASSED_THROUGH = "passing postgresql-binary-copy through without decoding"
SCANNED = "the destination reads postgresql table"
TABLE = "id bigint PRIMARY KEY, v text, amount numeric(12,2)"


@pytest.fixture
def api(file_server: RunningServer) -> Iterator[httpx.Client]:
    with file_server.client() as client:
        yield client


@pytest.fixture
def tls_schema(pg_tls: PostgresServer) -> Iterator[str]:
    """A fresh schema on the TLS-only server, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_tls.conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with psycopg.connect(pg_tls.conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


class Ends:
    """The plaintext PostgreSQL and the TLS one: a schema and a link on each."""

    def __init__(self, api: httpx.Client, server: RunningServer, pg_tls: PostgresServer, plain: str,
                 tls: str) -> None:
        self.server, self.pg_tls = server, pg_tls
        self.schemas = {"plain": plain, "tls": tls}
        self.links = {"plain": create_link(api, server, "generic-jdbc-connector", pg_link()),
                      "tls": create_link(api, server, "generic-jdbc-connector", pg_tls_link(pg_tls))}

    def connect(self, end: str) -> psycopg.Connection[Any]:
        return psycopg.connect(self.pg_tls.conninfo(), autocommit=True) if end == "tls" else pg_connect()

    def fill(self, end: str, table: str) -> None:
        with self.connect(end) as conn:
            conn.execute(f'CREATE TABLE "{self.schemas[end]}"."{table}" ({TABLE})')
            conn.execute(f"""INSERT INTO "{self.schemas[end]}"."{table}"
                             SELECT g, 'v''' || g, g / 8.0 FROM generate_series(1, {ROWS}) g""")

    def rows(self, end: str, table: str) -> list[tuple[Any, ...]]:
        with self.connect(end) as conn:
            return conn.execute(f'SELECT * FROM "{self.schemas[end]}"."{table}" ORDER BY id').fetchall()


@pytest.fixture
def ends(api: httpx.Client, file_server: RunningServer, pg_tls: PostgresServer, pg_schema: str,
         tls_schema: str) -> Ends:
    return Ends(api, file_server, pg_tls, pg_schema, tls_schema)


@pytest.mark.parametrize("fast", [True, False], ids=["binary-copy", "generic"])
@pytest.mark.parametrize(("source", "target"), [("tls", "plain"), ("plain", "tls")])
def test_a_copy_through_the_tls_server(api: httpx.Client, ends: Ends, source: str, target: str, fast: bool) -> None:
    ends.fill(source, "src")
    if not fast:
        # Another numeric type at the destination: rows are decoded to Arrow and written again.
        with ends.connect(target) as conn:
            conn.execute(f'CREATE TABLE "{ends.schemas[target]}".dst (id bigint PRIMARY KEY, v text, '
                         "amount numeric(14,3))")
    from_job = {"fromJobConfig.schemaName": ends.schemas[source], "fromJobConfig.tableName": "src"}
    before = ends.server.log().count(PASSED_THROUGH)
    submission = run(
        api, ends.server, ("generic-jdbc-connector", ends.links[source], from_job),
        ("generic-jdbc-connector", ends.links[target],
         {"toJobConfig.schemaName": ends.schemas[target], "toJobConfig.tableName": "dst",
          "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}),
        extractors=2,
    )
    succeeded(submission)
    assert (ends.server.log().count(PASSED_THROUGH) > before) is fast
    assert ends.rows(target, "dst") == ends.rows(source, "src")


def test_a_tls_table_to_parquet_through_duckdbs_scanner(api: httpx.Client, ends: Ends, nas: str, area: Path) -> None:
    ends.fill("tls", "src")
    before = ends.server.log().count(SCANNED)
    succeeded(run(
        api, ends.server, ("generic-jdbc-connector", ends.links["tls"],
                           {"fromJobConfig.schemaName": ends.schemas["tls"], "fromJobConfig.tableName": "src"}),
        ("nas-connector", nas, {"toJobConfig.outputDirectory": "/out", "toJobConfig.outputFormat": "PARQUET_FILE"}),
    ))
    assert ends.server.log().count(SCANNED) > before
    written = pq.read_table(area / "out/part-00000.parquet").sort_by("id")
    assert [tuple(row.values()) for row in written.to_pylist()] == ends.rows("tls", "src")


def test_the_server_saw_only_encrypted_connections_of_opencdm(api: httpx.Client, ends: Ends) -> None:
    ends.fill("tls", "src")
    succeeded(run(
        api, ends.server, ("generic-jdbc-connector", ends.links["tls"],
                           {"fromJobConfig.schemaName": ends.schemas["tls"], "fromJobConfig.tableName": "src"}),
        ("generic-jdbc-connector", ends.links["plain"],
         {"toJobConfig.schemaName": ends.schemas["plain"], "toJobConfig.tableName": "dst",
          "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}),
    ))
    # log_connections: "connection authorized: user=... application_name=opencdm SSL enabled (protocol=...)".
    opened = [line for line in ends.pg_tls.log.read_text().splitlines()
              if "connection authorized" in line and "application_name=opencdm" in line]
    assert opened
    assert all(re.search(r"SSL enabled \(protocol=TLSv1\.[23]", line) for line in opened), opened


def test_a_copy_over_tls_with_partitions_on_dask_workers(dask_server: RunningServer, pg_tls: PostgresServer,
                                                         pg_schema: str, tls_schema: str) -> None:
    """Dask workers connect with the link's TLS too: the CA travels as an input, its file is
    written where the partition runs."""
    with dask_server.client() as api:
        ends = Ends(api, dask_server, pg_tls, pg_schema, tls_schema)
        ends.fill("plain", "src")
        succeeded(run(
            api, dask_server, ("generic-jdbc-connector", ends.links["plain"],
                               {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"}),
            ("generic-jdbc-connector", ends.links["tls"],
             {"toJobConfig.schemaName": tls_schema, "toJobConfig.tableName": "dst",
              "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}),
            extractors=2,
        ))
    assert ends.rows("tls", "dst") == ends.rows("plain", "src")


def test_the_ca_is_stored_and_shown_and_validation_says_what_failed(api: httpx.Client, file_server: RunningServer,
                                                                   pg_tls: PostgresServer) -> None:
    link = create_link(api, file_server, "generic-jdbc-connector", pg_tls_link(pg_tls))
    shown = api.get(f"{file_server.cdm}/link/{link}").json()["links"][0]
    inputs = {item["name"]: item.get("value")
              for config in shown["link-config-values"]["configs"] for item in config["inputs"]}
    assert inputs["linkConfig.sslCaCert"].strip() == pg_tls.certificates.ca_pem.strip()
    assert inputs["linkConfig.useSSL"] == "true"

    def validation(inputs: dict[str, str]) -> list[str]:
        response = api.post(f"{file_server.cdm}/link?validate=true", json={"links": [{
            "name": f"v_{uuid.uuid4().hex[:8]}", "connector-name": "generic-jdbc-connector", "enabled": True,
            "link-config-values": config_values("linkConfig", inputs)}]})
        body = response.json()
        if response.status_code == 200:
            return []
        assert response.status_code == 500 and set(body) == {"validation-result"}, response.text
        return [item["message"] for result in body["validation-result"] for item in result["linkConfig"]]

    assert validation(pg_tls_link(pg_tls)) == []
    assert any("not trusted: no CA of this system signed it" in message
               for message in validation(pg_tls_link(pg_tls, trust_test_ca=False))), "untrusted"
