"""iceberg-connector: its link inputs, and its sources and sinks (pyiceberg is imported when one opens)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.engine import make_url

from opencdm.connectors.base import ConfigGroup, Connector, InputSpec, Sink, Source
from opencdm.connectors.files.s3 import S3Endpoint, endpoint_inputs
from opencdm.connectors.iceberg.config import (
    DEFAULT_CATALOG_NAME,
    SINK_INPUTS,
    SOURCE_INPUTS,
    LinkConfig,
    TableConfig,
    errors,
)


class IcebergConnector(Connector):
    name = "iceberg-connector"
    link_inputs = (
        InputSpec("linkConfig.catalogType", "ENUM", mandatory=True, default="sql"),
        InputSpec("linkConfig.catalogUri", mandatory=True, sensitive=True, size=1024),  # may hold a password
        InputSpec("linkConfig.catalogName", size=255, default=DEFAULT_CATALOG_NAME),
        InputSpec("linkConfig.warehouse", mandatory=True, size=1024),
        *endpoint_inputs(mandatory=False),  # a warehouse on S3
    )
    source_inputs = SOURCE_INPUTS
    sink_inputs = SINK_INPUTS

    def check_link_inputs(self, link: Mapping[str, str]) -> None:
        LinkConfig.parse(link)

    def validate_link(self, link: Mapping[str, str]) -> None:
        from opencdm.connectors.iceberg.tables import close_catalog

        config = LinkConfig.parse(link)
        catalog = config.open()
        try:
            with errors(config, "Cdm.0901", "Cannot connect to the Iceberg catalog."):
                catalog.list_namespaces()
            if config.warehouse.startswith("s3://"):
                endpoint = S3Endpoint.parse(link)
                try:
                    endpoint.filesystem(validating=True).get_file_info(config.warehouse.removeprefix("s3://"))
                except OSError as exc:
                    raise endpoint.validation_error(exc) from exc
        finally:
            close_catalog(catalog)

    def server_disk_place(self, link: Mapping[str, str]) -> str | None:
        config = LinkConfig.parse(link)
        if config.warehouse.startswith("file://"):
            return f"the Iceberg warehouse {config.warehouse.removeprefix('file://')}"
        if config.catalog_type == "sql" and config.catalog_uri.startswith("sqlite"):
            return f"the Iceberg catalog {make_url(config.catalog_uri).database}"
        return None

    def check_from_job(self, link: Mapping[str, str], from_job: Mapping[str, str]) -> None:
        TableConfig.parse_source(from_job)

    def check_to_job(self, link: Mapping[str, str], to_job: Mapping[str, str]) -> None:
        TableConfig.parse_sink(to_job)

    def table_job(self, group: ConfigGroup, job: Mapping[str, str], table: str, prepared: bool) -> dict[str, str]:
        """Each table of an entire-database job becomes the table of its name in toJobConfig.namespace."""
        if group == "fromJobConfig":
            return super().table_job(group, job, table, prepared)
        return {**job, "toJobConfig.tableName": table}

    def open_source(self, link: Mapping[str, str], from_job: Mapping[str, str]) -> Source:
        from opencdm.connectors.iceberg.source import IcebergSource

        return IcebergSource(LinkConfig.parse(link), TableConfig.parse_source(from_job))

    def open_sink(self, link: Mapping[str, str], to_job: Mapping[str, str]) -> Sink:
        from opencdm.connectors.iceberg.sink import IcebergSink

        return IcebergSink(LinkConfig.parse(link), TableConfig.parse_sink(to_job))
