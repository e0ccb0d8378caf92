"""A double's NaN, -0 and ±infinity in files: each format carries them back exactly into PostgreSQL
(Parquet as IEEE floats, CSV and JSON lines as text that the reader turns back into the same float)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from files_support import failed, postgres_link, run, succeeded

from conftest import RunningServer, pg_connect

VALUES = "(1, 'NaN', 'NaN'), (2, '-0', '-0'), (3, 'Infinity', 'Infinity'), (4, '-Infinity', '-Infinity'), " \
         "(5, 1.5, 1.5), (6, NULL, NULL)"


@pytest.fixture
def api(file_server: RunningServer) -> Iterator[httpx.Client]:
    with file_server.client() as client:
        yield client


def _text(schema: str, table: str) -> list[tuple[object, ...]]:
    with pg_connect() as conn:
        # float8send's text: -0 stays "-0", NaN "NaN"; compare text, since NaN != NaN.
        return conn.execute(f'SELECT id, d::text, r::text FROM "{schema}"."{table}" ORDER BY id').fetchall()


@pytest.mark.parametrize("file_format", ["CSV_FILE", "JSON_FILE", "PARQUET_FILE"])
def test_nan_minus_zero_and_infinities_go_through_files_and_back(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, pg_schema: str, file_format: str
) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id bigint PRIMARY KEY, d double precision, r real)')
        conn.execute(f'INSERT INTO "{pg_schema}".src VALUES {VALUES}')
        conn.execute(f'CREATE TABLE "{pg_schema}".back (LIKE "{pg_schema}".src)')
    pg = postgres_link(api, file_server)
    header = {"toJobConfig.firstRowAsHeader": "true"} if file_format == "CSV_FILE" else {}
    succeeded(run(
        api, file_server,
        ("generic-jdbc-connector", pg, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"}),
        ("nas-connector", nas, {"toJobConfig.outputDirectory": "/floats", "toJobConfig.outputFormat": file_format,
                                **header}),
    ))
    back = succeeded(run(
        api, file_server,
        ("nas-connector", nas, {"fromJobConfig.inputDirectory": "/floats", "fromJobConfig.inputFormat": file_format,
                                **{k.replace("toJobConfig", "fromJobConfig"): v for k, v in header.items()}}),
        ("generic-jdbc-connector", pg, {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "back"}),
    ))
    assert back["write_rows"] == 6
    assert _text(pg_schema, "back") == _text(pg_schema, "src")


@pytest.mark.parametrize("file_format", ["CSV_FILE", "JSON_FILE"])
def test_an_infinite_timestamp_into_a_text_file_fails_naming_column_key_and_value(
    api: httpx.Client, file_server: RunningServer, nas: str, pg_schema: str, file_format: str
) -> None:
    """'infinity' written as text would read back as text, not as the infinity."""
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id bigint PRIMARY KEY, ts timestamp)')
        conn.execute(f"INSERT INTO \"{pg_schema}\".src VALUES (1, '2024-01-01'), (2, '-infinity')")
    submission = run(
        api, file_server,
        ("generic-jdbc-connector", postgres_link(api, file_server),
         {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"}),
        ("nas-connector", nas, {"toJobConfig.outputDirectory": "/inf", "toJobConfig.outputFormat": file_format}),
    )
    summary = failed(submission)
    assert summary.endswith("column [ts] of the row with id=2 holds [-infinity], which the destination cannot hold.")
