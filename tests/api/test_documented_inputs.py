"""Every input name CDM documents for a connector OpenCDM implements is accepted by CreateLink and
CreateJob (docs/inputs.md): honoured where it means something here, ignored with a note in each
run's log where it means nothing, refused by name only where ignoring it would betray what the user
asked for, and accepted silently with a value that asks for nothing. Names CDM does not document
stay refused with the closest known one.

The tables below are written from the reference documents (docs/cdm-api.md §7.3, §7.4, §7.7 and
CDM's pages on NAS links, OBS jobs, relational databases and job parameters), not from the code:
each row is a documented name, a plausible value, and what becomes of it.
"""

from __future__ import annotations

import copy
import csv
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from opencdm.connectors import get_connector
from opencdm.connectors.inputs import Treatment
from opencdm.engine.driver import DRIVER_UNUSED

from conftest import RunningServer, config_values, mysql_link, pg_connect, pg_link, sqlite_link
from helpers import assert_cdm_error

HONOURED, IGNORED, REFUSED = "honoured", "ignored", "refused"


@dataclass(frozen=True)
class Documented:
    name: str
    value: str  # plausible, and accepted
    treatment: str = HONOURED
    # IGNORED: a value that asks for something, noted in the run log; REFUSED: one refused by name.
    asks: str | None = None


def ignored(name: str, asks: str, neutral: str | None = None) -> Documented:
    return Documented(name, asks if neutral is None else neutral, IGNORED, asks)


def refused(name: str, neutral: str, asks: str) -> Documented:
    return Documented(name, neutral, REFUSED, asks)


def honoured(group: str, **values: str) -> list[Documented]:
    return [Documented(f"{group}.{name}", value) for name, value in values.items()]


# generic-jdbc-connector (cdm-api.md §7.3; connectors-more §10).
JDBC_LINK = [
    *honoured("linkConfig", databaseType="POSTGRESQL", host="127.0.0.1", port="5432", database="demo",
              username="postgres", password="secret", fetchSize="100000"),
    # Honoured by PostgreSQL links (docs/tls.md); MySQL and SQLite links refuse true.
    *honoured("linkConfig", useSSL="true"),
    ignored("linkConfig.usingNative", "true", neutral="false"),
    ignored("linkConfig.jdbcProperties", '{"connectTimeout": "10"}'),
    ignored("dialect.identifierEnclose", '"'),
    ignored("linkConfig.databaseconfig", "SID"),
    ignored("linkConfig.sidname", "orcl"),
    ignored("linkConfig.version", "HIGH_VERSION"),
    ignored("linkConfig.importMode", "COPY"),
    ignored("linkConfig.commitSize", "10000"),
    ignored("linkConfig.isRds", "true", neutral="false"),
]
JDBC_FROM = [
    *honoured("fromJobConfig", useSql="false", sql="SELECT id, name FROM t", schemaName="main", tableName="t",
              whereClause="id >= 0", columnList="id&name", partitionColumn="id", incrMigration="false"),
    refused("fromJobConfig.usePartition", "false", "true"),
    refused("fromJobConfig.partitionList", "", "P1&P2"),
    ignored("fromJobConfig.createOutTable", "true", neutral="false"),
]
JDBC_TO = [
    *honoured("toJobConfig", schemaName="main", tableName="t_copy", tablePreparation="CREATE_WHEN_NOT_EXIST",
              columnList="id&name", beforeImportType="none", whereClause="id > 100", shouldClearTable="true",
              useStageTable="true", extendCharLength="true", useNullable="true"),
    ignored("toJobConfig.orientation", "COLUMN", neutral="ROW"),
    ignored("toJobConfig.isCompress", "true", neutral="false"),
]
# obs-connector (cdm-api.md §7.4; connectors-more §4) and nas-connector (connectors-more §2: its jobs
# take the inputs of §1.2 and §1.3, which §4 extends for object storage).
OBS_LINK = honoured("linkConfig", storageType="OBS", server="obs.example.com", port="443", accessKey="AK",
                    securityKey="SK")
