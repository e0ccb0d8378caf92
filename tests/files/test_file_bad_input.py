"""Bad input on the file source side, end to end through the API: malformed CSV lines fail the run
naming the file and line, or with throttlingConfig.maxErrorRecords go to dirty data with their file
and line; a missing bucket, a key the storage refuses and an unreadable file each give a clear
message, and never the secret key."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from files_support import failed, postgres_link, rows, run, succeeded

from conftest import RunningServer, S3Server, config_values, create_link, pg_connect, post_link, start_server

LAST_LINE = 402
# Physical line (header = line 1) -> the text there and why it cannot be read.
BAD_LINES = {
    40: ("39,thirty-nine,extra", "Expected 2 columns, got 3"),
    41: ("40", "Expected 2 columns, got 1"),
    250: ("x247,not a number", "value 'x247' is not a int32"),
    LAST_LINE: ("unterminated", "Expected 2 columns, got 1"),  # without a line break after it
}


def bad_csv(spanning: bool) -> tuple[str, list[tuple[int, str]]]:
    """A header, good lines and the BAD_LINES at their lines; with ``spanning`` the record at line
    100 holds a value over two lines. Also the good rows, as PostgreSQL holds them once copied."""
    lines, good = ["id,label"], []
    physical = 1
    while physical < LAST_LINE:
        physical += 1
        if physical in BAD_LINES:
            lines.append(BAD_LINES[physical][0])
        elif spanning and physical == 100:
            good.append((len(good) + 1, "two\nlines"))
            lines.append(f'{len(good)},"two\nlines"')
            physical += 1
        else:
            good.append((len(good) + 1, "r"))
            lines.append(f"{len(good)},r")
    return "\n".join(lines), good


@pytest.fixture
def api(file_server: RunningServer) -> Iterator[httpx.Client]:
    with file_server.client() as client:
        yield client


def counters(submission: dict[str, Any]) -> dict[str, int]:
    values: dict[str, int] = submission["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]
    return values


def csv_job(api: httpx.Client, server: RunningServer, area: Path, schema: str, **inputs: str) -> tuple[Any, ...]:
    """(source, destination) of a job copying /in/data.csv (id int) into table t."""
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE IF NOT EXISTS "{schema}".t (id int, label text)')
    nas = create_link(api, server, "nas-connector", {"linkConfig.rootDirectory": str(area)})
    source = (
        "nas-connector",
        nas,
        {
            "fromJobConfig.inputDirectory": "/in/data.csv",
            "fromJobConfig.inputFormat": "CSV_FILE",
            "fromJobConfig.firstRowAsHeader": "true",
            "fromJobConfig.columnList": "id:int&label",
            **inputs,
        },
    )
    destination = (
        "generic-jdbc-connector",
        postgres_link(api, server),
        {"toJobConfig.schemaName": schema, "toJobConfig.tableName": "t"},
    )
    return source, destination


def test_a_malformed_line_fails_the_run_naming_file_and_line(
    api: httpx.Client, file_server: RunningServer, area: Path, pg_schema: str
) -> None:
    (area / "in").mkdir()
    text, _ = bad_csv(spanning=True)
    (area / "in" / "data.csv").write_text(text)
    source, destination = csv_job(api, file_server, area, pg_schema)
    summary = failed(run(api, file_server, source, destination))
    assert "/in/data.csv" in summary and "at line 40" in summary and "Expected 2 columns, got 3" in summary
    assert "39,thirty-nine,extra" in summary
    assert rows(pg_schema, "t") == []

    # A value that does not fit is placed at its physical line, after a value spanning two lines.
    (area / "in" / "data.csv").write_text(text.replace("\n39,thirty-nine,extra\n40\n", "\n"))
    summary = failed(run(api, file_server, source, destination))
    assert "/in/data.csv" in summary and "at line 248" in summary and "value 'x247' is not a int32" in summary


@pytest.mark.parametrize("extractors", [1, 3])
def test_malformed_lines_go_to_dirty_data_with_file_and_line(
    api: httpx.Client, file_server: RunningServer, area: Path, pg_schema: str, extractors: int
) -> None:
    (area / "in").mkdir()
    # Without quotes the file can be cut into byte ranges: bad lines are placed in every range.
    text, good = bad_csv(spanning=False)
    (area / "in" / "data.csv").write_text(text)
    source, destination = csv_job(api, file_server, area, pg_schema, **{"fromJobConfig.splitFileSize": "0.001"})
    out = succeeded(
        run(
            api,
            file_server,
            source,
            destination,
            extractors,
            throttling={"throttlingConfig.maxErrorRecords": "10", "throttlingConfig.recordDirtyData": "true"},
        )
    )
    assert rows(pg_schema, "t") == good
    assert counters(out)["ROWS_READ"] == len(good) + len(BAD_LINES)
    assert counters(out)["ROWS_WRITTEN"] == len(good)
    assert counters(out)["ROWS_WRITTEN_SKIPPED"] == len(BAD_LINES)
    assert out["verification"]["passed"] is True
    if extractors > 1:
        assert f"{extractors} partitions on {extractors} processes" in file_server.log()

    directory = file_server.home / "dirty-data" / file_server.project_id / out["job"]
    dirty = [json.loads(line) for path in sorted(directory.glob("*.jsonl")) for line in path.read_text().splitlines()]
    by_line = {record["line"]: record for record in dirty}
    assert sorted(by_line) == sorted(BAD_LINES)
    for number, (line_text, reason) in BAD_LINES.items():
        assert by_line[number]["file"] == "/in/data.csv"
        assert reason in by_line[number]["reason"]
        if "columns" in reason:
            assert by_line[number]["text"] == line_text
        else:
            assert by_line[number]["row"] == {"id": "x247", "label": "not a number"}


def test_more_malformed_lines_than_allowed_fail_the_run_and_write_nothing(
    api: httpx.Client, file_server: RunningServer, area: Path, pg_schema: str
) -> None:
    (area / "in").mkdir()
    (area / "in" / "data.csv").write_text(bad_csv(spanning=True)[0])
    source, destination = csv_job(api, file_server, area, pg_schema)
    out = run(api, file_server, source, destination, throttling={"throttlingConfig.maxErrorRecords": "2"})
    summary = failed(out)
    assert "dirty-data records reached the limit" in summary and "File /in/data.csv, line " in summary
    assert "Cdm.0936" in out["error-details"]
    assert rows(pg_schema, "t") == []


def test_missing_bucket_and_refused_keys_on_an_object_storage_source(
    api: httpx.Client, file_server: RunningServer, s3_server: S3Server, area: Path, pg_schema: str
) -> None:
    bucket = s3_server.create_bucket()
    s3_server.client().put_object(Bucket=bucket, Key="in/data.csv", Body=b"id,label\n1,r\n")
    _, destination = csv_job(api, file_server, area, pg_schema)
    obs = create_link(api, file_server, "obs-connector", s3_server.link_inputs())
    inputs = {
        "fromJobConfig.inputDirectory": "/in",
        "fromJobConfig.inputFormat": "CSV_FILE",
        "fromJobConfig.firstRowAsHeader": "true",
    }
    missing = f"nowhere-{uuid.uuid4().hex[:8]}"
    summary = failed(
        run(api, file_server, ("obs-connector", obs, {"fromJobConfig.bucketName": missing, **inputs}), destination)
    )
    assert f"OBS bucket [{missing}] does not exist" in summary
    succeeded(
        run(api, file_server, ("obs-connector", obs, {"fromJobConfig.bucketName": bucket, **inputs}), destination)
    )
    assert rows(pg_schema, "t") == [(1, "r")]

    # An access key the storage does not know: refused when the link is validated, and failing a run,
    # without the secret key in any answer.
    secret = s3_server.secret_key
    wrong_access = {**s3_server.link_inputs(), "linkConfig.accessKey": "AKIANOSUCHKEY0000000"}
    validated = api.post(
        f"{file_server.cdm}/link?validate=true",
        json={
            "links": [
                {
                    "name": f"v_{uuid.uuid4().hex[:8]}",
                    "connector-name": "obs-connector",
                    "enabled": True,
                    "link-config-values": config_values("linkConfig", wrong_access),
                }
            ]
        },
    )
    # CDM answers a failed validation with HTTP 500 and its result, the link not created.
    assert validated.status_code == 500
    messages = json.dumps(validated.json()["validation-result"])
    assert "Cannot connect to the OBS server: the access key or secret key was refused" in messages
    assert secret not in validated.text
    refused = post_link(api, file_server, "obs-connector", wrong_access)
    assert refused.status_code == 200, refused.text
    out = run(
        api,
        file_server,
        ("obs-connector", refused.json()["name"], {"fromJobConfig.bucketName": bucket, **inputs}),
        destination,
    )
    summary = failed(out)
    assert f"access to bucket [{bucket}] was refused" in summary
    assert "linkConfig.accessKey" in summary
    assert secret not in json.dumps(out)


# Root reads any file whatever its mode (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH): a server run as
# root without those capabilities meets file permissions like any other user.
ROOT_WITHOUT_DAC = (
    "setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-dac_override,-dac_read_search", "--",
)


@pytest.fixture(scope="module")
def permissions_apply(
    tmp_path_factory: pytest.TempPathFactory, file_root: Path, file_server: RunningServer
) -> Iterator[RunningServer]:
    """A file server to which file permissions apply: the shared one, or under root one started
    without root's power to read every file."""
    if os.geteuid() != 0:
        yield file_server
        return
    if shutil.which("setpriv") is None:
        pytest.skip("running as root, and without setpriv a server cannot be denied a file")
    home = tmp_path_factory.mktemp("home-without-dac")
    running = start_server(home, env={"OPENCDM_FILE_ROOTS": str(file_root)}, wrapper=ROOT_WITHOUT_DAC)
    yield running
    running.stop()


def test_an_unreadable_file_fails_the_run_naming_it(
    permissions_apply: RunningServer, area: Path, pg_schema: str
) -> None:
    (area / "in").mkdir()
    (area / "in" / "data.csv").write_text("id,label\n1,r\n")
    (area / "in" / "data.csv").chmod(0)
    try:
        with permissions_apply.client() as api:
            source, destination = csv_job(api, permissions_apply, area, pg_schema)
            summary = failed(run(api, permissions_apply, source, destination))
    finally:
        (area / "in" / "data.csv").chmod(0o644)
    assert "/in/data.csv" in summary
    assert "ermission denied" in summary
