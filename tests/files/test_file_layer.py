"""The file layer without a server: the nas and obs connectors opened directly on real directories
and a real S3-compatible server, for what the end-to-end tests do not reach cheaply."""

from __future__ import annotations

import json
import os
import time
import zipfile
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from opencdm.connectors import get_connector
from opencdm.connectors.base import Partition, Source
from opencdm.errors import CdmError

from conftest import S3Server


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENCDM_FILE_ROOTS", str(tmp_path))
    return tmp_path


def nas_source(root: Path, **inputs: str) -> Source:
    return get_connector("nas-connector").open_source({"linkConfig.rootDirectory": str(root)}, {
        f"fromJobConfig.{name}": value for name, value in inputs.items()})


def read_all(source: Source, partition: Partition | None = None) -> list[dict[str, Any]]:
    return [row for batch in source.read(partition or Partition(0), 1000) for row in batch.to_pylist()]


def test_json_reference_node_reads_the_array_at_a_path(root: Path) -> None:
    (root / "doc.json").write_text(json.dumps({"meta": {"n": 2}, "data": {"items": [
        {"id": 1, "name": "一", "when": "2024-01-31 08:00:00+08:00", "tags": ["a", "b"]},
        {"id": 2, "name": None, "when": None, "tags": []},
    ]}}))
    source = nas_source(root, inputDirectory="/doc.json", inputFormat="JSON_FILE", jsonReferenceNode="data.items")
    schema = source.schema()
    assert schema.field("id").type == pa.int64()
    assert schema.field("when").type == pa.timestamp("us", tz="UTC")
    rows = read_all(source)
    assert [row["id"] for row in rows] == [1, 2]
    assert rows[0]["tags"] == '["a", "b"]'  # nested values become JSON text
    missing = nas_source(root, inputDirectory="/doc.json", inputFormat="JSON_FILE", jsonReferenceNode="data.nope")
    with pytest.raises(CdmError, match=r"/doc.json.*data.nope.*does not exist"):
        missing.schema()


def test_zip_members_and_declared_column_types(root: Path) -> None:
    with zipfile.ZipFile(root / "in.zip", "w") as archive:
        archive.writestr("a.csv", "1|10.25|x\n2|0.10|y\n")
        archive.writestr("b.csv", "3|99999999999999999999.99|z\n")
    source = nas_source(root, inputDirectory="/in.zip", inputFormat="CSV_FILE", fromCompression="ZIP",
                        fieldSeparator="|", columnList="1&2:decimal(22,2)")
    assert source.schema().names == ["col1", "col2"]
    assert source.schema().field("col2").type == pa.decimal128(22, 2)
    assert read_all(source) == [
        {"col1": 1, "col2": Decimal("10.25")}, {"col1": 2, "col2": Decimal("0.10")},
        {"col1": 3, "col2": Decimal("99999999999999999999.99")},
    ]


def test_time_filter_picks_files_by_modification_time(root: Path) -> None:
    for name, age_hours in (("old.csv", 48), ("new.csv", 1)):
        (root / name).write_text(f"name\n{name}\n")
        stamp = time.time() - age_hours * 3600
        os.utime(root / name, (stamp, stamp))
    since = (datetime.now() - timedelta(hours=24)).strftime("%Y-%m-%d %H:%M:%S")
    source = nas_source(root, inputDirectory="/", inputFormat="CSV_FILE", firstRowAsHeader="true",
                        filterType="TIME", startTime=since)
    assert read_all(source) == [{"name": "new.csv"}]


def test_marker_file_gates_the_read(root: Path) -> None:
    (root / "in").mkdir()
    (root / "in" / "a.csv").write_text("x\n1\n")
    inputs = {"inputDirectory": "/in", "inputFormat": "CSV_FILE", "useMarkerFile": "true", "markerFile": "READY"}
    with pytest.raises(CdmError, match="marker file /in/READY does not exist"):
        nas_source(root, **inputs).schema()
    (root / "in" / "READY").write_text("ready")
    assert [row["col1"] for row in read_all(nas_source(root, **inputs))] == ["x", "1"]


def test_parquet_is_split_by_row_groups_when_files_are_fewer_than_extractors(root: Path) -> None:
    table = pa.table({"id": list(range(1000))})
    pq.write_table(table, root / "one.parquet", row_group_size=100)
    source = nas_source(root, inputDirectory="/one.parquet", inputFormat="PARQUET_FILE")
    partitions = source.partitions(4)
    assert len(partitions) == 4
    ids = sorted(row["id"] for partition in partitions for row in read_all(source, partition))
    assert ids == list(range(1000))
    assert source.estimate_rows() == 1000


