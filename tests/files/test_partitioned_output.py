"""Hive-style partitioned output (toJobConfig.partitionBy) end to end through the HTTP API:
PostgreSQL to local CSV and to Parquet on object storage (moto), two partition columns with NULLs
and values that need escaping; the directories are Hive's, the partition columns are left out of
the files, files roll per directory, and all files read back are exactly the source rows."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from files_support import failed, pg_table_source, postgres_link, run, succeeded

from conftest import RunningServer, S3Server, create_link, pg_connect

DEFAULT = "__HIVE_DEFAULT_PARTITION__"
# 3000 rows over 3 regions (one NULL, one with '/' and '=') and 3 days (one NULL).
REGIONS = ["north", "a/b=c", None]
DAYS = [date(2024, 1, 31), date(2024, 2, 1), None]


@pytest.fixture
def api(file_server: RunningServer) -> Iterator[httpx.Client]:
    with file_server.client() as client:
        yield client


def make_sales(schema: str) -> list[dict[str, Any]]:
    with pg_connect() as conn:
        conn.execute(
            f'CREATE TABLE "{schema}".sales (id bigint PRIMARY KEY, region text, day date, '
            "amount numeric(12,2), note text)"
        )
        with conn.cursor() as cursor:
            cursor.executemany(
                f'INSERT INTO "{schema}".sales VALUES (%s, %s, %s, %s, %s)',
                [(i, REGIONS[i % 3], DAYS[(i // 3) % 3], Decimal(i) / 4, f'note {i}, "quoted"') for i in range(3000)],
            )
        names = ("id", "region", "day", "amount", "note")
        return [
            dict(zip(names, row, strict=True))
            for row in conn.execute(f'SELECT * FROM "{schema}".sales ORDER BY id').fetchall()
        ]


def expected_directories() -> set[str]:
    def text(value: object) -> str:
        return DEFAULT if value is None else str(value).replace("/", "%2F").replace("=", "%3D")

    return {f"region={text(region)}/day={text(day)}" for region in REGIONS for day in DAYS}


def partition_values(directory: str) -> dict[str, str | None]:
    """The columns a Hive-style path holds, unescaped."""
    values: dict[str, str | None] = {}
    for part in directory.split("/"):
        name, _, value = part.partition("=")
        values[unquote(name)] = None if value == DEFAULT else unquote(value)
    return values


def with_partitions(rows: list[dict[str, Any]], directory: str) -> list[dict[str, Any]]:
    values = partition_values(directory)
    day = values["day"]
    return [
        {**row, "region": values["region"], "day": None if day is None else date.fromisoformat(day)} for row in rows
    ]


def test_postgresql_to_partitioned_local_csv(
    api: httpx.Client, file_server: RunningServer, area: Path, nas: str, pg_schema: str
) -> None:
    source_rows = make_sales(pg_schema)
    out = succeeded(
        run(
            api,
            file_server,
            pg_table_source(api, file_server, pg_schema, "sales"),
            (
                "nas-connector",
                nas,
                {
                    "toJobConfig.outputDirectory": "/sales",
                    "toJobConfig.outputFormat": "CSV_FILE",
                    "toJobConfig.firstRowAsHeader": "true",
                    "toJobConfig.partitionBy": "region&day",
                    # About 40 bytes a row, in several batches: each directory gets a file per batch.
                    "toJobConfig.writeFileSize": "0.002",
                    "toJobConfig.markerFile": "_SUCCESS",
                },
            ),
        )
    )
    assert out["write_rows"] == 3000
    root = area / "sales"
    files = sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())
    assert files[0] == "_SUCCESS" and not any(name.startswith(".") for name in files)
    by_directory: dict[str, list[str]] = {}
    for name in files[1:]:
        directory, _, file_name = name.rpartition("/")
        by_directory.setdefault(directory, []).append(file_name)
    assert set(by_directory) == expected_directories()
    # Files roll per directory, numbered from 0 in each.
    for names in by_directory.values():
        assert len(names) >= 2 and names == [f"part-{n:05d}.csv" for n in range(len(names))]

    read_back = []
    for directory, names in by_directory.items():
        for name in names:
            table = pacsv.read_csv(
                root / directory / name,
                convert_options=pacsv.ConvertOptions(
                    column_types={"id": pa.int64(), "amount": pa.decimal128(12, 2), "note": pa.string()}
                ),
            )
            # The partition columns are in the path, not in the files (as Hive writes them).
            assert table.column_names == ["id", "amount", "note"]
            read_back += with_partitions(table.to_pylist(), directory)
    assert sorted(read_back, key=lambda row: row["id"]) == source_rows


def test_postgresql_to_partitioned_parquet_on_s3(
    api: httpx.Client, file_server: RunningServer, pg_schema: str, s3_server: S3Server
) -> None:
    source_rows = make_sales(pg_schema)
    obs = create_link(api, file_server, "obs-connector", s3_server.link_inputs())
    bucket = s3_server.create_bucket()
    succeeded(
        run(
            api,
            file_server,
            pg_table_source(api, file_server, pg_schema, "sales"),
            (
                "obs-connector",
                obs,
                {
                    "toJobConfig.bucketName": bucket,
                    "toJobConfig.outputDirectory": "/lake/sales",
                    "toJobConfig.outputFormat": "PARQUET_FILE",
                    "toJobConfig.partitionBy": "region&day",
                },
            ),
        )
    )
    client = s3_server.client()
    keys = sorted(
        item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"] if not item["Key"].endswith("/")
    )
    # One file per directory: no writeFileSize, and no more directories than open files allowed.
    assert keys == sorted(f"lake/sales/{directory}/part-00000.parquet" for directory in expected_directories())
    read_back = []
    for key in keys:
        table = pq.read_table(io.BytesIO(client.get_object(Bucket=bucket, Key=key)["Body"].read()))
        assert table.schema.names == ["id", "amount", "note"]
        assert table.schema.field("amount").type == pa.decimal128(12, 2)
        read_back += with_partitions(table.to_pylist(), key.removeprefix("lake/sales/").rpartition("/")[0])
    assert sorted(read_back, key=lambda row: row["id"]) == source_rows


def test_partition_columns_must_be_source_columns(
    api: httpx.Client, file_server: RunningServer, area: Path, nas: str, pg_schema: str
) -> None:
    make_sales(pg_schema)
    source = pg_table_source(api, file_server, pg_schema, "sales")
    for partition_by, message in (
        ("region&nope", "column [nope] of toJobConfig.partitionBy is not a source column"),
        ("id&region&day&amount&note", "names every column"),
    ):
        summary = failed(
            run(
                api,
                file_server,
                source,
                (
                    "nas-connector",
                    nas,
                    {
                        "toJobConfig.outputDirectory": "/out",
                        "toJobConfig.outputFormat": "JSON_FILE",
                        "toJobConfig.partitionBy": partition_by,
                    },
                ),
            )
        )
        assert message in summary
    assert not (area / "out").exists() or not any((area / "out").rglob("*.json"))


def test_more_partitions_than_open_files_and_a_failed_run_leaves_no_file(
    api: httpx.Client, file_server: RunningServer, area: Path, nas: str, pg_schema: str
) -> None:
    with pg_connect() as conn:
        conn.execute(
            f"CREATE TABLE \"{pg_schema}\".wide AS SELECT g AS id, g % 40 AS bucket, repeat('x', 50) AS pad "
            "FROM generate_series(1, 4000) g"
        )
    pg_name = postgres_link(api, file_server)

    def export(directory: str, where: str | None = None) -> dict[str, Any]:
        source = {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "wide"}
        if where:
            source["fromJobConfig.whereClause"] = where
        return run(
            api,
            file_server,
            ("generic-jdbc-connector", pg_name, source),
            (
                "nas-connector",
                nas,
                {
                    "toJobConfig.outputDirectory": directory,
                    "toJobConfig.outputFormat": "JSON_FILE",
                    "toJobConfig.partitionBy": "bucket",
                    "toJobConfig.compression": "GZIP",
                },
            ),
        )

    succeeded(export("/all"))
    files = sorted((area / "all").rglob("*.json.gz"))
    assert {path.parent.name for path in files} == {f"bucket={n}" for n in range(40)}
    # 40 directories, at most 32 files open: a directory closed to make room gets another file.
    assert len(files) > 40
    rows = [
        (int(path.parent.name.removeprefix("bucket=")), json.loads(line))
        for path in files
        # Compressed once: gzip gives the JSON lines back.
        for line in gzip.decompress(path.read_bytes()).decode().splitlines()
    ]
    assert all(bucket == row["id"] % 40 and list(row) == ["id", "pad"] for bucket, row in rows)
    assert sorted(row["id"] for _, row in rows) == list(range(1, 4001))

    # PostgreSQL sends rows, then fails: every file written so far is dropped.
    out = export("/failed", where="CASE WHEN id > 3000 THEN 1/(id - id) ELSE 1 END = 1")
    assert "division by zero" in failed(out)
    assert [path for path in (area / "failed").rglob("*") if path.is_file()] == []
