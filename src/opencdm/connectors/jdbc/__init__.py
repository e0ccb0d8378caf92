"""generic-jdbc-connector: relational databases (PostgreSQL, MySQL/MariaDB, and SQLite files)."""

from __future__ import annotations

from collections.abc import Mapping

from opencdm.connectors.base import (
    ConfigGroup,
    Connector,
    DatabaseDescription,
    InputSpec,
    SchemaTarget,
    Sink,
    Source,
)
from opencdm.connectors.jdbc import database
from opencdm.connectors.jdbc.config import (
    DATABASE_SOURCE_INPUTS,
    LINK_UNUSED,
    SINK_INPUTS,
    SINK_UNUSED,
    SOURCE_INPUTS,
    SOURCE_UNUSED,
    SSL_CA_CERT,
    SSL_MODE,
    SUPPORTED_TYPES,
    USE_SSL,
    LinkConfig,
    SinkConfig,
    SourceConfig,
    SslMode,
)
from opencdm.connectors.jdbc.dialect import Dialect
from opencdm.connectors.jdbc.mysql import MySqlDialect
from opencdm.connectors.jdbc.postgresql import PostgresDialect
from opencdm.connectors.jdbc.sink import JdbcSink
from opencdm.connectors.jdbc.source import JdbcSource
from opencdm.connectors.jdbc.sqlite import SqliteDialect

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
        # TLS (docs/tls.md): PostgreSQL links only, yet; the others refuse useSSL=true.
        InputSpec(USE_SSL, "BOOLEAN", default="false"),
        InputSpec(SSL_MODE, "ENUM", default=SslMode.VERIFY_FULL.value, choices=tuple(mode.value for mode in SslMode)),
        InputSpec(SSL_CA_CERT, size=65536),  # PEM text; a CA's certificate is no secret
        # Described for forms; what becomes of them is in LINK_UNUSED.
        InputSpec("linkConfig.usingNative", "BOOLEAN", default="false"),
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

    def describe_database(self, link: Mapping[str, str], from_job: Mapping[str, str]) -> DatabaseDescription:
        return database.describe_database(_dialect(link), from_job)

    def open_schema_target(
        self, link: Mapping[str, str], to_job: Mapping[str, str], source: DatabaseDescription
    ) -> SchemaTarget | None:
        return database.schema_target(_dialect(link), to_job, source)

    def table_job(self, group: ConfigGroup, job: Mapping[str, str], table: str, prepared: bool) -> dict[str, str]:
        return database.table_job(group, job, table, prepared)
