"""What every dialect shares: the Source and Sink flow, error wrapping and row-based batch building.

A ``Dialect`` knows one database: how to connect, quote, describe tables and queries, stream
batches out and write batches in. ``JdbcSource`` and ``JdbcSink`` hold the CDM semantics
(columnList, whereClause, useSql, tablePreparation, beforeImportType, writeMode, useStageTable)
once for all dialects.

Write modes other than INSERT load rows into a second table first (a temporary one per batch, or
the stage table of useStageTable) and move them into the destination with one statement that
applies the mode (``Dialect.merge``): the database's bulk loader keeps its speed, and the
statement tells how many rows updated existing ones.
"""

from __future__ import annotations

import datetime as dt
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, ClassVar, NamedTuple, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from opencdm.connectors import types as t
from opencdm.connectors import values
from opencdm.connectors.base import (
    CursorRange,
    NativeChunk,
    NativeFormat,
    Partition,
    Refused,
    RejectedRow,
    Sink,
    Source,
    TableScan,
    WriteResult,
    primary_key_of,
    with_primary_key,
)
from opencdm.connectors.jdbc.config import (
    BeforeImport,
    LinkConfig,
    SinkConfig,
    SourceConfig,
    TablePreparation,
    WriteMode,
)
from opencdm.connectors.jdbc.types import Column
from opencdm.connectors.types import cast_batch
from opencdm.errors import CdmError
from opencdm.settings import Settings

Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class Merge:
    """How loaded rows enter the destination table: the write mode, the key columns it matches rows
    on, and the table's columns that are not copied (REPLACE resets them to their defaults)."""

    mode: WriteMode
    keys: tuple[str, ...] = ()
    others: tuple[str, ...] = ()


APPEND = Merge(WriteMode.INSERT)


class Writer(ABC):
    """Writes batches, already cast to the destination columns' Arrow types, into one table."""

    @abstractmethod
    def write(self, batch: pa.RecordBatch) -> int:
        """Write one batch; return how many of its rows updated rows the table already held."""

    def write_all(self, batches: Iterator[pa.RecordBatch]) -> Iterator[int]:
        """Write every batch, yielding ``write``'s count for each as it is taken: one ``write`` a
        batch, unless the writer streams them all into one statement."""
        for batch in batches:
            yield self.write(batch)


COUNT_BELOW_ROWS = 100_000


