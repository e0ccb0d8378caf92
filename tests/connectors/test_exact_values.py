"""Values some destinations cannot hold: PostgreSQL's timestamp/date ±infinity and a double's NaN.
They arrive exactly where the destination holds them, and anywhere else the run fails with the
column, the row and the value named; a value that does not convert names itself too. A double's -0,
equal to 0, arrives as 0 where the destination has no -0."""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from opencdm.connectors.base import RejectedRow
from opencdm.connectors.jdbc import JdbcConnector
from opencdm.connectors.jdbc.mysql import MySqlDialect
from opencdm.engine.partitions import Tally, copy_partition
from opencdm.errors import CdmError

from conftest import mysql_link, pg_link, sqlite_link
from jdbc_support import copy, my_connect, pg_connect

INFINITE_ROWS = """(1, 'infinity', '-infinity', 'infinity'), (2, '-infinity', 'infinity', '-infinity'),
    (3, '2024-02-29 12:34:56.789012', '4714-11-24 00:00:00+00 BC', '5874897-12-31'), (4, NULL, NULL, NULL)"""


def _from(schema: str | None, table: str) -> dict[str, str]:
    job = {"fromJobConfig.useSql": "false", "fromJobConfig.tableName": table}
    return job | ({"fromJobConfig.schemaName": schema} if schema else {})


def _to(schema: str | None, table: str, **inputs: str) -> dict[str, str]:
    job = {"toJobConfig.tableName": table, "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST", **inputs}
    return job | ({"toJobConfig.schemaName": schema} if schema else {})


def _infinite_source(schema: str, key: str = "PRIMARY KEY") -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}".src (id integer {key}, ts timestamp, tz timestamptz, d date)')
        conn.execute(f'INSERT INTO "{schema}".src VALUES {INFINITE_ROWS}')


def _pg_text(schema: str, table: str) -> list[tuple[object, ...]]:
    with pg_connect() as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        return conn.execute(f'SELECT id, ts::text, tz::text, d::text FROM "{schema}".{table} ORDER BY id').fetchall()


@pytest.mark.parametrize(
    "inputs",
    [{}, {"toJobConfig.writeMode": "UPSERT", "toJobConfig.upsertKeys": "id"}],
    ids=["created-table", "upsert-through-a-temporary-table"],
)
def test_pg_infinities_reach_pg_exactly(pg_schema: str, inputs: dict[str, str]) -> None:
    _infinite_source(pg_schema)
    assert copy(pg_link(), _from(pg_schema, "src"), pg_link(), _to(pg_schema, "dst", **inputs)) == 4
    assert _pg_text(pg_schema, "dst") == _pg_text(pg_schema, "src")
    assert _pg_text(pg_schema, "dst")[:2] == [
        (1, "infinity", "-infinity", "infinity"),
        (2, "-infinity", "infinity", "-infinity"),
    ]


def test_pg_infinities_reach_an_existing_pg_table_row_by_row(pg_schema: str) -> None:
    """Runs that leave refused rows out write through psycopg's text COPY."""
    _infinite_source(pg_schema)
    with pg_connect() as conn:
        # Python's datetime, which this path takes values through, has no year before 1.
        conn.execute(f"UPDATE \"{pg_schema}\".src SET tz = '0001-01-01 00:00:00+00', d = '9999-12-31' WHERE id = 3")
        conn.execute(f'CREATE TABLE "{pg_schema}".dst (id integer, ts timestamp, tz timestamptz, d date)')
    source = JdbcConnector().open_source(pg_link(), _from(pg_schema, "src"))
    sink = JdbcConnector().open_sink(pg_link(), _to(pg_schema, "dst"))
    sink.skip_rejected_rows = True
    try:
        sink.prepare(source.schema())
        results = list(copy_partition(source, sink, source.partitions(1)[0], None, 10, Tally(), lambda: None))
        sink.commit()
    finally:
        source.close()
        sink.close()
    assert sum(result.rows for result in results) == 4
    assert _pg_text(pg_schema, "dst") == _pg_text(pg_schema, "src")


def test_pg_infinity_into_mariadb_fails_naming_column_key_and_value(pg_schema: str, mysql_database: str) -> None:
    _infinite_source(pg_schema)
    with pytest.raises(CdmError) as failure:
        copy(pg_link(), _from(pg_schema, "src"), mysql_link(mysql_database), _to(None, "dst"))
    assert failure.value.code == "Cdm.0232"
    assert failure.value.message == (
        "Data write failed. Cause: column [ts] of the row with id=1 holds [infinity], "
        "which the destination cannot hold."
    )


