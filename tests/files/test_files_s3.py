"""Database -> object storage -> database through the HTTP API, against a real S3-compatible
server on loopback (moto, checking request signatures): every format carries every value back,
Parquet keeps the exact types, and a missing bucket or a wrong key fail with a clear message."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from files_support import failed, make_source_table, postgres_link, rows, run, succeeded

from conftest import RunningServer, S3Server, create_link, pg_column_types, pg_connect, post_link


@pytest.fixture
def api(file_server: RunningServer) -> Iterator[httpx.Client]:
    with file_server.client() as client:
        yield client


def keys(s3_server: S3Server, bucket: str) -> list[str]:
    listed = s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    # pyarrow keeps empty "directory" objects ("dir/") for prefixes it emptied; they hold no data.
    return sorted(item["Key"] for item in listed if not item["Key"].endswith("/"))


@pytest.mark.parametrize(("file_format", "extension"), [
    ("CSV_FILE", ".csv"), ("JSON_FILE", ".json"), ("PARQUET_FILE", ".parquet"),
])
def test_postgresql_to_s3_and_back(
    api: httpx.Client, file_server: RunningServer, s3_server: S3Server, pg_schema: str,
    file_format: str, extension: str,
) -> None:
    make_source_table(pg_schema)
    pg_name = postgres_link(api, file_server)
    obs = create_link(api, file_server, "obs-connector", s3_server.link_inputs())
    bucket = s3_server.create_bucket()
    text = {"toJobConfig.firstRowAsHeader": "true"} if file_format == "CSV_FILE" else {}
    out = succeeded(run(
        api, file_server,
        ("generic-jdbc-connector", pg_name, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"}),
        ("obs-connector", obs, {"toJobConfig.bucketName": bucket, "toJobConfig.outputDirectory": "/export/src",
                                "toJobConfig.outputFormat": file_format, **text}),
    ))
    assert out["write_rows"] == 4
    assert keys(s3_server, bucket) == [f"export/src/part-00000{extension}"]

    if file_format == "PARQUET_FILE":
        # The table is created from the Parquet schema: the source's exact column types.
        destination = {"toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}
    else:
        # CSV and JSON carry text: into a table with the source's types, every value comes back.
        with pg_connect() as conn:
            conn.execute(f'CREATE TABLE "{pg_schema}".back (LIKE "{pg_schema}".src)')
        destination = {}
    back = succeeded(run(
        api, file_server,
        ("obs-connector", obs, {"fromJobConfig.bucketName": bucket, "fromJobConfig.inputDirectory": "/export/src",
                                "fromJobConfig.inputFormat": file_format,
                                **{k.replace("toJobConfig", "fromJobConfig"): v for k, v in text.items()}}),
        ("generic-jdbc-connector", pg_name, {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "back",
                                             **destination}),
    ))
    assert back["write_rows"] == 4
    assert rows(pg_schema, "back") == rows(pg_schema, "src")
    if file_format == "PARQUET_FILE":
        assert pg_column_types(pg_schema, "back") == pg_column_types(pg_schema, "src")


def test_parquet_on_s3_has_the_source_types(
    api: httpx.Client, file_server: RunningServer, s3_server: S3Server, pg_schema: str, tmp_path: Path
) -> None:
    make_source_table(pg_schema)
    bucket = s3_server.create_bucket()
    succeeded(run(
        api, file_server,
        ("generic-jdbc-connector", postgres_link(api, file_server),
         {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"}),
        ("obs-connector", create_link(api, file_server, "obs-connector", s3_server.link_inputs()),
         {"toJobConfig.bucketName": bucket, "toJobConfig.outputDirectory": "out", "toJobConfig.outputFormat":
          "PARQUET_FILE", "toJobConfig.compression": "zstd", "toJobConfig.markerFile": "_DONE"}),
    ))
    assert keys(s3_server, bucket) == ["out/_DONE", "out/part-00000.parquet"]
    local = tmp_path / "part.parquet"
    s3_server.client().download_file(bucket, "out/part-00000.parquet", str(local))
    parquet = pq.ParquetFile(local)
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    schema = parquet.schema_arrow
    assert schema.field("c_num").type == pa.decimal128(12, 2)
    assert schema.field("c_num_wide").type == pa.decimal128(38, 10)
    assert schema.field("c_tstz").type == pa.timestamp("us", tz="UTC")
    assert schema.field("c_ts").type == pa.timestamp("us")
    assert schema.field("c_real").type == pa.float32()


def test_missing_bucket_and_wrong_key_fail_naming_them(
    api: httpx.Client, file_server: RunningServer, s3_server: S3Server, pg_schema: str
) -> None:
    make_source_table(pg_schema)
    pg_name = postgres_link(api, file_server)
    source = ("generic-jdbc-connector", pg_name, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName":
                                                  "src"})
    good = create_link(api, file_server, "obs-connector", s3_server.link_inputs())
    missing = f"nowhere-{uuid.uuid4().hex[:8]}"
    summary = failed(run(api, file_server, source, ("obs-connector", good, {
        "toJobConfig.bucketName": missing, "toJobConfig.outputDirectory": "out", "toJobConfig.outputFormat":
        "CSV_FILE"})))
    assert f"OBS bucket [{missing}] does not exist" in summary

    # The secret key is checked when asked for, and never shown back.
    refused = post_link(api, file_server, "obs-connector", s3_server.link_inputs(secret_key="not-the-key"))
    assert refused.status_code == 200
    name = refused.json()["name"]
    shown = api.get(f"{file_server.cdm}/link/{name}").json()["links"][0]
    inputs = shown["link-config-values"]["configs"][0]["inputs"]
    assert all("not-the-key" not in str(item) for item in inputs)
    validated = api.post(f"{file_server.cdm}/link?validate=true", json={"links": [{
        "name": f"v_{uuid.uuid4().hex[:8]}", "connector-name": "obs-connector", "enabled": True,
        "link-config-values": {"configs": [{"name": "linkConfig", "inputs": [
            {"name": k, "value": v} for k, v in s3_server.link_inputs(secret_key="not-the-key").items()]}]}}]})
    assert "refused" in validated.text

    bucket = s3_server.create_bucket()
    summary = failed(run(api, file_server, ("obs-connector", name, {
        "fromJobConfig.bucketName": bucket, "fromJobConfig.inputDirectory": "in", "fromJobConfig.inputFormat":
        "CSV_FILE"}), ("generic-jdbc-connector", pg_name, {"toJobConfig.schemaName": pg_schema,
                                                           "toJobConfig.tableName": "src"})))
    assert f"access to bucket [{bucket}] was refused" in summary
