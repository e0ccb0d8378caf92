"""What every dialect shares: the Source and Sink flow, error wrapping and row-based batch building.

A ``Dialect`` knows one database: how to connect, quote, describe tables and queries, stream
batches out and write batches in. ``JdbcSource`` and ``JdbcSink`` hold the CDM semantics
(columnList, whereClause, useSql, tablePreparation, beforeImportType) once for all dialects.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal
from typing import Any, ClassVar, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from opencdm.connectors.base import NativeChunk, NativeFormat, Partition, Sink, Source, WriteResult
from opencdm.connectors.jdbc.config import BeforeImport, LinkConfig, SinkConfig, SourceConfig, TablePreparation
from opencdm.connectors.jdbc.types import Column, cast_batch
from opencdm.errors import CdmError

Converter = Callable[[Any], Any]


class Writer(ABC):
    """Writes batches, already cast to the destination columns' Arrow types, into one table."""

    @abstractmethod
    def write(self, batch: pa.RecordBatch) -> None: ...


COUNT_BELOW_ROWS = 100_000


class Dialect(ABC):
    quote_char: ClassVar[str] = '"'
    driver_errors: ClassVar[tuple[type[Exception], ...]]
    # The database's own bulk format a source and sink of this dialect can pass through unchanged.
    native_format_name: ClassVar[str | None] = None
    # Whether several connections may write one table at once (SQLite has one writer at a time).
    concurrent_writers: ClassVar[bool] = True
    # Whether the driver reads a whole result ahead of its consumer; such dialects page on a key.
    reads_ahead: ClassVar[bool] = False

    def __init__(self, link: LinkConfig) -> None:
        self.link = link

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

    def connect(self) -> Any:
        with self.wrap("Cdm.0901", "Cannot connect to the database server."):
            return self._connect()

    def error_message(self, exc: Exception) -> str:
        return str(exc).strip()

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

    def column_definition(self, field: pa.Field) -> str:
        return f"{self.quote(field.name)} {self.column_type(field)}"

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

    # --- the native fast path (dialects with a native_format_name) --------------------------------
    def native_connect(self) -> Any:
        """A connection able to stream the native format; it also serves every metadata call."""
        raise NotImplementedError

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

    def write(self, batch: pa.RecordBatch) -> None:
        cursor = self._conn.cursor()
        try:
            cursor.executemany(self._sql, rows_from_batch(batch, self._converters))
        finally:
            cursor.close()


def _splittable(type_: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_)
        or pa.types.is_date(type_) or pa.types.is_timestamp(type_)
        or pa.types.is_string(type_) or pa.types.is_large_string(type_)
    )


def _match(columns: Sequence[Column], names: Sequence[str], input_name: str, table: str) -> list[Column]:
    """Resolve configured column names exactly, else case-insensitively when that is unambiguous."""
    exact = {column.field.name: column for column in columns}
    folded: dict[str, list[Column]] = {}
    for column in columns:
        folded.setdefault(column.field.name.casefold(), []).append(column)
    matched = []
    for name in names:
        candidates = [exact[name]] if name in exact else folded.get(name.casefold(), [])
        if len(candidates) != 1:
            raise CdmError(
                "Cdm.0014", f"The parameter is invalid: column [{name}] of {input_name} does not exist in [{table}]."
            )
        matched.append(candidates[0])
    return matched


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
        self._arrow_schema = pa.schema([column.field for column in self._columns])

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

    def _select(self, condition: str | None, native: bool = False) -> str:
        dialect, config = self._dialect, self._config
        # The Arrow path may need expressions (casts); the native path wants the columns as stored.
        if native:
            expressions = ", ".join(dialect.quote(column.field.name) for column in self._columns)
        else:
            expressions = ", ".join(dialect.select_expression(column) for column in self._columns)
        if config.sql is not None:
            relation = f"({config.sql}) opencdm_query"
        else:
            assert config.table_name is not None
            relation = dialect.table_ref(self._schema_name, config.table_name)
        conditions = [f"({text})" for text in (config.where_clause, condition) if text]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return f"SELECT {expressions} FROM {relation}{where}"

    def schema(self) -> pa.Schema:
        return self._arrow_schema

    def estimate_rows(self) -> int | None:
        config = self._config
        with self._dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
            if config.table_name is None or config.where_clause is not None:
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
            points = dialect.split_points(self._conn, relation, column, config.where_clause, max_partitions, table)
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
        if config.sql is not None:
            candidates = self._columns
        else:
            assert config.table_name is not None
            with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
                candidates = dialect.table_columns(self._conn, self._schema_name, config.table_name) or []
        return _match(candidates, [name], "fromJobConfig.partitionColumn", config.table_name or "the query")[0]

    def native_format(self) -> NativeFormat | None:
        name = self._dialect.native_format_name
        return NativeFormat(name, tuple(column.native for column in self._columns)) if name else None

    def read_native(self, partition: Partition) -> Iterator[NativeChunk]:
        dialect, config = self._dialect, self._config
        condition = partition.spec.get("condition")
        if config.sql is None and config.where_clause is None and condition is None:
            assert config.table_name is not None
            names = ", ".join(dialect.quote(column.field.name) for column in self._columns)
            relation = f"{dialect.table_ref(self._schema_name, config.table_name)} ({names})"
        else:
            relation = f"({self._select(condition, native=True)})"
        if self._native_conn is None:
            self._native_conn = dialect.native_connect()
        with dialect.wrap("Cdm.0904", "Error retrieving data from the result set."):
            yield from dialect.copy_out(self._native_conn, relation)

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

    def close(self) -> None:
        self._dialect.close(self._conn)
        if self._native_conn is not None:
            self._dialect.close(self._native_conn)


