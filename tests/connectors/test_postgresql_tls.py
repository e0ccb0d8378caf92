"""PostgreSQL links with ``linkConfig.useSSL=true`` (docs/tls.md): the inputs, link validation
against a server that demands TLS (tests/tls_servers.py), and errors that say what failed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from opencdm.connectors.base import Partition
from opencdm.connectors.jdbc import JdbcConnector
from opencdm.connectors.jdbc.config import LinkConfig, SslMode, Tls
from opencdm.connectors.jdbc.postgresql import PostgresDialect
from opencdm.errors import CdmError

from conftest import PG_HOST, PG_PORT, mysql_link, pg_connect, pg_link, pg_tls_link
from tls_servers import PostgresServer, make_certificates

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def tls_of(**inputs: str) -> Tls | None:
    return LinkConfig.parse({**pg_link(), **{f"linkConfig.{name}": value for name, value in inputs.items()}}).tls


def refusal(link: dict[str, str]) -> str:
    with pytest.raises(CdmError) as raised:
        LinkConfig.parse(link)
    assert raised.value.code == "Cdm.0014"
    return raised.value.message


# --- inputs -------------------------------------------------------------------------------------


def test_use_ssl_verifies_everything_by_default_and_relaxing_is_explicit() -> None:
    assert tls_of() is None
    assert tls_of(useSSL="false") is None
    assert tls_of(useSSL="true") == Tls(SslMode.VERIFY_FULL, None)
    assert tls_of(useSSL="true", sslCaCert=CA) == Tls(SslMode.VERIFY_FULL, CA.strip())
    assert tls_of(useSSL="true", sslMode="verify-ca") == Tls(SslMode.VERIFY_CA, None)
    assert tls_of(useSSL="true", sslMode="REQUIRE") == Tls(SslMode.REQUIRE, None)
    # Forms send every input's default: sslMode's asks for nothing, on any link.
    assert tls_of(useSSL="false", sslMode="verify-full") is None
    assert LinkConfig.parse({**mysql_link("test"), "linkConfig.sslMode": "verify-full"}).tls is None


def test_jdbc_tls_properties_of_postgresql_mean_the_same_inputs() -> None:
    assert tls_of(jdbcProperties="sslmode=require") == Tls(SslMode.REQUIRE, None)
    assert tls_of(jdbcProperties='{"ssl": "true", "connectTimeout": "10"}') == Tls(SslMode.VERIFY_FULL, None)
    assert tls_of(useSSL="true", jdbcProperties="ssl=true;sslmode=verify-ca") == Tls(SslMode.VERIFY_CA, None)
    # Properties that ask for nothing stay ignored.
    assert tls_of(jdbcProperties="connectTimeout=10;useSSL=false;sslmode=disable") is None


def test_tls_that_cannot_be_had_as_asked_is_refused_by_name() -> None:
    assert refusal({**pg_link(), "linkConfig.jdbcProperties": "sslmode=prefer"}).startswith(
        "linkConfig.jdbcProperties sslmode=prefer is not supported: it lets a connection fall back to plaintext.")
    assert refusal({**pg_link(), "linkConfig.jdbcProperties": "sslmode=require;sslrootcert=/root.crt;sslcert=c"}) \
        .startswith("linkConfig.jdbcProperties sslrootcert, sslcert is not supported: a PostgreSQL link takes ssl "
                    "and sslmode; give the CA to trust as linkConfig.sslCaCert (PEM text)")
    assert refusal({**pg_link(), "linkConfig.useSSL": "true", "linkConfig.jdbcProperties": "sslmode=disable"}) \
        .startswith("linkConfig.jdbcProperties asks for a connection without TLS")
    assert refusal({**pg_link(), "linkConfig.jdbcProperties": "ssl=false;sslmode=require"}) == (
        "linkConfig.jdbcProperties sslmode=require contradicts ssl=false.")
    assert refusal({**pg_link(), "linkConfig.sslMode": "require", "linkConfig.jdbcProperties": "sslmode=verify-ca"}) \
        == "linkConfig.jdbcProperties sslmode=verify-ca contradicts linkConfig.sslMode=require."
    assert refusal({**pg_link(), "linkConfig.sslCaCert": CA}) == (
        "linkConfig.sslCaCert applies to TLS connections: set linkConfig.useSSL=true.")
    assert refusal({**pg_link(), "linkConfig.useSSL": "true", "linkConfig.sslMode": "prefer"}).startswith(
        "The parameter is invalid: linkConfig.sslMode [prefer] must be one of verify-full, verify-ca, require.")
    assert refusal({**pg_link(), "linkConfig.useSSL": "true", "linkConfig.sslCaCert": "/etc/ssl/ca.pem"}).startswith(
        "The parameter is invalid: linkConfig.sslCaCert must hold PEM certificates")


def test_mysql_links_still_refuse_tls() -> None:
    # MariaDB/MySQL over TLS is the next step of issue 23; until then asking for it is refused.
    assert refusal({**mysql_link("test"), "linkConfig.useSSL": "true"}).startswith(
        "linkConfig.useSSL=true is not supported: OpenCDM connects to databases without TLS.")
    assert refusal({**mysql_link("test"), "linkConfig.jdbcProperties": "useSSL=true"}).startswith(
        "linkConfig.jdbcProperties useSSL is not supported: OpenCDM connects to databases without TLS.")
    assert refusal({**mysql_link("test"), "linkConfig.sslCaCert": CA}).startswith(
        "linkConfig.sslCaCert is not supported: OpenCDM connects to databases without TLS.")


# --- against a server demanding TLS -------------------------------------------------------------


def validation_error(link: dict[str, str]) -> str:
    with pytest.raises(CdmError) as raised:
        JdbcConnector().validate_link(link)
    assert raised.value.code == "Cdm.0901", raised.value
    return raised.value.message


def test_validation_accepts_the_servers_certificate_signed_by_the_given_ca(pg_tls: PostgresServer) -> None:
    JdbcConnector().validate_link(pg_tls_link(pg_tls))
    JdbcConnector().validate_link(pg_tls_link(pg_tls, sslMode="verify-ca"))
    # require encrypts without checking: the system's CAs do not know the test CA.
    JdbcConnector().validate_link(pg_tls_link(pg_tls, trust_test_ca=False, sslMode="require"))
    JdbcConnector().validate_link(pg_tls_link(pg_tls, trust_test_ca=False, useSSL="false",
                                              jdbcProperties="sslmode=require"))


def test_a_certificate_no_trusted_ca_signed_is_refused(pg_tls: PostgresServer, tmp_path: Path) -> None:
    assert validation_error(pg_tls_link(pg_tls, trust_test_ca=False)) == (
        "Cannot connect to the database server. Cause: the server's TLS certificate is not trusted: no CA of "
        "this system signed it (give the server's CA as linkConfig.sslCaCert)")
    # A CA, but not the one that signed the server's certificate.
    stranger = make_certificates(tmp_path)
    assert validation_error(pg_tls_link(pg_tls, sslCaCert=stranger.ca_pem)) == (
        "Cannot connect to the database server. Cause: the server's TLS certificate is not trusted: the CA of "
        "linkConfig.sslCaCert did not sign it")


def test_a_certificate_for_another_host_is_refused_unless_only_the_chain_is_checked(
    pg_tls_wrong_host: PostgresServer,
) -> None:
    assert validation_error(pg_tls_link(pg_tls_wrong_host)) == (
        "Cannot connect to the database server. Cause: the server's TLS certificate is not for the host name "
        "127.0.0.1 (linkConfig.sslMode=verify-ca checks the chain only)")
    JdbcConnector().validate_link(pg_tls_link(pg_tls_wrong_host, sslMode="verify-ca"))


def test_a_plaintext_link_to_a_server_demanding_tls_is_told_to_use_tls(pg_tls: PostgresServer) -> None:
    message = validation_error(pg_tls_link(pg_tls, trust_test_ca=False, useSSL="false"))
    assert message.startswith("Cannot connect to the database server. Cause: FATAL:  pg_hba.conf rejects connection")
    assert message.endswith("no encryption: the server accepts TLS connections only; set linkConfig.useSSL=true")


def test_a_tls_link_to_a_server_without_tls_is_refused_not_sent_in_plaintext(pg_available: None) -> None:
    with pg_connect() as conn:
        if conn.execute("SHOW ssl").fetchone() != ("off",):
            pytest.skip(f"the PostgreSQL at {PG_HOST}:{PG_PORT} offers TLS")
    for mode in ("verify-full", "require"):
        link = {**pg_link(), "linkConfig.useSSL": "true", "linkConfig.sslMode": mode}
        assert validation_error(link) == ("Cannot connect to the database server. Cause: the server does not "
                                          "offer TLS, which linkConfig.useSSL=true requires")


def test_the_native_copy_runs_over_tls_on_both_ends(pg_tls: PostgresServer) -> None:
    """Binary COPY passed through, TLS server to TLS server: the server sees only encrypted connections."""
    link = pg_tls_link(pg_tls)
    with psycopg.connect(pg_tls.conninfo(), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS native_src, native_dst")
        conn.execute("CREATE TABLE native_src AS SELECT g AS id, 'v' || g AS v FROM generate_series(1, 50) g")
    connector = JdbcConnector()
    source = connector.open_source(link, {"fromJobConfig.schemaName": "public",
                                          "fromJobConfig.tableName": "native_src"})
    sink = connector.open_sink(link, {"toJobConfig.schemaName": "public", "toJobConfig.tableName": "native_dst",
                                      "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"})
    try:
        native = source.native_format()
        assert native is not None and sink.prepare_native(source.schema(), native)
        written = sum(result.rows for result in sink.write_native(source.read_native(Partition(0))))
        with psycopg.connect(pg_tls.conninfo(), autocommit=True) as conn:
            held = conn.execute("SELECT ssl FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
                                "WHERE application_name = 'opencdm'").fetchall()
        sink.commit()
    finally:
        source.close()
        sink.close()
    assert written == 50
    assert held and set(held) == {(True,)}, held
    with psycopg.connect(pg_tls.conninfo()) as conn:
        assert conn.execute("SELECT count(*) FROM native_dst").fetchone() == (50,)


@pytest.mark.parametrize("native", [False, True], ids=["adbc", "psycopg"])
def test_a_statement_on_a_tls_connection_is_cancelled(pg_tls: PostgresServer, native: bool) -> None:
    """A stopped run cancels its statements: PostgreSQL's cancel request reaches a TLS-only server."""
    dialect = PostgresDialect(LinkConfig.parse(pg_tls_link(pg_tls)))
    conn = dialect.connect(native=native)
    timer = threading.Timer(1.0, dialect.cancel, (conn,))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(dialect.driver_errors, match="cancel"):
            dialect.query(conn, "SELECT pg_sleep(30)")
    finally:
        timer.join()
        dialect.close(conn)
    assert time.monotonic() - started < 15
