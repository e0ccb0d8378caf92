"""generic-jdbc-connector: relational databases (PostgreSQL, MySQL/MariaDB, and SQLite files)."""

from __future__ import annotations

from collections.abc import Mapping

from opencdm.connectors.base import ConfigGroup, Connector, InputSpec, Sink, Source
from opencdm.connectors.jdbc.config import (
    LINK_UNUSED,
    SINK_INPUTS,
    SINK_UNUSED,
    SOURCE_INPUTS,
    SOURCE_UNUSED,
    SUPPORTED_TYPES,
    LinkConfig,
    SinkConfig,
    SourceConfig,
)
from opencdm.connectors.jdbc.dialect import Dialect
from opencdm.connectors.jdbc.mysql import MySqlDialect
from opencdm.connectors.jdbc.postgresql import PostgresDialect
from opencdm.connectors.jdbc.sink import JdbcSink
from opencdm.connectors.jdbc.source import JdbcSource
from opencdm.connectors.jdbc.sqlite import SqliteDialect
from opencdm.connectors.jdbc.tables import DATABASE_SOURCE_INPUTS, NOT_INHERITED, choose_tables
from opencdm.errors import CdmError

_DIALECTS: dict[str, type[Dialect]] = {
    "POSTGRESQL": PostgresDialect,
    "MYSQL": MySqlDialect,
    "SQLITE": SqliteDialect,
}
assert set(_DIALECTS) == set(SUPPORTED_TYPES)


def _dialect(link: Mapping[str, str], validating: bool = False) -> Dialect:
    config = LinkConfig.parse(link)
    return _DIALECTS[config.database_type](config, validating)


class JdbcConnector(Connector):
    name = "generic-jdbc-connector"
    link_inputs = (
        InputSpec("linkConfig.databaseType", "ENUM", mandatory=True, choices=SUPPORTED_TYPES),
        InputSpec("linkConfig.host", size=256),
        InputSpec("linkConfig.port", size=5),
        InputSpec("linkConfig.database", size=1024),
        InputSpec("linkConfig.username", size=256),
        InputSpec("linkConfig.password", sensitive=True, size=256),
        InputSpec("linkConfig.fetchSize", "INTEGER", default="1000"),
        # Described for forms; what becomes of them is in LINK_UNUSED (useSSL: false only).
        InputSpec("linkConfig.usingNative", "BOOLEAN", default="false"),
        InputSpec("linkConfig.useSSL", "BOOLEAN", default="false"),
        InputSpec("linkConfig.jdbcProperties", "MAP"),
    )
    source_inputs = SOURCE_INPUTS | DATABASE_SOURCE_INPUTS
    sink_inputs = SINK_INPUTS
    unused_inputs = (*LINK_UNUSED, *SOURCE_UNUSED, *SINK_UNUSED)

    def check_link_inputs(self, link: Mapping[str, str]) -> None:
        LinkConfig.parse(link)

    def validate_link(self, link: Mapping[str, str]) -> None:
        dialect = _dialect(link, validating=True)
        dialect.close(dialect.connect())

    def check_from_job(self, link: Mapping[str, str], from_job: Mapping[str, str]) -> None:
        LinkConfig.parse(link)
        SourceConfig.parse(from_job)

    def check_to_job(self, link: Mapping[str, str], to_job: Mapping[str, str]) -> None:
        LinkConfig.parse(link)
        SinkConfig.parse(to_job)

    def server_disk_place(self, link: Mapping[str, str]) -> str | None:
        config = LinkConfig.parse(link)
        return f"the SQLite database {config.database}" if config.host is None else None

    def open_source(self, link: Mapping[str, str], from_job: Mapping[str, str]) -> Source:
        return JdbcSource(_dialect(link), SourceConfig.parse(from_job))

    def open_sink(self, link: Mapping[str, str], to_job: Mapping[str, str]) -> Sink:
        return JdbcSink(_dialect(link), SinkConfig.parse(to_job))

    def database_tables(self, link: Mapping[str, str], from_job: Mapping[str, str]) -> list[str]:
        dialect = _dialect(link)
        config = SourceConfig.parse({**from_job, "fromJobConfig.tableName": "*"})
        if config.sql is not None:
            raise CdmError("Cdm.0014", "An entire-database job copies tables: fromJobConfig.useSql must be false.")
        conn = dialect.connect()
        try:
            with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
                available = dialect.base_tables(conn, dialect.schema_for(config.schema_name))
        finally:
            dialect.close(conn)
        return choose_tables(available, from_job)

    def table_job(self, group: ConfigGroup, job: Mapping[str, str], table: str) -> dict[str, str]:
        inherited = {name: value for name, value in job.items() if name not in NOT_INHERITED}
        return {**inherited, f"{group}.tableName": table}
