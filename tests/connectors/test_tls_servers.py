"""The TLS database servers of the test fixtures (tests/tls_servers.py) demand TLS and present the
test CA's certificate: the ground the TLS tests of the connectors stand on."""

from __future__ import annotations

import psycopg
import pymysql
import pytest

from tls_servers import Certificates, MariaDbServer, PostgresServer


def test_postgresql_refuses_plaintext_and_accepts_verified_tls(pg_tls: PostgresServer) -> None:
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(pg_tls.conninfo(sslmode="disable"), connect_timeout=5)
    with psycopg.connect(pg_tls.conninfo(), connect_timeout=5) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)


def test_mariadb_refuses_plaintext_and_accepts_verified_tls(mariadb_tls: MariaDbServer,
                                                            tls_certificates: Certificates) -> None:
    address = {"host": "127.0.0.1", "port": mariadb_tls.port, "user": mariadb_tls.user, "password": "",
               "database": mariadb_tls.database, "connect_timeout": 5}
    with pytest.raises(pymysql.OperationalError):
        pymysql.connect(**address, ssl_disabled=True)
    conn = pymysql.connect(**address, ssl_ca=str(tls_certificates.ca), ssl_verify_cert=True,
                           ssl_verify_identity=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            (_, cipher), = cursor.fetchall()
        assert cipher
    finally:
        conn.close()
