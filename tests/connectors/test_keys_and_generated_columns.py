"""Tables OpenCDM creates keep the source's primary key; generated columns are read from any source,
become plain columns of a created table and are left to the database in an existing one."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from test_write_modes import Database, _mysql_database, _pg_database, _sqlite_database, run

from opencdm.connectors.jdbc import JdbcConnector
from opencdm.errors import CdmError

from jdbc_support import copy

KEYED = "CREATE TABLE keyed (name varchar(20), id int, qty int, PRIMARY KEY (id, name))"
KEYED_ROWS = [("a", 1, 10), ("b", 2, 20)]


def _database(kind: str, request: pytest.FixtureRequest, path: Path) -> Database:
    if kind == "postgresql":
        return _pg_database(request.getfixturevalue("pg_schema"))
    if kind == "mariadb":
        return _mysql_database(request.getfixturevalue("mysql_database"))
    return _sqlite_database(path)


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def origin(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    return _database(request.param, request, tmp_path / "source.db")


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    return _database(request.param, request, tmp_path / "destination.db")


def primary_key(database: Database, table: str) -> list[str]:
    """The table's primary key columns in key order, from the database's own catalog."""
    if database.name == "postgresql":
        sql = (
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            f"AND a.attnum = ANY (i.indkey) WHERE i.indrelid = '{table}'::regclass AND i.indisprimary "
            "ORDER BY array_position(i.indkey::int2[], a.attnum)"
        )
    elif database.name == "mariadb":
        sql = (
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
            f"AND TABLE_NAME = '{table}' AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX"
        )
    else:
        sql = f"SELECT name FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk"
    return [row[0] for row in database.fetch(sql)]


def keyed_source(database: Database) -> None:
    database.execute(KEYED)
    database.execute("INSERT INTO keyed VALUES " + ", ".join(f"('{n}', {i}, {q})" for n, i, q in KEYED_ROWS))


def test_a_created_table_keeps_the_source_primary_key_so_a_second_insert_run_fails_clearly(
    origin: Database, target: Database
) -> None:
    keyed_source(origin)
    to_job = target.to_job("made", tablePreparation="CREATE_WHEN_NOT_EXIST")
    assert run(origin, to_job, target, table="keyed").rows_written == 2
    assert primary_key(target, "made") == ["id", "name"]
    with pytest.raises(CdmError) as failure:
        run(origin, to_job, target, table="keyed")
    assert failure.value.code == "Cdm.0232"
    assert "already holds" in failure.value.message and ".made]" in failure.value.message
    assert "writeMode UPSERT or REPLACE" in failure.value.message
    assert sorted(target.rows("made")) == sorted(KEYED_ROWS)
    # The key the table got is the one UPSERT matches rows on, without toJobConfig.upsertKeys.
    again = run(origin, target.to_job("made", writeMode="UPSERT"), target, table="keyed")
    assert (again.rows_written, again.update_rows) == (2, 2)
    assert sorted(target.rows("made")) == sorted(KEYED_ROWS)


def test_a_table_created_from_rows_without_a_whole_primary_key_gets_none(origin: Database, target: Database) -> None:
    keyed_source(origin)
    table = f"{origin.schema}.keyed" if origin.schema else "keyed"
    query = {"fromJobConfig.useSql": "true", "fromJobConfig.sql": f"SELECT name, id, qty FROM {table}"}
    copy(origin.link, query, target.link, target.to_job("from_query", tablePreparation="CREATE_WHEN_NOT_EXIST"))
    from_job = {"fromJobConfig.tableName": "keyed", "fromJobConfig.columnList": "id&qty"}
    if origin.schema:
        from_job["fromJobConfig.schemaName"] = origin.schema
    copy(origin.link, from_job, target.link, target.to_job("part_of_key", tablePreparation="CREATE_WHEN_NOT_EXIST"))
    assert primary_key(target, "from_query") == [] and primary_key(target, "part_of_key") == []
    assert sorted(target.rows("part_of_key")) == [(1, 10), (2, 20)]


def test_the_created_key_takes_the_destination_names_of_its_columns(origin: Database, tmp_path: Path) -> None:
    keyed_source(origin)
    target = _sqlite_database(tmp_path / "renamed.db")
    run(origin, target.to_job("made", tablePreparation="CREATE_WHEN_NOT_EXIST", columnList="n&k&q"), target,
        table="keyed")
    assert primary_key(target, "made") == ["k", "n"]


def test_a_text_key_is_a_unique_key_in_mariadb(pg_schema: str, mysql_database: str) -> None:
    # A B-tree PRIMARY KEY takes no TEXT column; MariaDB's UNIQUE key hashes long values.
    origin, target = _pg_database(pg_schema), _mysql_database(mysql_database)
    origin.execute("CREATE TABLE codes (code text PRIMARY KEY, n int)")
    origin.execute("INSERT INTO codes VALUES ('" + "x" * 5000 + "', 1), ('y', 2)")
    to_job = target.to_job("made", tablePreparation="CREATE_WHEN_NOT_EXIST")
    run(origin, to_job, target, table="codes")
    with pytest.raises(CdmError) as failure:
        run(origin, to_job, target, table="codes")
    assert "already holds" in failure.value.message
    assert len(target.rows("made")) == 2


def generated_source(database: Database) -> None:
    # PostgreSQL 15 has STORED generated columns only; MariaDB and SQLite also compute VIRTUAL ones.
    kind = "STORED" if database.name == "postgresql" else "VIRTUAL"
    database.execute(
        "CREATE TABLE gen (id int PRIMARY KEY, qty int, doubled int GENERATED ALWAYS AS (qty * 2) STORED, "
        f"tripled int GENERATED ALWAYS AS (qty * 3) {kind})"
    )
    database.execute("INSERT INTO gen (id, qty) VALUES (1, 10), (2, NULL)")


def test_generated_columns_are_read_and_become_plain_columns_of_a_created_table(
    origin: Database, target: Database
) -> None:
    generated_source(origin)
    done = run(origin, target.to_job("made", tablePreparation="CREATE_WHEN_NOT_EXIST"), target, table="gen")
    assert done.native == (origin.name == target.name == "postgresql")
    assert target.rows("made") == [(1, 10, 20, 30), (2, None, None, None)]
    target.execute("INSERT INTO made VALUES (3, 1, 7, 8)")  # plain columns take any value
    assert target.rows("made")[-1] == (3, 1, 7, 8)


@pytest.mark.parametrize(("mode", "stage"), [("INSERT", "false"), ("UPSERT", "false"), ("REPLACE", "true")])
def test_generated_columns_of_an_existing_table_are_computed_by_the_database(
    origin: Database, target: Database, mode: str, stage: str
) -> None:
    origin.execute("CREATE TABLE plain (id int PRIMARY KEY, qty int, doubled int, tripled int)")
    origin.execute("INSERT INTO plain VALUES (1, 10, 0, 0), (2, 5, -1, -1)")
    generated_source(target)
    target.execute("DELETE FROM gen")
    if mode != "INSERT":
        target.execute("INSERT INTO gen (id, qty) VALUES (1, 1)")
    done = run(origin, target.to_job("gen", writeMode=mode, useStageTable=stage), target, table="plain")
    assert done.rows_written == 2 and not done.native
    assert target.rows("gen") == [(1, 10, 20, 30), (2, 5, 10, 15)]


def test_a_cleared_table_with_generated_columns_offers_no_rows_to_compare(tmp_path: Path) -> None:
    # verifyConfig CHECKSUM compares the written columns: the computed ones were not written.
    target = _sqlite_database(tmp_path / "destination.db")
    generated_source(target)
    sink = JdbcConnector().open_sink(target.link, target.to_job("gen", beforeImportType="shouldClearTable"))
    try:
        sink.prepare(pa.schema([("id", pa.int32()), ("qty", pa.int32()), ("doubled", pa.int32())]))
        list(sink.write(iter([pa.record_batch([[5], [1], [0]], names=["id", "qty", "doubled"])])))
        sink.commit()
        assert sink.rows_of_this_run() == 1 and sink.read_back(10) is None
    finally:
        sink.close()
    assert target.rows("gen") == [(5, 1, 2, 3)]