NAS_LINK = [
    ignored("linkConfig.protocol", "CIFS"),
    ignored("linkConfig.username", "cdm"),
    ignored("linkConfig.password", "secret"),
    # linkConfig.server, the share as mounted on the server: test_a_nas_link_in_cdms_own_terms.
]
FILE_FROM = [
    *honoured("fromJobConfig", inputDirectory="/in", inputFormat="CSV_FILE", lineSeparator="\n", columnList="1&2",
              fieldSeparator=",", quoteChar="true", firstRowAsHeader="false", fromCompression="NONE",
              jsonReferenceNode="data", encodeType="UTF_8", useMarkerFile="false", markerFile="ok.txt",
              filterType="NONE", pathFilter="*input", fileFilter="*.csv", startTime="2024-01-01 00:00:00",
              endTime="2030-01-01 00:00:00", fileSeparator="|", useTimeFilter="false", useWildCard="false"),
    refused("fromJobConfig.regexSeparator", "false", "true"),
    ignored("fromJobConfig.regex", "[,;]"),
    ignored("fromJobConfig.splitType", "FILE", neutral="SIZE"),
    refused("fromJobConfig.fromFileOpType", "DO_NOTHING", "DELETE"),
    ignored("fromJobConfig.waitTime", "60", neutral="0"),
    refused("fromJobConfig.decryption", "NONE", "AES-256-GCM"),
    refused("fromJobConfig.dek", "", "0" * 64),
    refused("fromJobConfig.iv", "", "0" * 32),
    refused("fromJobConfig.md5FileSuffix", "", ".md5"),
    refused("fromJobConfig.listTextFile", "false", "true"),
    ignored("fromJobConfig.nonexistentPathDisregard", "true", neutral="false"),
]
FILE_TO = [
    *honoured("toJobConfig", outputDirectory="/out", outputFormat="CSV_FILE", fieldSeparator=",",
              lineSeparator="\n", writeFileSize="64", duplicateFileOpType="REPLACE", writeToTempFile="true",
              validateMD5="false", recordMD5Result="false", encodeType="UTF_8", markerFile="ok.txt",
              quoteChar="true", firstRowAsHeader="true", filePrefix="orders"),
    refused("toJobConfig.columnList", "", "id&name"),
    refused("toJobConfig.encryption", "NONE", "KMS"),
    refused("toJobConfig.dek", "", "0" * 64),
    refused("toJobConfig.iv", "", "0" * 32),
    refused("toJobConfig.kmsID", "", "kms-key-1"),
    ignored("toJobConfig.projectID", "project-1"),
    refused("toJobConfig.recordMD5Link", "", "obs_link"),
    refused("toJobConfig.recordMD5Bucket", "", "md5-bucket"),
    refused("toJobConfig.recordMD5Directory", "", "/md5"),
    ignored("toJobConfig.copyContentType", "true", neutral="false"),
    refused("toJobConfig.shouldClearTable", "false", "true"),
    ignored("toJobConfig.useCustomDirectory", "true", neutral="false"),
]
BUCKET_FROM = honoured("fromJobConfig", bucketName="lake")
BUCKET_TO = honoured("toJobConfig", bucketName="lake")
# driver-config-values (cdm-api.md §7.7; connectors-more §11).
DRIVER = [
    *honoured("throttlingConfig", numExtractors="1", recordDirtyData="false", writeToLink="obs_link",
              obsBucket="dirty", dirtyDataDirectory="/dirty", maxErrorRecords="10"),
    *honoured("groupJobConfig", groupName="DEFAULT"),
    *honoured("schedulerConfig", isSchedulerJob="false", cycleType="day", cycle="1", runAt="08",
              startDate="2018-01-24 19:56:19", stopDate="2030-01-24 19:56:19", disposableType="NONE"),
    *honoured("retryJobConfig", retryJobType="NONE"),
    ignored("throttlingConfig.numLoaders", "2", neutral="1"),
    ignored("throttlingConfig.submitToCluster", "true", neutral="false"),
]
# connector -> (link, source, destination) as documented.
DOCUMENTED = {
    "generic-jdbc-connector": (JDBC_LINK, JDBC_FROM, JDBC_TO),
    "obs-connector": (OBS_LINK, [*BUCKET_FROM, *FILE_FROM], [*BUCKET_TO, *FILE_TO]),
    "nas-connector": (NAS_LINK, FILE_FROM, FILE_TO),
}
GROUPS = ("linkConfig", "fromJobConfig", "toJobConfig")


