"""Input names a connector (or the engine) does not know are refused when a link or job is saved,
naming the closest known one; the names CDM's own examples send stay accepted (docs/cdm-api.md;
every documented name: test_documented_inputs.py)."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import httpx

from conftest import RunningServer
from helpers import config_values, job_body, sqlite_link_body


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"errCode", "externalMessage"} and body["errCode"] == "Cdm.0014", body
    return str(body["externalMessage"])


def sqlite_links(api: httpx.Client, server: RunningServer, tmp_path: Path) -> tuple[str, str]:
    names = (unique("a"), unique("b"))
    for name in names:
        response = api.post(f"{server.cdm}/link", json=sqlite_link_body(name, tmp_path / f"{name}.db"))
        assert response.status_code == 200, response.text
    return names


def job_inputs(body: dict[str, Any], side: str) -> list[dict[str, Any]]:
    inputs: list[dict[str, Any]] = body["jobs"][0][f"{side}-config-values"]["configs"][0]["inputs"]
    return inputs


def test_a_misspelled_job_input_is_refused_with_the_closest_name(
    api: httpx.Client, server: RunningServer, tmp_path: Path
) -> None:
    source, destination = sqlite_links(api, server, tmp_path)
    job = unique("j")
    body = job_body(job, source, destination)
    job_inputs(body, "to")[1]["name"] = "toJobConfig.tablePreperation"
    assert refusal(api.post(f"{server.cdm}/job", json=body)) == (
        "Unknown input toJobConfig.tablePreperation for the generic-jdbc-connector "
        "(did you mean toJobConfig.tablePreparation?)"
    )
    assert api.get(f"{server.cdm}/job/{job}").json()["errCode"] == "Cdm.0100"

    # A source input sent among the destination's is not the destination's.
    body = job_body(job, source, destination)
    job_inputs(body, "to").append({"name": "fromJobConfig.whereClause", "value": "id > 1"})
    assert refusal(api.post(f"{server.cdm}/job", json=body)) == (
        "Unknown input fromJobConfig.whereClause for the generic-jdbc-connector "
        "(did you mean toJobConfig.whereClause?)"
    )

    # Nothing close: no guess.
    body = job_body(job, source, destination)
    job_inputs(body, "from").append({"name": "fromJobConfig.zzz", "value": "1"})
    assert refusal(api.post(f"{server.cdm}/job", json=body)) == (
        "Unknown input fromJobConfig.zzz for the generic-jdbc-connector"
    )


def test_update_job_refuses_unknown_driver_and_job_inputs(
    api: httpx.Client, server: RunningServer, tmp_path: Path
) -> None:
    source, destination = sqlite_links(api, server, tmp_path)
    job = unique("j")
    assert api.post(f"{server.cdm}/job", json=job_body(job, source, destination)).status_code == 200

    body = job_body(job, source, destination)
    body["jobs"][0]["driver-config-values"]["configs"][0]["inputs"][0]["name"] = "throttlingConfig.numExtractor"
    assert refusal(api.put(f"{server.cdm}/job/{job}", json=body)) == (
        "Unknown input throttlingConfig.numExtractor for driver-config-values "
        "(did you mean throttlingConfig.numExtractors?)"
    )
    body = job_body(job, source, destination)
    job_inputs(body, "from")[1]["name"] = "fromJobConfig.tablename"
    assert refusal(api.put(f"{server.cdm}/job/{job}", json=body)) == (
        "Unknown input fromJobConfig.tablename for the generic-jdbc-connector "
        "(did you mean fromJobConfig.tableName?)"
    )
    # The job is as it was.
    shown = api.get(f"{server.cdm}/job/{job}").json()["jobs"][0]
    assert {i["name"] for i in shown["from-config-values"]["configs"][0]["inputs"]} == {
        "fromJobConfig.useSql", "fromJobConfig.tableName"}


def test_links_refuse_unknown_inputs_on_create_validate_and_update(
    api: httpx.Client, server: RunningServer, tmp_path: Path
) -> None:
    name = unique("l")
    body = sqlite_link_body(name, tmp_path / "x.db")
    link_inputs = body["links"][0]["link-config-values"]["configs"][0]["inputs"]
    link_inputs.append({"name": "linkConfig.fetchsize", "value": "5"})
    expected = "Unknown input linkConfig.fetchsize for the generic-jdbc-connector (did you mean linkConfig.fetchSize?)"
    assert refusal(api.post(f"{server.cdm}/link", json=body)) == expected
    assert refusal(api.post(f"{server.cdm}/link", params={"validate": "true"}, json=body)) == expected
    assert api.get(f"{server.cdm}/link/{name}").json()["errCode"] == "Cdm.0101"

    assert api.post(f"{server.cdm}/link", json=sqlite_link_body(name, tmp_path / "x.db")).status_code == 200
    assert refusal(api.put(f"{server.cdm}/link/{name}", json=body)) == expected
    shown = api.get(f"{server.cdm}/link/{name}").json()["links"][0]
    assert "linkConfig.fetchsize" not in str(shown)

    # Each connector knows its own inputs: an obs link has no host.
    obs = {"links": [{"name": unique("o"), "connector-name": "obs-connector", "enabled": True,
                      "link-config-values": config_values("linkConfig", {
                          "linkConfig.server": "127.0.0.1", "linkConfig.host": "127.0.0.1",
                          "linkConfig.accessKey": "ak", "linkConfig.securityKey": "sk"})}]}
    assert refusal(api.post(f"{server.cdm}/link", json=obs)).startswith(
        "Unknown input linkConfig.host for the obs-connector")


# docs/cdm-api.md §6.1 (what the SDK sends) and the CreateLink page's example (fetchSize, usingNative).
SDK_LINK = {"links": [{"link-config-values": {"configs": [{"inputs": [
    {"name": "linkConfig.databaseType", "value": "POSTGRESQL"},
    {"name": "linkConfig.host", "value": "127.0.0.1"},
    {"name": "linkConfig.port", "value": "5432"},
    {"name": "linkConfig.database", "value": "demo"},
    {"name": "linkConfig.username", "value": "postgres"},
    {"name": "linkConfig.password", "value": "secret"}],
    "name": "linkConfig"}]},
    "name": "pg_src", "connector-name": "generic-jdbc-connector", "enabled": True}]}
DOC_LINK = {"links": [{"link-config-values": {"configs": [{"inputs": [
    {"name": "linkConfig.databaseType", "value": "MYSQL"},
    {"name": "linkConfig.host", "value": "100.94.8.163"},
    {"name": "linkConfig.port", "value": "3306"},
    {"name": "linkConfig.database", "value": "DB_name"},
    {"name": "linkConfig.username", "value": "username"},
    {"name": "linkConfig.password", "value": "DB_password"},
    {"name": "linkConfig.fetchSize", "value": "100000"},
    {"name": "linkConfig.usingNative", "value": "false"}],
    "name": "linkConfig"}]},
    "name": "mysql_link", "creation-date": 1496654788622, "connector-name": "generic-jdbc-connector",
    "update-date": 1496654788622, "enabled": True}]}
# docs/cdm-api.md §6.5, with the driver configs of §6.6's ShowJobs answer.
SDK_JOB = {"jobs": [{
    "job_type": "NORMAL_JOB",
    "from-connector-name": "generic-jdbc-connector",
    "to-config-values": {"configs": [{"inputs": [
        {"name": "toJobConfig.schemaName", "value": "public"},
        {"name": "toJobConfig.tableName", "value": "table_b"},
        {"name": "toJobConfig.tablePreparation", "value": "CREATE_WHEN_NOT_EXIST"},
        {"name": "toJobConfig.shouldClearTable", "value": "true"}], "name": "toJobConfig"}]},
    "to-link-name": "pg_src",
    "driver-config-values": {"configs": [
        {"inputs": [{"name": "throttlingConfig.numExtractors", "value": "1"}], "name": "throttlingConfig"},
        {"inputs": {}, "name": "jarConfig"},
        {"inputs": [{"name": "schedulerConfig.isSchedulerJob", "value": "false"}], "name": "schedulerConfig"},
        {"inputs": [{"name": "retryJobConfig.retryJobType", "value": "NONE"}], "name": "retryJobConfig"}]},
    "from-config-values": {"configs": [{"inputs": [
        {"name": "fromJobConfig.useSql", "value": "false"},
        {"name": "fromJobConfig.schemaName", "value": "public"},
        {"name": "fromJobConfig.tableName", "value": "table_a"}], "name": "fromJobConfig"}]},
    "to-connector-name": "generic-jdbc-connector",
    "name": "copy_a_to_b",
    "from-link-name": "pg_src"}]}


def test_the_inputs_of_cdm_examples_are_accepted(api: httpx.Client, server: RunningServer) -> None:
    sdk_link, doc_link, job = copy.deepcopy(SDK_LINK), copy.deepcopy(DOC_LINK), copy.deepcopy(SDK_JOB)
    for body in (sdk_link, doc_link):
        body["links"][0]["name"] = unique(body["links"][0]["name"])
        created = api.post(f"{server.cdm}/link", json=body)
        assert created.status_code == 200, created.text
    link = sdk_link["links"][0]["name"]
    job["jobs"][0] |= {"name": unique("copy"), "from-link-name": link, "to-link-name": link}
    created = api.post(f"{server.cdm}/job", json=job)
    assert created.status_code == 200, created.text
    # The driver inputs CDM documents for other destinations are accepted too, and ignored (a run says
    # so in its log: test_documented_inputs.py).
    job["jobs"][0]["driver-config-values"]["configs"][0]["inputs"] += [
        {"name": "throttlingConfig.numLoaders", "value": "1"},
        {"name": "throttlingConfig.submitToCluster", "value": "false"},
    ]
    updated = api.put(f"{server.cdm}/job/{job['jobs'][0]['name']}", json=job)
    assert updated.status_code == 200, updated.text


def test_a_link_asking_for_tls_is_refused_not_connected_in_plaintext(
    api: httpx.Client, server: RunningServer, tmp_path: Path
) -> None:
    body = sqlite_link_body(unique("l"), tmp_path / "tls.db")
    link_inputs = body["links"][0]["link-config-values"]["configs"][0]["inputs"]
    link_inputs.append({"name": "linkConfig.useSSL", "value": "true"})
    assert refusal(api.post(f"{server.cdm}/link", json=body)) == (
        "linkConfig.useSSL=true is not supported: OpenCDM connects to databases without TLS. "
        "Set it to false, and reach the database over a network or tunnel you trust."
    )
    link_inputs[-1]["value"] = "false"
    assert api.post(f"{server.cdm}/link", json=body).status_code == 200