def test_pg_minus_infinity_into_sqlite_fails_naming_the_row_position(pg_schema: str, tmp_path: Path) -> None:
    _infinite_source(pg_schema, key="")
    with pg_connect() as conn:
        conn.execute(f'UPDATE "{pg_schema}".src SET ts = NULL, tz = NULL WHERE id IN (1, 2)')
    query = {"fromJobConfig.useSql": "true", "fromJobConfig.sql": f'SELECT * FROM "{pg_schema}".src ORDER BY id'}
    with pytest.raises(CdmError) as failure:
        copy(pg_link(), query, sqlite_link(str(tmp_path / "dst.db")), _to(None, "dst"))
    assert failure.value.message == (
        "Data write failed. Cause: column [d] of row 1 of the partition holds [infinity], "
        "which the destination cannot hold."
    )


def test_pg_finite_extremes_still_reach_sqlite(pg_schema: str, tmp_path: Path) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id integer PRIMARY KEY, d date)')
        conn.execute(f"INSERT INTO \"{pg_schema}\".src VALUES (1, '0001-01-01'), (2, '9999-12-31')")
    path = str(tmp_path / "dst.db")
    assert copy(pg_link(), _from(pg_schema, "src"), sqlite_link(path), _to(None, "dst")) == 2


def test_a_nan_sqlite_cannot_hold_fails_naming_column_key_and_value(pg_schema: str, tmp_path: Path) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id integer PRIMARY KEY, x double precision)')
        conn.execute(f"INSERT INTO \"{pg_schema}\".src VALUES (1, 1.5), (7, 'NaN'), (8, 'Infinity')")
    with pytest.raises(CdmError) as failure:
        copy(pg_link(), _from(pg_schema, "src"), sqlite_link(str(tmp_path / "dst.db")), _to(None, "dst"))
    assert failure.value.message == (
        "Data write failed. Cause: column [x] of the row with id=7 holds [nan], which the destination cannot hold."
    )


def _negative_zeros(schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}".src (id integer PRIMARY KEY, x double precision, r real)')
        conn.execute(f"INSERT INTO \"{schema}\".src VALUES (1, '-0', '-0'), (2, -1.5, 2.5), (3, NULL, '-0')")


def test_a_negative_zero_reaches_sqlite_as_zero(pg_schema: str, tmp_path: Path) -> None:
    """-0 equals 0 under IEEE 754 and in SQL: a destination without -0 gets 0, and the run goes on."""
    _negative_zeros(pg_schema)
    path = str(tmp_path / "dst.db")
    assert copy(pg_link(), _from(pg_schema, "src"), sqlite_link(path), _to(None, "dst")) == 3
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id, x, r FROM dst ORDER BY id").fetchall()
    assert rows == [(1, 0.0, 0.0), (2, -1.5, 2.5), (3, None, 0.0)]


@pytest.mark.parametrize("fast", [True, False], ids=["load-data", "executemany"])
def test_a_negative_zero_reaches_mariadb_as_zero(
    pg_schema: str, mysql_database: str, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    monkeypatch.setattr(MySqlDialect, "fast_paths", fast)
    _negative_zeros(pg_schema)
    assert copy(pg_link(), _from(pg_schema, "src"), mysql_link(mysql_database), _to(None, "dst")) == 3
    conn = my_connect(mysql_database)
    with conn.cursor() as cursor:
        cursor.execute("SELECT id, x, r, CONCAT(x), CONCAT(r) FROM dst ORDER BY id")
        assert cursor.fetchall() == ((1, 0.0, 0.0, "0", "0"), (2, -1.5, 2.5, "-1.5", "2.5"), (3, None, 0.0, None, "0"))
    conn.close()


def test_a_negative_zero_reaches_postgresql_as_it_is(pg_schema: str) -> None:
    _negative_zeros(pg_schema)
    assert copy(pg_link(), _from(pg_schema, "src"), pg_link(), _to(pg_schema, "dst")) == 3
    with pg_connect() as conn:
        rows = conn.execute(f'SELECT id, x::text, r::text FROM "{pg_schema}".dst ORDER BY id').fetchall()
    assert rows == [(1, "-0", "-0"), (2, "-1.5", "2.5"), (3, None, "-0")]


def test_doubles_sqlite_holds_arrive_exactly(pg_schema: str, tmp_path: Path) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id integer PRIMARY KEY, x double precision)')
        conn.execute(f"INSERT INTO \"{pg_schema}\".src VALUES (1, 0), (2, 'Infinity'), (3, '-Infinity'), (4, 5e-324)")
    path = str(tmp_path / "dst.db")
    assert copy(pg_link(), _from(pg_schema, "src"), sqlite_link(path), _to(None, "dst")) == 4
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT x FROM dst ORDER BY id").fetchall()
    assert [row[0] for row in rows] == [0.0, math.inf, -math.inf, 5e-324]
    assert math.copysign(1, rows[0][0]) == 1


