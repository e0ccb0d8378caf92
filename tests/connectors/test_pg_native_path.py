"""The PostgreSQL → PostgreSQL fast path (binary COPY passed through undecoded) writes exactly the
rows the Arrow path writes, and is only taken when the destination's column types match."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from opencdm.connectors.base import Partition
from opencdm.connectors.jdbc import JdbcConnector
from opencdm.errors import CdmError

from conftest import pg_link
from jdbc_support import ROWS, copy, create_pg, expected, fetch_pg, pg_connect


def native_copy(from_job: Mapping[str, str], to_job: Mapping[str, str]) -> tuple[bool, int]:
    """Copy through the native path when the sink agrees; returns (agreed, rows written)."""
    connector = JdbcConnector()
    source = connector.open_source(pg_link(), from_job)
    sink = connector.open_sink(pg_link(), to_job)
    try:
        native = source.native_format()
        assert native is not None
        if not sink.prepare_native(source.schema(), native):
            return False, 0
        written = sum(result.rows for result in sink.write_native(source.read_native(Partition(0))))
        sink.commit()
        return True, written
    finally:
        source.close()
        sink.close()


def test_native_copy_equals_the_source_row_for_row(pg_schema: str) -> None:
    create_pg(pg_schema, "src")
    agreed, written = native_copy(
        {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"},
        {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst",
         "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"},
    )
    assert agreed and written == len(ROWS)
    assert fetch_pg(pg_schema, "dst") == expected()


def test_native_copy_with_where_clause_and_column_lists(pg_schema: str) -> None:
    create_pg(pg_schema, "src")
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".dst (a integer, note text DEFAULT \'kept\', b text)')
    agreed, written = native_copy(
        {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src",
         "fromJobConfig.columnList": "id&c_text", "fromJobConfig.whereClause": "id > 1"},
        {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst", "toJobConfig.columnList": "a&b",
         "toJobConfig.tablePreparation": "DO_NOTHING"},
    )
    source_rows = [row for row in expected(["id", "c_text"]) if row[0] > 1]
    assert agreed and written == len(source_rows)
    with pg_connect() as conn:
        copied = conn.execute(f'SELECT a, b, note FROM "{pg_schema}".dst ORDER BY a').fetchall()
    assert [(a, b) for a, b, _ in copied] == source_rows
    assert {note for _, _, note in copied} == {"kept"}


def test_other_column_types_refuse_the_native_path_and_change_nothing(pg_schema: str) -> None:
    create_pg(pg_schema, "src")
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".dst (id numeric(30,0), c_text varchar(500))')
        conn.execute(f"""INSERT INTO "{pg_schema}".dst VALUES (42, 'before')""")
    agreed, _ = native_copy(
        {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src",
         "fromJobConfig.columnList": "id&c_text"},
        {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst",
         "toJobConfig.beforeImportType": "shouldClearTable"},
    )
    assert not agreed
    with pg_connect() as conn:
        assert conn.execute(f'SELECT id, c_text FROM "{pg_schema}".dst').fetchall() == [(42, "before")]


def test_native_rollback_leaves_the_target_as_it_was(pg_schema: str) -> None:
    create_pg(pg_schema, "src")
    connector = JdbcConnector()
    source = connector.open_source(pg_link(), {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"})
    sink = connector.open_sink(pg_link(), {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst",
                                           "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"})
    try:
        native = source.native_format()
        assert native is not None and sink.prepare_native(source.schema(), native)
        assert sum(r.rows for r in sink.write_native(source.read_native(Partition(0)))) == len(ROWS)
        sink.rollback()
    finally:
        source.close()
        sink.close()
    with pg_connect() as conn:
        assert conn.execute("SELECT to_regclass(%s)", (f'"{pg_schema}".dst',)).fetchone() == (None,)


def test_an_error_mid_stream_reaches_the_caller_with_the_servers_message(pg_schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src AS SELECT g AS id FROM generate_series(1, 5000) g')
    connector = JdbcConnector()
    # The condition divides by zero only when row 4000 is reached: after rows were already streamed.
    source = connector.open_source(pg_link(), {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src",
                                               "fromJobConfig.whereClause": "1 / (id - 4000) <> 0"})
    try:
        with pytest.raises(CdmError) as failed:
            for _ in source.read_native(Partition(0)):
                pass
    finally:
        source.close()
    assert failed.value.code == "Cdm.0904" and "division by zero" in failed.value.message


@pytest.mark.parametrize("rows", [0, 30_000])
def test_chunked_native_copy_counts_every_row_once(pg_schema: str, rows: int) -> None:
    # ~4.5 MB of rows: several chunks, whose row counts must add up to the table's (the trailer,
    # which ends the last chunk, is no row).
    with pg_connect() as conn:
        conn.execute(
            f'CREATE TABLE "{pg_schema}".src AS SELECT g AS id, repeat(md5(g::text), 4) AS body '
            f"FROM generate_series(1, {rows}) g"
        )
    source = JdbcConnector().open_source(pg_link(), {"fromJobConfig.schemaName": pg_schema,
                                                     "fromJobConfig.tableName": "src"})
    try:
        chunk_rows = [chunk.rows for chunk in source.read_native(Partition(0))]
    finally:
        source.close()
    assert sum(chunk_rows) == rows and (rows == 0 or len(chunk_rows) > 3)

    agreed, written = native_copy(
        {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"},
        {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst",
         "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"},
    )
    assert agreed and written == rows
    with pg_connect() as conn:
        digest = "SELECT count(*), md5(string_agg(id || body, ',' ORDER BY id)) FROM \"{}\".{}"
        assert conn.execute(digest.format(pg_schema, "dst")).fetchone() == conn.execute(
            digest.format(pg_schema, "src")).fetchone()


def test_a_default_precision_spelled_out_still_passes_through(pg_schema: str) -> None:
    """The source says timestamp(6), the created column timestamp: the same type, so the native path."""
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id int, ts timestamp(6), tz timestamptz(6), t time(6))')
        conn.execute(f"""INSERT INTO "{pg_schema}".src VALUES
            (1, '2024-02-29 23:59:59.999999', '2024-02-29 23:59:59.999999+05', '23:59:59.999999'),
            (2, 'infinity', '-infinity', '00:00:00')""")
    agreed, written = native_copy(
        {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"},
        {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst",
         "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"},
    )
    assert agreed and written == 2
    with pg_connect() as conn:
        rows = "SELECT id, ts::text, tz::text, t::text FROM \"{}\".{} ORDER BY id"
        assert conn.execute(rows.format(pg_schema, "dst")).fetchall() == conn.execute(
            rows.format(pg_schema, "src")).fetchall()


def test_xml_with_a_declaration_is_not_passed_through_and_arrives_exactly(pg_schema: str) -> None:
    declared = '<?xml version="1.0"?><r>a</r>'
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id int, doc xml)')
        conn.execute(f'INSERT INTO "{pg_schema}".src VALUES (1, %s), (2, %s)', (declared, "plain <b/> text"))
    from_job = {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"}
    to_job = {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "dst",
              "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}
    # The binary form would drop the declaration: the native path declines.
    assert native_copy(from_job, to_job) == (False, 0)
    assert copy(pg_link(), from_job, pg_link(), to_job) == 2
    with pg_connect() as conn:
        copied = conn.execute(f'SELECT id, doc::text FROM "{pg_schema}".dst ORDER BY id').fetchall()
    assert copied == [(1, declared), (2, "plain <b/> text")]
