"""Links: CreateLink, UpdateLink, ShowLink and their answers."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from opencdm.api.wire.common import ConfigValues, Wire, connector_names_enum, named
from opencdm.api.wire.examples import sqlite_link


class LinkIn(Wire):
    name: str = Field(**named("The link's name"))
    connector_name: str = Field(alias="connector-name", json_schema_extra=connector_names_enum)
    link_config_values: ConfigValues = Field(alias="link-config-values")
    enabled: bool = True


class LinksRequest(Wire):
    model_config = ConfigDict(json_schema_extra={"examples": [{"links": [sqlite_link("sqlite_a")]}]})
    links: list[LinkIn] = Field(min_length=1)


class LinkInputOut(Wire):
    name: str
    type: str
    mandatory: bool
    sensitive: bool | None = None
    size: int | None = None
    default_value: str | None = Field(default=None, alias="defaultValue")
    value: Any = None


class LinkConfigOut(Wire):
    name: str
    inputs: list[LinkInputOut]


class LinkConfigValuesOut(Wire):
    configs: list[LinkConfigOut]


class LinkOut(Wire):
    id: int
    name: str
    connector_name: str = Field(alias="connector-name")
    enabled: bool
    link_config_values: LinkConfigValuesOut = Field(alias="link-config-values")
    creation_user: str = Field(alias="creation-user")
    creation_date: int = Field(alias="creation-date")
    update_user: str = Field(alias="update-user")
    update_date: int = Field(alias="update-date")


class LinksResponse(Wire):
    links: list[LinkOut]


class ValidationMessage(Wire):
    message: str
    status: str = "ERROR"


class LinkValidationResult(Wire):
    link_config: list[ValidationMessage] = Field(alias="linkConfig")


class LinkSaved(Wire):
    """CreateLink and UpdateLink, and a link ``?validate=true`` found working: the list is empty."""

    name: str
    validation_result: list[LinkValidationResult] = Field(alias="validation-result", max_length=0)


class LinkValidationFailed(Wire):
    """HTTP 500 of CreateLink ``?validate=true`` when the link does not work, as CDM answers it
    (docs/decisions/0007-link-validation-answer.md): the problems, and no name."""

    model_config = ConfigDict(extra="forbid")

    validation_result: list[LinkValidationResult] = Field(alias="validation-result", min_length=1)
