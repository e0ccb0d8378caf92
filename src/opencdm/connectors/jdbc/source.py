"""``JdbcSource``: CDM's source semantics (columnList, whereClause, useSql, partitions, incremental
cursors) on any ``Dialect``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from opencdm.connectors.base import (
    CursorRange,
    NativeChunk,
    NativeFormat,
    Partition,
    Source,
    TableScan,
    with_primary_key,
)
from opencdm.connectors.jdbc.config import SourceConfig
from opencdm.connectors.jdbc.dialect import Dialect
from opencdm.connectors.jdbc.types import Column, match_columns
from opencdm.errors import CdmError


def _splittable(type_: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_)
        or pa.types.is_date(type_) or pa.types.is_timestamp(type_)
        or pa.types.is_string(type_) or pa.types.is_large_string(type_)
    )


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
        return match_columns(available, config.columns, "fromJobConfig.columnList", origin)

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
        return match_columns(candidates, [name], input_name, config.table_name or "the query")[0]

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
