"""Typed, validated configuration parsed once from the flat CDM input mappings."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from opencdm.connectors.inputs import (
    UNSET,
    boolean,
    columns,
    enum_value,
    ignored,
    integer,
    names,
    refuse_unsupported,
    refused,
    required,
    tcp_port,
    text,
)
from opencdm.connectors.local_paths import allowed_local_path
from opencdm.connectors.outbound import MYSQL_PORT, POSTGRESQL_PORT, DatabaseServer, check_database_link
from opencdm.errors import CdmError

SUPPORTED_TYPES = ("POSTGRESQL", "MYSQL", "SQLITE")
# Database types CDM knows but this deployment cannot reach; named so the error can say "not supported".
CDM_TYPES = ("ORACLE", "SQLSERVER", "DB2", "DWS", "DDM", "SAP HANA")


_NO_TLS = (
    "OpenCDM connects to databases without TLS. Set it to false, and reach the database over a network or "
    "tunnel you trust."
)
_ORACLE = "it applies to Oracle databases, which this deployment does not reach."
_ORACLE_PARTITIONS = (
    "it reads chosen Oracle partitions; this deployment reads whole tables: select rows with "
    "fromJobConfig.whereClause instead."
)
_UNDESCRIBED = "CDM documents no meaning for it (it appears only in CDM's samples)."
# The inputs CDM documents for generic-jdbc-connector (docs/cdm-api.md §7.3) that mean nothing here;
# the others are read below. docs/inputs.md lists them all.
LINK_UNUSED = (
    ignored("linkConfig.usingNative", "OpenCDM picks each database's bulk path itself (PostgreSQL COPY, "
            "MySQL LOAD DATA)."),
    # linkConfig.useSSL and the jdbcProperties naming TLS are read by LinkConfig.parse (Tls.parse).
    ignored("linkConfig.jdbcProperties", "OpenCDM's drivers are not JDBC drivers and take no JDBC properties "
            "(but PostgreSQL's TLS ones, see docs/tls.md).", ("", "{}")),
    ignored("linkConfig.commitSize", "a run commits once, when every row is written (per partition with "
            "throttlingConfig.resumable), so that a failed run leaves no rows behind.", UNSET),
    ignored("linkConfig.isRds", "it marks a cloud database, which changes nothing here."),
    ignored("dialect.identifierEnclose", "identifiers are quoted as each database quotes them.", UNSET),
    ignored("linkConfig.databaseconfig", _ORACLE, UNSET),
    ignored("linkConfig.sidname", _ORACLE, UNSET),
    ignored("linkConfig.version", _ORACLE, UNSET),
    ignored("linkConfig.importMode", "it chooses how DWS loads rows; PostgreSQL and MySQL are loaded with their "
            "own bulk paths.", UNSET),
)
SOURCE_UNUSED = (
    ignored("fromJobConfig.createOutTable", _UNDESCRIBED),
    refused("fromJobConfig.usePartition", _ORACLE_PARTITIONS),
    refused("fromJobConfig.partitionList", _ORACLE_PARTITIONS, UNSET),
)
SINK_UNUSED = (
    ignored("toJobConfig.orientation", "it chooses DWS's row or column storage for a created table; tables are "
            "created with their database's own (row) storage.", ("", "ROW")),
    ignored("toJobConfig.isCompress", "it asks DWS to compress a created table; tables are created with their "
            "database's default storage."),
)
# jdbcProperties names that ask for an encrypted connection, and the values that do not.
_TLS_PROPERTY = re.compile(r"ssl|tls|encrypt", re.IGNORECASE)
_TLS_OFF = ("", "false", "disable", "disabled", "none", "off", "no", "0")
# The TLS inputs of a link to a server (docs/tls.md); only PostgreSQL links take them yet.
USE_SSL, SSL_MODE, SSL_CA_CERT = "linkConfig.useSSL", "linkConfig.sslMode", "linkConfig.sslCaCert"
_TLS_DATABASES = ("POSTGRESQL",)
# pgjdbc's names for what linkConfig.useSSL and linkConfig.sslMode say.
_PG_SSL_PROPERTY, _PG_SSLMODE_PROPERTY = "ssl", "sslmode"
_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")


class TablePreparation(Enum):
    DO_NOTHING = "DO_NOTHING"
    CREATE_WHEN_NOT_EXIST = "CREATE_WHEN_NOT_EXIST"
    DROP_AND_CREATE = "DROP_AND_CREATE"


class WriteMode(Enum):
    INSERT = "INSERT"  # a key that already exists fails the run
    REPLACE = "REPLACE"  # an incoming row replaces the whole row holding its key
    UPSERT = "UPSERT"  # an existing row takes the incoming values of the copied columns


class BeforeImport(Enum):
    NONE = "none"
    CLEAR_TABLE = "shouldClearTable"
    WHERE_CLAUSE = "whereClause"


class SslMode(Enum):
    """How much of the server's certificate a TLS connection checks (libpq's sslmode values)."""

    VERIFY_FULL = "verify-full"  # the chain, to a trusted CA, and the host name
    VERIFY_CA = "verify-ca"  # the chain only
    REQUIRE = "require"  # nothing: encrypted, but to whoever answers


@dataclass(frozen=True)
class Tls:
    """A link's TLS: every connection of the link is encrypted, checked as ``mode`` says."""

    mode: SslMode
    ca_pem: str | None  # the CA(s) to trust, PEM text (linkConfig.sslCaCert); None: the system's

    @classmethod
    def parse(cls, link: Mapping[str, object], database_type: str) -> Tls | None:
        """The link's TLS (None: plaintext); TLS asked for where it cannot be had is refused."""
        properties = {name: value for name, value in _properties(link).items() if _TLS_PROPERTY.search(name)}
        if database_type not in _TLS_DATABASES:
            refuse_unsupported(link, (refused(USE_SSL, _NO_TLS),))
            asked = [name for name, value in properties.items() if value.lower() not in _TLS_OFF]
            asked += _tls_inputs_given(link)
            if asked:
                raise CdmError("Cdm.0014", f"{_tls_names(asked)} is not supported: {_NO_TLS}")
            return None
        wanted, mode_text = _postgresql_properties(properties, text(link, SSL_MODE))
        if not (wanted or boolean(link, USE_SSL)):
            given = _tls_inputs_given(link)
            if given:
                raise CdmError("Cdm.0014", f"{_tls_names(given)} applies to TLS connections: set {USE_SSL}=true.")
            return None
        if wanted is False:
            raise CdmError("Cdm.0014", "linkConfig.jdbcProperties asks for a connection without TLS, which "
                           f"contradicts {USE_SSL}=true.")
        ca_pem = text(link, SSL_CA_CERT)
        if ca_pem is not None and not _PEM_CERTIFICATE.search(ca_pem):
            raise CdmError("Cdm.0014", f"The parameter is invalid: {SSL_CA_CERT} must hold PEM certificates "
                           "(-----BEGIN CERTIFICATE----- ...).")
        mode = enum_value({SSL_MODE: mode_text} if mode_text else {}, SSL_MODE, SslMode, SslMode.VERIFY_FULL)
        return cls(mode, ca_pem)


