"""Files as a data engineer loads them, e.g. R and pandas exports such as the nycflights13 CSVs:
missing values written as NA, created columns typed exactly from every value, a value the
destination's column cannot take named with its file and line, and BYTES_READ as the bytes of
the files."""

from __future__ import annotations

import gzip
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from files_support import failed, postgres_link, rows, run, succeeded

from opencdm.connectors import get_connector
from opencdm.connectors.base import Source
from opencdm.connectors.files.formats.text_types import TypeFold

from conftest import RunningServer, create_link, pg_connect


@pytest.fixture
def api(file_server: RunningServer) -> Iterator[httpx.Client]:
    with file_server.client() as client:
        yield client


def csv_source(nas: str, directory: str, **inputs: str) -> tuple[str, str, dict[str, str]]:
    return ("nas-connector", nas, {
        "fromJobConfig.inputDirectory": directory, "fromJobConfig.inputFormat": "CSV_FILE",
        "fromJobConfig.firstRowAsHeader": "true", **{f"fromJobConfig.{k}": v for k, v in inputs.items()}})


def pg_table(api: httpx.Client, server: RunningServer, schema: str, table: str) -> tuple[str, str, dict[str, str]]:
    return ("generic-jdbc-connector", postgres_link(api, server), {
        "toJobConfig.schemaName": schema, "toJobConfig.tableName": table,
        "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"})


def column_types(schema: str, table: str) -> dict[str, str]:
    with pg_connect() as conn:
        return dict(conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", (f'"{schema}"."{table}"',),
        ).fetchall())


def counters(submission: dict[str, object]) -> dict[str, int]:
    return submission["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]  # type: ignore[index]


def test_null_value_markers_of_r_and_pandas_exports_arrive_as_null(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, pg_schema: str
) -> None:
    (area / "csv").mkdir()
    (area / "csv" / "flights.csv").write_text(
        'id,dep_delay,temp,carrier,note\n1,NA,39.02,UA,"NA"\n2,12,NULL,\\N,x\n3,-4,NA,AA,\n'
    )
    (area / "json").mkdir()
    (area / "json" / "flights.json").write_text("".join(json.dumps(row) + "\n" for row in [
        {"id": 1, "dep_delay": "NA", "carrier": "UA"}, {"id": 2, "dep_delay": "12", "carrier": "\\N"}]))
    markers = "NA,NULL,\\N"

    succeeded(run(api, file_server, csv_source(nas, "/csv", nullValue=markers),
                  pg_table(api, file_server, pg_schema, "flights")))
    assert rows(pg_schema, "flights") == [
        (1, None, Decimal("39.02"), "UA", "NA"),  # a quoted "NA" is the text NA
        (2, 12, None, None, "x"),
        (3, -4, None, "AA", None),
    ]
    assert column_types(pg_schema, "flights")["dep_delay"] == "smallint"

    succeeded(run(api, file_server, ("nas-connector", nas, {
        "fromJobConfig.inputDirectory": "/json", "fromJobConfig.inputFormat": "JSON_FILE",
        "fromJobConfig.nullValue": markers}), pg_table(api, file_server, pg_schema, "from_json")))
    assert rows(pg_schema, "from_json") == [(1, None, "UA"), (2, 12, None)]


def test_created_columns_get_the_narrowest_exact_type_of_every_value_in_the_files(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, pg_schema: str
) -> None:
    (area / "in").mkdir()
    header = "small,medium,big,huge,amount,day,at,at_tz,clock,flag,word,late\n"
    line = "{n},70000,5000000000,12345678901234567890,{n}.5,2024-01-31,2024-01-31 08:00:00," \
           "2024-01-31T08:00:00+08:00,08:15:00.5,true,w{n},{n}\n"
    body = "".join(line.format(n=n % 1000) for n in range(30_000))  # past the first block (1 MB) of the file
    # Values only the file's last line holds: a wider integer and a decimal with more digits.
    last = "-7,1,1,1,123456.789,2024-02-29,2024-02-29 23:59:59.999999,2024-02-29T23:59:59Z,23:59:59,False,w,40000\n"
    (area / "in" / "data.csv").write_text(header + body + last)

    succeeded(run(api, file_server, csv_source(nas, "/in"), pg_table(api, file_server, pg_schema, "typed")))
    assert column_types(pg_schema, "typed") == {
        "small": "smallint", "medium": "integer", "big": "bigint", "huge": "numeric(20,0)",
        "amount": "numeric(9,3)", "day": "date", "at": "timestamp without time zone",
        "at_tz": "timestamp with time zone", "clock": "time without time zone", "flag": "boolean",
        "word": "text", "late": "integer",
    }
    with pg_connect() as conn:
        landed = conn.execute(f'SELECT * FROM "{pg_schema}".typed WHERE late = 40000').fetchall()
    assert landed == [(
        -7, 1, 1, Decimal(1), Decimal("123456.789"), date(2024, 2, 29), datetime(2024, 2, 29, 23, 59, 59, 999999),
        datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC), time(23, 59, 59), False, "w", 40000,
    )]

    # Text, where asked for in columnList.
    succeeded(run(api, file_server, csv_source(nas, "/in", columnList="small:text&amount:text"),
                  pg_table(api, file_server, pg_schema, "as_text")))
    assert column_types(pg_schema, "as_text") == {"small": "text", "amount": "text"}


