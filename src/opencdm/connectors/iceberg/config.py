"""The link and job inputs of iceberg-connector, parsed once; pyiceberg catalogs opened from them."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from opencdm.connectors.files.s3 import REQUEST_SECONDS, S3Endpoint
from opencdm.connectors.inputs import columns, enum_value, names, required, text
from opencdm.connectors.local_paths import allowed_local_path
from opencdm.connectors.outbound import check_database_link, check_endpoint, database_server
from opencdm.errors import CdmError
from opencdm.settings import Settings

if TYPE_CHECKING:  # pyiceberg is imported when a catalog is opened, not with the connector registry
    from pyiceberg.catalog import Catalog

DEFAULT_CATALOG_NAME = "opencdm"
# What a PostgreSQL catalog URL may say after "?": other libpq parameters (hostaddr, service,
# dbname, …) would connect elsewhere than the host, port and database checked here.
CATALOG_URL_PARAMETERS = ("host", "connect_timeout", "sslmode", "application_name")
# pyiceberg asks AWS for a bucket's region when none is given: never wanted off AWS.
DEFAULT_REGION = "us-east-1"


class WriteMode(Enum):
    APPEND = "APPEND"
    OVERWRITE = "OVERWRITE"


def invalid(name: str, value: str, why: str) -> CdmError:
    return CdmError("Cdm.0014", f"The parameter is invalid: {name} [{value}] {why}.")


@dataclass(frozen=True)
class LinkConfig:
    catalog_type: str
    catalog_name: str
    catalog_uri: str
    warehouse: str
    properties: dict[str, str]  # pyiceberg's, the warehouse's FileIO included
    secrets: tuple[str, ...]  # never echoed in a message

    @classmethod
    def parse(cls, link: Mapping[str, str]) -> LinkConfig:
        catalog_type = required(link, "linkConfig.catalogType").lower()
        if catalog_type not in ("sql", "rest"):
            raise invalid("linkConfig.catalogType", catalog_type, "must be sql or rest")
        uri = required(link, "linkConfig.catalogUri")
        secrets: list[str] = []
        if catalog_type == "sql":
            uri, password = sql_uri(uri)
            secrets += [password] if password else []
        else:
            check_endpoint("linkConfig.catalogUri", urlsplit(uri).hostname or "")
        warehouse = required(link, "linkConfig.warehouse")
        properties = {"uri": uri, "py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO"}
        if warehouse.startswith("s3://"):
            properties |= s3_properties(S3Endpoint.parse(link))
            secrets.append(properties["s3.secret-access-key"])
        elif "://" in warehouse and not warehouse.startswith("file://"):
            raise invalid("linkConfig.warehouse", warehouse, "must be a local path or s3://bucket/prefix")
        elif catalog_type == "rest" and not warehouse.startswith(("/", "file://")):
            pass  # the name of one of the REST catalog's warehouses: the catalog says where tables are
        else:
            warehouse = "file://" + allowed_local_path("linkConfig.warehouse", warehouse.removeprefix("file://"))
        properties["warehouse"] = warehouse.rstrip("/")
        return cls(
            catalog_type,
            text(link, "linkConfig.catalogName") or DEFAULT_CATALOG_NAME,
            uri,
            properties["warehouse"],
            properties,
            tuple(secrets),
        )

    def open(self) -> Catalog:
        with errors(self, "Cdm.0901", "Cannot connect to the Iceberg catalog."):
            if self.catalog_type == "sql":
                from pyiceberg.catalog.sql import SqlCatalog
                from sqlalchemy.exc import DBAPIError

                try:
                    return SqlCatalog(self.catalog_name, **self.properties)
                except DBAPIError as exc:
                    # Runs opening a new catalog at once (the tables of an entire-database job) each
                    # find its tables absent and make them: those who lose the race find them made.
                    if "already exists" not in str(exc):
                        raise
                    return SqlCatalog(self.catalog_name, **self.properties)
            from pyiceberg.catalog.rest import RestCatalog

            return RestCatalog(self.catalog_name, **self.properties)


def sql_uri(uri: str) -> tuple[str, str | None]:
    """The SQLAlchemy URL of a SQL catalog (PostgreSQL through psycopg 3), and its password."""
    try:
        url = make_url(uri)
    except ArgumentError:
        raise CdmError(  # not echoed: it may hold a password
            "Cdm.0014",
            "The parameter is invalid: linkConfig.catalogUri is not a SQLAlchemy URL such as "
            "postgresql+psycopg://user@host/db or sqlite:////path/catalog.db.",
        ) from None
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "postgresql":
        unknown = sorted(set(url.query) - set(CATALOG_URL_PARAMETERS))
        if unknown:
            raise invalid(
                "linkConfig.catalogUri", shown, f"takes no parameter {', '.join(unknown)} (only "
                f"{', '.join(CATALOG_URL_PARAMETERS)})"
            )
        server = database_server(url)
        assert server is not None  # a PostgreSQL URL always names a server
        check_database_link("linkConfig.catalogUri", server)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        if "connect_timeout" not in url.query:  # libpq's, for the whole start-up; whole seconds
            timeout = max(2, math.ceil(Settings.from_env().connect_timeout_seconds))
            url = url.update_query_dict({"connect_timeout": str(timeout)})
    elif url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise invalid("linkConfig.catalogUri", shown, "must name a database file")
        url = url.set(database=allowed_local_path("linkConfig.catalogUri", url.database))
    else:
        raise invalid("linkConfig.catalogUri", shown, "must be a PostgreSQL or SQLite URL")
    return url.render_as_string(hide_password=False), url.password and str(url.password)


def s3_properties(endpoint: S3Endpoint) -> dict[str, str]:
    """pyiceberg's FileIO properties for a warehouse on ``endpoint``."""
    return {
        "s3.endpoint": f"{endpoint.scheme}://{endpoint.host}",
        "s3.access-key-id": endpoint.access_key,
        "s3.secret-access-key": endpoint.secret_key,
        "s3.region": endpoint.region or DEFAULT_REGION,
        "s3.force-virtual-addressing": str(not endpoint.path_style).lower(),
        "s3.connect-timeout": str(Settings.from_env().connect_timeout_seconds),
        "s3.request-timeout": str(REQUEST_SECONDS),
    }