class Dialect(ABC):
    quote_char: ClassVar[str] = '"'
    driver_errors: ClassVar[tuple[type[Exception], ...]]
    # The database's own bulk format a source and sink of this dialect can pass through unchanged.
    native_format_name: ClassVar[str | None] = None
    # Whether several connections may write one table at once (SQLite has one writer at a time).
    concurrent_writers: ClassVar[bool] = True
    # Whether CREATE/DROP TABLE are part of the transaction (MySQL commits before and after them).
    transactional_ddl: ClassVar[bool] = True
    # Where temporary tables are named; None: in the destination table's schema.
    temporary_schema: ClassVar[str | None] = None
    # Whether the driver reads a whole result ahead of its consumer; such dialects page on a key.
    reads_ahead: ClassVar[bool] = False
    # Whether the usual driver cannot roll back to a savepoint after a failed statement (ADBC
    # PostgreSQL), so that writes leaving refused rows out go through native_connect().
    rejects_need_native_connection: ClassVar[bool] = False
    # Whether a value longer than a column's declared length is refused (SQLite stores it whole).
    enforces_lengths: ClassVar[bool] = True
    # Whether a float column holds -0 apart from 0; where it does not, -0 is written as 0.
    negative_zero: ClassVar[bool] = True

    def __init__(self, link: LinkConfig, validating: bool = False) -> None:
        self.link = link
        # Opened only to validate a link (?validate=true): create nothing, wait for nothing long.
        self.validating = validating
        # Seconds a connection may take to be made (OPENCDM_CONNECT_TIMEOUT); when validating, also
        # how long the server waits for any answer.
        self.connect_timeout = Settings.from_env().connect_timeout_seconds

    # --- naming -------------------------------------------------------------------------------
    def quote(self, identifier: str) -> str:
        q = self.quote_char
        return q + identifier.replace(q, q + q) + q

    # MySQL reads a backslash in a string literal as an escape unless told otherwise.
    backslash_escapes: ClassVar[bool] = False

    def literal(self, value: Any) -> str:
        """``value`` as an SQL literal: how partition boundaries reach the database."""
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float | Decimal):
            return repr(value) if isinstance(value, float) else str(value)
        if isinstance(value, dt.datetime | dt.date | dt.time):
            text = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
        elif isinstance(value, str):
            text = value
        else:
            raise CdmError("Cdm.0925", f"The partition column contains unsupported values ({type(value).__name__}).")
        if self.backslash_escapes:
            text = text.replace("\\", "\\\\")
        return "'" + text.replace("'", "''") + "'"

    def table_ref(self, schema: str, table: str) -> str:
        return f"{self.quote(schema)}.{self.quote(table)}"

    def schema_for(self, configured: str | None) -> str:
        return configured or self.default_schema()

    @abstractmethod
    def default_schema(self) -> str: ...

    # --- connections and errors ---------------------------------------------------------------
    @abstractmethod
    def _connect(self) -> Any: ...

    def connect(self, native: bool = False) -> Any:
        """A new connection (``native``: from ``native_connect``); a failure is Cdm.0901."""
        try:
            return self.native_connect() if native else self._connect()
        except Exception as exc:  # noqa: BLE001 - drivers fail in many ways on a peer that is not their database
            cause = self.connect_failure(exc)
            if cause is None:
                raise
            raise CdmError("Cdm.0901", f"Cannot connect to the database server. Cause: {cause}") from exc

    def connect_failure(self, exc: Exception) -> str | None:
        """What to say of a failed connection (None: not a connection failure, raised as it is).

        Database servers reached over the network say only what the database itself answered
        (e.g. a wrong password) or ``cannot connect to host:port``: never what a service of another
        kind answered in its place, so that links cannot be used to read the banners of a host's ports.
        """
        return self.error_message(exc) if isinstance(exc, self.driver_errors) else None

    def unreachable(self) -> str:
        host = self.link.host or ""
        shown = f"[{host}]" if ":" in host else host
        return f"cannot connect to {shown}:{self.link.port or self.default_port}"

    default_port: ClassVar[int] = 0

    def error_message(self, exc: Exception) -> str:
        return str(exc).strip()

    def is_duplicate_key(self, exc: Exception) -> bool:
        """Whether ``exc`` is the database refusing a row whose key a row of the table already has."""
        return False

    @contextmanager
    def wrap(self, code: str, what: str) -> Iterator[None]:
        """Turn a driver error into a CdmError that carries the database's own message."""
        try:
            yield
        except self.driver_errors as exc:
            raise CdmError(code, f"{what} Cause: {self.error_message(exc)}") from exc

    def close(self, conn: Any) -> None:
        with suppress(*self.driver_errors):  # the connection is being discarded anyway
            conn.close()

    @abstractmethod
    def cancel(self, conn: Any) -> None:
        """Cancel the statement ``conn`` runs, from another thread than the one blocked in it (a
        stop), which then gets the driver's error; nothing when ``conn`` runs none."""

    def begin(self, conn: Any) -> None:  # noqa: B027 - drivers that are never in autocommit need nothing
        """Start the sink's transaction (before any DDL, where the database makes DDL transactional)."""

    # --- metadata -----------------------------------------------------------------------------
    @abstractmethod
    def table_columns(self, conn: Any, schema: str, table: str) -> list[Column] | None:
        """The table's columns in table order; None when the table does not exist."""

    @abstractmethod
    def query_columns(self, conn: Any, sql: str) -> list[Column]: ...

    def table_statistics_sql(self, schema: str, table: str) -> str | None:
        """A query for the row count the database's statistics hold for a table, if it keeps one."""
        return None

    def estimate_rows(self, conn: Any, schema: str, table: str) -> int:
        statistics = self.table_statistics_sql(schema, table)
        rows = self.query(conn, statistics) if statistics else []
        approximate = int(rows[0][0]) if rows and rows[0][0] is not None else None
        # Statistics are missing or rough for small tables, where counting is cheap anyway.
        if approximate is not None and approximate >= COUNT_BELOW_ROWS:
            return approximate
        return int(self.query(conn, f"SELECT COUNT(*) FROM {self.table_ref(schema, table)}")[0][0])

    def estimate_query_rows(self, conn: Any, sql: str) -> int | None:
        """The planner's row estimate for a query, where the database offers one cheaply."""
        return None

    def query(self, conn: Any, sql: str) -> list[tuple[Any, ...]]:
        cursor = conn.cursor()
        try:
            cursor.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def primary_key(self, conn: Any, schema: str, table: str) -> list[str]:
        rows = self.query(
            conn,
            "SELECT kcu.column_name FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name "
            "AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name "
            f"WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = {self.literal(schema)} "
            f"AND tc.table_name = {self.literal(table)} ORDER BY kcu.ordinal_position",
        )
        return [str(row[0]) for row in rows]

    @abstractmethod
    def unique_keys(self, conn: Any, schema: str, table: str) -> list[tuple[str, ...]]:
        """The column lists of the table's primary key and unique indexes (whole columns, no
        condition): the keys a REPLACE or UPSERT can match rows on."""

    def split_points(
        self,
        conn: Any,
        relation: str,
        column: Column,
        where: str | None,
        parts: int,
        table: tuple[str, str] | None,
    ) -> list[Any]:
        """Up to ``parts - 1`` ascending values of ``column`` that cut ``relation`` into ranges of
        about equal row counts (exact quantiles over the non-NULL values). ``table`` is the
        (schema, table) when ``relation`` is a plain table."""
        quoted = self.quote(column.field.name)
        condition = f"{quoted} IS NOT NULL" + (f" AND ({where})" if where else "")
        rows = self.query(
            conn,
            f"SELECT MIN(v) FROM (SELECT {quoted} AS v, NTILE({parts}) OVER (ORDER BY {quoted}) AS bucket "
            f"FROM {relation} WHERE {condition}) opencdm_tiles GROUP BY bucket ORDER BY 1",
        )
        return [row[0] for row in rows[1:]]

    @abstractmethod
    def column_type(self, field: pa.Field) -> str:
        """The DDL type that keeps the field's meaning."""

    def key_constraint(self, key: Sequence[pa.Field]) -> str:
        """The constraint that makes ``key`` the primary key of a table being created."""
        return "PRIMARY KEY (" + ", ".join(self.quote(field.name) for field in key) + ")"

    def column_definition(self, field: pa.Field) -> str:
        not_null = " NOT NULL" if t.is_not_null(field) else ""
        return f"{self.quote(field.name)} {self.column_type(field)}{not_null}"

    def create_table_like(
        self, conn: Any, ref: str, schema: str, table: str, columns: Sequence[Column], temporary: bool
    ) -> None:
        """Create the empty table ``ref`` with ``columns`` of ``schema.table``, typed as there."""
        definitions = ", ".join(f"{self.quote(column.field.name)} {column.native}" for column in columns)
        self.execute(conn, f"CREATE {'TEMPORARY ' if temporary else ''}TABLE {ref} ({definitions})")

    # --- data ---------------------------------------------------------------------------------
    def select_expression(self, column: Column) -> str:
        return self.quote(column.field.name)

    @abstractmethod
    def stream(self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Run ``sql`` and yield batches of at most ``batch_rows`` rows in exactly ``schema``."""

    def stream_by_key(
        self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int, key: str
    ) -> Iterator[pa.RecordBatch]:
        """Like ``stream``, for a result whose column ``key`` is unique and never NULL."""
        return self.stream(conn, sql, schema, batch_rows)

    @abstractmethod
    def execute(self, conn: Any, sql: str) -> None: ...

    def refused_values(self, array: pa.Array) -> pa.Array | None:
        """Where ``array`` holds values this database cannot store, as a boolean array (see
        Sink.refused_values)."""
        return values.infinities(array)

    # --- write modes --------------------------------------------------------------------------
    def insert_select(self, loaded: str, expressions: Sequence[str], target: str, columns: Sequence[str]) -> str:
        names = ", ".join(self.quote(column) for column in columns)
        return f"INSERT INTO {target} ({names}) SELECT {', '.join(expressions)} FROM {loaded}"

    @abstractmethod
    def merge_statement(
        self, loaded: str, expressions: Sequence[str], target: str, columns: Sequence[str], merge: Merge
    ) -> str:
        """INSERT INTO ``target`` (``columns``) SELECT ``expressions`` FROM ``loaded``, as ``merge.mode``
        wants it when a row's key already exists."""

    def merge(
        self, conn: Any, loaded: str, expressions: Sequence[str], target: str, columns: Sequence[str], merge: Merge
    ) -> int:
        """Move the rows of ``loaded`` into ``target``; return how many updated existing rows.

        They are counted before the move as the loaded rows whose key the target holds: the
        affected-rows count cannot tell an update from an insert (MySQL reports 0 for an update
        that changes nothing, SQLite 1 for either).
        """
        updated = 0
        if merge.keys:
            matching = " AND ".join(f"t.{self.quote(key)} = l.{self.quote(key)}" for key in merge.keys)
            existing = f"SELECT 1 FROM {target} t WHERE {matching}"
            rows = self.query(conn, f"SELECT COUNT(*) FROM {loaded} l WHERE EXISTS ({existing})")
            updated = int(rows[0][0])
        self.execute(conn, self.merge_statement(loaded, expressions, target, columns, merge))
        return updated

    def empty_statement(self, ref: str) -> str:
        # Not TRUNCATE: MySQL commits the transaction before a TRUNCATE, even of a temporary table.
        return f"DELETE FROM {ref}"

    def move_rows(
        self,
        conn: Any,
        loaded: str,
        target: str,
        columns: Sequence[str],
        merge: Merge,
        expressions: Sequence[str] | None = None,
    ) -> int:
        """``merge`` then empty ``loaded`` for the next rows; ``expressions`` default to the columns."""
        selected = expressions if expressions is not None else [self.quote(column) for column in columns]
        updated = self.merge(conn, loaded, selected, target, columns, merge)
        self.execute(conn, self.empty_statement(loaded))
        return updated

    def table_scan(self, schema: str, table: str, columns: Sequence[Column]) -> TableScan | None:
        """``columns`` of the table described for a destination that reads it by itself, when the
        dialect can describe one (see TableScan)."""
        return None

    # --- the native fast path (dialects with a native_format_name) --------------------------------
    def passes_through(self, source_types: tuple[str, ...], target_types: tuple[str, ...]) -> bool:
        """Whether columns of ``target_types`` read the native stream of ``source_types`` columns
        and hold exactly the source's values (types as the database spells them)."""
        return source_types == target_types

    def native_connect(self) -> Any:
        """A connection able to stream the native format; it also serves every metadata call."""
        raise NotImplementedError

    def copies_by_name(self, conn: Any, schema: str, table: str) -> bool:
        """Whether ``copy_out`` takes the table by name (``table (columns)``); a relation that is no
        plain table (a view, say) is read through ``(SELECT ...)``."""
        return True

    def copy_out(self, conn: Any, relation: str) -> Iterator[NativeChunk]:
        """Stream ``relation`` (``table (columns)`` or ``(SELECT ...)``) in the native format."""
        raise NotImplementedError

    def copy_in(self, conn: Any, target: str, chunks: Iterator[NativeChunk]) -> Iterator[WriteResult]:
        """Write native-format chunks into ``target`` (``table (columns)``)."""
        raise NotImplementedError

    @abstractmethod
    def writer(
        self, conn: Any, schema: str, table: str, targets: Sequence[Column], table_columns: Sequence[Column]
    ) -> Writer:
        """A writer for ``targets`` (a subset of ``table_columns``, in the batches' column order)."""

    def merging_writer(
        self,
        conn: Any,
        schema: str,
        table: str,
        targets: Sequence[Column],
        table_columns: Sequence[Column],
        merge: Merge,
    ) -> Writer:
        """A writer that applies ``merge`` to every batch: the dialect's writer loads the batch into
        a temporary table, ``move_rows`` takes it from there."""
        loaded_schema = self.temporary_schema or schema
        loaded_table = f"opencdm_load_{uuid.uuid4().hex}"
        loaded = self.table_ref(loaded_schema, loaded_table)
        self.create_table_like(conn, loaded, schema, table, targets, temporary=True)
        load = self.writer(conn, loaded_schema, loaded_table, targets, targets)
        return _MergingWriter(self, conn, load, loaded, self.table_ref(schema, table), targets, merge)


# How a column is built from driver values: as they are (None), through a per-value function, or
# as an Arrow type that is then cast to the field's (Arrow's vectorised parsing, e.g. ISO text).
ValueReader: TypeAlias = Converter | pa.DataType | None


def batch_from_rows(rows: Sequence[Sequence[Any]], schema: pa.Schema, readers: Sequence[ValueReader]) -> pa.RecordBatch:
    """Build a batch from driver rows, column by column, converting values where the driver's
    Python type is not the one Arrow takes for the field."""
    arrays = []
    for index, (field, reader) in enumerate(zip(schema, readers, strict=True)):
        values = [row[index] for row in rows]
        if isinstance(reader, pa.DataType):
            arrays.append(pc.cast(pa.array(values, type=reader), field.type))
            continue
        if reader is not None:
            values = [None if value is None else reader(value) for value in values]
        arrays.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def rows_from_batch(batch: pa.RecordBatch, converters: Sequence[Converter | None]) -> list[tuple[Any, ...]]:
    """The batch as parameter tuples for ``executemany``."""
    columns = []
    for array, convert in zip(batch.columns, converters, strict=True):
        values = array.to_pylist()
        if convert is not None:
            values = [None if value is None else convert(value) for value in values]
        columns.append(values)
    return list(zip(*columns, strict=True))


class ExecuteManyWriter(Writer):
    """INSERT through the DB-API ``executemany`` with per-column value conversion."""

    def __init__(
        self,
        dialect: Dialect,
        conn: Any,
        schema: str,
        table: str,
        targets: Sequence[Column],
        placeholder: str,
        converters: Sequence[Converter | None],
    ) -> None:
        names = ", ".join(dialect.quote(column.field.name) for column in targets)
        prefix = f"INSERT INTO {dialect.table_ref(schema, table)} ({names})"
        if placeholder == "%s":  # a "%" in a quoted identifier must not be taken for a placeholder
            prefix = prefix.replace("%", "%%")
        self._sql = f"{prefix} VALUES ({', '.join(placeholder for _ in targets)})"
        self._conn = conn
        self._converters = converters

    def write(self, batch: pa.RecordBatch) -> int:
        cursor = self._conn.cursor()
        try:
            cursor.executemany(self._sql, rows_from_batch(batch, self._converters))
        finally:
            cursor.close()
        return 0


class _MergingWriter(Writer):
    def __init__(
        self,
        dialect: Dialect,
        conn: Any,
        load: Writer,
        loaded: str,
        target: str,
        targets: Sequence[Column],
        merge: Merge,
    ) -> None:
        self._dialect, self._conn, self._load = dialect, conn, load
        self._loaded, self._target, self._merge = loaded, target, merge
        self._columns = [column.field.name for column in targets]

    def write(self, batch: pa.RecordBatch) -> int:
        self._load.write(batch)
        return self._dialect.move_rows(self._conn, self._loaded, self._target, self._columns, self._merge)


def _splittable(type_: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_)
        or pa.types.is_date(type_) or pa.types.is_timestamp(type_)
        or pa.types.is_string(type_) or pa.types.is_large_string(type_)
    )


