"""The request examples of the OpenAPI document: two SQLite links and a table copy between them."""

from __future__ import annotations

from typing import Any

# The examples' SQLite paths stand for a file under one of the server's OPENCDM_FILE_ROOTS.
EXAMPLE_SQLITE_DIR = "/srv/opencdm/files"


def sqlite_link(name: str) -> dict[str, Any]:
    return {"name": name, "connector-name": "generic-jdbc-connector", "enabled": True,
            "link-config-values": {"configs": [{"name": "linkConfig", "inputs": [
                {"name": "linkConfig.databaseType", "value": "SQLITE"},
                {"name": "linkConfig.database", "value": f"{EXAMPLE_SQLITE_DIR}/{name}.db"}]}]}}


def sqlite_job(name: str, from_link: str, to_link: str) -> dict[str, Any]:
    def config(name: str, values: dict[str, str]) -> dict[str, Any]:
        return {"configs": [{"name": name, "inputs": [{"name": k, "value": v} for k, v in values.items()]}]}

    return {"name": name, "job_type": "NORMAL_JOB",
            "from-connector-name": "generic-jdbc-connector", "from-link-name": from_link,
            "to-connector-name": "generic-jdbc-connector", "to-link-name": to_link,
            "from-config-values": config("fromJobConfig", {"fromJobConfig.useSql": "false",
                                                          "fromJobConfig.tableName": "t"}),
            "to-config-values": config("toJobConfig", {"toJobConfig.tableName": "t_copy",
                                                      "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}),
            "driver-config-values": config("throttlingConfig", {"throttlingConfig.numExtractors": "1"})}
