"""Connectors by CDM connector name."""

from __future__ import annotations

from opencdm.connectors.base import ConfigGroup, Connector
from opencdm.errors import CdmError


def _registry() -> dict[str, Connector]:
    from opencdm.connectors.files.nas import NasConnector
    from opencdm.connectors.files.obs import ObsConnector, ThirdPartyObsConnector
    from opencdm.connectors.iceberg.connector import IcebergConnector
    from opencdm.connectors.jdbc import JdbcConnector

    connectors: list[Connector] = [
        JdbcConnector(), NasConnector(), ObsConnector(), ThirdPartyObsConnector(), IcebergConnector(),
    ]
    return {connector.name: connector for connector in connectors}


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
