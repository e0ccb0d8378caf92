"""BINARY_FILE end to end through the HTTP API: files copied byte for byte from a local directory
to object storage (moto, checking signatures) and back, nested directories and a file larger than
a chunk included; validateMD5 recording each copy's MD5; duplicate files replaced, skipped or
abandoning the run; and the jobs CreateJob refuses."""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from files_support import create_job, failed, postgres_link, run, succeeded

from opencdm.connectors.files.binary import CHUNK_BYTES

from conftest import RunningServer, S3Server, create_link


@pytest.fixture
def api(file_server: RunningServer) -> Iterator[httpx.Client]:
    with file_server.client() as client:
        yield client


def files_under(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()
    }


def make_inputs(directory: Path) -> dict[str, bytes]:
    """Nested files of every kind; what a copy of the directory must hold."""
    contents = {
        "a.txt": "plain text, ünïcode\r\n".encode(),
        # Larger than a chunk, and not a multiple of it.
        "sub/deep/large.bin": os.urandom(2 * CHUNK_BYTES + 12345),
        # Compressed files are copied compressed.
        "sub/data.csv.gz": gzip.compress(b"id,name\n1,x\n"),
    }
    for name, data in contents.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
    # Listings leave out hidden names, as for every file job.
    (directory / ".hidden").write_bytes(b"not copied")
    return contents


def binary(side: str, **inputs: str) -> dict[str, str]:
    key = "inputFormat" if side == "fromJobConfig" else "outputFormat"
    return {f"{side}.{key}": "BINARY_FILE", **{f"{side}.{name}": value for name, value in inputs.items()}}


def md5_record(data: bytes, name: str) -> bytes:
    return f"{hashlib.md5(data).hexdigest()}  {name}\n".encode()