def _bigint_beyond_an_int(pg_schema: str, mysql_database: str) -> None:
    """A source whose row id=2 holds a bigint an existing MariaDB INT column cannot take."""
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id integer PRIMARY KEY, v bigint)')
        conn.execute(f'INSERT INTO "{pg_schema}".src VALUES (1, 5), (2, 4294967296), (3, 7)')
    conn = my_connect(mysql_database)
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE dst (id INT, v INT)")
    conn.close()


def test_a_value_that_does_not_convert_is_named(pg_schema: str, mysql_database: str) -> None:
    _bigint_beyond_an_int(pg_schema, mysql_database)
    with pytest.raises(CdmError) as failure:
        copy(pg_link(), _from(pg_schema, "src"), mysql_link(mysql_database), _to(None, "dst"))
    assert failure.value.code == "Cdm.0064"
    assert failure.value.message.startswith(
        "Data format mismatch: column [v] value [4294967296] cannot be converted from int64 to int32"
    )


@pytest.mark.parametrize(("value", "shown"), [("'NaN'", "nan"), ("'-Infinity'", "-inf")])
def test_a_double_mariadb_cannot_hold_fails_naming_column_key_and_value(
    pg_schema: str, mysql_database: str, value: str, shown: str
) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id integer PRIMARY KEY, x double precision)')
        conn.execute(f'INSERT INTO "{pg_schema}".src VALUES (1, 1.5), (7, {value})')
    with pytest.raises(CdmError) as failure:
        copy(pg_link(), _from(pg_schema, "src"), mysql_link(mysql_database), _to(None, "dst"))
    assert failure.value.message == (
        f"Data write failed. Cause: column [x] of the row with id=7 holds [{shown}], "
        "which the destination cannot hold."
    )


def test_a_date_beyond_postgresqls_range_fails_naming_column_and_value(pg_schema: str) -> None:
    schema = pa.schema([pa.field("id", pa.int32()), pa.field("d", pa.date32())])
    batch = pa.record_batch([pa.array([1, 2], pa.int32()), pa.array([0, 2_145_042_906], pa.date32())], schema=schema)
    sink = JdbcConnector().open_sink(pg_link(), _to(pg_schema, "dst"))
    try:
        sink.prepare(schema)
        with pytest.raises(CdmError) as failure:
            list(sink.write(iter([batch])))
    finally:
        sink.rollback()
        sink.close()
    assert failure.value.message == (
        "Data write failed. Cause: column [d] value [2145042906 days from 1970-01-01] is outside "
        "the range of PostgreSQL's date."
    )


def test_an_infinity_into_an_existing_text_column_fails_naming_column_and_value(pg_schema: str) -> None:
    _infinite_source(pg_schema)
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".dst (id integer, ts text, tz timestamptz, d date)')
    with pytest.raises(CdmError) as failure:
        copy(pg_link(), _from(pg_schema, "src"), pg_link(), _to(pg_schema, "dst"))
    assert failure.value.code == "Cdm.0064"
    assert failure.value.message == (
        "Data format mismatch: column [ts] value [infinity] cannot be converted from timestamp[us] to string."
    )


def _copy_leaving_out(
    dst_link: dict[str, str], from_job: dict[str, str], to_job: dict[str, str]
) -> tuple[int, list[RejectedRow]]:
    """A run with throttlingConfig.maxErrorRecords: (rows written, the rows left out as dirty data)."""
    source = JdbcConnector().open_source(pg_link(), from_job)
    sink = JdbcConnector().open_sink(dst_link, to_job)
    source.skip_rejected_rows = sink.skip_rejected_rows = True
    tally, left_out = Tally(), []
    try:
        sink.prepare(source.schema())
        for result in copy_partition(source, sink, source.partitions(1)[0], None, 2, tally, lambda: None, 10):
            tally.count_written(result)
            left_out += result.rejected
        sink.commit()
    finally:
        source.close()
        sink.close()
    assert tally.rows_read == tally.rows_written + len(left_out)
    return tally.rows_written, left_out