def test_a_value_the_destination_column_cannot_take_is_named_with_its_file_and_line(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, pg_schema: str
) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".flights (id integer, dep_delay smallint, temp numeric(5,2))')
    (area / "in").mkdir()
    lines = [f"{n},{n % 50},{n}.25" for n in range(1, 301)]
    lines[2] = "3,late,3.25"  # line 4 of the file: text into a smallint column
    lines[199] = "200,99999,200.25"  # line 201: out of smallint's range
    lines[249] = "250,5,1000.125"  # line 251: more digits than numeric(5,2)
    (area / "in" / "flights.csv").write_text("id,dep_delay,temp\n" + "\n".join(lines) + "\n")
    destination = ("generic-jdbc-connector", postgres_link(api, file_server), {
        "toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "flights"})

    summary = failed(run(api, file_server, csv_source(nas, "/in"), destination))
    assert "/in/flights.csv" in summary and "line 4" in summary, summary
    assert "column [dep_delay]" in summary and "'late'" in summary, summary

    dirty_link = create_link(api, file_server, "nas-connector", {"linkConfig.rootDirectory": str(area)})
    out = succeeded(run(api, file_server, csv_source(nas, "/in"), destination, throttling={
        "throttlingConfig.maxErrorRecords": "10", "throttlingConfig.recordDirtyData": "true",
        "throttlingConfig.writeToLink": dirty_link, "throttlingConfig.dirtyDataDirectory": "/dirty"}))
    assert counters(out)["ROWS_WRITTEN"] == 297 and counters(out)["ROWS_WRITTEN_SKIPPED"] == 3
    assert len(rows(pg_schema, "flights")) == 297
    records = [json.loads(line) for path in (area / "dirty").rglob("*.jsonl") for line in path.read_text().splitlines()]
    by_line = {record["line"]: record for record in records}
    assert sorted(by_line) == [4, 201, 251]
    assert all(record["file"] == "/in/flights.csv" for record in records)
    assert "column [dep_delay]" in by_line[4]["reason"] and "'late'" in by_line[4]["reason"]
    assert "'99999'" in by_line[201]["reason"] and "'1000.125'" in by_line[251]["reason"]
    assert by_line[201]["row"] == {"id": "200", "dep_delay": "99999", "temp": "200.25"}


def test_bytes_read_are_the_bytes_of_the_files_as_stored(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, pg_schema: str
) -> None:
    text = "id,label,amount\n" + "".join(f"{n},label {n},{n}.75\n" for n in range(20_000))
    (area / "plain").mkdir()
    (area / "plain" / "a.csv").write_text(text)
    (area / "plain" / "b.csv").write_text(text)
    (area / "zipped").mkdir()
    (area / "zipped" / "a.csv.gz").write_bytes(gzip.compress(text.encode()))

    plain = succeeded(run(api, file_server, csv_source(nas, "/plain", splitFileSize="0.1"),
                          pg_table(api, file_server, pg_schema, "plain"), extractors=3))
    assert counters(plain)["BYTES_READ"] == 2 * len(text.encode())
    zipped = succeeded(run(api, file_server, csv_source(nas, "/zipped", fromCompression="GZIP"),
                           pg_table(api, file_server, pg_schema, "zipped")))
    assert counters(zipped)["BYTES_READ"] == (area / "zipped" / "a.csv.gz").stat().st_size

    (area / "archive").mkdir()
    with zipfile.ZipFile(area / "archive" / "two.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.csv", text)
        archive.writestr("b.csv", text)
        members = sum(member.compress_size for member in archive.infolist())
    archived = succeeded(run(api, file_server, csv_source(nas, "/archive", fromCompression="ZIP"),
                             pg_table(api, file_server, pg_schema, "archived")))
    assert counters(archived)["ROWS_READ"] == 40_000
    assert counters(archived)["BYTES_READ"] == members  # the members as stored, compressed


def test_every_extractor_reads_with_the_types_the_run_planned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The types come from every file, once: a copier's own source (another process, a Dask worker)
    reads a partition with the planned types rather than inferring them again from what it sees."""
    monkeypatch.setenv("OPENCDM_FILE_ROOTS", str(tmp_path))
    (tmp_path / "a.csv").write_text("id,code\n" + "".join(f"{n},{n}\n" for n in range(100)))
    (tmp_path / "b.csv").write_text("id,code\n1,x7\n")  # makes code text, when every file is read

    def opened() -> Source:
        return get_connector("nas-connector").open_source({"linkConfig.rootDirectory": str(tmp_path)}, {
            "fromJobConfig.inputDirectory": "/", "fromJobConfig.inputFormat": "CSV_FILE",
            "fromJobConfig.firstRowAsHeader": "true"})

    planner = opened()
    assert planner.schema().field("code").type == pa.string() and planner.schema().field("id").type == pa.int16()
    partitions = planner.partitions(2)
    # Were the copier to infer again, it would now find only integers.
    (tmp_path / "b.csv").write_text("id,code\n1,7\n")
    copier = opened()  # as in another process: never asked for its schema
    batches = [batch for partition in partitions for batch in copier.read(partition, 1000)]
    assert {batch.schema.field("code").type for batch in batches} == {pa.string()}
    assert sorted(int(value) for batch in batches for value in batch.column("code").to_pylist()) == [
        *range(8), 7, *range(8, 100)]


@pytest.mark.parametrize(("blocks", "expected"), [
    ([["1", "-32768", None], ["32767"]], pa.int16()),
    ([["1"], ["40000"]], pa.int32()),
    ([["1"], ["-3000000000"]], pa.int64()),
    ([["12345678901234567890"]], pa.decimal128(20, 0)),
    ([["1", "007"], ["-12.25"], ["0.125"]], pa.decimal128(5, 3)),  # 2 digits before the point, 3 after
    ([["+5"]], pa.decimal128(1, 0)),  # Arrow reads no "+" in an integer
    ([["2024-01-31"], ["2024-02-29"]], pa.date32()),
    ([["2024-02-30"]], pa.string()),  # the shape of a date, not a date
    ([["2024-01-31 08:00:00"], ["2024-01-31"]], pa.string()),  # a timestamp, then a date: text
    ([["1e5"]], pa.string()),
    ([[None], [None]], pa.string()),
    ([["true", "FALSE"]], pa.bool_()),
    ([["1.5"], ["NA"]], pa.string()),
])
def test_the_type_folded_from_every_block(blocks: list[list[str | None]], expected: pa.DataType) -> None:
    fold = TypeFold()
    for block in blocks:
        fold.add(pa.array(block, pa.string()))
    assert fold.type() == expected