def test_files_go_to_object_storage_and_back_byte_for_byte(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path, s3_server: S3Server
) -> None:
    contents = make_inputs(area / "in")
    obs = create_link(api, file_server, "obs-connector", s3_server.link_inputs())
    bucket = s3_server.create_bucket()

    up = succeeded(
        run(
            api,
            file_server,
            ("nas-connector", nas, binary("fromJobConfig", inputDirectory="/in")),
            (
                "obs-connector",
                obs,
                binary("toJobConfig", bucketName=bucket, outputDirectory="/copy", validateMD5="true"),
            ),
        )
    )
    # A file is a row; the bytes are the files' bytes.
    assert up["write_rows"] == 3
    total = sum(len(data) for data in contents.values())
    counters = up["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]
    assert counters["ROWS_READ"] == counters["ROWS_WRITTEN"] == 3
    assert counters["BYTES_READ"] == counters["BYTES_WRITTEN"] == total

    client = s3_server.client()
    listed = client.list_objects_v2(Bucket=bucket)["Contents"]
    stored = {
        item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for item in listed
        if not item["Key"].endswith("/")
    }
    # Each copy and, with validateMD5, its MD5 in md5sum's format beside it; no temporary left.
    expected = {f"copy/{name}": data for name, data in contents.items()}
    expected |= {f"copy/{name}.md5": md5_record(data, name.rsplit("/", 1)[-1]) for name, data in contents.items()}
    assert stored == expected

    down = succeeded(
        run(
            api,
            file_server,
            ("obs-connector", obs, binary("fromJobConfig", bucketName=bucket, inputDirectory="/copy")),
            ("nas-connector", nas, binary("toJobConfig", outputDirectory="/back")),
        )
    )
    assert down["write_rows"] == 6
    assert files_under(area / "back") == {name.removeprefix("copy/"): data for name, data in expected.items()}
    # Copied again with validateMD5: the records copied along are the ones computed for this copy.
    again = succeeded(
        run(
            api,
            file_server,
            ("nas-connector", nas, binary("fromJobConfig", inputDirectory="/back")),
            ("nas-connector", nas, binary("toJobConfig", outputDirectory="/again", validateMD5="true")),
        )
    )
    assert again["write_rows"] == 6
    assert files_under(area / "again") == files_under(area / "back")


def test_filters_pick_the_files_and_a_single_file_keeps_its_name(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path
) -> None:
    contents = make_inputs(area / "in")
    succeeded(
        run(
            api,
            file_server,
            (
                "nas-connector",
                nas,
                binary("fromJobConfig", inputDirectory="/in", filterType="WILDCARD", fileFilter="*.bin,*.txt"),
            ),
            ("nas-connector", nas, binary("toJobConfig", outputDirectory="/picked")),
        )
    )
    assert files_under(area / "picked") == {name: contents[name] for name in ("a.txt", "sub/deep/large.bin")}
    succeeded(
        run(
            api,
            file_server,
            ("nas-connector", nas, binary("fromJobConfig", inputDirectory="/in/sub/data.csv.gz")),
            ("nas-connector", nas, binary("toJobConfig", outputDirectory="/one")),
        )
    )
    assert files_under(area / "one") == {"data.csv.gz": contents["sub/data.csv.gz"]}


def test_duplicate_files_are_replaced_skipped_or_abandon_the_run(
    api: httpx.Client, file_server: RunningServer, nas: str, area: Path
) -> None:
    contents = make_inputs(area / "in")

    def copy(duplicates: str) -> dict[str, object]:
        return run(
            api,
            file_server,
            ("nas-connector", nas, binary("fromJobConfig", inputDirectory="/in")),
            (
                "nas-connector",
                nas,
                binary("toJobConfig", outputDirectory="/out", duplicateFileOpType=duplicates, validateMD5="true"),
            ),
        )

    succeeded(copy("REPLACE"))
    out = area / "out"
    # Same name, another size: not a duplicate, replaced whatever the choice.
    (out / "a.txt").write_bytes(b"changed")
    # Same name and size, other bytes: a duplicate (CDM's rule compares names and sizes).
    (out / "sub/data.csv.gz").write_bytes(b"x" * len(contents["sub/data.csv.gz"]))
    stamps = {name: os.stat(out / name).st_mtime_ns for name in files_under(out)}

    summary = failed(copy("ABANDON"))
    assert "Duplicate file in the destination path: /out/sub/data.csv.gz" in summary
    # Nothing moved, no temporary left behind.
    assert {name: os.stat(out / name).st_mtime_ns for name in files_under(out)} == stamps
    assert (out / "a.txt").read_bytes() == b"changed"

    skipped = succeeded(copy("SKIP"))
    assert skipped["write_rows"] == 3  # a skipped file counts as written: the destination holds it
    now = files_under(out)
    assert now["a.txt"] == contents["a.txt"] and now["a.txt.md5"] == md5_record(contents["a.txt"], "a.txt")
    assert now["sub/data.csv.gz"] == b"x" * len(contents["sub/data.csv.gz"])
    assert os.stat(out / "sub/deep/large.bin").st_mtime_ns == stamps["sub/deep/large.bin"]

    succeeded(copy("REPLACE"))
    assert files_under(out) == contents | {
        f"{name}.md5": md5_record(data, name.rsplit("/", 1)[-1]) for name, data in contents.items()
    }


def test_binary_files_need_a_file_link_on_both_ends(
    api: httpx.Client, file_server: RunningServer, nas: str, pg_schema: str
) -> None:
    pg_name = postgres_link(api, file_server)
    table = ("generic-jdbc-connector", pg_name, {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "t"})
    for source, destination, message in (
        (("nas-connector", nas, binary("fromJobConfig", inputDirectory="/in")), table, "Cdm.0062"),
        (
            (
                "generic-jdbc-connector",
                pg_name,
                {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "t"},
            ),
            ("nas-connector", nas, binary("toJobConfig", outputDirectory="/out")),
            "Cdm.0062",
        ),
        (
            ("nas-connector", nas, binary("fromJobConfig", inputDirectory="/in")),
            ("nas-connector", nas, {"toJobConfig.outputDirectory": "/out", "toJobConfig.outputFormat": "CSV_FILE"}),
            "must both be BINARY_FILE",
        ),
        (
            ("nas-connector", nas, {"fromJobConfig.inputDirectory": "/in", "fromJobConfig.inputFormat": "CSV_FILE"}),
            (
                "nas-connector",
                nas,
                {
                    "toJobConfig.outputDirectory": "/out",
                    "toJobConfig.outputFormat": "CSV_FILE",
                    "toJobConfig.validateMD5": "true",
                },
            ),
            "validateMD5",
        ),
        (
            ("nas-connector", nas, binary("fromJobConfig", inputDirectory="/in")),
            ("nas-connector", nas, binary("toJobConfig", outputDirectory="/out", writeFileSize="1")),
            "writeFileSize",
        ),
    ):
        response = create_job(api, file_server, source, destination)
        assert response.status_code == 400, response.text
        body = response.json()
        assert message == body["errCode"] or message in body["externalMessage"], body
    response = create_job(
        api, file_server, ("nas-connector", nas, binary("fromJobConfig", inputDirectory="/in")), table
    )
    assert "must both be BINARY_FILE, on file links" in response.json()["externalMessage"]