def test_with_max_error_records_values_a_destination_cannot_hold_are_dirty_rows(
    pg_schema: str, mysql_database: str
) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id integer PRIMARY KEY, x double precision, ts timestamp)')
        conn.execute(f"""INSERT INTO "{pg_schema}".src VALUES (1, 1.5, '2024-01-01'), (2, 'NaN', '2024-01-02'),
            (3, 2.5, 'infinity'), (4, '-0', '-infinity'), (5, 3.5, NULL)""")
    written, left_out = _copy_leaving_out(mysql_link(mysql_database), _from(pg_schema, "src"), _to(None, "dst"))
    assert written == 2
    # The refused values as text (a Python datetime has no infinity), the others as they are.
    assert [row.values for row in left_out] == [
        {"id": 2, "x": "nan", "ts": datetime(2024, 1, 2)},
        {"id": 3, "x": 2.5, "ts": "infinity"},
        {"id": 4, "x": -0.0, "ts": "-infinity"},
    ]
    assert [row.reason for row in left_out] == [
        "column [x] of the row with id=2 holds [nan], which the destination cannot hold.",
        "column [ts] of the row with id=3 holds [infinity], which the destination cannot hold.",
        "column [ts] of the row with id=4 holds [-infinity], which the destination cannot hold.",
    ]
    conn = my_connect(mysql_database)
    with conn.cursor() as cursor:
        cursor.execute("SELECT id, x FROM dst ORDER BY id")
        assert cursor.fetchall() == ((1, 1.5), (5, 3.5))
    conn.close()


def test_with_max_error_records_a_value_that_does_not_convert_is_a_dirty_row(
    pg_schema: str, mysql_database: str
) -> None:
    _bigint_beyond_an_int(pg_schema, mysql_database)
    written, left_out = _copy_leaving_out(mysql_link(mysql_database), _from(pg_schema, "src"), _to(None, "dst"))
    assert written == 2
    assert [row.values for row in left_out] == [{"id": 2, "v": 4294967296}]
    assert left_out[0].reason.startswith(
        "Data format mismatch: column [v] value [4294967296] cannot be converted from int64 to int32"
    )


@pytest.mark.parametrize(("column", "cause"), [
    ("v integer CHECK (v < 10)", 'new row for relation "dst" violates check constraint "dst_v_check". '
                                 "Failing row contains (3, 12345). (at COPY dst, line 3)"),
    ("v integer NOT NULL", 'null value in column "v" of relation "dst" violates not-null constraint. '
                           "Failing row contains (2, null). (at COPY dst, line 2)"),
])
def test_a_row_postgresql_refuses_mid_copy_is_shown_with_where_it_failed(
    pg_schema: str, column: str, cause: str
) -> None:
    """PostgreSQL's own diagnostics (the failing row, the COPY line and column), not ADBC's summary."""
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id integer PRIMARY KEY, v integer)')
        conn.execute(f'INSERT INTO "{pg_schema}".src VALUES (1, 5), (2, NULL), (3, 12345)')
        conn.execute(f'CREATE TABLE "{pg_schema}".dst (id integer, {column})')
    with pytest.raises(CdmError) as failure:
        copy(pg_link(), _from(pg_schema, "src"), pg_link(), _to(pg_schema, "dst"), batch_rows=10)
    assert failure.value.message == f"Data write failed. Cause: {cause}"


def test_with_max_error_records_a_duplicate_key_row_says_how_to_copy_rows_again(pg_schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id integer PRIMARY KEY, v integer)')
        conn.execute(f'INSERT INTO "{pg_schema}".src VALUES (1, 10), (2, 20), (3, 30)')
        conn.execute(f'CREATE TABLE "{pg_schema}".dst (id integer PRIMARY KEY, v integer)')
        conn.execute(f'INSERT INTO "{pg_schema}".dst VALUES (2, 99)')
    written, left_out = _copy_leaving_out(pg_link(), _from(pg_schema, "src"), _to(pg_schema, "dst"))
    assert written == 2
    assert [row.values for row in left_out] == [{"id": 2, "v": 20}]
    assert left_out[0].reason.startswith(
        f"Data write failed: a row has the key of a row table [{pg_schema}.dst] already holds (to copy rows again, "
        "set toJobConfig.writeMode UPSERT or REPLACE, or toJobConfig.beforeImportType shouldClearTable). Cause: "
        "duplicate key value violates unique constraint"
    )