def _match_names(available: Sequence[str], names: Sequence[str], input_name: str, table: str) -> list[str]:
    """Resolve configured column names exactly, else case-insensitively when that is unambiguous."""
    exact = set(available)
    folded: dict[str, list[str]] = {}
    for name in available:
        folded.setdefault(name.casefold(), []).append(name)
    matched = []
    for name in names:
        candidates = [name] if name in exact else folded.get(name.casefold(), [])
        if len(candidates) != 1:
            raise CdmError(
                "Cdm.0014", f"The parameter is invalid: column [{name}] of {input_name} does not exist in [{table}]."
            )
        matched.append(candidates[0])
    return matched


def _match(columns: Sequence[Column], names: Sequence[str], input_name: str, table: str) -> list[Column]:
    by_name = {column.field.name: column for column in columns}
    return [by_name[name] for name in _match_names(list(by_name), names, input_name, table)]


def _cursor_value(text: str, column: Column) -> Any:
    """A cursor value given as text (stored, or the user's lastValue) as a value of the column's type."""
    type_ = column.field.type
    try:
        return pa.array([text]).cast(type_)[0].as_py()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if pa.types.is_timestamp(type_) and type_.tz is not None:
            # A time without a zone, for a column with one: taken as UTC.
            with suppress(pa.ArrowInvalid):
                naive = pa.array([text]).cast(pa.timestamp(type_.unit))
                return pc.assume_timezone(naive, "UTC")[0].as_py()
        raise CdmError(
            "Cdm.0014", f"The cursor value [{text}] is not a value of column {column.field.name} ({column.native})."
        ) from None


