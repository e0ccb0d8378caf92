"""Every supported type, NULLs, unicode and extreme values copied between PostgreSQL, MariaDB and
SQLite with CREATE_WHEN_NOT_EXIST; destination rows and created column types are checked natively."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conftest import mysql_link, pg_link, sqlite_link
from jdbc_support import (
    copy,
    create_mysql,
    create_pg,
    create_sqlite,
    expected,
    fetch_mysql,
    fetch_pg,
    fetch_sqlite,
    my_connect,
    pg_connect,
)


def _from(schema: str | None, table: str) -> dict[str, str]:
    job = {"fromJobConfig.useSql": "false", "fromJobConfig.tableName": table}
    if schema:
        job["fromJobConfig.schemaName"] = schema
    return job


def _to(schema: str | None, table: str, preparation: str = "CREATE_WHEN_NOT_EXIST") -> dict[str, str]:
    job = {"toJobConfig.tableName": table, "toJobConfig.tablePreparation": preparation}
    if schema:
        job["toJobConfig.schemaName"] = schema
    return job


def _pg_types(schema: str, table: str) -> dict[str, str]:
    with pg_connect() as conn:
        rows = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = (quote_ident(%s) || '.' || quote_ident(%s))::regclass AND a.attnum > 0",
            (schema, table),
        ).fetchall()
    return dict(rows)


def _mysql_types(database: str, table: str) -> dict[str, str]:
    conn = my_connect(database)
    with conn.cursor() as cursor:
        cursor.execute(f"SHOW FULL COLUMNS FROM `{table}`")
        types = {row[0]: f"{row[1]} {row[8]}".strip() for row in cursor.fetchall()}
    conn.close()
    return types


def _sqlite_types(path: str, table: str) -> dict[str, str]:
    conn = sqlite3.connect(path)
    types = {name: declared for name, declared in conn.execute("SELECT name, type FROM pragma_table_info(?)", (table,))}
    conn.close()
    return types


PG_EXPECTED = {
    "c_small": "smallint",
    "c_int": "integer",
    "c_big": "bigint",
    "c_dec": "numeric(12,2)",
    "c_dec_wide": "numeric(38,10)",
    "c_real": "real",
    "c_double": "double precision",
    "c_varchar": "character varying(64)",
    "c_text": "text",
    "c_bool": "boolean",
    "c_date": "date",
    "c_time": "time without time zone",
    "c_ts": "timestamp without time zone",
    "c_tstz": "timestamp with time zone",
    "c_bin": "bytea",
    "c_json": "json",
}
MYSQL_EXPECTED = {
    "c_small": "smallint(6)",
    "c_int": "int(11)",
    "c_big": "bigint(20)",
    "c_dec": "decimal(12,2)",
    "c_dec_wide": "decimal(38,10)",
    "c_real": "float",
    "c_double": "double",
    "c_varchar": "varchar(64)",
    "c_text": "longtext",
    "c_bool": "tinyint(1)",
    "c_date": "date",
    "c_time": "time(6)",
    "c_ts": "datetime(6)",
    "c_tstz": "datetime(6) opencdm:timestamptz",
    "c_bin": "longblob",
    "c_json": "longtext",  # MariaDB's JSON is LONGTEXT with a json_valid() check
}
SQLITE_EXPECTED = {
    "c_small": "SMALLINT",
    "c_int": "INT",
    "c_big": "BIGINT",
    "c_dec": "DECIMAL(12,2)",
    "c_dec_wide": "DECIMAL_TEXT(38,10)",
    "c_real": "FLOAT",
    "c_double": "DOUBLE",
    "c_varchar": "VARCHAR(64)",
    "c_text": "TEXT",
    "c_bool": "BOOLEAN",
    "c_date": "DATE",
    "c_time": "TIME",
    "c_ts": "TIMESTAMP",
    "c_tstz": "TIMESTAMPTZ",
    "c_bin": "BLOB",
    "c_json": "JSON",
}


def _subset(actual: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    return {name: actual.get(name, "<missing>") for name in wanted}


def test_pg_to_pg(pg_schema: str) -> None:
    create_pg(pg_schema, "src")
    assert copy(pg_link(), _from(pg_schema, "src"), pg_link(), _to(pg_schema, "dst")) == 4
    assert fetch_pg(pg_schema, "dst") == expected()
    assert _subset(_pg_types(pg_schema, "dst"), PG_EXPECTED) == PG_EXPECTED
    assert _pg_types(pg_schema, "dst")["c_num"] == "numeric"


def test_pg_to_mysql(pg_schema: str, mysql_database: str) -> None:
    create_pg(pg_schema, "src")
    assert copy(pg_link(), _from(pg_schema, "src"), mysql_link(mysql_database), _to(None, "dst")) == 4
    assert fetch_mysql(mysql_database, "dst") == expected()
    assert _subset(_mysql_types(mysql_database, "dst"), MYSQL_EXPECTED) == MYSQL_EXPECTED
    assert _mysql_types(mysql_database, "dst")["c_num"] == "decimal(65,30)"


def test_mysql_to_pg(mysql_database: str, pg_schema: str) -> None:
    create_mysql(mysql_database, "src")
    assert copy(mysql_link(mysql_database), _from(None, "src"), pg_link(), _to(pg_schema, "dst")) == 4
    assert fetch_pg(pg_schema, "dst") == expected()
    wanted = PG_EXPECTED | {"c_json": "json"}
    assert _subset(_pg_types(pg_schema, "dst"), wanted) == wanted


def test_sqlite_to_pg(tmp_path: Path, pg_schema: str) -> None:
    path = str(tmp_path / "src.db")
    create_sqlite(path, "src")
    assert copy(sqlite_link(path), _from(None, "src"), pg_link(), _to(pg_schema, "dst")) == 4
    assert fetch_pg(pg_schema, "dst") == expected()
    assert _subset(_pg_types(pg_schema, "dst"), PG_EXPECTED) == PG_EXPECTED
    assert _pg_types(pg_schema, "dst")["c_num"] == "numeric"


def test_pg_to_sqlite(pg_schema: str, tmp_path: Path) -> None:
    create_pg(pg_schema, "src")
    path = str(tmp_path / "dst.db")
    assert copy(pg_link(), _from(pg_schema, "src"), sqlite_link(path), _to(None, "dst")) == 4
    assert fetch_sqlite(path, "dst") == expected()
    assert _subset(_sqlite_types(path, "dst"), SQLITE_EXPECTED) == SQLITE_EXPECTED


def test_mysql_to_sqlite_and_back_to_mysql(mysql_database: str, tmp_path: Path) -> None:
    create_mysql(mysql_database, "src")
    path = str(tmp_path / "mid.db")
    assert copy(mysql_link(mysql_database), _from(None, "src"), sqlite_link(path), _to(None, "mid")) == 4
    assert fetch_sqlite(path, "mid") == expected()
    assert copy(sqlite_link(path), _from(None, "mid"), mysql_link(mysql_database), _to(None, "back")) == 4
    assert fetch_mysql(mysql_database, "back") == expected()
    assert _subset(_mysql_types(mysql_database, "back"), MYSQL_EXPECTED) == MYSQL_EXPECTED


def test_pg_jsonb_and_native_types_survive_pg_to_pg(pg_schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id int, j jsonb, u uuid, iv interval, ch character(3))')
        conn.execute(f"""INSERT INTO "{pg_schema}".src VALUES
            (1, '{{"b": 2, "a": [1, "ü"]}}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 day 02:03:04.5', 'ab'),
            (2, NULL, NULL, NULL, NULL)""")
    copy(pg_link(), _from(pg_schema, "src"), pg_link(), _to(pg_schema, "dst"))
    assert _pg_types(pg_schema, "dst") == {
        "id": "integer",
        "j": "jsonb",
        "u": "uuid",
        "iv": "interval",
        "ch": "character(3)",
    }
    with pg_connect() as conn:
        rows = conn.execute(f'SELECT j::text, u::text, iv::text, ch FROM "{pg_schema}".dst ORDER BY id').fetchall()
    assert rows == [
        ('{"a": [1, "ü"], "b": 2}', "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "1 day 02:03:04.5", "ab "),
        (None, None, None, None),
    ]


def test_mysql_specific_types_to_pg(mysql_database: str, pg_schema: str) -> None:
    conn = my_connect(mysql_database)
    with conn.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE src (id INT, t TINYINT, ub BIGINT UNSIGNED, ui INT UNSIGNED, "
            "ts TIMESTAMP(6) NULL, j JSON, vb VARBINARY(16), ch CHAR(2))"
        )
        cursor.execute(
            "INSERT INTO src VALUES (1, -128, 18446744073709551615, 4294967295, "
            "'2038-01-19 03:14:07.999999', '{\"a\": 1}', x'00ff', 'ab'), "
            "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
        )
    conn.close()
    copy(mysql_link(mysql_database), _from(None, "src"), pg_link(), _to(pg_schema, "dst"))
    assert _pg_types(pg_schema, "dst") == {
        "id": "integer",
        "t": "smallint",
        "ub": "numeric(20,0)",
        "ui": "bigint",
        "ts": "timestamp with time zone",
        "j": "json",
        "vb": "bytea",
        "ch": "character(2)",
    }
    with pg_connect() as conn:
        rows = conn.execute(
            f'SELECT t, ub::text, ui, ts::text, j::text, vb, ch FROM "{pg_schema}".dst ORDER BY id'
        ).fetchall()
    assert rows == [
        (-128, "18446744073709551615", 4294967295, "2038-01-19 03:14:07.999999+00", '{"a": 1}', b"\x00\xff", "ab"),
        (None,) * 7,
    ]