class JdbcSink(Sink):
    def __init__(self, dialect: Dialect, config: SinkConfig) -> None:
        self._dialect = dialect
        self._config = config
        self._schema_name = dialect.schema_for(config.schema_name)
        self._conn = dialect.connect()
        self._targets: list[Column] = []
        self._writer: Writer | None = None
        self.parallel_writers = dialect.concurrent_writers

    @property
    def _display(self) -> str:
        return f"{self._schema_name}.{self._config.table_name}"

    def prepare(self, source_schema: pa.Schema) -> None:
        self._open_writer(self._prepare_table(self._conn, source_schema, setup=True))

    def attach(self, source_schema: pa.Schema, native: NativeFormat | None) -> None:
        if native is None:
            self._open_writer(self._prepare_table(self._conn, source_schema, setup=False))
        elif not self._prepare_native(source_schema, native, setup=False):
            raise CdmError("Cdm.0234", "Loading error. Cause: the destination's columns changed during the run.")

    def _open_writer(self, existing: list[Column]) -> None:
        with self._dialect.wrap("Cdm.0232", "Data write failed."):
            self._writer = self._dialect.writer(
                self._conn, self._schema_name, self._config.table_name, self._targets, existing
            )

    def prepare_native(self, source_schema: pa.Schema, native: NativeFormat) -> bool:
        return self._prepare_native(source_schema, native, setup=True)

    def _prepare_native(self, source_schema: pa.Schema, native: NativeFormat, setup: bool) -> bool:
        dialect = self._dialect
        if native.name != dialect.native_format_name:
            return False
        with dialect.wrap("Cdm.0901", "Cannot connect to the database server."):
            conn = dialect.native_connect()
        try:
            self._prepare_table(conn, source_schema, setup)
            if tuple(column.native for column in self._targets) != native.column_types:
                conn.rollback()
                dialect.close(conn)
                return False
        except BaseException:
            dialect.close(conn)
            raise
        # From here on the native connection holds the sink's transaction.
        dialect.close(self._conn)
        self._conn = conn
        return True

    def _prepare_table(self, conn: Any, source_schema: pa.Schema, setup: bool) -> list[Column]:
        """Table preparation and clearing (when ``setup``) inside ``conn``'s transaction; sets the
        target columns and returns all the table's columns."""
        dialect, config = self._dialect, self._config
        table = config.table_name
        ref = dialect.table_ref(self._schema_name, table)
        names = config.columns or tuple(source_schema.names)
        if len(names) != len(source_schema):
            raise CdmError(
                "Cdm.0931",
                f"Schema column count [{len(source_schema)}] does not match the column count "
                f"[{len(names)}] of toJobConfig.columnList.",
            )
        dialect.begin(conn)
        with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
            existing = dialect.table_columns(conn, self._schema_name, table)
        if not setup:
            if existing is None:
                raise CdmError("Cdm.0900", f"Table [{self._display}] does not exist.")
            self._targets = _match(existing, names, "toJobConfig.columnList", self._display)
            return existing
        if existing is not None and config.table_preparation is TablePreparation.DROP_AND_CREATE:
            with dialect.wrap("Cdm.0063", "Table creation error."):
                dialect.execute(conn, f"DROP TABLE {ref}")
            existing = None
        if existing is None:
            if config.table_preparation is TablePreparation.DO_NOTHING:
                raise CdmError("Cdm.0900", f"Table [{self._display}] does not exist.")
            fields = [field.with_name(name) for field, name in zip(source_schema, names, strict=True)]
            definitions = ", ".join(dialect.column_definition(field) for field in fields)
            with dialect.wrap("Cdm.0063", "Table creation error."):
                dialect.execute(conn, f"CREATE TABLE {ref} ({definitions})")
                existing = dialect.table_columns(conn, self._schema_name, table)
            assert existing is not None
        self._targets = _match(existing, names, "toJobConfig.columnList", self._display)
        if config.before_import is not BeforeImport.NONE:
            where = f" WHERE {config.where_clause}" if config.before_import is BeforeImport.WHERE_CLAUSE else ""
            with dialect.wrap("Cdm.0248", f"Failed to clear data of {self._display}."):
                dialect.execute(conn, f"DELETE FROM {ref}{where}")
        return existing

    def write(self, batches: Iterator[pa.RecordBatch]) -> Iterator[WriteResult]:
        if self._writer is None:
            raise CdmError("Cdm.0234", "Loading error. Cause: prepare() was not called.")
        target_schema = pa.schema([column.field for column in self._targets])
        for batch in batches:
            if batch.num_columns != len(target_schema):
                raise CdmError(
                    "Cdm.0931",
                    f"Schema column count [{len(target_schema)}] does not match result-set column count "
                    f"[{batch.num_columns}].",
                )
            cast = cast_batch(batch, target_schema)
            with self._dialect.wrap("Cdm.0232", "Data write failed."):
                self._writer.write(cast)
            yield WriteResult(rows=batch.num_rows, bytes=batch.nbytes)

    def write_native(self, chunks: Iterator[NativeChunk]) -> Iterator[WriteResult]:
        dialect = self._dialect
        names = ", ".join(dialect.quote(column.field.name) for column in self._targets)
        target = f"{dialect.table_ref(self._schema_name, self._config.table_name)} ({names})"
        with dialect.wrap("Cdm.0232", "Data write failed."):
            yield from dialect.copy_in(self._conn, target, chunks)

    def commit(self) -> None:
        with self._dialect.wrap("Cdm.0232", "Data write failed."):
            self._conn.commit()

    def rollback(self) -> None:
        with self._dialect.wrap("Cdm.0234", "Loading error."):
            self._conn.rollback()

    def close(self) -> None:
        self._dialect.close(self._conn)