class JdbcSource(Source):
    def __init__(self, dialect: Dialect, config: SourceConfig) -> None:
        self._dialect = dialect
        self._config = config
        self._schema_name = dialect.schema_for(config.schema_name)
        self._native_conn: Any = None
        self._conn = dialect.connect()
        try:
            self._columns = self._resolve_columns()
        except BaseException:
            self.close()
            raise
        self._arrow_schema = self._keyed(pa.schema([column.field for column in self._columns]))
        # fromJobConfig.whereClause, narrowed by restrict() in an incremental run.
        self._where = config.where_clause
        self._row_key: tuple[str, ...] | None = None

    def _resolve_columns(self) -> list[Column]:
        dialect, config = self._dialect, self._config
        if config.sql is not None:
            with dialect.wrap("Cdm.0902", "SQL statement execution failed."):
                available = dialect.query_columns(self._conn, config.sql)
            origin = "the query"
        else:
            assert config.table_name is not None
            origin = f"{self._schema_name}.{config.table_name}"
            with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
                found = dialect.table_columns(self._conn, self._schema_name, config.table_name)
            if found is None:
                raise CdmError("Cdm.0900", f"Table [{origin}] does not exist.")
            available = found
        if config.columns is None:
            return available
        return _match(available, config.columns, "fromJobConfig.columnList", origin)

    def _keyed(self, schema: pa.Schema) -> pa.Schema:
        """``schema`` with the table's primary key, when the table has one and all of it is read."""
        dialect, config = self._dialect, self._config
        if config.sql is not None or config.table_name is None:
            return schema
        with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
            key = dialect.primary_key(self._conn, self._schema_name, config.table_name)
        return with_primary_key(schema, key) if key and set(key) <= set(schema.names) else schema

    def _select(self, condition: str | None, native: bool = False) -> str:
        dialect = self._dialect
        # The Arrow path may need expressions (casts); the native path wants the columns as stored.
        if native:
            expressions = ", ".join(dialect.quote(column.field.name) for column in self._columns)
        else:
            expressions = ", ".join(dialect.select_expression(column) for column in self._columns)
        relation = self._relation()
        conditions = [f"({text})" for text in (self._where, condition) if text]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return f"SELECT {expressions} FROM {relation}{where}"

    def schema(self) -> pa.Schema:
        return self._arrow_schema

    def estimate_rows(self) -> int | None:
        config = self._config
        with self._dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
            if config.table_name is None or self._where is not None:
                return self._dialect.estimate_query_rows(self._conn, self._select(None))
            return self._dialect.estimate_rows(self._conn, self._schema_name, config.table_name)

    def partitions(self, max_partitions: int) -> list[Partition]:
        """Ranges of the partition column (fromJobConfig.partitionColumn, else the primary key),
        cut at quantiles so that skewed keys still give balanced ranges, plus the NULL rows."""
        if max_partitions <= 1:
            return [Partition(0)]
        column = self._partition_column()
        if column is None:
            return [Partition(0)]
        dialect, config = self._dialect, self._config
        if not _splittable(column.field.type):
            raise CdmError(
                "Cdm.0925",
                f"The partition column {column.field.name} has type {column.native}, which cannot be split "
                "into ranges (use an integer, decimal, date, timestamp or text column).",
            )
        if config.sql is not None:
            relation, table = f"({config.sql}) opencdm_query", None
        else:
            assert config.table_name is not None
            relation = dialect.table_ref(self._schema_name, config.table_name)
            table = (self._schema_name, config.table_name)
        with dialect.wrap("Cdm.0902", "SQL statement execution failed."):
            points = dialect.split_points(self._conn, relation, column, self._where, max_partitions, table)
        quoted = dialect.quote(column.field.name)
        bounds: list[Any] = [None, *sorted(set(points)), None]
        conditions = []
        for low, high in zip(bounds, bounds[1:], strict=False):
            parts = [f"{quoted} >= {dialect.literal(low)}"] if low is not None else []
            parts += [f"{quoted} < {dialect.literal(high)}"] if high is not None else []
            conditions.append(" AND ".join(parts) or f"{quoted} IS NOT NULL")
        conditions.append(f"{quoted} IS NULL")
        return [Partition(index, {"condition": text}) for index, text in enumerate(conditions)]

    def _partition_column(self) -> Column | None:
        config, dialect = self._config, self._dialect
        name = config.partition_column
        if name is None and config.table_name is not None:
            with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
                key = dialect.primary_key(self._conn, self._schema_name, config.table_name)
            name = key[0] if key else None
        if name is None:
            return None
        return self._relation_column(name, "fromJobConfig.partitionColumn")

    def _relation_column(self, name: str, input_name: str) -> Column:
        """A column of the table read (any of them, not only those of columnList), or of the query."""
        config, dialect = self._config, self._dialect
        if config.sql is not None:
            candidates = self._columns
        else:
            assert config.table_name is not None
            with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
                candidates = dialect.table_columns(self._conn, self._schema_name, config.table_name) or []
        return _match(candidates, [name], input_name, config.table_name or "the query")[0]

    def _relation(self) -> str:
        config = self._config
        if config.sql is not None:
            return f"({config.sql}) opencdm_query"
        assert config.table_name is not None
        return self._dialect.table_ref(self._schema_name, config.table_name)

    def _cursor_column(self, name: str) -> Column:
        column = self._relation_column(name, "fromJobConfig.checkColumn")
        if not _splittable(column.field.type):
            raise CdmError(
                "Cdm.0014",
                f"The check column {name} has type {column.native}; an incremental cursor needs an integer, "
                "decimal, date, timestamp or text column.",
            )
        return column

    def _cursor_condition(self, column: Column, after: str | None, inclusive: bool, upper: str | None) -> str | None:
        dialect = self._dialect
        quoted = dialect.quote(column.field.name)
        parts = []
        if after is not None:
            parts.append(f"{quoted} {'>=' if inclusive else '>'} {dialect.literal(_cursor_value(after, column))}")
        if upper is not None:
            parts.append(f"{quoted} <= {dialect.literal(_cursor_value(upper, column))}")
        return " AND ".join(parts) or None

    def cursor_max(self, column: str, after: str | None, inclusive: bool) -> str | None:
        dialect = self._dialect
        checked = self._cursor_column(column)
        conditions = [
            f"({text})" for text in (self._where, self._cursor_condition(checked, after, inclusive, None)) if text
        ]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        quoted = dialect.quote(checked.field.name)
        # Read through the dialect's own conversions, so the value has the column's exact type.
        sql = (
            f"SELECT {dialect.select_expression(checked)} FROM "
            f"(SELECT MAX({quoted}) AS {quoted} FROM {self._relation()}{where}) opencdm_max"
        )
        with dialect.wrap("Cdm.0902", "SQL statement execution failed."):
            batches = list(dialect.stream(self._conn, sql, pa.schema([checked.field]), 1))
        values = [value for batch in batches for value in batch.column(0).cast(pa.string()).to_pylist()]
        return values[0] if values else None

    def restrict(self, cursor: CursorRange) -> None:
        checked = self._cursor_column(cursor.column)
        condition = self._cursor_condition(checked, cursor.after, cursor.inclusive, cursor.upper)
        self._where = f"({self._config.where_clause}) AND ({condition})" if self._config.where_clause else condition

    def row_key(self) -> tuple[str, ...]:
        dialect, config = self._dialect, self._config
        if self._row_key is None:
            key: list[str] = []
            if config.table_name is not None:
                with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
                    key = dialect.primary_key(self._conn, self._schema_name, config.table_name)
            self._row_key = tuple(key)
        return self._row_key

    def native_format(self) -> NativeFormat | None:
        name = self._dialect.native_format_name
        return NativeFormat(name, tuple(column.native for column in self._columns)) if name else None

    def table_scan(self) -> TableScan | None:
        config = self._config
        if config.sql is not None or self._where is not None:
            return None
        assert config.table_name is not None
        scan = self._dialect.table_scan(self._schema_name, config.table_name, self._columns)
        return scan if scan is None else replace(scan, key=self.row_key())

    def read_native(self, partition: Partition) -> Iterator[NativeChunk]:
        dialect, config = self._dialect, self._config
        condition = partition.spec.get("condition")
        # COPY names no generated column of a table (PostgreSQL); a query may select it.
        plain = not any(column.generated for column in self._columns)
        if (
            config.sql is None and self._where is None and condition is None and plain
            and config.table_name is not None and self._copies_by_name(config.table_name)
        ):
            names = ", ".join(dialect.quote(column.field.name) for column in self._columns)
            relation = f"{dialect.table_ref(self._schema_name, config.table_name)} ({names})"
        else:
            relation = f"({self._select(condition, native=True)})"
        if self._native_conn is None:
            self._native_conn = dialect.connect(native=True)
        with dialect.wrap("Cdm.0904", "Error retrieving data from the result set."):
            yield from dialect.copy_out(self._native_conn, relation)

    def _copies_by_name(self, table: str) -> bool:
        with self._dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
            return self._dialect.copies_by_name(self._conn, self._schema_name, table)

    def read(self, partition: Partition, batch_rows: int) -> Iterator[pa.RecordBatch]:
        # A partition may narrow the read with its own condition (e.g. a key range).
        sql = self._select(partition.spec.get("condition"))
        fetch_size = self._dialect.link.fetch_size
        rows = min(batch_rows, fetch_size) if fetch_size else batch_rows
        key = self._page_key()
        with self._dialect.wrap("Cdm.0904", "Error retrieving data from the result set."):
            if key is None:
                yield from self._dialect.stream(self._conn, sql, self._arrow_schema, rows)
            else:
                yield from self._dialect.stream_by_key(self._conn, sql, self._arrow_schema, rows, key)

    def _page_key(self) -> str | None:
        """The table's one-column primary key, when the dialect pages on it and it is read."""
        dialect, config = self._dialect, self._config
        if not dialect.reads_ahead or config.table_name is None:
            return None
        with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
            key = dialect.primary_key(self._conn, self._schema_name, config.table_name)
        names = {column.field.name: column for column in self._columns}
        if len(key) != 1 or key[0] not in names or not _splittable(names[key[0]].field.type):
            return None
        return key[0]

    def cancel(self) -> None:
        for conn in (self._conn, self._native_conn):
            if conn is not None:
                self._dialect.cancel(conn)

    def close(self) -> None:
        self._dialect.close(self._conn)
        if self._native_conn is not None:
            self._dialect.close(self._native_conn)


