"""nas-connector end to end through the HTTP API: databases to local Parquet and CSV, local files
of every kind into PostgreSQL, file filters, extractors, rolling, duplicate files, atomic writes,
and the confinement of links and jobs to the directories the operator allows."""

from __future__ import annotations

import gzip
import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from files_support import create_job, failed, postgres_link, rows, run, start_and_wait, succeeded

from conftest import RunningServer, create_link, pg_connect, post_link, sqlite_link


@pytest.fixture
def api(file_server: RunningServer) -> Iterator[httpx.Client]:
    with file_server.client() as client:
        yield client


def everything_under(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())


def test_sqlite_to_local_parquet_keeps_types(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path
) -> None:
    database = area.parent / f"{area.name}-source.db"  # SQLite files too must be inside OPENCDM_FILE_ROOTS
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(20), price DECIMAL(12,2), "
                     "wide DECIMAL_TEXT(30,10), sold TIMESTAMPTZ, day DATE)")
        conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", [
            (1, "漢字 😀", "1234.56", "12345678901234567890.0123456789", "2024-02-29T11:14:15.123456+00:00",
             "2024-02-29"),
            (2, None, None, None, None, None),
        ])
    lite = create_link(api, file_server, "generic-jdbc-connector", sqlite_link(str(database)))
    succeeded(run(api, file_server, ("generic-jdbc-connector", lite, {"fromJobConfig.tableName": "items"}),
                  ("nas-connector", nas, {"toJobConfig.outputDirectory": "/lake/items",
                                          "toJobConfig.outputFormat": "PARQUET_FILE"})))
    assert everything_under(area) == ["lake/items/part-00000.parquet"]
    table = pq.read_table(area / "lake/items/part-00000.parquet")
    assert table.schema.field("price").type == pa.decimal128(12, 2)
    assert table.schema.field("wide").type == pa.decimal128(30, 10)
    assert table.schema.field("sold").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("day").type == pa.date32()
    first = table.to_pylist()[0]
    assert first["name"] == "漢字 😀"
    assert first["price"] == Decimal("1234.56")
    assert first["wide"] == Decimal("12345678901234567890.0123456789")
    assert first["sold"] == datetime(2024, 2, 29, 11, 14, 15, 123456, tzinfo=UTC)
    assert table.to_pylist()[1] == {"id": 2, "name": None, "price": None, "wide": None, "sold": None, "day": None}