@contextmanager
def errors(link: LinkConfig, code: str, what: str) -> Iterator[None]:
    """Turn a catalog, storage or pyiceberg failure into a CdmError with its own message, secrets hidden."""
    try:
        yield
    except CdmError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyiceberg, SQLAlchemy, HTTP and storage errors alike
        message = str(exc).strip() or type(exc).__name__
        for secret in link.secrets:
            message = message.replace(secret, "******")
        raise CdmError(code, f"{what} Cause: {message}") from exc


# What TableConfig.parse_source and parse_sink read.
SOURCE_INPUTS = names("fromJobConfig", "namespace", "tableName", "snapshotId")
SINK_INPUTS = names("toJobConfig", "namespace", "tableName", "writeMode", "partitionBy")


@dataclass(frozen=True)
class TableConfig:
    namespace: str
    table: str
    snapshot_id: int | None = None
    write_mode: WriteMode = WriteMode.APPEND
    partition_by: tuple[str, ...] = ()

    @property
    def identifier(self) -> tuple[str, ...]:
        return (*self.namespace.split("."), self.table)

    @property
    def display(self) -> str:
        return f"{self.namespace}.{self.table}"

    @classmethod
    def parse_source(cls, from_job: Mapping[str, str]) -> TableConfig:
        snapshot = text(from_job, "fromJobConfig.snapshotId")
        if snapshot is not None and not snapshot.lstrip("-").isdigit():
            raise invalid("fromJobConfig.snapshotId", snapshot, "must be a snapshot id (an integer)")
        return cls(
            required(from_job, "fromJobConfig.namespace"),
            required(from_job, "fromJobConfig.tableName"),
            snapshot_id=int(snapshot) if snapshot is not None else None,
        )

    @classmethod
    def parse_sink(cls, to_job: Mapping[str, str]) -> TableConfig:
        return cls(
            required(to_job, "toJobConfig.namespace"),
            required(to_job, "toJobConfig.tableName"),
            write_mode=enum_value(to_job, "toJobConfig.writeMode", WriteMode, WriteMode.APPEND),
            partition_by=columns(to_job, "toJobConfig.partitionBy") or (),
        )
