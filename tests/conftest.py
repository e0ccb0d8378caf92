"""Shared fixtures: real PostgreSQL and MariaDB on loopback (skipped on a user's machine without
them, a failure under CI=true), and scratch schemas/databases that tests may freely fill."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_HOST = os.environ.get("OPENCDM_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("OPENCDM_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("OPENCDM_TEST_PG_USER", "postgres")
PG_DATABASE = os.environ.get("OPENCDM_TEST_PG_DATABASE", "test")
MY_HOST = os.environ.get("OPENCDM_TEST_MYSQL_HOST", "127.0.0.1")
MY_PORT = int(os.environ.get("OPENCDM_TEST_MYSQL_PORT", "3306"))
MY_USER = os.environ.get("OPENCDM_TEST_MYSQL_USER", "root")
MY_DATABASE = os.environ.get("OPENCDM_TEST_MYSQL_DATABASE", "test")


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable ({exc}); start it to run these tests"
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
