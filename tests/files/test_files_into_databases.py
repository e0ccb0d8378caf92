"""Local files of each format into MariaDB and SQLite through the HTTP API (PostgreSQL is covered by
the other file tests): the destination table is created from the files' types, and the rows read
back from it are the files' rows, unicode, decimals, time zones and NULLs included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pymysql
import pytest
from files_support import run, succeeded

from opencdm.connectors.jdbc import JdbcConnector

from conftest import RunningServer, create_link, mysql_link, sqlite_link

ROWS = [
    {"id": 1, "name": "北京 😀", "amount": Decimal("12.50"), "seen": datetime(2024, 1, 31, 0, 0, tzinfo=UTC)},
    {"id": 2, "name": None, "amount": None, "seen": None},
    {"id": 3, "name": "", "amount": Decimal("-0.01"), "seen": datetime(2024, 2, 1, 12, 30, 0, 123456, tzinfo=UTC)},
]
SCHEMA = pa.schema([
    ("id", pa.int64()), ("name", pa.string()), ("amount", pa.decimal128(12, 2)), ("seen", pa.timestamp("us", "UTC")),
])
# CSV and JSON carry text: the types come from columnList.
TYPED_COLUMNS = "id:bigint&name:varchar(20)&amount:decimal(12,2)&seen:timestamptz"


@pytest.fixture
def api(file_server: RunningServer) -> Iterator[httpx.Client]:
    with file_server.client() as client:
        yield client


def write_input(directory: Path, file_format: str) -> dict[str, str]:
    """The rows as one file of ``file_format`` in ``directory``; the job's source inputs."""
    directory.mkdir()
    inputs = {"fromJobConfig.inputDirectory": f"/{directory.name}", "fromJobConfig.inputFormat": file_format}
    if file_format == "PARQUET_FILE":
        pq.write_table(pa.Table.from_pylist(ROWS, schema=SCHEMA), directory / "rows.parquet")
        return inputs
    def text(value: object) -> str | None:
        if value is None:
            return None
        return value.isoformat() if isinstance(value, datetime) else str(value)

    if file_format == "JSON_FILE":
        lines = [json.dumps({key: text(value) for key, value in row.items()}, ensure_ascii=False) for row in ROWS]
    else:
        lines = ["id,name,amount,seen"] + [
            ",".join("" if value is None else f'"{text(value)}"' for value in row.values()) for row in ROWS
        ]
        inputs["fromJobConfig.firstRowAsHeader"] = "true"
    (directory / "rows.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return inputs | {"fromJobConfig.columnList": TYPED_COLUMNS}


@pytest.mark.parametrize("file_format", ["CSV_FILE", "JSON_FILE", "PARQUET_FILE"])
@pytest.mark.parametrize("database", ["mysql", "sqlite"])
def test_files_into_each_database(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, request: pytest.FixtureRequest,
    file_format: str, database: str,
) -> None:
    if database == "mysql":
        link = mysql_link(request.getfixturevalue("mysql_database"))
    else:
        link = sqlite_link(str(area / "dst.sqlite"))
    source = write_input(area / "in", file_format)
    destination = create_link(api, file_server, "generic-jdbc-connector", link)
    out = succeeded(run(api, file_server, ("nas-connector", nas, source), ("generic-jdbc-connector", destination, {
        "toJobConfig.tableName": "landed", "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"})))
    assert out["write_rows"] == len(ROWS)

    landed = JdbcConnector().open_source(link, {"fromJobConfig.tableName": "landed"})
    try:
        batches = list(landed.read(landed.partitions(1)[0], 100))
    finally:
        landed.close()
    table = pa.Table.from_batches(batches, schema=landed.schema()).sort_by("id")
    assert table.to_pylist() == ROWS
    assert table.schema.field("amount").type == pa.decimal128(12, 2)
    if database == "mysql" and file_format != "PARQUET_FILE":  # columnList's varchar(20) made the column
        conn = pymysql.connect(host=link["linkConfig.host"], port=int(link["linkConfig.port"]),
                               user=link["linkConfig.username"], database=link["linkConfig.database"])
        with conn.cursor() as cursor:
            cursor.execute("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                           "AND TABLE_NAME = 'landed' AND COLUMN_NAME = 'name'")
            assert cursor.fetchone() == ("varchar(20)",)
        conn.close()
    assert pa.types.is_timestamp(table.schema.field("seen").type) and table.schema.field("seen").type.tz is not None
