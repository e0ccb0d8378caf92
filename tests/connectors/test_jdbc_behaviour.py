"""CDM job semantics of the generic-jdbc-connector: column lists, filters, custom SQL, table
preparation, clearing, transactions, identifier quoting, link validation and error codes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from opencdm.connectors import get_connector
from opencdm.connectors.jdbc import JdbcConnector
from opencdm.errors import CdmError

from conftest import mysql_link, pg_link, sqlite_link
from jdbc_support import copy, my_connect, pg_connect

connector = JdbcConnector()


def _pg_table(schema: str, table: str = "src") -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}"."{table}" (id int, name varchar(20), amount numeric(10,2))')
        conn.execute(f"""INSERT INTO "{schema}"."{table}" VALUES (1, 'a', 1.10), (2, 'b', 2.20), (3, 'c', 3.30)""")


def _pg_rows(schema: str, table: str, columns: str = "*") -> list[tuple[object, ...]]:
    with pg_connect() as conn:
        quoted = table.replace('"', '""')
        return conn.execute(f'SELECT {columns} FROM "{schema}"."{quoted}" ORDER BY 1').fetchall()


def _from(schema: str, table: str = "src", **extra: str) -> dict[str, str]:
    return {"fromJobConfig.schemaName": schema, "fromJobConfig.tableName": table} | {
        f"fromJobConfig.{key}": value for key, value in extra.items()
    }


def _to(
    schema: str | None, table: str = "dst", preparation: str = "CREATE_WHEN_NOT_EXIST", **extra: str
) -> dict[str, str]:
    job = {"toJobConfig.tableName": table, "toJobConfig.tablePreparation": preparation}
    if schema:
        job["toJobConfig.schemaName"] = schema
    return job | {f"toJobConfig.{key}": value for key, value in extra.items()}


def _error(call: Callable[[], object]) -> CdmError:
    with pytest.raises(CdmError) as info:
        call()
    return info.value


def test_registry_finds_the_connector() -> None:
    assert get_connector("generic-jdbc-connector").name == "generic-jdbc-connector"
    assert "linkConfig.password" in connector.sensitive_inputs


def test_column_lists_map_by_position_and_where_clause_filters(pg_schema: str) -> None:
    _pg_table(pg_schema)
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".dst (x int DEFAULT 7, label text, total numeric(10,2), n int)')
    written = copy(
        pg_link(),
        _from(pg_schema, columnList="amount&name", whereClause="id >= 2"),
        pg_link(),
        _to(pg_schema, preparation="DO_NOTHING", columnList="total&label"),
    )
    assert written == 2
    # Unlisted destination columns keep their defaults.
    assert _pg_rows(pg_schema, "dst", "label, total, x, n") == [
        ("b", Decimal("2.20"), 7, None),
        ("c", Decimal("3.30"), 7, None),
    ]


def test_use_sql(pg_schema: str, mysql_database: str) -> None:
    _pg_table(pg_schema)
    sql = f'SELECT id, amount * 2 AS doubled, upper(name)::varchar(5) AS up FROM "{pg_schema}".src WHERE id <> 2'
    source = connector.open_source(pg_link(), {"fromJobConfig.useSql": "true", "fromJobConfig.sql": sql})
    try:
        assert source.schema().field("up").metadata == {b"opencdm.length": b"5"}
        # The planner's estimate for a query (see test_estimates.py): a positive number.
        assert (source.estimate_rows() or 0) > 0
    finally:
        source.close()
    copy(pg_link(), {"fromJobConfig.useSql": "true", "fromJobConfig.sql": sql}, mysql_link(mysql_database), _to(None))
    conn = my_connect(mysql_database)
    with conn.cursor() as cursor:
        cursor.execute("SELECT id, doubled, up FROM dst ORDER BY id")
        rows = list(cursor.fetchall())
    conn.close()
    # amount * 2 is an unconstrained numeric, created as DECIMAL(65,30) in MariaDB
    assert rows == [(1, Decimal("2.2"), "A"), (3, Decimal("6.6"), "C")]


def test_use_sql_on_mysql_and_sqlite(mysql_database: str, tmp_path: Path, pg_schema: str) -> None:
    conn = my_connect(mysql_database)
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE src (id INT, price DECIMAL(8,3), name VARCHAR(10))")
        cursor.execute("INSERT INTO src VALUES (1, 1.5, 'x'), (2, 2.25, 'y')")
    conn.close()
    copy(
        mysql_link(mysql_database),
        {"fromJobConfig.useSql": "true", "fromJobConfig.sql": "SELECT id, price, name FROM src WHERE id = 2"},
        pg_link(),
        _to(pg_schema, table="from_mysql"),
    )
    assert _pg_rows(pg_schema, "from_mysql", "id, price::text, name") == [(2, "2.250", "y")]
    path = str(tmp_path / "q.db")
    lite = sqlite3.connect(path)
    lite.execute("CREATE TABLE src (id INT, d DECIMAL(8,3), t TIMESTAMP)")
    lite.execute("INSERT INTO src VALUES (1, '7.125', '2020-01-02 03:04:05.000006')")
    lite.commit()
    lite.close()
    copy(
        sqlite_link(path),
        {"fromJobConfig.useSql": "true", "fromJobConfig.sql": "SELECT id, d, t FROM src"},
        pg_link(),
        _to(pg_schema, table="from_sqlite"),
    )
    assert _pg_rows(pg_schema, "from_sqlite", "id, d::text, t::text") == [(1, "7.125", "2020-01-02 03:04:05.000006")]


def test_clear_table_variants_and_drop_and_create(pg_schema: str) -> None:
    _pg_table(pg_schema)
    copy(pg_link(), _from(pg_schema), pg_link(), _to(pg_schema))
    copy(pg_link(), _from(pg_schema), pg_link(), _to(pg_schema))  # appends by default
    assert len(_pg_rows(pg_schema, "dst")) == 6
    copy(pg_link(), _from(pg_schema), pg_link(), _to(pg_schema, shouldClearTable="true"))  # legacy input
    assert len(_pg_rows(pg_schema, "dst")) == 3
    copy(pg_link(), _from(pg_schema), pg_link(), _to(pg_schema, beforeImportType="shouldClearTable"))
    assert len(_pg_rows(pg_schema, "dst")) == 3
    copy(
        pg_link(),
        _from(pg_schema, whereClause="id = 1"),
        pg_link(),
        _to(pg_schema, beforeImportType="whereClause", whereClause="id = 1"),
    )
    assert [row[0] for row in _pg_rows(pg_schema, "dst")] == [1, 2, 3]
    with pg_connect() as conn:
        conn.execute(f'ALTER TABLE "{pg_schema}".dst ADD COLUMN extra int')
    copy(pg_link(), _from(pg_schema), pg_link(), _to(pg_schema, preparation="DROP_AND_CREATE"))
    assert [row[0] for row in _pg_rows(pg_schema, "dst")] == [1, 2, 3]
    assert len(_pg_rows(pg_schema, "dst")[0]) == 3  # recreated without the extra column


def test_do_nothing_with_missing_table(pg_schema: str, tmp_path: Path) -> None:
    _pg_table(pg_schema)
    for link, schema in ((pg_link(), pg_schema), (sqlite_link(str(tmp_path / "x.db")), None)):
        error = _error(
            lambda link=link, schema=schema: copy(
                pg_link(), _from(pg_schema), link, _to(schema, table="nope", preparation="DO_NOTHING")
            )
        )
        assert error.code == "Cdm.0900"
        assert "nope" in error.message and "does not exist" in error.message


def _fail_midway(
    link: dict[str, str], to_job: dict[str, str], source_link: dict[str, str], from_job: dict[str, str]
) -> None:
    """prepare and write, then roll back as the engine does after a failure."""
    source = connector.open_source(source_link, from_job)
    sink = connector.open_sink(link, to_job)
    try:
        sink.prepare(source.schema())
        for _ in sink.write(source.read(source.partitions(1)[0], 1)):
            pass
        sink.rollback()
    finally:
        source.close()
        sink.close()


def test_rollback_leaves_target_unchanged(pg_schema: str, mysql_database: str, tmp_path: Path) -> None:
    _pg_table(pg_schema)
    # PostgreSQL: a created table disappears, a cleared table keeps its rows.
    _fail_midway(pg_link(), _to(pg_schema, table="created"), pg_link(), _from(pg_schema))
    with pg_connect() as conn:
        assert conn.execute("SELECT to_regclass(%s)", (f'"{pg_schema}".created',)).fetchone() == (None,)
    copy(pg_link(), _from(pg_schema), pg_link(), _to(pg_schema))
    _fail_midway(pg_link(), _to(pg_schema, shouldClearTable="true"), pg_link(), _from(pg_schema, whereClause="id=1"))
    assert len(_pg_rows(pg_schema, "dst")) == 3
    # MariaDB: DELETE and INSERT are undone (DDL cannot be in MySQL).
    my = mysql_link(mysql_database)
    copy(pg_link(), _from(pg_schema), my, _to(None))
    _fail_midway(my, _to(None, shouldClearTable="true"), pg_link(), _from(pg_schema, whereClause="id=1"))
    conn = my_connect(mysql_database)
    with conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM dst")
        assert cursor.fetchone() == (3,)
    conn.close()
    # SQLite: creation, clearing and inserts all undone.
    path = str(tmp_path / "r.db")
    lite = sqlite_link(path)
    copy(pg_link(), _from(pg_schema), lite, _to(None))
    _fail_midway(lite, _to(None, shouldClearTable="true"), pg_link(), _from(pg_schema, whereClause="id=1"))
    _fail_midway(lite, _to(None, table="created"), pg_link(), _from(pg_schema))
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM dst").fetchone() == (3,)
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'created'").fetchall() == []
    db.close()


HOSTILE = 'x"; DROP TABLE y; --'
HOSTILE_MY = "x`; DROP TABLE y; -- 100%s"


def test_hostile_identifiers_are_quoted(pg_schema: str, mysql_database: str, tmp_path: Path) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".y (id int)')
        conn.execute(
            f'CREATE TABLE "{pg_schema}"."{HOSTILE.replace(chr(34), chr(34) * 2)}" ("we""ird col" int, "a`b" text)'
        )
        conn.execute(f'INSERT INTO "{pg_schema}"."{HOSTILE.replace(chr(34), chr(34) * 2)}" VALUES (1, \'z\')')
    copy(pg_link(), _from(pg_schema, table=HOSTILE), pg_link(), _to(pg_schema, table=HOSTILE + "2"))
    copy(
        pg_link(),
        _from(pg_schema, table=HOSTILE, columnList='a`b&we"ird col'),
        pg_link(),
        _to(pg_schema, table=HOSTILE + "3", columnList='a`b&we"ird col'),
    )
    copy(pg_link(), _from(pg_schema, table=HOSTILE), mysql_link(mysql_database), _to(None, table=HOSTILE_MY))
    copy(pg_link(), _from(pg_schema, table=HOSTILE), sqlite_link(str(tmp_path / "h.db")), _to(None, table=HOSTILE))
    with pg_connect() as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (pg_schema,)
            )
        }
    assert tables == {"y", HOSTILE, HOSTILE + "2", HOSTILE + "3"}
    assert _pg_rows(pg_schema, HOSTILE + "3", '"we""ird col", "a`b"') == [(1, "z")]
    conn = my_connect(mysql_database)
    with conn.cursor() as cursor:
        cursor.execute("SHOW TABLES")
        assert [row[0] for row in cursor.fetchall()] == [HOSTILE_MY]
    conn.close()
    db = sqlite3.connect(str(tmp_path / "h.db"))
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == [(HOSTILE,)]
    db.close()


def test_source_errors(pg_schema: str) -> None:
    _pg_table(pg_schema)
    error = _error(lambda: connector.open_source(pg_link(), _from(pg_schema, table="missing")))
    assert (error.code, error.message) == ("Cdm.0900", f"Table [{pg_schema}.missing] does not exist.")
    error = _error(lambda: connector.open_source(pg_link(), _from(pg_schema, columnList="id&nosuch")))
    assert error.code == "Cdm.0014" and "[nosuch]" in error.message
    error = _error(
        lambda: connector.open_source(
            pg_link(), {"fromJobConfig.useSql": "true", "fromJobConfig.sql": "SELECT FROM WHERE"}
        )
    )
    assert error.code == "Cdm.0902" and "syntax error" in error.message
    source = connector.open_source(pg_link(), _from(pg_schema, whereClause="nosuch = 1"))
    try:
        error = _error(lambda: next(source.read(source.partitions(1)[0], 10)))
    finally:
        source.close()
    assert error.code == "Cdm.0904" and "nosuch" in error.message


def test_sink_column_count_mismatch(pg_schema: str) -> None:
    _pg_table(pg_schema)
    error = _error(lambda: copy(pg_link(), _from(pg_schema), pg_link(), _to(pg_schema, columnList="a&b")))
    assert error.code == "Cdm.0931"


def test_batches_are_bounded_and_estimate_counts(pg_schema: str, mysql_database: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".big AS SELECT g AS id FROM generate_series(1, 2500) g')
    source = connector.open_source(pg_link(), _from(pg_schema, table="big"))
    try:
        assert source.estimate_rows() == 2500
        sizes = [batch.num_rows for batch in source.read(source.partitions(4)[0], 1000)]
    finally:
        source.close()
    assert sizes == [1000, 1000, 500]
    copy(pg_link(), _from(pg_schema, table="big"), mysql_link(mysql_database), _to(None, table="big"), 700)
    source = connector.open_source(mysql_link(mysql_database), {"fromJobConfig.tableName": "big"})
    try:
        assert source.estimate_rows() == 2500
        assert [b.num_rows for b in source.read(source.partitions(1)[0], 1000)] == [1000, 1000, 500]
    finally:
        source.close()


def test_link_checks(tmp_path: Path) -> None:
    error = _error(lambda: connector.check_link_inputs({"linkConfig.databaseType": "ORACLE"}))
    assert error.code == "Cdm.0014"
    assert error.message.startswith("databaseType ORACLE is known to CDM but not supported by this deployment")
    assert "POSTGRESQL, MYSQL, SQLITE" in error.message
    error = _error(lambda: connector.check_link_inputs({"linkConfig.databaseType": "POSTGRESQL"}))
    assert (error.code, error.message) == ("Cdm.0238", "linkConfig.host cannot be empty.")
    # Whatever is wrong with a port, one rule says so: the same code and the same range.
    for bad in ("54x", "abc", "99999", "70000", "0", "-1", "٣٣٠٦"):
        error = _error(lambda bad=bad: connector.check_link_inputs(pg_link() | {"linkConfig.port": bad}))
        assert error.code == "Cdm.0024", (bad, error.message)
        assert error.message == f"[linkConfig.port] must be within the range [1, 65535]: [{bad}] is not a port."
    connector.check_link_inputs(sqlite_link(str(tmp_path / "whatever.db")))
    error = _error(
        lambda: connector.check_to_job(
            pg_link(), {"toJobConfig.tableName": "t", "toJobConfig.tablePreparation": "SOMETIMES"}
        )
    )
    assert error.code == "Cdm.0014" and "toJobConfig.tablePreparation" in error.message
    error = _error(lambda: connector.check_from_job(pg_link(), {"fromJobConfig.useSql": "true"}))
    assert (error.code, error.message) == ("Cdm.0238", "fromJobConfig.sql cannot be empty.")


def test_validate_link_really_connects(mysql_available: None, pg_available: None, tmp_path: Path) -> None:
    connector.validate_link(pg_link())
    error = _error(lambda: connector.validate_link(pg_link() | {"linkConfig.port": "1"}))
    assert error.code == "Cdm.0901"
    assert error.message.startswith("Cannot connect to the database server. Cause: ")
    # Only "cannot connect": what answered on a port that is not the database's is not repeated.
    assert error.message.endswith("Cause: cannot connect to 127.0.0.1:1")
    error = _error(lambda: connector.validate_link(mysql_link("test") | {"linkConfig.password": "wrong"}))
    assert error.code == "Cdm.0901" and "Access denied" in error.message
    # Validation only reads: a database file that does not exist is reported, not created.
    error = _error(lambda: connector.validate_link(sqlite_link(str(tmp_path / "new.db"))))
    assert error.code == "Cdm.0901" and "does not exist" in error.message
    assert not (tmp_path / "new.db").exists()
    sqlite3.connect(tmp_path / "new.db").close()
    connector.validate_link(sqlite_link(str(tmp_path / "new.db")))
    error = _error(lambda: connector.validate_link(sqlite_link(str(tmp_path / "no" / "dir.db"))))
    assert error.code == "Cdm.0901" and "does not exist" in error.message
    (tmp_path / "junk.db").write_bytes(b"this is not a database file at all, not even close" * 10)
    error = _error(lambda: connector.validate_link(sqlite_link(str(tmp_path / "junk.db"))))
    assert error.code == "Cdm.0901" and "not a database" in error.message