def _tls_inputs_given(link: Mapping[str, object]) -> list[str]:
    """linkConfig.sslMode and sslCaCert where they ask for something: sslMode's default does not
    (forms send every input's default)."""
    default = SslMode.VERIFY_FULL.value
    return [name for name in (SSL_MODE, SSL_CA_CERT) if (text(link, name) or default).lower() != default]


def _postgresql_properties(properties: Mapping[str, str], mode_text: str | None) -> tuple[bool | None, str | None]:
    """What pgjdbc's TLS properties among ``properties`` ask for: TLS (True), none (False) or
    nothing (None); and the sslMode, ``mode_text`` (linkConfig.sslMode) or sslmode's."""
    others = [name for name, value in properties.items()
              if name not in (_PG_SSL_PROPERTY, _PG_SSLMODE_PROPERTY) and value.lower() not in _TLS_OFF]
    if others:
        raise CdmError("Cdm.0014", f"{_tls_names(others)} is not supported: a PostgreSQL link takes "
                       f"{_PG_SSL_PROPERTY} and {_PG_SSLMODE_PROPERTY}; give the CA to trust as {SSL_CA_CERT} "
                       "(PEM text); client certificates are not supported.")
    wanted: bool | None = None
    if _PG_SSL_PROPERTY in properties:
        wanted = boolean(properties, _PG_SSL_PROPERTY)
    mode = properties.get(_PG_SSLMODE_PROPERTY, "").lower()
    if mode in ("allow", "prefer"):
        raise CdmError("Cdm.0014", f"linkConfig.jdbcProperties {_PG_SSLMODE_PROPERTY}={mode} is not supported: it "
                       "lets a connection fall back to plaintext. Use require, verify-ca or verify-full (docs/tls.md).")
    if mode == "disable":
        if wanted:
            raise CdmError("Cdm.0014", f"linkConfig.jdbcProperties {_PG_SSLMODE_PROPERTY}=disable contradicts "
                           f"{_PG_SSL_PROPERTY}=true.")
        return False, mode_text
    if mode:
        if mode_text is not None and mode_text.lower() != mode:
            raise CdmError("Cdm.0014", f"linkConfig.jdbcProperties {_PG_SSLMODE_PROPERTY}={mode} contradicts "
                           f"{SSL_MODE}={mode_text}.")
        if wanted is False:
            raise CdmError("Cdm.0014", f"linkConfig.jdbcProperties {_PG_SSLMODE_PROPERTY}={mode} contradicts "
                           f"{_PG_SSL_PROPERTY}=false.")
        return True, mode
    return wanted, mode_text


