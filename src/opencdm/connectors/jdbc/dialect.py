"""What every dialect shares: the ``Dialect`` interface, error wrapping and row-based batch building.

A ``Dialect`` knows one database: how to connect, quote, describe tables and queries, stream
batches out and write batches in. ``JdbcSource`` (``source.py``) and ``JdbcSink`` (``sink.py``)
hold the CDM semantics (columnList, whereClause, useSql, tablePreparation, beforeImportType,
writeMode, useStageTable) once for all dialects.

Write modes other than INSERT load rows into a second table first (a temporary one per batch, or
the stage table of useStageTable) and move them into the destination with one statement that
applies the mode (``Dialect.merge``): the database's bulk loader keeps its speed, and the
statement tells how many rows updated existing ones.
"""

from __future__ import annotations

import datetime as dt
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from opencdm.connectors import types as t
from opencdm.connectors import values
from opencdm.connectors.base import NativeChunk, TableScan, WriteResult
from opencdm.connectors.jdbc.config import LinkConfig, WriteMode
from opencdm.connectors.jdbc.types import Column, TypeTable
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
    # Native type names read as Arrow, and Arrow declared as the types of a created table.
    type_table: ClassVar[TypeTable]
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

    def column_type(self, field: pa.Field) -> str:
        """The DDL type that keeps the field's meaning."""
        return self.type_table.declare(field)

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