def test_gzip_gbk_csv_with_header_separator_and_quote_into_postgresql(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, pg_schema: str
) -> None:
    text = ("id;名称;amount;seen\r\n"
            "1;'北京;上海';12.50;2024-01-31 08:00:00+08:00\r\n"
            "2;'他说''好''';-0.01;\r\n"
            "3;'';7;2024-02-01 00:00:00Z\r\n")
    (area / "in").mkdir()
    with gzip.open(area / "in" / "cities.csv.gz", "wb") as packed:
        packed.write(text.encode("gbk"))
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".cities (id int, "名称" text, amount numeric(10,2), seen timestamptz)')
    out = succeeded(run(api, file_server, ("nas-connector", nas, {
        "fromJobConfig.inputDirectory": "/in/cities.csv.gz", "fromJobConfig.inputFormat": "CSV_FILE",
        "fromJobConfig.fromCompression": "GZIP", "fromJobConfig.encodeType": "GBK",
        "fromJobConfig.firstRowAsHeader": "true", "fromJobConfig.fieldSeparator": ";",
        "fromJobConfig.quoteChar": "'"}), ("generic-jdbc-connector", postgres_link(api, file_server), {
        "toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "cities"})))
    assert out["write_rows"] == 3
    assert rows(pg_schema, "cities") == [
        (1, "北京;上海", Decimal("12.50"), datetime(2024, 1, 31, 0, 0, tzinfo=UTC)),
        (2, "他说'好'", Decimal("-0.01"), None),
        (3, "", Decimal("7.00"), datetime(2024, 2, 1, 0, 0, tzinfo=UTC)),
    ]


def _write_csv(path: Path, first_id: int, count: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("id,label\n" + "".join(f"{i},row {i}\n" for i in range(first_id, first_id + count)))


def test_wildcard_filter_and_extractors_read_the_same_rows(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, pg_schema: str
) -> None:
    for index, directory in enumerate(["2024-01", "2024-02", "2024-03", "2023-12"]):
        _write_csv(area / "logs" / directory / "part.csv", index * 1000, 250 + index)
    _write_csv(area / "logs" / "2024-01" / "notes.txt", 90_000, 5)  # not *.csv
    (area / "logs" / "2024-02" / ".hidden.csv").write_text("id,label\n99999,hidden\n")
    (area / "logs" / "2024-02" / "_SUCCESS").write_text("")
    pg_name = postgres_link(api, file_server)
    expected = sorted(i for index in range(3) for i in range(index * 1000, index * 1000 + 250 + index))
    for extractors, table in ((1, "one"), (2, "two")):
        with pg_connect() as conn:
            conn.execute(f'CREATE TABLE "{pg_schema}".{table} (id int, label text)')
        out = succeeded(run(api, file_server, ("nas-connector", nas, {
            "fromJobConfig.inputDirectory": "/logs", "fromJobConfig.inputFormat": "CSV_FILE",
            "fromJobConfig.firstRowAsHeader": "true", "fromJobConfig.filterType": "WILDCARD",
            "fromJobConfig.pathFilter": "2024-*", "fromJobConfig.fileFilter": "*.csv"}),
            ("generic-jdbc-connector", pg_name, {"toJobConfig.schemaName": pg_schema,
                                                 "toJobConfig.tableName": table}), extractors=extractors))
        assert out["write_rows"] == len(expected)
        assert [row[0] for row in rows(pg_schema, table)] == expected
    assert rows(pg_schema, "one") == rows(pg_schema, "two")
    # The three files were split between two processes.
    assert "2 partitions on 2 processes" in file_server.log()


def _numbers_table(schema: str, count: int, width: int = 50) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}".numbers (id int PRIMARY KEY, pad text)')
        conn.execute(f"""INSERT INTO "{schema}".numbers SELECT g, repeat('x', {width})
                         FROM generate_series(1, {count}) g""")


def test_write_file_size_rolls_files_and_duplicates_are_handled(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, pg_schema: str
) -> None:
    _numbers_table(pg_schema, 3000)
    pg_name = postgres_link(api, file_server)
    source = ("generic-jdbc-connector", pg_name, {"fromJobConfig.schemaName": pg_schema,
                                                  "fromJobConfig.tableName": "numbers"})

    def to_csv(duplicates: str) -> tuple[str, str, dict[str, str]]:
        return ("nas-connector", nas, {
            "toJobConfig.outputDirectory": "/out", "toJobConfig.outputFormat": "CSV_FILE",
            "toJobConfig.firstRowAsHeader": "true", "toJobConfig.writeFileSize": "0.05",
            "toJobConfig.duplicateFileOpType": duplicates})

    succeeded(run(api, file_server, source, to_csv("REPLACE")))
    names = everything_under(area / "out")
    # 3000 rows of ~56 bytes in files of at most 0.05 MB (+ one batch of 100 rows).
    assert len(names) >= 3 and names == [f"part-{n:05d}.csv" for n in range(len(names))]
    ids = [row["id"] for name in names for row in pacsv.read_csv(area / "out" / name).to_pylist()]
    assert ids == list(range(1, 3001))
    stamps = {name: os.stat(area / "out" / name).st_mtime_ns for name in names}

    summary = failed(run(api, file_server, source, to_csv("ABANDON")))
    assert "Duplicate file in the destination path: /out/part-00000.csv" in summary
    succeeded(run(api, file_server, source, to_csv("SKIP")))
    assert {name: os.stat(area / "out" / name).st_mtime_ns for name in names} == stamps
    succeeded(run(api, file_server, source, to_csv("REPLACE")))
    assert all(os.stat(area / "out" / name).st_mtime_ns != stamps[name] for name in names)
    # No run left a temporary behind.
    assert everything_under(area / "out") == names


@pytest.mark.parametrize("file_format", ["CSV_FILE", "PARQUET_FILE"])
def test_a_run_that_fails_midway_leaves_no_file(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, pg_schema: str, file_format: str
) -> None:
    # Wide rows: the PostgreSQL reader hands rows over once it holds 64 kB of them.
    _numbers_table(pg_schema, 1000, width=1000)
    out = run(api, file_server, ("generic-jdbc-connector", postgres_link(api, file_server), {
        "fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "numbers",
        # PostgreSQL sends the first rows, then fails on row 501: the file was half written.
        "fromJobConfig.whereClause": "CASE WHEN id > 500 THEN 1/(id - id) ELSE 1 END = 1"}),
        ("nas-connector", nas, {"toJobConfig.outputDirectory": "/out", "toJobConfig.outputFormat": file_format,
                                "toJobConfig.markerFile": "DONE"}))
    assert "division by zero" in failed(out)
    # Rows were written before the failure, and none kept: the run says so, and counts 0 written.
    log = api.get(f"{file_server.cdm}/submissions/{out['submission-id']}/log").json()["lines"]
    rolled_back = re.compile(r"(\d+) rows written, then rolled back")
    written = [int(m.group(1)) for line in log if (m := rolled_back.search(line["message"]))]
    assert written and written[0] >= 100, log
    assert out["write_rows"] == 0
    assert everything_under(area) == []


def test_links_and_jobs_stay_inside_the_allowed_roots(
    api: httpx.Client, file_server: RunningServer, rootless_server: RunningServer, file_root: Path, area: Path,
    tmp_path: Path, pg_schema: str
) -> None:
    refused = post_link(api, file_server, "nas-connector", {"linkConfig.rootDirectory": "/etc"})
    assert refused.status_code == 400
    assert refused.json()["errCode"] == "Cdm.0014"
    assert "outside the directories this server allows" in refused.json()["externalMessage"]
    sneaky = post_link(api, file_server, "nas-connector", {"linkConfig.rootDirectory": f"{file_root}/../.."})
    assert sneaky.status_code == 400

    outside = tmp_path / "outside"
    outside.mkdir()
    _write_csv(outside / "secret.csv", 1, 3)
    (area / "escape").symlink_to(outside)
    (area / "data").mkdir()
    (area / "data" / "alias.csv").symlink_to(outside / "secret.csv")
    nas = create_link(api, file_server, "nas-connector", {"linkConfig.rootDirectory": str(area)})
    pg_name = postgres_link(api, file_server)
    destination = ("generic-jdbc-connector", pg_name, {"toJobConfig.schemaName": pg_schema,
                                                       "toJobConfig.tableName": "t"})
    for path in ("/../outside/secret.csv", "/escape/secret.csv", "/escape"):
        response = create_job(api, file_server, ("nas-connector", nas, {
            "fromJobConfig.inputDirectory": path, "fromJobConfig.inputFormat": "CSV_FILE"}), destination)
        assert response.status_code == 400, path
        assert "leads outside the link's root directory" in response.json()["externalMessage"]
    # A link found while listing a directory is refused when the run reads it.
    summary = failed(run(api, file_server, ("nas-connector", nas, {
        "fromJobConfig.inputDirectory": "/data", "fromJobConfig.inputFormat": "CSV_FILE"}), destination))
    assert "/data/alias.csv" in summary and "outside the link's root directory" in summary

    # A server whose operator allowed no directory refuses nas links, and says how to allow them.
    with rootless_server.client() as default_api:
        response = post_link(default_api, rootless_server, "nas-connector", {"linkConfig.rootDirectory": str(area)})
    assert response.status_code == 400
    assert "OPENCDM_FILE_ROOTS" in response.json()["externalMessage"]


def test_malformed_and_unreadable_files_fail_naming_file_and_line(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, pg_schema: str
) -> None:
    (area / "bad").mkdir()
    (area / "bad" / "short.csv").write_text("id,label\n1,one\n2,two\n3\n4,four\n")
    (area / "bad" / "typed.csv").write_text("id,label\n" + "".join(f"{i},r\n" for i in range(1, 2000))
                                            + "x,broken\n")
    (area / "bad" / "broken.csv.gz").write_bytes(b"this is not gzip at all")
    (area / "bad" / "fake.parquet").write_bytes(b"PAR1 not really")
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".t (id int, label text)')
    destination = ("generic-jdbc-connector", postgres_link(api, file_server),
                   {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "t"})

    def summary(path: str, **extra: str) -> str:
        return failed(run(api, file_server, ("nas-connector", nas, {
            "fromJobConfig.inputDirectory": path, "fromJobConfig.firstRowAsHeader": "true",
            "fromJobConfig.inputFormat": "CSV_FILE", **extra}), destination))

    short = summary("/bad/short.csv")
    assert "/bad/short.csv" in short and "at line 4" in short and "Expected 2 columns, got 1" in short
    # A value that does not fit its column's type (declared here; inferred from the first block of
    # the file otherwise) is located as well.
    typed = summary("/bad/typed.csv", **{"fromJobConfig.columnList": "id:int&label"})
    assert "/bad/typed.csv" in typed and "at line 2001" in typed and "'x'" in typed
    assert "/bad/broken.csv.gz" in summary("/bad/broken.csv.gz", **{"fromJobConfig.fromCompression": "GZIP"})
    assert "/bad/fake.parquet" in summary("/bad/fake.parquet", **{"fromJobConfig.inputFormat": "PARQUET_FILE"})
    assert rows(pg_schema, "t", order="1") == []


def test_job_inputs_are_checked_when_the_job_is_created(
    api: httpx.Client, file_server: RunningServer, nas: str, pg_schema: str
) -> None:
    destination = ("generic-jdbc-connector", postgres_link(api, file_server),
                   {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "t"})
    for inputs, message in (
        ({}, "fromJobConfig.inputDirectory cannot be empty"),
        ({"fromJobConfig.inputDirectory": "/x", "fromJobConfig.inputFormat": "XML"}, "must be one of"),
        ({"fromJobConfig.inputDirectory": "/x", "fromJobConfig.inputFormat": "BINARY_FILE"},
         "must both be BINARY_FILE, on file links"),
        ({"fromJobConfig.inputDirectory": "/x", "fromJobConfig.inputFormat": "CSV_FILE",
          "fromJobConfig.fieldSeparator": "||"}, "one character"),
        ({"fromJobConfig.inputDirectory": "/x", "fromJobConfig.inputFormat": "CSV_FILE",
          "fromJobConfig.columnList": "1&amount:money"}, "is not a known type"),
        ({"fromJobConfig.inputDirectory": "/x", "fromJobConfig.inputFormat": "CSV_FILE",
          "fromJobConfig.splitFileSize": "-2"}, "fromJobConfig.splitFileSize"),
    ):
        response = create_job(api, file_server, ("nas-connector", nas, inputs), destination)
        assert response.status_code == 400 and message in response.json()["externalMessage"], response.text
    # Files are numbered by one writer in order: a run cannot commit them partition by partition.
    resumable = create_job(api, file_server, ("generic-jdbc-connector", destination[1], {
        "fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "t"}),
        ("nas-connector", nas, {"toJobConfig.outputDirectory": "/out", "toJobConfig.outputFormat": "CSV_FILE"}),
        throttling={"throttlingConfig.resumable": "true"})
    assert resumable.status_code == 400, resumable.text
    assert "nas-connector destinations do not allow" in resumable.json()["externalMessage"]
    started = create_job(api, file_server, ("nas-connector", nas, {
        "fromJobConfig.inputDirectory": "/nothing-here", "fromJobConfig.inputFormat": "CSV_FILE"}), destination)
    assert "does not exist: /nothing-here" in failed(start_and_wait(api, file_server, started.json()["name"]))