def test_obs_sink_writes_only_at_commit_and_rollback_leaves_no_key(s3_server: S3Server) -> None:
    bucket = s3_server.create_bucket()
    obs = get_connector("thirdparty-obs-connector")
    link = {**s3_server.link_inputs(), "linkConfig.storageType": "S3"}
    schema = pa.schema([("id", pa.int64())])
    batch = pa.RecordBatch.from_pylist([{"id": i} for i in range(10)], schema=schema)
    to_job = {"toJobConfig.bucketName": bucket, "toJobConfig.outputDirectory": "out",
              "toJobConfig.outputFormat": "JSON_FILE", "toJobConfig.compression": "GZIP"}

    def final_keys() -> list[str]:
        listed = s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
        return sorted(item["Key"] for item in listed if not item["Key"].endswith("/"))

    sink = obs.open_sink(link, to_job)
    sink.prepare(schema)
    list(sink.write(iter([batch])))
    sink.rollback()
    sink.close()
    assert final_keys() == []
    sink = obs.open_sink(link, to_job)
    sink.prepare(schema)
    list(sink.write(iter([batch])))
    assert "out/part-00000.json.gz" not in final_keys()
    sink.commit()
    sink.close()
    assert final_keys() == ["out/part-00000.json.gz"]
    with pytest.raises(CdmError, match="storageType"):
        obs.check_link_inputs({**link, "linkConfig.storageType": "OBS"})


@pytest.mark.parametrize("file_format", ["CSV_FILE", "JSON_FILE"])
def test_gbk_output_reads_back(root: Path, file_format: str) -> None:
    nas = get_connector("nas-connector")
    link = {"linkConfig.rootDirectory": str(root)}
    schema = pa.schema([("id", pa.int64()), ("城市", pa.string())])
    batch = pa.RecordBatch.from_pylist([{"id": 1, "城市": "北京\t上海"}, {"id": 2, "城市": None}], schema=schema)
    options = {"encodeType": "GBK", "firstRowAsHeader": "true", "fieldSeparator": "\\t", "lineSeparator": "\\r\\n"}
    sink = nas.open_sink(link, {"toJobConfig.outputDirectory": "/out", "toJobConfig.outputFormat": file_format,
                                **{f"toJobConfig.{k}": v for k, v in options.items()}})
    sink.prepare(schema)
    list(sink.write(iter([batch])))
    sink.commit()
    sink.close()
    written = next((root / "out").iterdir()).read_bytes()
    assert "北京".encode("gbk") in written
    if file_format == "CSV_FILE":
        assert written.decode("gbk") == 'id\t城市\r\n1\t"北京\t上海"\r\n2\t\r\n'
    source = nas_source(root, inputDirectory="/out", inputFormat=file_format, **options)
    assert read_all(source) == batch.to_pylist()


def test_an_entire_database_job_writes_each_table_in_a_directory_named_safely() -> None:
    from opencdm.connectors.files.config import sink_table_job, table_directory

    assert table_directory("orders") == "orders"
    assert table_directory("订单 2024$x") == "订单 2024$x"  # unicode, spaces and $ are kept
    assert table_directory("a/b\\c%d{e}") == "a%2Fb%5Cc%25d%7Be%7D"
    assert [table_directory(name) for name in (".", "..", ".hidden", "tab\there")] == [
        "%2E", "%2E.", "%2Ehidden", "tab%09here"]
    # %XX of the escape itself: two names never share a directory.
    assert table_directory("a%2Fb") != table_directory("a/b")
    job = {"toJobConfig.outputDirectory": "/export/${yyyyMMdd}/", "toJobConfig.compression": "zstd"}
    assert sink_table_job(job, "a/b") == {"toJobConfig.outputDirectory": "/export/${yyyyMMdd}/a%2Fb",
                                          "toJobConfig.compression": "zstd", "toJobConfig.outputFormat": "PARQUET_FILE"}
    as_csv = sink_table_job({**job, "toJobConfig.outputFormat": "CSV_FILE"}, "t")
    assert as_csv["toJobConfig.outputFormat"] == "CSV_FILE"