def _text_source(pg_schema: str, *texts: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id integer PRIMARY KEY, v text)')
        for index, text in enumerate(texts, start=1):
            conn.execute(f'INSERT INTO "{pg_schema}".src VALUES (%s, %s)', (index, text))


def _existing_dst(link: dict[str, str], pg_schema: str, column: str) -> tuple[dict[str, str], dict[str, str]]:
    """The link and toJobConfig of an existing table ``dst (id, <column>)``."""
    if link["linkConfig.databaseType"] == "POSTGRESQL":
        with pg_connect() as conn:
            conn.execute(f'CREATE TABLE "{pg_schema}".dst (id integer, {column})')
        return link, _to(pg_schema, "dst")
    conn = my_connect(link["linkConfig.database"])
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE TABLE dst (id INT, {column}) CHARACTER SET utf8mb4")
    conn.close()
    return link, _to(None, "dst")


@pytest.fixture(params=["postgresql", "mariadb"])
def length_limited_link(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "postgresql":
        return pg_link()
    return mysql_link(request.getfixturevalue("mysql_database"))


@pytest.mark.parametrize("too_long", ["abcd", "abc ", "ééé€"])
def test_a_string_longer_than_the_column_fails_naming_column_key_and_value(
    pg_schema: str, length_limited_link: dict[str, str], too_long: str
) -> None:
    """Refused before the write (the databases name no value), trailing spaces included:
    PostgreSQL would cut them silently."""
    _text_source(pg_schema, "abc", too_long)
    link, to_job = _existing_dst(length_limited_link, pg_schema, "v varchar(3)")
    with pytest.raises(CdmError) as failure:
        copy(pg_link(), _from(pg_schema, "src"), link, to_job)
    assert failure.value.code == "Cdm.0232"
    assert failure.value.message == (
        f"Data write failed. Cause: column [v] of the row with id=2 holds [{too_long}], "
        "longer than the 3 characters of column [v]."
    )


def test_strings_as_long_as_the_column_arrive_whole(pg_schema: str, length_limited_link: dict[str, str]) -> None:
    """Lengths count characters, not bytes."""
    texts = ("abc", "ééé", "€€€", "", "a b")
    _text_source(pg_schema, *texts)
    link, to_job = _existing_dst(length_limited_link, pg_schema, "v varchar(3)")
    assert copy(pg_link(), _from(pg_schema, "src"), link, to_job) == len(texts)


def test_a_number_whose_text_is_too_long_for_the_column_is_named(pg_schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id integer PRIMARY KEY, v integer)')
        conn.execute(f'INSERT INTO "{pg_schema}".src VALUES (1, 5), (2, NULL), (3, 12345)')
    link, to_job = _existing_dst(pg_link(), pg_schema, "v varchar(3)")
    with pytest.raises(CdmError) as failure:
        copy(pg_link(), _from(pg_schema, "src"), link, to_job)
    assert failure.value.message == (
        "Data write failed. Cause: column [v] of the row with id=3 holds [12345], "
        "longer than the 3 characters of column [v]."
    )


def test_bytes_longer_than_a_mariadb_varbinary_are_named(pg_schema: str, mysql_database: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id integer PRIMARY KEY, v bytea)')
        conn.execute(f"INSERT INTO \"{pg_schema}\".src VALUES (1, '\\x0102'), (2, '\\x010203')")
    link, to_job = _existing_dst(mysql_link(mysql_database), pg_schema, "v varbinary(2)")
    with pytest.raises(CdmError) as failure:
        copy(pg_link(), _from(pg_schema, "src"), link, to_job)
    assert failure.value.message.startswith("Data write failed. Cause: column [v] of the row with id=2 holds [")
    assert failure.value.message.endswith("], longer than the 2 bytes of column [v].")


def test_sqlite_keeps_a_string_longer_than_its_declared_length(pg_schema: str, tmp_path: Path) -> None:
    """SQLite enforces no length: the value arrives whole rather than refused."""
    _text_source(pg_schema, "abcdef")
    path = str(tmp_path / "dst.db")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE dst (id integer, v varchar(3))")
    assert copy(pg_link(), _from(pg_schema, "src"), sqlite_link(path), _to(None, "dst")) == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT v FROM dst").fetchall() == [("abcdef",)]


def test_with_max_error_records_a_string_too_long_is_a_dirty_row(pg_schema: str) -> None:
    _text_source(pg_schema, "abc", "abcd", "xyz")
    link, to_job = _existing_dst(pg_link(), pg_schema, "v varchar(3)")
    written, left_out = _copy_leaving_out(link, _from(pg_schema, "src"), to_job)
    assert written == 2
    assert [(row.values, row.reason) for row in left_out] == [
        ({"id": 2, "v": "abcd"},
         "column [v] of the row with id=2 holds [abcd], longer than the 3 characters of column [v].")
    ]
    with pg_connect() as conn:
        assert conn.execute(f'SELECT id, v FROM "{pg_schema}".dst ORDER BY id').fetchall() == [(1, "abc"), (3, "xyz")]


def _small_integers(pg_schema: str, *values: int | None) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id integer PRIMARY KEY, v integer)')
        for index, value in enumerate(values, start=1):
            conn.execute(f'INSERT INTO "{pg_schema}".src VALUES (%s, %s)', (index, value))


