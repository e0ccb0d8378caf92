"""The schema of an entire-database job: read a source schema into a neutral model
(``read_database``), and plan the destination's DDL in three phases (``schema_writer(...).plan``).

The job, its orchestration and its run log are the engine's; this package only reads catalogs and
writes statements, through the dialects' public methods (docs/decisions/0020-entire-database-schema.md).
"""

from __future__ import annotations

from typing import Any

from opencdm.connectors.jdbc.catalog.ddl import SchemaPlan, SchemaWriter, Step, TablePlan
from opencdm.connectors.jdbc.catalog.ddl_mysql import MySqlSchemaWriter
from opencdm.connectors.jdbc.catalog.ddl_postgresql import PostgresSchemaWriter
from opencdm.connectors.jdbc.catalog.model import DatabaseDefinition
from opencdm.connectors.jdbc.catalog.read_mysql import read_mysql
from opencdm.connectors.jdbc.catalog.read_postgresql import read_postgresql
from opencdm.connectors.jdbc.catalog.read_sqlite import read_sqlite
from opencdm.connectors.jdbc.dialect import Dialect
from opencdm.connectors.jdbc.mysql import MySqlDialect
from opencdm.connectors.jdbc.postgresql import PostgresDialect
from opencdm.connectors.jdbc.sqlite import SqliteDialect
from opencdm.errors import CdmError

__all__ = ["SchemaPlan", "SchemaWriter", "Step", "TablePlan", "read_database", "schema_writer"]


def read_database(
    dialect: Dialect, conn: Any, schema: str, selection: str | None = None, excluded: str | None = None
) -> DatabaseDefinition:
    """The base tables of ``schema`` chosen by ``selection`` minus ``excluded`` (``&``-lists of
    names and ``*`` patterns, see ``select.choose_tables``), with what the schema holds that is not
    carried. ``conn`` is a connection of ``dialect``."""
    if isinstance(dialect, PostgresDialect):
        return read_postgresql(dialect, conn, schema, selection, excluded)
    if isinstance(dialect, MySqlDialect):
        return read_mysql(dialect, conn, schema, selection, excluded)
    if isinstance(dialect, SqliteDialect):
        return read_sqlite(dialect, conn, schema, selection, excluded)
    raise CdmError("Cdm.0014", f"The parameter is invalid: {type(dialect).__name__} has no catalog reader.")


def schema_writer(dialect: Dialect, schema: str) -> SchemaWriter:
    """The DDL writer for tables created in ``schema`` of ``dialect``'s database."""
    if isinstance(dialect, PostgresDialect):
        return PostgresSchemaWriter(dialect, schema)
    if isinstance(dialect, MySqlDialect):
        return MySqlSchemaWriter(dialect, schema)
    raise CdmError(
        "Cdm.0014", "The parameter is invalid: entire-database jobs create tables in PostgreSQL and MySQL/MariaDB only."
    )