def walk() -> Iterator[Any]:
    for connector, tables in DOCUMENTED.items():
        for group, table in zip(GROUPS, tables, strict=True):
            for documented in table:
                yield pytest.param(connector, group, documented, id=f"{connector}:{documented.name}")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


# --- the ends every walked input is added to ----------------------------------------------------


class Bodies:
    """CreateLink and CreateJob bodies on ``file_server``, whose links may use ``area``."""

    def __init__(self, api: httpx.Client, server: RunningServer, area: Path) -> None:
        self.api, self.server, self.area = api, server, area
        self.database = area / "db.sqlite"
        with sqlite3.connect(self.database) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name VARCHAR(20))")
            conn.executemany("INSERT OR REPLACE INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(5)])
        (area / "in").mkdir(exist_ok=True)
        (area / "in" / "a.csv").write_text("1,one\n2,two\n")

    def base_link(self, connector: str) -> dict[str, str]:
        return {
            "generic-jdbc-connector": sqlite_link(str(self.database)),
            "obs-connector": {"linkConfig.server": "127.0.0.1", "linkConfig.accessKey": "ak",
                              "linkConfig.securityKey": "sk"},
            "nas-connector": {"linkConfig.rootDirectory": str(self.area)},
        }[connector]

    def link_body(self, connector: str, inputs: dict[str, str], name: str | None = None) -> dict[str, Any]:
        return {"links": [{"name": name or unique("l"), "connector-name": connector, "enabled": True,
                           "link-config-values": config_values("linkConfig", inputs)}]}

    def link(self, connector: str, extra: dict[str, str] | None = None) -> str:
        body = self.link_body(connector, {**self.base_link(connector), **(extra or {})})
        response = self.api.post(f"{self.server.cdm}/link", json=body)
        assert response.status_code == 200, response.text
        return str(body["links"][0]["name"])

    @staticmethod
    def base_from(connector: str) -> dict[str, str]:
        if connector == "generic-jdbc-connector":
            return {"fromJobConfig.useSql": "false", "fromJobConfig.tableName": "t"}
        bucket = {"fromJobConfig.bucketName": "lake"} if connector == "obs-connector" else {}
        return {**bucket, "fromJobConfig.inputDirectory": "/in", "fromJobConfig.inputFormat": "CSV_FILE"}

    @staticmethod
    def base_to(connector: str) -> dict[str, str]:
        if connector == "generic-jdbc-connector":
            return {"toJobConfig.tableName": unique("t_copy"), "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}
        bucket = {"toJobConfig.bucketName": "lake"} if connector == "obs-connector" else {}
        return {**bucket, "toJobConfig.outputDirectory": f"/out/{unique('o')}", "toJobConfig.outputFormat": "CSV_FILE"}

    def job_body(
        self, name: str, ends: tuple[tuple[str, str], tuple[str, str]], from_job: dict[str, str],
        to_job: dict[str, str], driver: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        (from_connector, from_link), (to_connector, to_link) = ends
        return {"jobs": [{
            "name": name, "job_type": "NORMAL_JOB",
            "from-connector-name": from_connector, "from-link-name": from_link,
            "to-connector-name": to_connector, "to-link-name": to_link,
            "from-config-values": config_values("fromJobConfig", from_job),
            "to-config-values": config_values("toJobConfig", to_job),
            "driver-config-values": {"configs": [{"name": group, "inputs": [
                {"name": key, "value": value} for key, value in (driver or {}).items()
                if key.startswith(f"{group}.")]} for group in
                ("throttlingConfig", "groupJobConfig", "schedulerConfig", "retryJobConfig")]},
        }]}

    def post_job(self, body: dict[str, Any]) -> httpx.Response:
        return self.api.post(f"{self.server.cdm}/job", json=body)

    def run(self, job: str) -> tuple[dict[str, Any], list[str]]:
        """Start ``job``, wait for its run to end: its last status and its run log's messages."""
        started = self.api.put(f"{self.server.cdm}/job/{job}/start")
        assert started.status_code == 200, started.text
        submission_id = started.json()["submissions"][0]["submission-id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = self.api.get(f"{self.server.cdm}/job/{job}/status").json()["submissions"][0]
            if status["status"] not in ("BOOTING", "RUNNING"):
                break
            time.sleep(0.2)
        log = self.api.get(f"{self.server.cdm}/submissions/{submission_id}/log")
        assert log.status_code == 200, log.text
        return status, [str(line["message"]) for line in log.json()["lines"]]


@pytest.fixture
def bodies(file_server: RunningServer, area: Path) -> Iterator[Bodies]:
    with file_server.client() as api:
        yield Bodies(api, file_server, area)


def other_end(connector: str) -> str:
    """The connector at a job's other end: a database for files, files for a database."""
    return "nas-connector" if connector == "generic-jdbc-connector" else "generic-jdbc-connector"


def refusal(response: httpx.Response) -> str:
    return assert_cdm_error(response, "Cdm.0014")


def documented_job(
    bodies: Bodies, connector: str, group: str, inputs: dict[str, str]
) -> dict[str, Any]:
    """A job with ``connector`` at the end of ``group``, that end's base inputs and ``inputs``."""
    other = other_end(connector)
    if group == "fromJobConfig":
        ends = ((connector, bodies.link(connector)), (other, bodies.link(other)))
        return bodies.job_body(unique("j"), ends, {**bodies.base_from(connector), **inputs}, bodies.base_to(other))
    ends = ((other, bodies.link(other)), (connector, bodies.link(connector)))
    return bodies.job_body(unique("j"), ends, bodies.base_from(other), {**bodies.base_to(connector), **inputs})


# --- the walk ----------------------------------------------------------------------------------


def post_documented(bodies: Bodies, connector: str, group: str, inputs: dict[str, str]) -> httpx.Response:
    """CreateLink or CreateJob with ``inputs`` added to the base inputs of ``connector`` in ``group``."""
    if group != "linkConfig":
        return bodies.post_job(documented_job(bodies, connector, group, inputs))
    # A PostgreSQL link (the documented databaseType), not connected to: CreateLink only checks it.
    base = pg_link() if connector == "generic-jdbc-connector" else bodies.base_link(connector)
    return bodies.api.post(f"{bodies.server.cdm}/link", json=bodies.link_body(connector, {**base, **inputs}))


@pytest.mark.parametrize(("connector", "group", "documented"), list(walk()))
def test_every_documented_input_is_accepted(bodies: Bodies, connector: str, group: str, documented: Documented) -> None:
    response = post_documented(bodies, connector, group, {documented.name: documented.value})
    assert response.status_code == 200, response.text
    if documented.asks is None or documented.asks == documented.value:
        return
    response = post_documented(bodies, connector, group, {documented.name: documented.asks})
    if documented.treatment == IGNORED:
        # The value that asks for something (noted in the run log, below) is accepted too.
        assert response.status_code == 200, response.text
    else:
        # One that asks for what this deployment cannot do is refused, naming the input.
        message = refusal(response)
        assert message.startswith(documented.name) and "is not supported: " in message, message


@pytest.mark.parametrize("documented", DRIVER, ids=lambda documented: documented.name)
def test_every_documented_driver_input_is_accepted(bodies: Bodies, documented: Documented) -> None:
    link = bodies.link("generic-jdbc-connector")
    ends = (("generic-jdbc-connector", link), ("generic-jdbc-connector", link))
    for value in {documented.value, documented.asks or documented.value}:
        body = bodies.job_body(unique("j"), ends, bodies.base_from("generic-jdbc-connector"),
                               bodies.base_to("generic-jdbc-connector"), {documented.name: value})
        response = bodies.post_job(body)
        assert response.status_code == 200, response.text


def test_the_tables_here_and_in_the_code_agree() -> None:
    """What the code ignores or refuses is exactly what this test's tables (from the documents) say;
    it honours the others."""
    for connector, tables in DOCUMENTED.items():
        documented = {row.name: row for table in tables for row in table}
        unused = {entry.name: entry.treatment for entry in get_connector(connector).unused_inputs}
        for name, row in documented.items():
            expected = {IGNORED: Treatment.IGNORED, REFUSED: Treatment.REFUSED}.get(row.treatment)
            assert unused.get(name) == expected, (connector, name)
        assert set(unused) <= set(documented), connector
    assert {entry.name for entry in DRIVER_UNUSED} == {row.name for row in DRIVER if row.treatment == IGNORED}


# --- names CDM does not document, and values that betray ------------------------------------------


def test_an_undocumented_name_is_still_refused_with_the_closest_one(bodies: Bodies) -> None:
    body = documented_job(bodies, "generic-jdbc-connector", "fromJobConfig", {"fromJobConfig.createOutTabel": "false"})
    assert refusal(bodies.post_job(body)) == (
        "Unknown input fromJobConfig.createOutTabel for the generic-jdbc-connector "
        "(did you mean fromJobConfig.createOutTable?)"
    )
    body = documented_job(bodies, "obs-connector", "toJobConfig", {"toJobConfig.kmsId": "k"})
    assert refusal(bodies.post_job(body)) == (
        "Unknown input toJobConfig.kmsId for the obs-connector (did you mean toJobConfig.kmsID?)"
    )
    # Documented for another connector only (hive-connector's table), so unknown here.
    body = documented_job(bodies, "generic-jdbc-connector", "toJobConfig", {"toJobConfig.table": "x"})
    assert refusal(bodies.post_job(body)).startswith("Unknown input toJobConfig.table for the generic-jdbc-connector")


def test_inputs_asking_for_encryption_are_refused_by_name_and_nothing_is_saved(bodies: Bodies) -> None:
    name = unique("j")
    body = documented_job(bodies, "obs-connector", "toJobConfig", {"toJobConfig.encryption": "KMS",
                                                                   "toJobConfig.kmsID": "key-1"})
    body["jobs"][0]["name"] = name
    message = refusal(bodies.post_job(body))
    assert message == (
        "toJobConfig.encryption=KMS is not supported: files are written unencrypted: encrypting them (KMS, "
        "AES-256-GCM) is not implemented; use the storage's own encryption at rest."
    )
    assert bodies.api.get(f"{bodies.server.cdm}/job/{name}").json()["errCode"] == "Cdm.0100"
    # A key is refused by name, never echoed.
    key = "ab" * 32
    body = documented_job(bodies, "nas-connector", "fromJobConfig", {"fromJobConfig.dek": key})
    message = refusal(bodies.post_job(body))
    assert message.startswith("fromJobConfig.dek is not supported: ") and key not in message
    # JDBC properties that ask for TLS are refused where TLS cannot be had (MySQL links, as yet) and
    # honoured by PostgreSQL links; others are ignored (noted in the run log).
    link = bodies.link_body("generic-jdbc-connector", {
        **mysql_link("test"), "linkConfig.jdbcProperties": '{"connectTimeout": "10", "sslmode": "require"}'})
    assert refusal(bodies.api.post(f"{bodies.server.cdm}/link", json=link)).startswith(
        "linkConfig.jdbcProperties sslmode is not supported: OpenCDM connects to databases without TLS.")
    link = bodies.link_body("generic-jdbc-connector", {
        **pg_link(), "linkConfig.jdbcProperties": '{"connectTimeout": "10", "sslmode": "require"}'})
    assert bodies.api.post(f"{bodies.server.cdm}/link", json=link).status_code == 200
    link = bodies.link_body("generic-jdbc-connector", {
        **pg_link(), "linkConfig.jdbcProperties": "connectTimeout=10;useSSL=false"})
    assert bodies.api.post(f"{bodies.server.cdm}/link", json=link).status_code == 200


def test_record_md5_result_asks_for_the_md5_check(bodies: Bodies) -> None:
    link = bodies.link("nas-connector")
    ends = (("nas-connector", link), ("nas-connector", link))
    binary_from = {**bodies.base_from("nas-connector"), "fromJobConfig.inputFormat": "BINARY_FILE"}
    to_job = {**bodies.base_to("nas-connector"), "toJobConfig.outputFormat": "BINARY_FILE",
              "toJobConfig.recordMD5Result": "true"}
    assert refusal(bodies.post_job(bodies.job_body(unique("j"), ends, binary_from, to_job))) == (
        "The parameter is invalid: toJobConfig.recordMD5Result [true] records the check of "
        "toJobConfig.validateMD5: set it too."
    )
    to_job["toJobConfig.validateMD5"] = "true"
    assert bodies.post_job(bodies.job_body(unique("j"), ends, binary_from, to_job)).status_code == 200


# --- runs: what is ignored is said once; what asks for nothing, not at all -----------------------


def ignored_rows(*tables: list[Documented]) -> dict[str, str]:
    return {row.name: row.asks or "" for table in tables for row in table if row.treatment == IGNORED}


def notes(messages: list[str]) -> list[str]:
    """The inputs the run log says were ignored, once per line that says so."""
    return [message.split(": ", 1)[1].split(" is ignored: ")[0] for message in messages if " is ignored: " in message]


def test_a_run_says_once_which_jdbc_and_driver_inputs_it_ignored(bodies: Bodies) -> None:
    link_inputs = ignored_rows(JDBC_LINK)
    link = bodies.link("generic-jdbc-connector", link_inputs)
    job = unique("j")
    to_job = {**bodies.base_to("generic-jdbc-connector"), **ignored_rows(JDBC_TO)}
    from_job = {**bodies.base_from("generic-jdbc-connector"), **ignored_rows(JDBC_FROM)}
    body = bodies.job_body(job, (("generic-jdbc-connector", link), ("generic-jdbc-connector", link)),
                           from_job, to_job, ignored_rows(DRIVER))
    assert bodies.post_job(body).status_code == 200
    status, messages = bodies.run(job)
    assert status["status"] == "SUCCEEDED", status
    said = notes(messages)
    # Both ends on one link: its inputs are said once.
    assert sorted(said) == sorted(ignored_rows(JDBC_LINK, JDBC_FROM, JDBC_TO, DRIVER)), messages
    line = next(message for message in messages if "toJobConfig.orientation is ignored" in message)
    assert "row or column storage" in line
    assert not any("secret" in message for message in messages)


def test_a_run_says_once_which_file_inputs_it_ignored(bodies: Bodies) -> None:
    link = bodies.link("nas-connector", ignored_rows(NAS_LINK))
    job = unique("j")
    from_job = {**bodies.base_from("nas-connector"), **ignored_rows(FILE_FROM)}
    to_job = {**bodies.base_to("nas-connector"), **ignored_rows(FILE_TO)}
    body = bodies.job_body(job, (("nas-connector", link), ("nas-connector", link)), from_job, to_job)
    assert bodies.post_job(body).status_code == 200
    status, messages = bodies.run(job)
    assert status["status"] == "SUCCEEDED", status
    assert sorted(notes(messages)) == sorted(ignored_rows(NAS_LINK, FILE_FROM, FILE_TO)), messages
    # The link's password is ignored, and never shown.
    assert not any("secret" in message for message in messages)
    shown = bodies.api.get(f"{bodies.server.cdm}/link/{link}").json()["links"][0]
    assert "secret" not in str(shown)


def test_neutral_values_are_accepted_without_a_word(bodies: Bodies) -> None:
    neutral = {row.name: row.value for table in (JDBC_LINK,) for row in table
               if row.treatment != HONOURED and row.value != row.asks}
    link = bodies.link("generic-jdbc-connector", neutral)
    job = unique("j")
    from_job = {**bodies.base_from("generic-jdbc-connector"), "fromJobConfig.createOutTable": "false",
                "fromJobConfig.usePartition": "false", "fromJobConfig.incrMigration": "false"}
    to_job = {**bodies.base_to("generic-jdbc-connector"), "toJobConfig.orientation": "ROW",
              "toJobConfig.isCompress": "false"}
    driver = {"throttlingConfig.numLoaders": "1", "throttlingConfig.submitToCluster": "false"}
    body = bodies.job_body(job, (("generic-jdbc-connector", link), ("generic-jdbc-connector", link)),
                           from_job, to_job, driver)
    assert bodies.post_job(body).status_code == 200
    status, messages = bodies.run(job)
    assert status["status"] == "SUCCEEDED", status
    assert notes(messages) == [], messages


def test_a_nas_link_in_cdms_own_terms(bodies: Bodies) -> None:
    """CDM's nas link names a share and its login: here the share is a directory the operator
    mounted on the server (linkConfig.server, its mount point); a network share is refused."""
    cdm_inputs = {"linkConfig.protocol": "NFS", "linkConfig.server": str(bodies.area),
                  "linkConfig.username": "cdm", "linkConfig.password": "secret"}
    validated = bodies.api.post(f"{bodies.server.cdm}/link", params={"validate": "true"},
                                json=bodies.link_body("nas-connector", cdm_inputs))
    assert validated.status_code == 200, validated.text
    link = unique("nas")
    created = bodies.api.post(f"{bodies.server.cdm}/link", json=bodies.link_body("nas-connector", cdm_inputs, link))
    assert created.status_code == 200, created.text
    job = unique("j")
    out = f"/out/{job}"
    body = bodies.job_body(job, (("nas-connector", link), ("nas-connector", link)),
                           bodies.base_from("nas-connector"),
                           {"toJobConfig.outputDirectory": out, "toJobConfig.outputFormat": "CSV_FILE",
                            "toJobConfig.filePrefix": "orders"})
    assert bodies.post_job(body).status_code == 200
    status, _ = bodies.run(job)
    assert status["status"] == "SUCCEEDED", status
    # CDM's filePrefix names the files written.
    written = list((bodies.area / out.lstrip("/")).glob("orders-*.csv"))
    assert [list(csv.reader(path.read_text().splitlines())) for path in written] == [[["1", "one"], ["2", "two"]]]

    share = {**cdm_inputs, "linkConfig.server": "\\\\10.121.16.20\\data"}
    assert refusal(bodies.api.post(f"{bodies.server.cdm}/link", json=bodies.link_body("nas-connector", share))) == (
        "linkConfig.server [\\\\10.121.16.20\\data] is a network share, which OpenCDM does not mount: mount it on "
        "the server and give its mount point as linkConfig.rootDirectory (inside OPENCDM_FILE_ROOTS)."
    )


# --- CDM's own CreateJob sample runs --------------------------------------------------------------

# docs/cdm-api.md §6.5 (what the SDK sends), with the sample-only source inputs of §7.3.
SDK_JOB: dict[str, Any] = {"jobs": [{
    "job_type": "NORMAL_JOB",
    "from-connector-name": "generic-jdbc-connector",
    "to-config-values": {"configs": [{"inputs": [
        {"name": "toJobConfig.schemaName", "value": "public"},
        {"name": "toJobConfig.tableName", "value": "table_b"},
        {"name": "toJobConfig.tablePreparation", "value": "CREATE_WHEN_NOT_EXIST"},
        {"name": "toJobConfig.shouldClearTable", "value": "true"}], "name": "toJobConfig"}]},
    "to-link-name": "pg_src",
    "driver-config-values": {"configs": [{"inputs": [
        {"name": "throttlingConfig.numExtractors", "value": "1"}], "name": "throttlingConfig"}]},
    "from-config-values": {"configs": [{"inputs": [
        {"name": "fromJobConfig.useSql", "value": "false"},
        {"name": "fromJobConfig.schemaName", "value": "public"},
        {"name": "fromJobConfig.tableName", "value": "table_a"},
        {"name": "fromJobConfig.incrMigration", "value": "false"},
        {"name": "fromJobConfig.createOutTable", "value": "false"}], "name": "fromJobConfig"}]},
    "to-connector-name": "generic-jdbc-connector",
    "name": "copy_a_to_b",
    "from-link-name": "pg_src"}]}


def test_cdms_create_job_sample_is_accepted_and_runs(bodies: Bodies, pg_schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".table_a (id int PRIMARY KEY, name text)')
        conn.execute(f'INSERT INTO "{pg_schema}".table_a VALUES (1, \'one\'), (2, \'two\')')
    link = bodies.link_body("generic-jdbc-connector", pg_link(), unique("pg_src"))
    assert bodies.api.post(f"{bodies.server.cdm}/link", json=link).status_code == 200
    job = copy.deepcopy(SDK_JOB)
    entity = job["jobs"][0]
    entity |= {"name": unique("copy_a_to_b"), "from-link-name": link["links"][0]["name"],
               "to-link-name": link["links"][0]["name"]}
    for side in ("from", "to"):
        for item in entity[f"{side}-config-values"]["configs"][0]["inputs"]:
            if item["name"].endswith(".schemaName"):
                item["value"] = pg_schema
    created = bodies.post_job(job)
    assert created.status_code == 200, created.text
    for _ in range(2):  # shouldClearTable: the second run replaces the rows of the first
        status, messages = bodies.run(entity["name"])
        assert status["status"] == "SUCCEEDED", (status, messages)
        assert notes(messages) == [], messages
    with pg_connect() as conn:
        rows = conn.execute(f'SELECT id, name FROM "{pg_schema}".table_b ORDER BY id').fetchall()
    assert rows == [(1, "one"), (2, "two")]
