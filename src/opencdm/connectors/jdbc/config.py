"""Typed, validated configuration parsed once from the flat CDM input mappings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from opencdm.errors import CdmError

SUPPORTED_TYPES = ("POSTGRESQL", "MYSQL", "SQLITE")
# Database types CDM knows but this deployment cannot reach; named so the error can say "not supported".
CDM_TYPES = ("ORACLE", "SQLSERVER", "DB2", "DWS", "DDM", "SAP HANA")
MAX_INT = 2147483647
E = TypeVar("E", bound=Enum)


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


def _text(inputs: Mapping[str, object], name: str) -> str | None:
    """The input's value as a string; CDM sends strings but also accepts JSON booleans and numbers."""
    value = inputs.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    return text or None


def _required(inputs: Mapping[str, object], name: str) -> str:
    value = _text(inputs, name)
    if value is None:
        raise CdmError("Cdm.0238", f"{name} cannot be empty.")
    return value


def _integer(inputs: Mapping[str, object], name: str) -> int | None:
    value = _text(inputs, name)
    if value is None:
        return None
    if not value.isdigit() or int(value) > MAX_INT:
        raise CdmError("Cdm.0009", f"{name} is not an integer or is beyond the value range [0, {MAX_INT}].")
    return int(value)


def _boolean(inputs: Mapping[str, object], name: str) -> bool:
    value = _text(inputs, name)
    if value is None or value.lower() == "false":
        return False
    if value.lower() == "true":
        return True
    raise CdmError("Cdm.0014", f"The parameter is invalid: {name} must be true or false, not [{value}].")


def _columns(inputs: Mapping[str, object], name: str) -> tuple[str, ...] | None:
    value = _text(inputs, name)
    if value is None:
        return None
    columns = tuple(part.strip() for part in value.split("&"))
    if any(not column for column in columns):
        raise CdmError("Cdm.0014", f"The parameter is invalid: {name} [{value}] contains an empty column name.")
    if len(set(columns)) != len(columns):
        raise CdmError("Cdm.1116", f"Duplicate column names in {name} [{value}].")
    return columns


def _enum(inputs: Mapping[str, object], name: str, enum: type[E], default: E) -> E:
    value = _text(inputs, name)
    if value is None:
        return default
    for member in enum:
        if member.value.lower() == value.lower():
            return member
    allowed = ", ".join(member.value for member in enum)
    raise CdmError("Cdm.0014", f"The parameter is invalid: {name} [{value}] must be one of {allowed}.")


@dataclass(frozen=True)
class LinkConfig:
    database_type: str
    host: str | None
    port: int | None
    database: str
    username: str | None
    password: str
    fetch_size: int | None

    @classmethod
    def parse(cls, link: Mapping[str, object]) -> LinkConfig:
        database_type = _required(link, "linkConfig.databaseType").upper()
        if database_type not in SUPPORTED_TYPES:
            known = "known to CDM but " if database_type in CDM_TYPES else ""
            raise CdmError(
                "Cdm.0014",
                f"databaseType {database_type} is {known}not supported by this deployment; "
                f"supported: {', '.join(SUPPORTED_TYPES)}.",
            )
        server = database_type != "SQLITE"
        port = _integer(link, "linkConfig.port")
        if port is not None and not 1 <= port <= 65535:
            raise CdmError("Cdm.0024", "[linkConfig.port] must be within the range [1, 65535].")
        return cls(
            database_type=database_type,
            host=_required(link, "linkConfig.host") if server else None,
            port=port,
            # MySQL could live without one, but a default database keeps schemaName optional everywhere.
            database=_required(link, "linkConfig.database"),
            username=_required(link, "linkConfig.username") if server else None,
            # A password may legitimately be empty (trust or socket authentication), so keep it unstripped.
            password=str(link.get("linkConfig.password") or ""),
            fetch_size=_integer(link, "linkConfig.fetchSize") or None,
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
        use_sql = _boolean(from_job, "fromJobConfig.useSql")
        sql = _required(from_job, "fromJobConfig.sql") if use_sql else None
        return cls(
            schema_name=_text(from_job, "fromJobConfig.schemaName"),
            table_name=None if use_sql else _required(from_job, "fromJobConfig.tableName"),
            columns=_columns(from_job, "fromJobConfig.columnList"),
            where_clause=_text(from_job, "fromJobConfig.whereClause"),
            sql=sql.rstrip().rstrip(";") if sql else None,
            partition_column=_text(from_job, "fromJobConfig.partitionColumn"),
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
        before_import = _enum(to_job, "toJobConfig.beforeImportType", BeforeImport, BeforeImport.NONE)
        # Older CDM samples say toJobConfig.shouldClearTable=true instead of beforeImportType.
        if before_import is BeforeImport.NONE and _boolean(to_job, "toJobConfig.shouldClearTable"):
            before_import = BeforeImport.CLEAR_TABLE
        where_clause = _text(to_job, "toJobConfig.whereClause")
        if before_import is BeforeImport.WHERE_CLAUSE and where_clause is None:
            raise CdmError("Cdm.0238", "toJobConfig.whereClause cannot be empty.")
        return cls(
            schema_name=_text(to_job, "toJobConfig.schemaName"),
            table_name=_required(to_job, "toJobConfig.tableName"),
            columns=_columns(to_job, "toJobConfig.columnList"),
            table_preparation=_enum(
                to_job, "toJobConfig.tablePreparation", TablePreparation, TablePreparation.DO_NOTHING
            ),
            before_import=before_import,
            where_clause=where_clause,
            write_mode=_enum(to_job, "toJobConfig.writeMode", WriteMode, WriteMode.INSERT),
            upsert_keys=_columns(to_job, "toJobConfig.upsertKeys"),
            use_stage_table=_boolean(to_job, "toJobConfig.useStageTable"),
            extend_char_length=_boolean(to_job, "toJobConfig.extendCharLength"),
            use_nullable=_boolean(to_job, "toJobConfig.useNullable"),
        )