def _names(columns: Sequence[Column]) -> list[str]:
    return [column.field.name for column in columns]


# What the writers of a stage table leave to the move out of it: they append, nothing more.
_DESTINATION_ONLY_INPUTS = frozenset({
    "toJobConfig.tablePreparation", "toJobConfig.beforeImportType", "toJobConfig.shouldClearTable",
    "toJobConfig.whereClause", "toJobConfig.writeMode", "toJobConfig.upsertKeys", "toJobConfig.useStageTable",
})


class _Step(NamedTuple):
    """A table preparation or clearing statement, with the error it raises when it fails."""

    sql: str
    code: str
    what: str


# Bytes of the table name kept in a stage table's name: identifiers are at most 63 bytes in PostgreSQL.
STAGE_NAME_PREFIX_BYTES = 24
# In the name of every stage table, and only there: nothing else is ever dropped as a stage table.
STAGE_MARK = "_opencdm_stage_"


def _checked(batches: Iterator[pa.RecordBatch], width: int, written: Sequence[int]) -> Iterator[pa.RecordBatch]:
    """The batches of ``width`` columns, each cut to its columns at positions ``written``."""
    for batch in batches:
        if batch.num_columns != width:
            raise CdmError(
                "Cdm.0931",
                f"Schema column count [{width}] does not match result-set column count [{batch.num_columns}].",
            )
        yield batch if len(written) == width else batch.select(written)


def _too_long(array: pa.Array, target: pa.Field) -> Refused | None:
    """The values longer than ``target``'s declared length: refused before the write, so that the
    refusal names the value (a database names the column and at most the line), and so that
    PostgreSQL does not silently cut trailing spaces beyond the length."""
    limit = t.length_of(target)
    assert limit is not None
    try:
        converted = t.cast_array(array, target.type, target.name)
    except CdmError:
        return None  # the write's own conversion fails naming the value
    if pa.types.is_binary(converted.type) or pa.types.is_large_binary(converted.type):
        lengths, unit = pc.binary_length(converted), "bytes"
    elif pa.types.is_string(converted.type) or pa.types.is_large_string(converted.type):
        lengths, unit = pc.utf8_length(converted), "characters"
    else:
        return None
    return Refused.where(pc.greater(lengths, limit), f"longer than the {limit} {unit} of column [{target.name}]")


def _conversion_failure(convert: Callable[[pa.Array], pa.Array], value: pa.Array) -> str:
    """The message of cast_array's refusal of ``value``, one value values.failing_rows found."""
    try:
        convert(value)
    except CdmError as exc:
        return exc.message
    raise AssertionError("a value values.failing_rows found converts on its own")


# The table beside a resumable run's destination table that records, in each partition's own
# transaction, that the partition committed (Sink.commit_partition).
PARTITION_RECORDS_TABLE = "opencdm_partition_commits"

# Where a batch's write can be undone when rows of it are refused (Sink.skip_rejected_rows).
REJECT_SAVEPOINT = "opencdm_batch"


