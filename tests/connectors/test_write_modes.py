"""toJobConfig.writeMode (INSERT, REPLACE, UPSERT with upsertKeys), useStageTable, extendCharLength and
useNullable, against real PostgreSQL, MariaDB and SQLite destinations."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from opencdm.connectors.base import NativeChunk
from opencdm.connectors.jdbc import JdbcConnector
from opencdm.errors import CdmError

from conftest import PG_DATABASE, PG_HOST, PG_PORT, PG_USER, mysql_link, pg_link, sqlite_link
from jdbc_support import my_connect

SOURCE_ROWS = [(2, "B", 21), (3, "C", 30)]
PREFILLED = [(1, "a", 10, "keep1"), (2, "b", 20, "keep2")]
# note is not copied: UPSERT keeps it, REPLACE resets it to its default.
DESTINATION = "CREATE TABLE dst (id int PRIMARY KEY, name varchar(20), qty int, note varchar(20) DEFAULT 'dflt')"


@dataclass
class Database:
    name: str
    link: dict[str, str]
    schema: str | None
    execute: Callable[[str], None]
    fetch: Callable[[str], list[tuple[Any, ...]]]
    tables: Callable[[], set[str]]

    def to_job(self, table: str = "dst", **inputs: str) -> dict[str, str]:
        job = {"toJobConfig.tableName": table, **{f"toJobConfig.{k}": v for k, v in inputs.items()}}
        if self.schema:
            job["toJobConfig.schemaName"] = self.schema
        return job

    def rows(self, table: str = "dst") -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.fetch(f"SELECT * FROM {table} ORDER BY 1, 2")]


def _pg_database(schema: str) -> Database:
    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, autocommit=True,
                               options=f"-c search_path={schema}")

    def execute(sql: str) -> None:
        with connect() as conn:
            conn.execute(sql)

    def fetch(sql: str) -> list[tuple[Any, ...]]:
        with connect() as conn:
            return conn.execute(sql).fetchall()

    def tables() -> set[str]:
        return {row[0] for row in fetch(f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}'")}

    return Database("postgresql", pg_link(), schema, execute, fetch, tables)


def _mysql_database(database: str) -> Database:
    def fetch(sql: str) -> list[tuple[Any, ...]]:
        conn = my_connect(database)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def execute(sql: str) -> None:
        fetch(sql)

    return Database("mariadb", mysql_link(database), None, execute, fetch,
                    lambda: {row[0] for row in fetch("SHOW TABLES")})


def _sqlite_database(path: Path) -> Database:
    def fetch(sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(path)
        try:
            rows = conn.execute(sql).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()

    def execute(sql: str) -> None:
        fetch(sql)

    return Database("sqlite", sqlite_link(str(path)), None, execute, fetch,
                    lambda: {row[0] for row in fetch("SELECT name FROM sqlite_master WHERE type = 'table'")})


@pytest.fixture
def source(pg_schema: str) -> Database:
    database = _pg_database(pg_schema)
    database.execute("CREATE TABLE src (id int, name varchar(20), qty int)")
    database.execute("INSERT INTO src VALUES " + ", ".join(f"({i}, '{n}', {q})" for i, n, q in SOURCE_ROWS))
    return database


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "postgresql":
        return _pg_database(request.getfixturevalue("pg_schema"))
    if request.param == "mariadb":
        return _mysql_database(request.getfixturevalue("mysql_database"))
    return _sqlite_database(tmp_path / "destination.db")


@dataclass
class Outcome:
    rows_written: int
    update_rows: int
    native: bool


def run(source: Database, to_job: dict[str, str], destination: Database, table: str = "src",
        fail_after_batches: int | None = None) -> Outcome:
    """One single-writer run the way the engine does it (the native pass-through when the sink takes
    it), with batches of one row; ``fail_after_batches`` makes the source fail mid-way, after that
    many batches or native chunks."""
    connector = JdbcConnector()
    from_job = {"fromJobConfig.schemaName": source.schema or "", "fromJobConfig.tableName": table}
    reader = connector.open_source(source.link, from_job)
    sink = connector.open_sink(destination.link, to_job)
    try:
        schema, native = reader.schema(), reader.native_format()
        uses_native = native is not None and sink.prepare_native(schema, native)
        if not uses_native:
            sink.prepare(schema)
        (partition,) = reader.partitions(1)

        def failing(chunks: Iterator[Any]) -> Iterator[Any]:
            for index, chunk in enumerate(chunks):
                if index == fail_after_batches:
                    break
                yield chunk
            if fail_after_batches is not None:  # even when the source ran out: before the sink saw its end
                raise RuntimeError("the source failed mid-way")

        if uses_native:
            native_chunks: Iterator[NativeChunk] = failing(reader.read_native(partition))
            results = list(sink.write_native(native_chunks))
        else:
            batches: Iterator[pa.RecordBatch] = failing(reader.read(partition, 1))
            results = list(sink.write(batches))
        sink.commit()
        return Outcome(sum(r.rows for r in results), sum(r.updated for r in results), uses_native)
    except BaseException:
        sink.rollback()
        raise
    finally:
        reader.close()
        sink.close()


def prefill(database: Database) -> None:
    database.execute(DESTINATION)
    database.execute("INSERT INTO dst VALUES " + ", ".join(f"({i}, '{n}', {q}, '{k}')" for i, n, q, k in PREFILLED))


def test_insert_fails_on_a_duplicate_key_and_leaves_the_table_as_it_was(
    source: Database, destination: Database
) -> None:
    prefill(destination)
    with pytest.raises(CdmError) as failure:
        run(source, destination.to_job(columnList="id&name&qty"), destination)
    assert failure.value.code == "Cdm.0232"
    assert destination.rows() == PREFILLED


@pytest.mark.parametrize("stage", ["false", "true"])
def test_upsert_updates_the_copied_columns_and_inserts_new_keys(
    source: Database, destination: Database, stage: str
) -> None:
    prefill(destination)
    before = destination.tables()
    done = run(source, destination.to_job(columnList="id&name&qty", writeMode="UPSERT", useStageTable=stage),
               destination)
    assert destination.rows() == [(1, "a", 10, "keep1"), (2, "B", 21, "keep2"), (3, "C", 30, "dflt")]
    assert (done.rows_written, done.update_rows) == (2, 1)
    assert destination.tables() == before


@pytest.mark.parametrize("stage", ["false", "true"])
def test_replace_replaces_whole_rows(source: Database, destination: Database, stage: str) -> None:
    prefill(destination)
    done = run(source, destination.to_job(columnList="id&name&qty", writeMode="replace", useStageTable=stage),
               destination)
    assert destination.rows() == [(1, "a", 10, "keep1"), (2, "B", 21, "dflt"), (3, "C", 30, "dflt")]
    assert (done.rows_written, done.update_rows) == (2, 1)


def test_upsert_keys_name_a_composite_unique_key(source: Database, destination: Database) -> None:
    destination.execute("CREATE TABLE pairs (id int, name varchar(20), qty int, UNIQUE (id, name))")
    destination.execute("INSERT INTO pairs VALUES (2, 'B', 1), (2, 'b', 2)")
    done = run(source, destination.to_job("pairs", writeMode="UPSERT", upsertKeys="NAME&id"), destination)
    assert destination.rows("pairs") == [(2, "B", 21), (2, "b", 2), (3, "C", 30)]
    assert (done.rows_written, done.update_rows) == (2, 1)


def test_a_table_created_for_upsert_gets_the_key_as_unique_constraint(
    source: Database, destination: Database
) -> None:
    to_job = destination.to_job("made", writeMode="UPSERT", upsertKeys="id", tablePreparation="CREATE_WHEN_NOT_EXIST")
    assert (run(source, to_job, destination).update_rows) == 0
    again = run(source, to_job, destination)
    assert (again.rows_written, again.update_rows) == (2, 2)
    assert destination.rows("made") == SOURCE_ROWS


@pytest.mark.parametrize(
    ("inputs", "words"),
    [
        ({"writeMode": "MERGE"}, "writeMode [MERGE] must be one of INSERT, REPLACE, UPSERT"),
        ({"writeMode": "UPSERT", "tableName": "nokey"}, "needs key columns"),
        ({"writeMode": "REPLACE", "tableName": "nokey", "upsertKeys": "id"}, "neither the primary key nor a unique"),
        ({"writeMode": "UPSERT", "columnList": "name&qty&note"}, "key column [id] of table"),
        ({"writeMode": "UPSERT", "upsertKeys": "nope"}, "column [nope] of toJobConfig.upsertKeys does not exist"),
    ],
)
def test_write_modes_without_a_usable_key_fail_before_writing(
    source: Database, destination: Database, inputs: dict[str, str], words: str
) -> None:
    prefill(destination)
    destination.execute("CREATE TABLE nokey (id int, name varchar(20), qty int)")
    before = destination.tables()
    to_job = {**destination.to_job(columnList="id&name&qty"), **{f"toJobConfig.{k}": v for k, v in inputs.items()}}
    with pytest.raises(CdmError) as failure:
        run(source, to_job, destination)
    assert failure.value.code == "Cdm.0014" and words in failure.value.message
    assert destination.rows() == PREFILLED and destination.rows("nokey") == []
    assert destination.tables() == before


def test_a_staged_run_that_fails_midway_leaves_the_table_and_no_stage_table(
    source: Database, destination: Database
) -> None:
    prefill(destination)
    before = destination.tables()
    to_job = destination.to_job(columnList="id&name&qty", useStageTable="true", writeMode="UPSERT",
                                beforeImportType="shouldClearTable")
    with pytest.raises(RuntimeError):
        run(source, to_job, destination, fail_after_batches=1)
    assert destination.rows() == PREFILLED
    assert destination.tables() == before


def test_a_staged_run_clears_and_creates_the_table_only_when_moving_the_rows(
    source: Database, destination: Database
) -> None:
    prefill(destination)
    to_job = destination.to_job(columnList="id&name&qty", useStageTable="true", beforeImportType="whereClause",
                                whereClause="id = 2")
    done = run(source, to_job, destination)
    assert destination.rows() == [(1, "a", 10, "keep1"), (2, "B", 21, "dflt"), (3, "C", 30, "dflt")]
    assert (done.rows_written, done.update_rows) == (2, 0)
    before = destination.tables()
    dropped = destination.to_job(useStageTable="true", tablePreparation="DROP_AND_CREATE")
    with pytest.raises(RuntimeError):
        run(source, dropped, destination, fail_after_batches=1)
    assert destination.tables() == before and len(destination.rows()) == 3
    run(source, dropped, destination)
    assert destination.rows() == SOURCE_ROWS
    assert destination.tables() == before


def test_postgresql_passes_binary_copy_through_the_stage_table(source: Database) -> None:
    prefill(source)
    done = run(source, source.to_job(columnList="id&name&qty", useStageTable="true", writeMode="UPSERT"), source)
    assert done.native and (done.rows_written, done.update_rows) == (2, 1)
    assert source.rows() == [(1, "a", 10, "keep1"), (2, "B", 21, "keep2"), (3, "C", 30, "dflt")]
    # Without a stage table REPLACE and UPSERT need the Arrow path and its temporary table per batch.
    assert not run(source, source.to_job(columnList="id&name&qty", writeMode="UPSERT"), source).native


def test_extend_char_length_and_use_nullable_shape_a_created_table(source: Database, destination: Database) -> None:
    source.execute("CREATE TABLE shaped (id int NOT NULL, name varchar(20) NOT NULL, qty int)")
    source.execute("INSERT INTO shaped VALUES (1, 'x', NULL)")
    to_job = destination.to_job("made", tablePreparation="CREATE_WHEN_NOT_EXIST", extendCharLength="true",
                                useNullable="true")
    run(source, to_job, destination, table="shaped")
    assert destination.rows("made") == [(1, "x", None)]
    with pytest.raises(Exception):  # noqa: B017 - each driver raises its own integrity error
        destination.execute("INSERT INTO made VALUES (2, NULL, 1)")
    if destination.name == "sqlite":  # which does not enforce lengths: the declared type tells
        assert destination.fetch("SELECT type FROM pragma_table_info('made') WHERE name = 'name'") == [("VARCHAR(60)",)]
    else:
        with pytest.raises(Exception):  # noqa: B017
            destination.execute("INSERT INTO made VALUES (3, '" + "y" * 61 + "', 1)")
    destination.execute("INSERT INTO made VALUES (4, '" + "y" * 60 + "', NULL)")
    plain = destination.to_job("plain", tablePreparation="CREATE_WHEN_NOT_EXIST")
    run(source, plain, destination, table="shaped")
    destination.execute("INSERT INTO plain VALUES (NULL, NULL, NULL)")


def test_postgresql_upsert_on_a_key_written_as_text(source: Database) -> None:
    # uuid and unconstrained numeric reach PostgreSQL as text and are cast inside the merge statement.
    source.execute("CREATE TABLE ids (id uuid PRIMARY KEY, amount numeric)")
    source.execute("INSERT INTO ids VALUES ('00000000-0000-0000-0000-000000000001', 1.5), "
                   "('00000000-0000-0000-0000-000000000002', 2.5)")
    source.execute("CREATE TABLE ids_dst (id uuid PRIMARY KEY, amount numeric)")
    source.execute("INSERT INTO ids_dst VALUES ('00000000-0000-0000-0000-000000000001', 0)")
    done = run(source, source.to_job("ids_dst", writeMode="UPSERT"), source, table="ids")
    assert (done.rows_written, done.update_rows, done.native) == (2, 1, False)
    assert [(str(key), str(amount)) for key, amount in source.rows("ids_dst")] == [
        ("00000000-0000-0000-0000-000000000001", "1.5"), ("00000000-0000-0000-0000-000000000002", "2.5")]