@pytest.mark.parametrize(("column", "cause"), [
    ("v INT NOT NULL", "(1263) Column set to default value; NULL supplied to NOT NULL column 'v' at row 2 "
                       "(value [NULL]) (Warning; 1 warning(s) in LOAD DATA)"),
    ("v ENUM('5', '7')", "(1265) Data truncated for column 'v' at row 3 (value [12345]) "
                         "(Warning; 1 warning(s) in LOAD DATA)"),
])
def test_a_row_mariadb_refuses_mid_load_is_shown_with_its_value(
    pg_schema: str, mysql_database: str, column: str, cause: str
) -> None:
    _small_integers(pg_schema, 5, None, 12345)
    link, to_job = _existing_dst(mysql_link(mysql_database), pg_schema, column)
    with pytest.raises(CdmError) as failure:
        copy(pg_link(), _from(pg_schema, "src"), link, to_job, batch_rows=10)
    assert failure.value.message == f"Data write failed. Cause: {cause}"


def test_integers_that_fit_a_narrow_decimal_arrive(pg_schema: str, length_limited_link: dict[str, str]) -> None:
    """Arrow's own cast would ask decimal(11,1) of any int32, whatever its values."""
    _small_integers(pg_schema, 5, None, -99, 99)
    link, to_job = _existing_dst(length_limited_link, pg_schema, "v decimal(3,1)")
    assert copy(pg_link(), _from(pg_schema, "src"), link, to_job) == 4
    assert _read_back(link, pg_schema) == [(1, "5.0"), (2, None), (3, "-99.0"), (4, "99.0")]


def test_an_integer_beyond_a_narrow_decimal_is_named(pg_schema: str) -> None:
    _small_integers(pg_schema, 5, 100)
    link, to_job = _existing_dst(pg_link(), pg_schema, "v decimal(3,1)")
    with pytest.raises(CdmError) as failure:
        copy(pg_link(), _from(pg_schema, "src"), link, to_job)
    assert failure.value.code == "Cdm.0064"
    assert failure.value.message.startswith("Data format mismatch: column [v] value [100] cannot be converted")


def test_a_number_into_a_date_column_is_refused_not_read_as_days(pg_schema: str, mysql_database: str) -> None:
    _small_integers(pg_schema, 5)
    link, to_job = _existing_dst(mysql_link(mysql_database), pg_schema, "v DATE")
    with pytest.raises(CdmError) as failure:
        copy(pg_link(), _from(pg_schema, "src"), link, to_job)
    assert failure.value.message == (
        "Data format mismatch: column [v] value [5] cannot be converted from int32 to date32[day]: "
        "a number is not a date or a time"
    )


def _read_back(link: dict[str, str], pg_schema: str) -> list[tuple[object, ...]]:
    """``dst``'s (id, v) by id, v as text."""
    if link["linkConfig.databaseType"] == "POSTGRESQL":
        with pg_connect() as conn:
            return conn.execute(f'SELECT id, v::text FROM "{pg_schema}".dst ORDER BY id').fetchall()
    conn = my_connect(link["linkConfig.database"])
    with conn.cursor() as cursor:
        cursor.execute("SELECT id, CAST(v AS CHAR) FROM dst ORDER BY id")
        rows = [tuple(row) for row in cursor.fetchall()]
    conn.close()
    return rows