class JdbcSink(Sink):
    """CDM's destination semantics on any dialect.

    Without useStageTable the rows go straight into the table (INSERT) or through a temporary
    table per batch (REPLACE, UPSERT), inside the sink's one transaction. With useStageTable they
    are loaded into a stage table; table preparation, clearing and the move into the table wait
    until a partition is fully staged, so a long load takes no lock on the table and a failed or
    stopped run leaves it untouched.
    """

    def __init__(self, dialect: Dialect, config: SinkConfig) -> None:
        self._dialect = dialect
        self._config = config
        self._schema_name = dialect.schema_for(config.schema_name)
        self._conn = dialect.connect()
        self._targets: list[Column] = []
        # The fields of the targets with a length limit, by the position of their source column.
        self._limited: dict[int, pa.Field] = {}
        # How many columns the source's batches have, and the positions of those written (the
        # others go to generated columns).
        self._source_width = 0
        self._written: list[int] = []
        self._writer: Writer | None = None
        self._merge = APPEND
        # useStageTable: the stage table, and the preparation and clearing due before the first move.
        self._stage: str | None = None
        self._deferred: list[_Step] = []
        # Whether the stage table was committed for writers in other processes (open_to_writers):
        # a rollback then has to drop it.
        self._stage_shared = False
        # Whether the table holds this run's rows only: it created or emptied it.
        self._scoped = False
        # The move out of the stage table has to happen once, after every partition is staged;
        # partition processes commit on their own, so a staged job has one writer.
        self.parallel_writers = dialect.concurrent_writers and not config.use_stage_table

    @property
    def _display(self) -> str:
        return f"{self._schema_name}.{self._config.table_name}"

    @property
    def _ref(self) -> str:
        return self._dialect.table_ref(self._schema_name, self._config.table_name)

    @property
    def _stage_ref(self) -> str:
        assert self._stage is not None
        return self._dialect.table_ref(self._schema_name, self._stage)

    def prepare(self, source_schema: pa.Schema) -> None:
        self._use_savepoint_connection()
        self._open_writer(self._prepare_table(self._conn, source_schema, setup=True))

    def attach(self, source_schema: pa.Schema, native: NativeFormat | None) -> None:
        if native is None:
            self._use_savepoint_connection()
            self._open_writer(self._prepare_table(self._conn, source_schema, setup=False))
        elif not self._prepare_native(source_schema, native, setup=False):
            raise CdmError("Cdm.0234", "Loading error. Cause: the destination's columns changed during the run.")

    def _use_savepoint_connection(self) -> None:
        """Leaving refused rows out needs a connection that can roll back to a savepoint after a
        failed statement; where the dialect's usual driver cannot, its native one writes."""
        dialect = self._dialect
        if self.skip_rejected_rows and dialect.rejects_need_native_connection:
            conn = dialect.connect(native=True)
            dialect.close(self._conn)
            self._conn = conn

    def _open_writer(self, written_columns: list[Column]) -> None:
        dialect, table = self._dialect, self._stage or self._config.table_name
        with dialect.wrap("Cdm.0232", "Data write failed."):
            if self._stage is None and self._merge.mode is not WriteMode.INSERT:
                self._writer = dialect.merging_writer(
                    self._conn, self._schema_name, table, self._targets, written_columns, self._merge
                )
            else:
                self._writer = dialect.writer(self._conn, self._schema_name, table, self._targets, written_columns)

    def prepare_native(self, source_schema: pa.Schema, native: NativeFormat) -> bool:
        return self._prepare_native(source_schema, native, setup=True)

    def _prepare_native(self, source_schema: pa.Schema, native: NativeFormat, setup: bool) -> bool:
        dialect, config = self._dialect, self._config
        if native.name != dialect.native_format_name:
            return False
        # The native stream goes into one table as it is: the target, or the stage table. REPLACE and
        # UPSERT without a stage table take the Arrow path, whose batches pass a temporary table.
        if config.write_mode is not WriteMode.INSERT and not config.use_stage_table:
            return False
        conn = dialect.connect(native=True)
        try:
            self._prepare_table(conn, source_schema, setup)
            if not dialect.passes_through(native.column_types, tuple(column.native for column in self._targets)):
                conn.rollback()  # the stage table, if any, was created inside this transaction
                dialect.close(conn)
                self._stage = None
                return False
        except BaseException:
            dialect.close(conn)
            raise
        # From here on the native connection holds the sink's transaction.
        dialect.close(self._conn)
        self._conn = conn
        return True

    def _prepare_table(self, conn: Any, source_schema: pa.Schema, setup: bool) -> list[Column]:
        """Table preparation and clearing (when ``setup``) inside ``conn``'s transaction, or deferred
        to the move out of the stage table; sets the target columns and the write mode's keys, and
        returns all the columns of the table the writer fills (the destination or the stage)."""
        dialect, config = self._dialect, self._config
        names = config.columns or tuple(source_schema.names)
        if len(names) != len(source_schema):
            raise CdmError(
                "Cdm.0931",
                f"Schema column count [{len(source_schema)}] does not match the column count "
                f"[{len(names)}] of toJobConfig.columnList.",
            )
        dialect.begin(conn)
        self._source_width = len(names)
        existing = self._table_columns(conn, config.table_name)
        drops = existing is not None and setup and config.table_preparation is TablePreparation.DROP_AND_CREATE
        if drops:
            steps = [_Step(f"DROP TABLE {self._ref}", "Cdm.0063", "Table creation error.")]
            existing = None
        else:
            steps = []
        definitions: str | None = None  # of the table to create
        if existing is not None:
            self._set_targets(existing, names)
            self._merge = self._merge_rule(conn, _names(existing), _names(self._targets), created=None)
            if not setup:
                return existing
        elif not setup or config.table_preparation is TablePreparation.DO_NOTHING:
            raise CdmError("Cdm.0900", f"Table [{self._display}] does not exist.")
        else:
            fields = [self._created_field(field, name) for field, name in zip(source_schema, names, strict=True)]
            # The source's primary key, under the destination's names of its columns.
            positions = {name: index for index, name in enumerate(source_schema.names)}
            key = primary_key_of(source_schema)
            primary = [fields[positions[name]] for name in key] if set(key) <= set(positions) else []
            primary_names = [field.name for field in primary]
            self._merge = self._merge_rule(conn, list(names), list(names), created=primary_names)
            definitions = ", ".join(dialect.column_definition(field) for field in fields)
            constraints = [dialect.key_constraint(primary)] if primary else []
            # REPLACE and UPSERT match rows on a unique key: a table created for them has one.
            if self._merge.keys and set(self._merge.keys) != set(primary_names):
                constraints.append("UNIQUE (" + ", ".join(dialect.quote(key) for key in self._merge.keys) + ")")
            create = f"CREATE TABLE {self._ref} ({', '.join([definitions, *constraints])})"
            steps.append(_Step(create, "Cdm.0063", "Table creation error."))
        self._scoped = existing is None or config.before_import is BeforeImport.CLEAR_TABLE
        if config.before_import is not BeforeImport.NONE:
            where = f" WHERE {config.where_clause}" if config.before_import is BeforeImport.WHERE_CLAUSE else ""
            clear = f"DELETE FROM {self._ref}{where}"
            steps.append(_Step(clear, "Cdm.0248", f"Failed to clear data of {self._display}."))
        destroys = drops or config.before_import is not BeforeImport.NONE
        if config.use_stage_table or (setup and destroys and self.defer_destruction):
            self._deferred = steps
            return self._create_stage(conn, definitions, names)
        self._run(conn, steps)
        if existing is None:
            existing = self._table_columns(conn, config.table_name)
            assert existing is not None
            self._set_targets(existing, names)
        return existing

    def _set_targets(self, columns: Sequence[Column], names: Sequence[str]) -> None:
        """The table's columns that take the source's columns ``names``: all but generated ones,
        which the database computes (and refuses values for)."""
        matched = _match(columns, names, "toJobConfig.columnList", self._display)
        self._written = [index for index, column in enumerate(matched) if not column.generated]
        self._targets = [matched[index] for index in self._written]
        if self._dialect.enforces_lengths:
            self._limited = {
                index: column.field for index, column in zip(self._written, self._targets, strict=True)
                if t.length_of(column.field) is not None
            }

    def _create_stage(self, conn: Any, definitions: str | None, names: Sequence[str]) -> list[Column]:
        """The stage table: the target's copied columns, or the definitions of the table to create."""
        dialect, config = self._dialect, self._config
        prefix = config.table_name.encode()[:STAGE_NAME_PREFIX_BYTES].decode(errors="ignore")
        stage = f"{prefix}{STAGE_MARK}{uuid.uuid4().hex[:16]}"
        ref, schema = dialect.table_ref(self._schema_name, stage), self._schema_name
        # Committed for the writers, or at once by the DDL: a killed run leaves it behind.
        if self.announce_lasting_table is not None and (self.defer_destruction or not dialect.transactional_ddl):
            self.announce_lasting_table(schema, stage)
        with dialect.wrap("Cdm.0063", "Table creation error."):
            if definitions is None:
                dialect.create_table_like(conn, ref, schema, config.table_name, self._targets, temporary=False)
            else:
                dialect.execute(conn, f"CREATE TABLE {ref} ({definitions})")
        self._stage = stage  # from here on a failure drops it
        staged = self._table_columns(conn, stage)
        assert staged is not None
        if definitions is not None:
            self._set_targets(staged, names)
        return staged

    def _table_columns(self, conn: Any, table: str) -> list[Column] | None:
        with self._dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
            return self._dialect.table_columns(conn, self._schema_name, table)

    def _created_field(self, field: pa.Field, name: str) -> pa.Field:
        """A source field as a column of a table OpenCDM creates, after extendCharLength and useNullable."""
        config = self._config
        if config.extend_char_length:
            field = t.with_length_factor(field, 3)
        return t.with_not_null(field.with_name(name), config.use_nullable and t.is_not_null(field))

    def _merge_rule(self, conn: Any, available: list[str], copied: list[str], created: Sequence[str] | None) -> Merge:
        """The write mode with its key: toJobConfig.upsertKeys, else the table's primary key. The key
        has to be copied and, in an existing table, be its primary key or a unique index: the
        database matches rows on one. ``created``: the primary key of the table to create, None
        when the table exists."""
        config, dialect = self._config, self._dialect
        mode = config.write_mode
        if mode is WriteMode.INSERT:
            return APPEND
        if config.upsert_keys:
            keys = _match_names(available, config.upsert_keys, "toJobConfig.upsertKeys", self._display)
        elif created is not None:
            keys = list(created)
        else:
            with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
                keys = dialect.primary_key(conn, self._schema_name, config.table_name)
        if not keys:
            raise CdmError(
                "Cdm.0014",
                f"The parameter is invalid: toJobConfig.writeMode {mode.value} needs key columns; set "
                f"toJobConfig.upsertKeys or give table [{self._display}] a primary key.",
            )
        for key in keys:
            if key not in copied:
                raise CdmError(
                    "Cdm.0014",
                    f"The parameter is invalid: key column [{key}] of table [{self._display}] is not copied.",
                )
        if created is None:
            with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
                unique = dialect.unique_keys(conn, self._schema_name, config.table_name)
            if set(keys) not in [set(columns) for columns in unique]:
                raise CdmError(
                    "Cdm.0014",
                    f"The parameter is invalid: [{'&'.join(keys)}] is neither the primary key nor a unique index of "
                    f"table [{self._display}]; toJobConfig.writeMode {mode.value} needs one on exactly these columns.",
                )
        return Merge(mode, tuple(keys), tuple(name for name in available if name not in copied))

    def _run(self, conn: Any, steps: Sequence[_Step]) -> None:
        for step in steps:
            with self._dialect.wrap(step.code, step.what):
                self._dialect.execute(conn, step.sql)

    def target_fields(self) -> list[pa.Field | None]:
        fields: list[pa.Field | None] = [None] * self._source_width
        for position, column in zip(self._written, self._targets, strict=True):
            fields[position] = column.field
        return fields

    def refused_values(self, position: int, array: pa.Array) -> Refused | None:
        found = Refused.where(self._dialect.refused_values(array))
        target = self._limited.get(position)
        if found is None and target is not None:
            found = _too_long(array, target)
        return found

    def write(self, batches: Iterator[pa.RecordBatch]) -> Iterator[WriteResult]:
        if self._writer is None:
            raise CdmError("Cdm.0234", "Loading error. Cause: prepare() was not called.")
        writer, target_schema = self._writer, pa.schema([column.field for column in self._targets])
        checked = _checked(batches, self._source_width, self._written)
        if not self._dialect.negative_zero:
            checked = map(values.without_negative_zeros, checked)
        if self.skip_rejected_rows:
            for batch in checked:
                updated, rejected = self._write_or_reject(batch, target_schema)
                yield WriteResult(batch.num_rows - len(rejected), batch.nbytes, updated, rejected)
        else:
            sizes: deque[tuple[int, int]] = deque()

            def cast_batches() -> Iterator[pa.RecordBatch]:
                for batch in checked:
                    sizes.append((batch.num_rows, batch.nbytes))
                    yield cast_batch(batch, target_schema)

            with self._writing():
                for updated in writer.write_all(cast_batches()):
                    rows, size = sizes.popleft()
                    yield WriteResult(rows=rows, bytes=size, updated=updated)
        if self._stage is not None:
            yield self._move_staged_rows()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Errors of the write as Cdm.0232; a duplicate key also says what runs a job again."""
        dialect = self._dialect
        try:
            yield
        except dialect.driver_errors as exc:
            message = f"Data write failed. Cause: {dialect.error_message(exc)}"
            if dialect.is_duplicate_key(exc):
                message = (
                    f"Data write failed: a row has the key of a row table [{self._display}] already holds "
                    "(to copy rows again, set toJobConfig.writeMode UPSERT or REPLACE, or "
                    f"toJobConfig.beforeImportType shouldClearTable). Cause: {dialect.error_message(exc)}"
                )
            raise CdmError("Cdm.0232", message) from exc

    def _write_or_reject(self, batch: pa.RecordBatch, target_schema: pa.Schema) -> tuple[int, list[RejectedRow]]:
        """Write ``batch``, leaving out the rows the destination refuses: first, in memory, those
        with a value that does not convert into its column (values.failing_rows), then those the
        database refuses (_write_or_refuse)."""
        unconvertible: dict[int, str] = {}
        for position, field in enumerate(target_schema):
            array = batch.column(position)

            def convert(part: pa.Array, field: pa.Field = field) -> pa.Array:
                return t.cast_array(part, field.type, field.name)

            reasons: dict[str, str] = {}  # cast_array's own message, once per distinct value
            for row in values.failing_rows(array, convert):
                shown = values.value_text(array, row)
                if shown not in reasons:
                    reasons[shown] = _conversion_failure(convert, array.slice(row, 1))
                unconvertible.setdefault(row, reasons[shown])
        if not unconvertible:
            return self._write_or_refuse(batch, target_schema)
        left_out = [row in unconvertible for row in range(batch.num_rows)]
        rejected = [
            RejectedRow(batch.slice(row, 1).to_pylist()[0], reason) for row, reason in sorted(unconvertible.items())
        ]
        updated, refused = self._write_or_refuse(batch.filter(pc.invert(pa.array(left_out))), target_schema)
        return updated, rejected + refused

    def _write_or_refuse(self, batch: pa.RecordBatch, target_schema: pa.Schema) -> tuple[int, list[RejectedRow]]:
        """Write ``batch``, leaving out the rows the database refuses: a refused batch is halved
        until the refused rows stand alone, each attempt under a savepoint, so one bad row costs
        about 2·log2(batch) attempts and never its neighbours."""
        if batch.num_rows == 0:
            return 0, []
        dialect, conn = self._dialect, self._conn
        assert self._writer is not None
        with dialect.wrap("Cdm.0232", "Data write failed."):
            dialect.execute(conn, f"SAVEPOINT {REJECT_SAVEPOINT}")
        try:
            with self._writing():
                updated = self._writer.write(cast_batch(batch, target_schema))
        except CdmError as exc:
            with dialect.wrap("Cdm.0232", "Data write failed."):
                dialect.execute(conn, f"ROLLBACK TO SAVEPOINT {REJECT_SAVEPOINT}")
                dialect.execute(conn, f"RELEASE SAVEPOINT {REJECT_SAVEPOINT}")
            if batch.num_rows == 1:
                return 0, [RejectedRow(batch.to_pylist()[0], exc.message)]
            half = batch.num_rows // 2
            first = self._write_or_refuse(batch.slice(0, half), target_schema)
            second = self._write_or_refuse(batch.slice(half), target_schema)
            return first[0] + second[0], first[1] + second[1]
        with dialect.wrap("Cdm.0232", "Data write failed."):
            dialect.execute(conn, f"RELEASE SAVEPOINT {REJECT_SAVEPOINT}")
        return updated, []

    def write_native(self, chunks: Iterator[NativeChunk]) -> Iterator[WriteResult]:
        dialect = self._dialect
        names = ", ".join(dialect.quote(column.field.name) for column in self._targets)
        target = f"{self._stage_ref if self._stage else self._ref} ({names})"
        with self._writing():
            yield from dialect.copy_in(self._conn, target, chunks)
        if self._stage is not None:
            yield self._move_staged_rows()

    def _move_staged_rows(self) -> WriteResult:
        """Table preparation and clearing (the first time), then the staged rows into the table."""
        self._run(self._conn, self._deferred)
        self._deferred = []
        columns = [column.field.name for column in self._targets]
        with self._writing():
            updated = self._dialect.move_rows(self._conn, self._stage_ref, self._ref, columns, self._merge)
        return WriteResult(updated=updated)

    def rows_of_this_run(self) -> int | None:
        if not self._scoped:
            return None
        with self._dialect.wrap("Cdm.0902", "SQL statement execution failed."):
            return int(self._dialect.query(self._conn, f"SELECT COUNT(*) FROM {self._ref}")[0][0])

    def read_back(self, batch_rows: int) -> Iterator[pa.RecordBatch] | None:
        # Source columns left to generated columns have no written values to compare.
        whole = len(self._written) == self._source_width
        return self._read_back(batch_rows) if self._scoped and whole else None

    def _read_back(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        dialect = self._dialect
        expressions = ", ".join(dialect.select_expression(column) for column in self._targets)
        schema = pa.schema([column.field for column in self._targets])
        conn = dialect.connect()
        try:
            with dialect.wrap("Cdm.0904", "Error retrieving data from the result set."):
                yield from dialect.stream(conn, f"SELECT {expressions} FROM {self._ref}", schema, batch_rows)
        finally:
            dialect.close(conn)

    def open_to_writers(self, to_job: dict[str, str]) -> dict[str, str]:
        if self._stage is None:
            self.commit()
            return to_job
        with self._dialect.wrap("Cdm.0232", "Data write failed."):
            self._conn.commit()  # the empty stage table; the deferred steps wait for gather_writers
        self._stage_shared = True
        # The writers append to the stage table; the move out of it applies the job's write mode.
        kept = {key: value for key, value in to_job.items() if key not in _DESTINATION_ONLY_INPUTS}
        return {**kept, "toJobConfig.tableName": self._stage}

    def gather_writers(self) -> WriteResult | None:
        if self._stage is None:
            return None
        self._dialect.begin(self._conn)
        return self._move_staged_rows()

    def commit(self) -> None:
        dialect = self._dialect
        with dialect.wrap("Cdm.0232", "Data write failed."):
            if self._stage is not None and dialect.transactional_ddl:
                dialect.execute(self._conn, f"DROP TABLE {self._stage_ref}")  # gone with the same commit
            self._conn.commit()
            if self._stage is not None and not dialect.transactional_ddl:
                dialect.execute(self._conn, f"DROP TABLE {self._stage_ref}")
        self._stage, self._stage_shared = None, False

    def commit_partition(self, plan: str, index: int, rows: int) -> None:
        dialect = self._dialect
        with dialect.wrap("Cdm.0232", "Data write failed."):
            dialect.execute(
                self._conn,
                f"INSERT INTO {self._records_ref} (plan_id, partition_index, row_count) "
                f"VALUES ({dialect.literal(plan)}, {index}, {rows})",
            )
        self.commit()

    def committed_partitions(self, plan: str) -> dict[int, int]:
        dialect, ref = self._dialect, self._records_ref
        with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
            dialect.execute(
                self._conn,
                f"CREATE TABLE IF NOT EXISTS {ref} (plan_id VARCHAR(64) NOT NULL, partition_index INTEGER NOT NULL, "
                "row_count BIGINT NOT NULL, PRIMARY KEY (plan_id, partition_index))",
            )
            found = dialect.query(
                self._conn, f"SELECT partition_index, row_count FROM {ref} WHERE plan_id = {dialect.literal(plan)}"
            )
            self._conn.commit()
        return {int(index): int(rows) for index, rows in found}

    def drop_table_left(self, schema: str, table: str) -> bool:
        if STAGE_MARK not in table:
            raise ValueError(f"{table} is not a stage table")
        dialect = self._dialect
        with dialect.wrap("Cdm.0232", "Data write failed."):
            dialect.begin(self._conn)
            found = dialect.table_columns(self._conn, schema, table) is not None
            if found:
                dialect.execute(self._conn, f"DROP TABLE IF EXISTS {dialect.table_ref(schema, table)}")
            self._conn.commit()
        return found

    def forget_partitions(self, plan: str) -> None:
        dialect = self._dialect
        with dialect.wrap("Cdm.0232", "Data write failed."):
            dialect.execute(self._conn, f"DELETE FROM {self._records_ref} WHERE plan_id = {dialect.literal(plan)}")
            self._conn.commit()

    @property
    def _records_ref(self) -> str:
        """Where resumable runs record their committed partitions: beside the destination table."""
        return self._dialect.table_ref(self._schema_name, PARTITION_RECORDS_TABLE)

    def rollback(self) -> None:
        dialect = self._dialect
        with dialect.wrap("Cdm.0234", "Loading error."):
            self._conn.rollback()
            # Where DDL is transactional, the rollback took the stage table with it, unless it was
            # committed for the writers.
            if self._stage is not None and (self._stage_shared or not dialect.transactional_ddl):
                dialect.execute(self._conn, f"DROP TABLE IF EXISTS {self._stage_ref}")
                self._conn.commit()
        self._stage, self._stage_shared = None, False

    def cancel(self) -> None:
        self._dialect.cancel(self._conn)

    def close(self) -> None:
        self._dialect.close(self._conn)
