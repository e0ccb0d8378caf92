"""The commonest valid bodies, as exact shapes.

The general shapes (``links.LinkIn``, ``jobs.JobIn``) accept every connector's inputs, so nothing in
them says which inputs a link or job needs. The OpenAPI document offers these besides them (anyOf,
see api/openapi.py): a generic-jdbc-connector link and a table-to-table job, with every input a
valid one needs. The allowed values are the connector's own (connectors/jdbc/config.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opencdm.api.wire.common import Wire, named
from opencdm.connectors.jdbc.config import SUPPORTED_TYPES, TablePreparation

_EXACT = ConfigDict(populate_by_name=True, extra="forbid")
_TABLE = Annotated[str, Field(pattern="^[A-Za-z][A-Za-z0-9_]{0,29}$")]
_EXTRACTORS = Annotated[str, Field(pattern="^([1-9]|[1-9][0-9]|[12][0-9]{2}|300)$")]  # 1-300
# Literals of values read at import time: pydantic builds the schema from them, mypy cannot check them.
_DATABASE_TYPES = Literal[SUPPORTED_TYPES]  # type: ignore[valid-type]
_TABLE_PREPARATIONS = Literal[tuple(preparation.value for preparation in TablePreparation)]  # type: ignore[valid-type]


def _input(name: str, value: Any) -> type[BaseModel]:
    """A model of one ``{"name", "value"}`` input with a fixed name."""
    fields: dict[str, Any] = {"name": Literal[name], "value": value}
    return type("Input_" + name.replace(".", "_"), (Wire,), {"__annotations__": fields, "model_config": _EXACT})


class JdbcLinkConfig(Wire):
    """linkConfig of a generic-jdbc-connector link. For SQLITE, ``database`` is the file's path
    (under OPENCDM_FILE_ROOTS) and host and username are ignored."""

    model_config = _EXACT
    name: Literal["linkConfig"]
    inputs: tuple[
        _input("linkConfig.databaseType", _DATABASE_TYPES),  # type: ignore[valid-type]
        _input("linkConfig.database", Annotated[str, Field(pattern="^[A-Za-z0-9_./-]{1,200}$")]),  # type: ignore[valid-type]
        _input("linkConfig.host", Annotated[str, Field(pattern="^[a-z0-9][a-z0-9.-]{0,62}$")]),  # type: ignore[valid-type]
        _input("linkConfig.port", Annotated[str, Field(pattern="^[1-9][0-9]{0,3}$")]),  # type: ignore[valid-type]
        _input("linkConfig.username", _TABLE),  # type: ignore[valid-type]
    ]


class JdbcLinkConfigValues(Wire):
    model_config = _EXACT
    configs: tuple[JdbcLinkConfig]


class JdbcLinkIn(Wire):
    """A generic-jdbc-connector link (PostgreSQL, MySQL/MariaDB or a SQLite file)."""

    model_config = _EXACT
    name: str = Field(**named("The link's name"))
    connector_name: Literal["generic-jdbc-connector"] = Field(alias="connector-name")
    link_config_values: JdbcLinkConfigValues = Field(alias="link-config-values")
    enabled: bool = True


class JdbcFromConfig(Wire):
    model_config = _EXACT
    name: Literal["fromJobConfig"]
    inputs: tuple[
        _input("fromJobConfig.useSql", Literal["false"]),  # type: ignore[valid-type]
        _input("fromJobConfig.tableName", _TABLE),  # type: ignore[valid-type]
    ]


class JdbcToConfig(Wire):
    model_config = _EXACT
    name: Literal["toJobConfig"]
    inputs: tuple[
        _input("toJobConfig.tableName", _TABLE),  # type: ignore[valid-type]
        _input("toJobConfig.tablePreparation", _TABLE_PREPARATIONS),  # type: ignore[valid-type]
    ]


class ThrottlingConfig(Wire):
    model_config = _EXACT
    name: Literal["throttlingConfig"]
    inputs: tuple[_input("throttlingConfig.numExtractors", _EXTRACTORS)]  # type: ignore[valid-type]


class JdbcFromConfigValues(Wire):
    model_config = _EXACT
    configs: tuple[JdbcFromConfig]


class JdbcToConfigValues(Wire):
    model_config = _EXACT
    configs: tuple[JdbcToConfig]


class DriverConfigValues(Wire):
    model_config = _EXACT
    configs: tuple[ThrottlingConfig]


class JdbcTableJobIn(Wire):
    """A NORMAL_JOB copying a table between two generic-jdbc-connector links."""

    model_config = _EXACT
    name: str = Field(**named("The job's name ('all' is reserved)"))
    job_type: Literal["NORMAL_JOB"] = Field(alias="job_type")
    from_connector_name: Literal["generic-jdbc-connector"] = Field(alias="from-connector-name")
    from_link_name: str = Field(alias="from-link-name", **named("An existing link"))
    to_connector_name: Literal["generic-jdbc-connector"] = Field(alias="to-connector-name")
    to_link_name: str = Field(alias="to-link-name", **named("An existing link"))
    from_config_values: JdbcFromConfigValues = Field(alias="from-config-values")
    to_config_values: JdbcToConfigValues = Field(alias="to-config-values")
    driver_config_values: DriverConfigValues = Field(alias="driver-config-values")
