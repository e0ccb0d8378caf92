"""Ours, for the web console (docs/console.md): each connector's link inputs and the job inputs it accepts."""

from __future__ import annotations

from pydantic import Field

from opencdm.api.wire.common import Wire


class ConnectorInput(Wire):
    name: str
    type: str
    mandatory: bool
    sensitive: bool
    size: int | None = None
    default_value: str | None = Field(default=None, alias="defaultValue")
    values: list[str] | None = None


class ConnectorOut(Wire):
    name: str
    link_inputs: list[ConnectorInput] = Field(alias="link-inputs")
    # The fromJobConfig / toJobConfig input names its sources / sinks accept, sorted.
    from_inputs: list[str] = Field(alias="from-inputs")
    to_inputs: list[str] = Field(alias="to-inputs")


class ConnectorsResponse(Wire):
    connectors: list[ConnectorOut]
