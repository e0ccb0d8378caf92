"""Connectors by CDM connector name.

A connector is one folder under ``connectors/`` and one line of ``CONNECTORS``: everything else
(the API, the console's forms, the checks of a link's and a job's inputs, the engine) asks the
connector itself (docs/connectors/writing-a-connector.md).
"""

from __future__ import annotations

import functools
import importlib

from opencdm.connectors.base import ConfigGroup, Connector
from opencdm.errors import CdmError

# "module:Class" of each connector, imported when a connector is first asked for rather than with
# this package: connector modules load database drivers and more, which a caller that only needs
# the interface (base, inputs) should not pay for. The fork server asks once, before any worker.
CONNECTORS: tuple[str, ...] = (
    "opencdm.connectors.jdbc:JdbcConnector",
    "opencdm.connectors.files.nas:NasConnector",
    "opencdm.connectors.files.obs:ObsConnector",
    "opencdm.connectors.files.obs:ThirdPartyObsConnector",
    "opencdm.connectors.iceberg.connector:IcebergConnector",
)


@functools.cache
def _loaded(paths: tuple[str, ...]) -> dict[str, Connector]:
    connectors: dict[str, Connector] = {}
    for path in paths:
        module, _, class_name = path.partition(":")
        connector = getattr(importlib.import_module(module), class_name)()
        if not isinstance(connector, Connector):
            raise TypeError(f"{path} is not a Connector")
        if connector.name in connectors:
            raise ValueError(f"{path}: connector name {connector.name} is taken by another line")
        connectors[connector.name] = connector
    return connectors


def _registry() -> dict[str, Connector]:
    # Keyed by the tuple itself, so that a test that extends CONNECTORS gets its connector too.
    return _loaded(CONNECTORS)


def get_connector(name: str) -> Connector:
    connector = _registry().get(name)
    if connector is None:
        raise CdmError("Cdm.0102", f"Connector [{name}] does not exist.")
    return connector


def connector_names() -> list[str]:
    return sorted(_registry())


def known_inputs(connector_name: str, group: ConfigGroup) -> frozenset[str]:
    """The input names the connector knows in ``group``; others are refused when a link or job is saved."""
    return get_connector(connector_name).known_inputs(group)