def _tls_names(names: list[str]) -> str:
    """Input names as a refusal names them: properties as ``linkConfig.jdbcProperties <name>``."""
    properties = [name for name in names if not name.startswith("linkConfig.")]
    shown = [f"linkConfig.jdbcProperties {', '.join(properties)}"] if properties else []
    return ", ".join([*shown, *(name for name in names if name.startswith("linkConfig."))])


@dataclass(frozen=True)
class LinkConfig:
    database_type: str
    host: str | None
    port: int | None
    database: str
    username: str | None
    password: str
    fetch_size: int | None
    # (host, address) pairs the link was checked against (outbound.check_database_link): where a
    # PostgreSQL connection goes, so that a name resolved anew cannot lead elsewhere.
    checked_addresses: tuple[tuple[str, str], ...] = ()
    tls: Tls | None = None  # None: plaintext

    @classmethod
    def parse(cls, link: Mapping[str, object]) -> LinkConfig:
        database_type = required(link, "linkConfig.databaseType").upper()
        if database_type not in SUPPORTED_TYPES:
            known = "known to CDM but " if database_type in CDM_TYPES else ""
            raise CdmError(
                "Cdm.0014",
                f"databaseType {database_type} is {known}not supported by this deployment; "
                f"supported: {', '.join(SUPPORTED_TYPES)}.",
            )
        refuse_unsupported(link, LINK_UNUSED)
        # Refused rather than ignored where it cannot be had: a user who asked for TLS must not get
        # plaintext unawares.
        tls = Tls.parse(link, database_type)
        server = database_type != "SQLITE"
        host = required(link, "linkConfig.host") if server else None
        database = required(link, "linkConfig.database")
        if not server:
            # The database file, resolved: inside OPENCDM_FILE_ROOTS, never the server's own data.
            database = allowed_local_path("linkConfig.database", database)
        port = tcp_port(link, "linkConfig.port")
        checked: tuple[tuple[str, str], ...] = ()
        if host is not None:
            # libpq tries each of several hosts separated by commas; pymysql takes one.
            hosts = tuple(host.split(",")) if database_type == "POSTGRESQL" else (host,)
            default_port = POSTGRESQL_PORT if database_type == "POSTGRESQL" else MYSQL_PORT
            checked = check_database_link("linkConfig.host", DatabaseServer(hosts, port or default_port, database))
        return cls(
            database_type=database_type,
            host=host,
            port=port,
            # MySQL could live without one, but a default database keeps schemaName optional everywhere.
            database=database,
            username=required(link, "linkConfig.username") if server else None,
            # A password may legitimately be empty (trust or socket authentication), so keep it unstripped.
            password=str(link.get("linkConfig.password") or ""),
            fetch_size=integer(link, "linkConfig.fetchSize") or None,
            checked_addresses=checked,
            tls=tls,
        )


