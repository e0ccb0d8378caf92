"""PostgreSQL table → Parquet (local and S3) written by DuckDB (the fast path of duckdb_parquet.py), checked
against the Arrow path on the same table through the HTTP API: same schema and values read back,
names, compression, counters, progress during the run, a stop that leaves no file, and the cases
that must keep the Arrow path."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from files_support import (
    PG_COLUMNS,
    PG_ROWS,
    create_job,
    failed,
    make_source_table,
    postgres_link,
    run,
    succeeded,
)

from conftest import RunningServer, S3Server, create_link, pg_connect

SCANNED = "the destination reads postgresql table"
COUNTERS = "org.apache.sqoop.submission.counter.SqoopCounters"

# Every type the path takes, beside the file tests' columns: NOT NULL and a varchar length (field
# metadata), smallint, bytea.
COLUMNS = (
    PG_COLUMNS
    + """,
    c_small smallint,
    c_bytes bytea,
    c_required varchar(20) NOT NULL DEFAULT 'required'
"""
)


@pytest.fixture
def api(file_server: RunningServer) -> Iterator[httpx.Client]:
    with file_server.client() as client:
        yield client


def files_under(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())


def export(
    api: httpx.Client,
    server: RunningServer,
    pg: str,
    nas: str,
    from_job: dict[str, str],
    directory: str,
    **to_job: str,
) -> tuple[dict[str, Any], bool]:
    """Run a PostgreSQL → Parquet job; (its submission, whether DuckDB wrote the file)."""
    before = server.log().count(SCANNED)
    submission = run(
        api,
        server,
        ("generic-jdbc-connector", pg, from_job),
        (
            "nas-connector",
            nas,
            {"toJobConfig.outputDirectory": directory, "toJobConfig.outputFormat": "PARQUET_FILE", **to_job},
        ),
    )
    return succeeded(submission), server.log().count(SCANNED) > before


def test_duckdb_writes_the_file_the_arrow_path_writes(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, pg_schema: str
) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src ({COLUMNS})')
        values = ", ".join(row[:-1] + ", 7, NULL, DEFAULT)" for row in PG_ROWS)
        conn.execute(f'INSERT INTO "{pg_schema}".src VALUES {values}')
        conn.execute(f"UPDATE \"{pg_schema}\".src SET c_bytes = '\\x00ff10'::bytea, c_small = -32768 WHERE id = 1")
    pg = postgres_link(api, file_server)
    table = {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"}
    fast, scanned = export(api, file_server, pg, nas, table, "/duck", **{"toJobConfig.compression": "ZSTD"})
    assert scanned
    # A whereClause keeps the Arrow path: the reference.
    arrow, scanned = export(
        api,
        file_server,
        pg,
        nas,
        {**table, "fromJobConfig.whereClause": "true"},
        "/arrow",
        **{"toJobConfig.compression": "ZSTD"},
    )
    assert not scanned
    assert files_under(area) == ["arrow/part-00000.parquet", "duck/part-00000.parquet"]
    duck, reference = pq.read_table(area / "duck/part-00000.parquet"), pq.read_table(area / "arrow/part-00000.parquet")
    assert duck.schema.equals(reference.schema, check_metadata=True), (duck.schema, reference.schema)
    assert duck.schema.field("c_tstz").type == pa.timestamp("us", tz="UTC")
    assert duck.schema.field("c_num_wide").type == pa.decimal128(38, 10)
    assert duck.schema.field("c_varchar").metadata == {b"opencdm.length": b"64"}
    assert duck.sort_by("id").equals(reference.sort_by("id"))
    assert pq.ParquetFile(area / "duck/part-00000.parquet").metadata.row_group(0).column(0).compression == "ZSTD"
    counters, reference_counters = fast["counters"][COUNTERS], arrow["counters"][COUNTERS]
    assert counters["ROWS_READ"] == counters["ROWS_WRITTEN"] == 4
    assert counters["BYTES_WRITTEN"] == (area / "duck/part-00000.parquet").stat().st_size
    assert counters["BYTES_READ"] > 0 and reference_counters["BYTES_READ"] > 0
    assert fast["progress"] == 100


def test_types_duckdb_would_change_and_other_destinations_keep_the_arrow_path(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, pg_schema: str
) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".plain (id bigint, amount numeric(10,2))')
        conn.execute(f'INSERT INTO "{pg_schema}".plain VALUES (1, 1.50), (2, NULL)')
        conn.execute(f'CREATE TABLE "{pg_schema}".loose (id bigint, amount numeric, code character(4))')
        conn.execute(f"INSERT INTO \"{pg_schema}\".loose VALUES (1, 12345678901234567890.123456789, 'ab')")
    pg = postgres_link(api, file_server)

    def table(name: str) -> dict[str, str]:
        return {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": name}

    # numeric without precision (DuckDB reads a double) and character(n) (DuckDB strips the padding).
    _, scanned = export(api, file_server, pg, nas, table("loose"), "/loose")
    assert not scanned
    assert pq.read_table(area / "loose/part-00000.parquet").to_pylist() == [
        {"id": 1, "amount": "12345678901234567890.123456789", "code": "ab  "}
    ]
    # Several files, and brotli (which DuckDB cannot stop promptly), are the Arrow path's.
    _, scanned = export(api, file_server, pg, nas, table("plain"), "/rolled", **{"toJobConfig.writeFileSize": "1"})
    assert not scanned
    _, scanned = export(api, file_server, pg, nas, table("plain"), "/brotli", **{"toJobConfig.compression": "BROTLI"})
    assert not scanned
    _, scanned = export(api, file_server, pg, nas, {**table("plain"), "fromJobConfig.columnList": "amount"}, "/some")
    assert scanned
    assert pq.read_table(area / "some/part-00000.parquet").column_names == ["amount"]
    # An existing file of the same name and size is kept with SKIP, as on the Arrow path.
    before = (area / "some/part-00000.parquet").stat().st_mtime_ns
    _, scanned = export(
        api,
        file_server,
        pg,
        nas,
        {**table("plain"), "fromJobConfig.columnList": "amount"},
        "/some",
        **{"toJobConfig.duplicateFileOpType": "SKIP"},
    )
    assert scanned
    assert (area / "some/part-00000.parquet").stat().st_mtime_ns == before
    assert files_under(area / "some") == ["part-00000.parquet"]


def test_progress_moves_and_a_stop_interrupts_duckdb_leaving_no_file(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, pg_schema: str
) -> None:
    with pg_connect() as conn:
        conn.execute(
            f'CREATE TABLE "{pg_schema}".big AS SELECT n::bigint AS id, md5(n::text) || md5((n + 1)::text) '
            "AS label FROM generate_series(1, 3000000) AS n"
        )
        conn.execute(f'ANALYZE "{pg_schema}".big')
    pg = postgres_link(api, file_server)
    # gzip keeps DuckDB busy for seconds on this table.
    response = create_job(
        api,
        file_server,
        ("generic-jdbc-connector", pg, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "big"}),
        (
            "nas-connector",
            nas,
            {
                "toJobConfig.outputDirectory": "/big",
                "toJobConfig.outputFormat": "PARQUET_FILE",
                "toJobConfig.compression": "GZIP",
            },
        ),
    )
    assert response.status_code == 200, response.text
    job = response.json()["name"]
    api.put(f"{file_server.cdm}/job/{job}/start").raise_for_status()
    seen: list[tuple[float, int]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len({rows for _, rows in seen if rows > 0}) < 2:
        submission = api.get(f"{file_server.cdm}/job/{job}/status").json()["submissions"][0]
        assert submission["status"] in ("BOOTING", "RUNNING"), submission
        counters = submission.get("counters", {}).get(COUNTERS, {})  # none before it runs
        seen.append((submission["progress"], counters.get("ROWS_WRITTEN", 0)))
        time.sleep(0.2)
    # Rows and progress moved twice while DuckDB was writing.
    assert len({rows for _, rows in seen if rows > 0}) >= 2, seen
    assert 0 < max(progress for progress, _ in seen) < 100
    api.put(f"{file_server.cdm}/job/{job}/stop").raise_for_status()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        submission = api.get(f"{file_server.cdm}/job/{job}/status").json()["submissions"][0]
        if submission["status"] not in ("BOOTING", "RUNNING"):
            break
        time.sleep(0.2)
    assert submission["status"] == "FAILED" and "stopped" in submission["error-summary"], submission
    assert SCANNED in file_server.log()
    assert files_under(area) == []


def test_duckdb_writes_the_same_parquet_to_s3(
    api: httpx.Client, file_server: RunningServer, s3_server: S3Server, pg_schema: str
) -> None:
    make_source_table(pg_schema)
    pg = postgres_link(api, file_server)
    obs = create_link(api, file_server, "obs-connector", s3_server.link_inputs())
    bucket = s3_server.create_bucket()
    table = {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"}
    read: dict[str, pa.Table] = {}
    for directory, from_job, duckdb in (
        ("duck", table, True),
        ("arrow", {**table, "fromJobConfig.whereClause": "true"}, False),
    ):
        before = file_server.log().count(SCANNED)
        submission = succeeded(
            run(
                api,
                file_server,
                ("generic-jdbc-connector", pg, from_job),
                (
                    "obs-connector",
                    obs,
                    {
                        "toJobConfig.bucketName": bucket,
                        "toJobConfig.outputDirectory": f"/{directory}",
                        "toJobConfig.outputFormat": "PARQUET_FILE",
                        "toJobConfig.markerFile": "_SUCCESS",
                    },
                ),
            )
        )
        assert (file_server.log().count(SCANNED) > before) is duckdb
        assert submission["counters"][COUNTERS]["ROWS_WRITTEN"] == 4
        body = s3_server.client().get_object(Bucket=bucket, Key=f"{directory}/part-00000.parquet")["Body"].read()
        read[directory] = pq.read_table(io.BytesIO(body))
    listed = s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(item["Key"] for item in listed if not item["Key"].endswith("/")) == [
        "arrow/_SUCCESS",
        "arrow/part-00000.parquet",
        "duck/_SUCCESS",
        "duck/part-00000.parquet",
    ]
    assert read["duck"].schema.equals(read["arrow"].schema, check_metadata=True)
    assert read["duck"].sort_by("id").equals(read["arrow"].sort_by("id"))


@pytest.mark.parametrize("where", [None, "true"], ids=["duckdb", "arrow"])
def test_an_infinite_timestamp_fails_naming_column_key_and_value(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, pg_schema: str, where: str | None
) -> None:
    """Parquet's timestamps have no infinity: DuckDB would write year 294247 for PostgreSQL's."""
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id bigint PRIMARY KEY, ts timestamp)')
        conn.execute(f"INSERT INTO \"{pg_schema}\".src VALUES (1, '2024-01-01'), (2, 'infinity')")
    table = {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"}
    from_job = table if where is None else {**table, "fromJobConfig.whereClause": where}
    before = file_server.log().count(SCANNED)
    submission = run(
        api,
        file_server,
        ("generic-jdbc-connector", postgres_link(api, file_server), from_job),
        ("nas-connector", nas, {"toJobConfig.outputDirectory": "/inf", "toJobConfig.outputFormat": "PARQUET_FILE"}),
    )
    assert (file_server.log().count(SCANNED) > before) == (where is None)
    summary = failed(submission)
    assert summary.startswith("Data write failed. Cause: ")
    assert summary.endswith("column [ts] of the row with id=2 holds [infinity], which the destination cannot hold.")
    assert files_under(area) == []
