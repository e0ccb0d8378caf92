"""The MySQL/MariaDB fast paths (connectorx reader, LOAD DATA LOCAL INFILE writer) give exactly what
the generic DB-API paths give, on every supported type plus hostile text and binary values; the
writer stays transactional, turns the warnings of LOAD DATA LOCAL into errors, and sends no file
but its own."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pymysql
import pytest

from opencdm.connectors.jdbc import JdbcConnector
from opencdm.connectors.jdbc.config import LinkConfig
from opencdm.connectors.jdbc.mysql import PAGE_BATCHES, MySqlDialect
from opencdm.errors import CdmError

from conftest import mysql_link, pg_link
from jdbc_support import NAMES, copy, create_mysql, create_pg, expected, fetch_mysql, fetch_pg, my_connect, pg_connect

HOSTILE_TEXTS = ["NULL", "\\N", "tab\there", "cr\r\nlf\n", '"', '""', '",', '"\n', "\\", "a\\", "'", ",", " 🎉 "]
HOSTILE_BYTES = [b"\x00", b"\n", b"\\", b'"', b'",\n', b'\xf0"', b"NULL", b"\\N", b"\r", b"\x00\x0a\x5c"]
MAX_DECIMAL_65_30 = Decimal("99999999999999999999999999999999999.999999999999999999999999999999")


def _from(table: str = "src", **extra: str) -> dict[str, str]:
    return {"fromJobConfig.tableName": table} | {f"fromJobConfig.{key}": value for key, value in extra.items()}


def _to(table: str, preparation: str = "CREATE_WHEN_NOT_EXIST", **extra: str) -> dict[str, str]:
    job = {"toJobConfig.tableName": table, "toJobConfig.tablePreparation": preparation}
    return job | {f"toJobConfig.{key}": value for key, value in extra.items()}


def _create_source(database: str) -> None:
    """The full-type table plus rows of hostile text, binary and extreme decimals."""
    create_mysql(database, "src")
    rows = [
        (100 + i, text, text[:64], value, json.dumps({"s": text}, ensure_ascii=False))
        for i, (text, value) in enumerate(zip(HOSTILE_TEXTS, HOSTILE_BYTES + [b""] * 3, strict=True))
    ]
    conn = my_connect(database)
    with conn.cursor() as cursor:
        cursor.executemany("INSERT INTO src (id, c_text, c_varchar, c_bin, c_json) VALUES (%s, %s, %s, %s, %s)", rows)
        cursor.execute("INSERT INTO src (id, c_num, c_dec_wide) VALUES (200, %s, %s)", (MAX_DECIMAL_65_30, 0))
        cursor.execute(
            "INSERT INTO src (id, c_num, c_dec_wide) VALUES (201, %s, %s)", (MAX_DECIMAL_65_30.copy_negate(), 0)
        )
    conn.close()


def _raw(database: str, table: str, columns: str = ", ".join(NAMES)) -> list[tuple[Any, ...]]:
    """The rows as the server returns them, uncanonicalised."""
    conn = my_connect(database)
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM `{table}` ORDER BY id")
        rows = list(cursor.fetchall())
    conn.close()
    return rows


def _read_all(database: str, batch_rows: int, **from_job: str) -> pa.Table:
    source = JdbcConnector().open_source(mysql_link(database), _from(**from_job))
    try:
        return pa.Table.from_batches(list(source.read(source.partitions(1)[0], batch_rows)), schema=source.schema())
    finally:
        source.close()


def test_reader_gives_the_generic_batches(mysql_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _create_source(mysql_database)
    fast = _read_all(mysql_database, 4)
    monkeypatch.setattr(MySqlDialect, "fast_paths", False)
    generic = _read_all(mysql_database, 4)
    assert fast.num_rows == 4 + len(HOSTILE_TEXTS) + 2
    assert fast.schema == generic.schema
    assert fast.equals(generic)
    assert fast.filter(pc.equal(fast["id"], 200))["c_num"].to_pylist() == [MAX_DECIMAL_65_30]


# Each at the edge of what connectorx reads as a number (widened to 10 decimals, 28 digits) or
# just past it, where the reader falls back to the decimal's text.
EDGE_DECIMALS = {
    "DECIMAL(28,10)": Decimal("-999999999999999999.9999999999"),
    "DECIMAL(5,5)": Decimal("0.99999"),
    "DECIMAL(18,0)": Decimal("-999999999999999999"),
    "DECIMAL(19,0)": Decimal("9999999999999999999"),
    "DECIMAL(20,12)": Decimal("12345678.123456789012"),
}


def test_decimals_at_the_edge_of_the_numeric_read_stay_exact(
    mysql_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    columns = [f"d{i}" for i in range(len(EDGE_DECIMALS))]
    definitions = ", ".join(f"{name} {type_}" for name, type_ in zip(columns, EDGE_DECIMALS, strict=True))
    conn = my_connect(mysql_database)
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE TABLE edge (id INT PRIMARY KEY, {definitions})")
        values = list(EDGE_DECIMALS.values())
        cursor.execute("INSERT INTO edge VALUES (1, %s, %s, %s, %s, %s)", values)
        cursor.execute("INSERT INTO edge VALUES (2, %s, %s, %s, %s, %s)", [-value for value in values])
        cursor.execute("INSERT INTO edge (id) VALUES (3)")
    conn.close()
    fast = _read_all(mysql_database, 2, table="edge")
    monkeypatch.setattr(MySqlDialect, "fast_paths", False)
    assert fast.equals(_read_all(mysql_database, 2, table="edge"))
    assert fast.to_pylist()[0] == {"id": 1} | dict(zip(columns, values, strict=True))


def test_keyed_reads_come_in_pages_without_gaps_or_repeats(
    mysql_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # connectorx reads a whole result ahead of its consumer, so a keyed read goes in pages of
    # PAGE_BATCHES batches; page boundaries on a text key with hostile values must lose nothing.
    keys = sorted(set(HOSTILE_TEXTS) | {f"k{i:03d}" for i in range(80)} | {"", "Z", "é", "zz"})
    conn = my_connect(mysql_database)
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE keyed (k VARCHAR(64) PRIMARY KEY, n INT) COLLATE utf8mb4_bin")
        cursor.executemany("INSERT INTO keyed VALUES (%s, %s)", [(key, i) for i, key in enumerate(keys)])
    conn.close()
    batch_rows = 3
    assert len(keys) > 3 * PAGE_BATCHES * batch_rows
    queries: list[str] = []
    stream = MySqlDialect._stream_connectorx

    def recorded(self: MySqlDialect, sql: str, *args: Any) -> Any:
        queries.append(sql)
        return stream(self, sql, *args)

    monkeypatch.setattr(MySqlDialect, "_stream_connectorx", recorded)
    read = _read_all(mysql_database, batch_rows, table="keyed")
    assert len(queries) > 3
    assert sorted(read["k"].to_pylist()) == keys
    narrowed = _read_all(mysql_database, batch_rows, table="keyed", whereClause="n % 2 = 0")
    assert sorted(narrowed["k"].to_pylist()) == [key for i, key in enumerate(keys) if i % 2 == 0]


def test_writer_gives_the_generic_rows(mysql_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _create_source(mysql_database)
    total = 4 + len(HOSTILE_TEXTS) + 2
    assert copy(mysql_link(mysql_database), _from(), mysql_link(mysql_database), _to("fast"), batch_rows=5) == total
    monkeypatch.setattr(MySqlDialect, "fast_paths", False)
    assert copy(mysql_link(mysql_database), _from(), mysql_link(mysql_database), _to("generic"), 5) == total
    assert _raw(mysql_database, "fast") == _raw(mysql_database, "generic") == _raw(mysql_database, "src")
    hostile = {row[0]: row for row in _raw(mysql_database, "fast") if 100 <= row[0] < 200}
    assert [hostile[100 + i][NAMES.index("c_text")] for i in range(len(HOSTILE_TEXTS))] == HOSTILE_TEXTS
    assert [hostile[100 + i][NAMES.index("c_bin")] for i in range(len(HOSTILE_BYTES))] == HOSTILE_BYTES
    assert fetch_mysql(mysql_database, "fast", NAMES)[:4] == expected()


def test_each_fast_path_alone_against_postgresql(
    mysql_database: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL on the other side: the same PostgreSQL code runs on both paths, so only ours differs.
    create_pg(pg_schema, "src")
    create_mysql(mysql_database, "src")
    pg_from = {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"}
    for fast in (True, False):
        monkeypatch.setattr(MySqlDialect, "fast_paths", fast)
        copy(pg_link(), pg_from, mysql_link(mysql_database), _to(f"from_pg_{fast}"))
        copy(
            mysql_link(mysql_database),
            _from(),
            pg_link(),
            _to(f"from_my_{fast}") | {"toJobConfig.schemaName": pg_schema},
        )
    assert _raw(mysql_database, "from_pg_True") == _raw(mysql_database, "from_pg_False")
    assert fetch_mysql(mysql_database, "from_pg_True") == expected()
    assert fetch_pg(pg_schema, "from_my_True") == fetch_pg(pg_schema, "from_my_False") == expected()


def _run_sink(database: str, to_job: dict[str, str], batches: list[pa.RecordBatch], commit: bool) -> None:
    sink = JdbcConnector().open_sink(mysql_link(database), to_job)
    try:
        sink.prepare(batches[0].schema)
        try:
            for _ in sink.write(iter(batches)):
                pass
        finally:
            sink.commit() if commit else sink.rollback()
    finally:
        sink.close()


def _count(database: str, table: str) -> int:
    conn = my_connect(database)
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM `{table}`")
        (count,) = cursor.fetchone()
    conn.close()
    return count


def test_rollback_and_load_data_warnings_fail(mysql_database: str) -> None:
    conn = my_connect(mysql_database)
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE dst (id INT PRIMARY KEY, name VARCHAR(3))")
        cursor.execute("INSERT INTO dst VALUES (1, 'one'), (2, 'two')")
    conn.close()
    schema = pa.schema([("id", pa.int32()), ("name", pa.string())])
    good = pa.record_batch([pa.array([7, 8], pa.int32()), pa.array(["ok", None])], schema=schema)
    # A rolled-back clear and load leaves the table as it was.
    _run_sink(mysql_database, _to("dst", "DO_NOTHING", shouldClearTable="true"), [good], commit=False)
    assert _count(mysql_database, "dst") == 2
    # LOAD DATA LOCAL would only warn and skip or truncate: each must fail the write.
    for bad, cause in [
        (pa.record_batch([pa.array([3, 1], pa.int32()), pa.array(["x", "y"])], schema=schema), "Duplicate entry"),
        (pa.record_batch([pa.array([4], pa.int32()), pa.array(["four"])], schema=schema), "Data truncated"),
    ]:
        with pytest.raises(CdmError) as info:
            _run_sink(mysql_database, _to("dst", "DO_NOTHING"), [good, bad], commit=False)
        assert info.value.code == "Cdm.0232" and cause in info.value.message
        assert _count(mysql_database, "dst") == 2
    _run_sink(mysql_database, _to("dst", "DO_NOTHING"), [good], commit=True)
    assert _raw(mysql_database, "dst", "*") == [(1, "one"), (2, "two"), (7, "ok"), (8, None)]


def test_other_character_sets_convert_like_an_insert(mysql_database: str) -> None:
    conn = my_connect(mysql_database)
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE dst (id INT, name VARCHAR(10) CHARACTER SET latin1)")
    conn.close()
    schema = pa.schema([("id", pa.int32()), ("name", pa.string())])
    _run_sink(mysql_database, _to("dst", "DO_NOTHING"), [pa.record_batch([[1], ["café"]], schema=schema)], True)
    assert _raw(mysql_database, "dst", "id, name") == [(1, "café")]
    with pytest.raises(CdmError, match="Incorrect string value"):
        _run_sink(mysql_database, _to("dst", "DO_NOTHING"), [pa.record_batch([[2], ["🎉"]], schema=schema)], False)


def test_reader_errors_read_like_the_generic_ones(mysql_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = my_connect(mysql_database)
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE src (id INT, t TIME(6))")
        cursor.execute("INSERT INTO src VALUES (1, '12:00:00.5'), (2, '-01:00:00'), (3, '838:59:59')")
    conn.close()
    messages = []
    for fast in (True, False):
        monkeypatch.setattr(MySqlDialect, "fast_paths", fast)
        for from_job in ({"whereClause": "nosuch = 1"}, {"whereClause": "id > 1"}):
            with pytest.raises(CdmError) as info:
                _read_all(mysql_database, 10, **from_job)
            messages.append((info.value.code, info.value.message))
    assert messages[:2] == messages[2:]
    assert messages[0][0] == "Cdm.0904" and "(1054) Unknown column 'nosuch'" in messages[0][1]
    assert messages[1] == ("Cdm.0064", "Data format mismatch: TIME value -1 day, 23:00:00 is not a time of day.")
    monkeypatch.setattr(MySqlDialect, "fast_paths", True)
    assert _read_all(mysql_database, 10, whereClause="id = 1")["t"].to_pylist() == [dt.time(12, 0, 0, 500000)]


def test_only_the_file_being_loaded_is_sent(mysql_database: str, tmp_path: Path) -> None:
    secret, data = tmp_path / "secret.csv", tmp_path / "data.csv"
    secret.write_text("1\n")
    data.write_text("2\n")
    dialect = MySqlDialect(LinkConfig.parse(mysql_link(mysql_database)))
    conn = dialect.connect()
    try:
        dialect.execute(conn, "CREATE TABLE t (id INT)")
        # As a rogue server would: ask for another file than the one being loaded.
        with pytest.raises(pymysql.err.OperationalError, match="asked for local file"), conn.local_file(str(data)):
            dialect.execute(conn, f"LOAD DATA LOCAL INFILE {conn.escape(str(secret))} INTO TABLE t")
    finally:
        dialect.close(conn)
    conn = dialect.connect()
    try:  # outside a LOAD DATA of ours, no file at all
        with pytest.raises(RuntimeError, match="local_infile"):
            dialect.execute(conn, f"LOAD DATA LOCAL INFILE {conn.escape(str(secret))} INTO TABLE t")
    finally:
        dialect.close(conn)
    assert _count(mysql_database, "t") == 0


@pytest.mark.parametrize("fast", [True, False])
def test_float32_extremes_into_mariadb_float_read_back_the_same(
    mysql_database: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    """real ±FLT_MAX, the smallest normal and subnormal: MariaDB's FLOAT holds them all (not -0,
    which it stores as 0: refused, see test_exact_values.py)."""
    monkeypatch.setattr(MySqlDialect, "fast_paths", fast)
    values = ["3.4028235e+38", "-3.4028235e+38", "1.1754944e-38", "1e-45", "0.1", "0"]
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".floats (id int PRIMARY KEY, v real)')
        for number, value in enumerate(values):
            conn.execute(f'INSERT INTO "{pg_schema}".floats VALUES (%s, %s::real)', (number, value))
        source = [row[0] for row in conn.execute(f'SELECT v FROM "{pg_schema}".floats ORDER BY id').fetchall()]
    copied = copy(pg_link(), {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "floats"},
                  mysql_link(mysql_database), _to("floats"))
    assert copied == len(values)
    with my_connect(mysql_database) as conn, conn.cursor() as cursor:
        # As text a FLOAT comes back with 6 digits; as a double, exactly.
        cursor.execute("SELECT CAST(v AS DOUBLE) FROM floats ORDER BY id")
        assert [pa.scalar(v, pa.float32()).as_py() for (v,) in cursor.fetchall()] == [
            pa.scalar(v, pa.float32()).as_py() for v in source]