def _properties(link: Mapping[str, object]) -> dict[str, str]:
    """linkConfig.jdbcProperties as a mapping: a JSON object, or ``key=value`` pairs separated by
    ``;``, ``&`` or new lines (JDBC URL spellings)."""
    raw = text(link, "linkConfig.jdbcProperties") or ""
    try:
        loaded = json.loads(raw)
    except ValueError:
        loaded = None
    if isinstance(loaded, dict):
        return {str(name): text(loaded, str(name)) or "" for name in loaded}
    pairs = (part.partition("=") for part in re.split(r"[;&\n]", raw))
    return {name.strip(): value.strip() for name, _, value in pairs if name.strip()}


# What SourceConfig.parse reads; the dialects read nothing else.
SOURCE_INPUTS = names(
    "fromJobConfig", "useSql", "sql", "schemaName", "tableName", "columnList", "whereClause", "partitionColumn"
)


@dataclass(frozen=True)
class SourceConfig:
    schema_name: str | None
    table_name: str | None
    columns: tuple[str, ...] | None
    where_clause: str | None
    sql: str | None  # set only when useSql is true
    partition_column: str | None

    @classmethod
    def parse(cls, from_job: Mapping[str, object]) -> SourceConfig:
        refuse_unsupported(from_job, SOURCE_UNUSED)
        use_sql = boolean(from_job, "fromJobConfig.useSql")
        sql = required(from_job, "fromJobConfig.sql") if use_sql else None
        return cls(
            schema_name=text(from_job, "fromJobConfig.schemaName"),
            table_name=None if use_sql else required(from_job, "fromJobConfig.tableName"),
            columns=columns(from_job, "fromJobConfig.columnList"),
            where_clause=text(from_job, "fromJobConfig.whereClause"),
            sql=sql.rstrip().rstrip(";") if sql else None,
            partition_column=text(from_job, "fromJobConfig.partitionColumn"),
        )


# What only entire-database jobs read (jdbc.database): the tables left out of fromJobConfig.tableName's.
DATABASE_SOURCE_INPUTS = names("fromJobConfig", "excludedTables")


# What SinkConfig.parse reads; the dialects read nothing else.
SINK_INPUTS = names(
    "toJobConfig", "schemaName", "tableName", "columnList", "tablePreparation", "beforeImportType",
    "shouldClearTable", "whereClause", "writeMode", "upsertKeys", "useStageTable", "extendCharLength", "useNullable",
)


@dataclass(frozen=True)
class SinkConfig:
    schema_name: str | None
    table_name: str
    columns: tuple[str, ...] | None
    table_preparation: TablePreparation
    before_import: BeforeImport
    where_clause: str | None
    write_mode: WriteMode = WriteMode.INSERT
    upsert_keys: tuple[str, ...] | None = None  # None: the destination table's primary key
    use_stage_table: bool = False
    extend_char_length: bool = False
    use_nullable: bool = False

    @classmethod
    def parse(cls, to_job: Mapping[str, object]) -> SinkConfig:
        before_import = enum_value(to_job, "toJobConfig.beforeImportType", BeforeImport, BeforeImport.NONE)
        # Older CDM samples say toJobConfig.shouldClearTable=true instead of beforeImportType.
        if before_import is BeforeImport.NONE and boolean(to_job, "toJobConfig.shouldClearTable"):
            before_import = BeforeImport.CLEAR_TABLE
        where_clause = text(to_job, "toJobConfig.whereClause")
        if before_import is BeforeImport.WHERE_CLAUSE and where_clause is None:
            raise CdmError("Cdm.0238", "toJobConfig.whereClause cannot be empty.")
        return cls(
            schema_name=text(to_job, "toJobConfig.schemaName"),
            table_name=required(to_job, "toJobConfig.tableName"),
            columns=columns(to_job, "toJobConfig.columnList"),
            table_preparation=enum_value(
                to_job, "toJobConfig.tablePreparation", TablePreparation, TablePreparation.DO_NOTHING
            ),
            before_import=before_import,
            where_clause=where_clause,
            write_mode=enum_value(to_job, "toJobConfig.writeMode", WriteMode, WriteMode.INSERT),
            upsert_keys=columns(to_job, "toJobConfig.upsertKeys"),
            use_stage_table=boolean(to_job, "toJobConfig.useStageTable"),
            extend_char_length=boolean(to_job, "toJobConfig.extendCharLength"),
            use_nullable=boolean(to_job, "toJobConfig.useNullable"),
        )
