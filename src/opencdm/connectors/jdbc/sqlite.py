"""SQLite through the standard library: ``linkConfig.database`` is the database file.

SQLite keeps a column's meaning only in its declared type, so tables are created with
descriptive types (``sqlite_types.py``) and values are stored so they read back exactly: dates and
times as ISO text, booleans as 0/1, and decimals of up to 15 digits as REALs (NUMERIC affinity),
read back through the REAL's shortest repr.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from opencdm.connectors import types as t
from opencdm.connectors import values
from opencdm.connectors.jdbc.config import WriteMode
from opencdm.connectors.jdbc.dialect import Dialect, ExecuteManyWriter, Merge, ValueReader, Writer, batch_from_rows
from opencdm.connectors.jdbc.sqlite_types import SQLITE_TYPES, read_field
from opencdm.connectors.jdbc.types import Column
from opencdm.errors import CdmError

DUPLICATE_KEY_ERRORS = (sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE)


def _decimal(value: Any) -> Decimal:
    # NUMERIC affinity may have stored the text as REAL; its shortest repr is the original text.
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _text(value: Any) -> str:
    # A REAL or INTEGER found where text is declared came from NUMERIC affinity (e.g. a JSON number).
    if isinstance(value, float):
        return repr(value)
    return value if isinstance(value, str) else str(value)


def _timestamp_tz(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _read_converter(field: pa.Field) -> ValueReader:
    type_ = field.type
    if pa.types.is_decimal(type_):
        return _decimal
    if pa.types.is_string(type_):
        return _text
    if pa.types.is_boolean(type_):
        return pa.int64()
    if pa.types.is_date(type_):
        return pa.string()
    if pa.types.is_time(type_):
        return dt.time.fromisoformat  # Arrow does not parse text into times
    if t.is_tz_timestamp(type_):
        return _timestamp_tz  # Arrow wants an offset in every value; older files may lack one
    if pa.types.is_timestamp(type_):
        return pa.string()
    return None


def _stored(array: pa.Array) -> pa.Array:
    """A column as this dialect stores it (the text forms ``_read_converter`` parses), converted
    by Arrow's vectorised casts rather than value by value in Python."""
    type_ = array.type
    if pa.types.is_boolean(type_):
        return pc.cast(array, pa.int8())
    if t.is_tz_timestamp(type_):
        utc_wall_time = pc.cast(array.cast(pa.timestamp("us")), pa.string())
        return pc.binary_join_element_wise(utc_wall_time, "+00:00", "")
    if pa.types.is_decimal(type_) or pa.types.is_date(type_) or pa.types.is_time(type_) or pa.types.is_timestamp(type_):
        return pc.cast(array, pa.string())
    return array


class _SqliteWriter(ExecuteManyWriter):
    def write(self, batch: pa.RecordBatch) -> int:
        stored = [_stored(column) for column in batch.columns]
        return super().write(pa.RecordBatch.from_arrays(stored, names=batch.schema.names))


class SqliteDialect(Dialect):
    type_table = SQLITE_TYPES
    driver_errors = (sqlite3.Error,)

    concurrent_writers = False
    temporary_schema = "temp"
    enforces_lengths = False
    negative_zero = False  # a REAL -0.0 is stored as the integer 0

    def default_schema(self) -> str:
        return "main"

    def schema_for(self, configured: str | None) -> str:
        return "main"  # schemaName has no meaning for a single database file

    def _connect(self) -> Any:
        path = self.link.database  # resolved, and checked against the allowed roots (LinkConfig)
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise sqlite3.OperationalError(f"directory {directory} does not exist")
        if self.validating:
            # Validation reads: a missing file is reported, never created.
            if not os.path.isfile(path):
                raise sqlite3.OperationalError(f"database file {path} does not exist")
            target, uri = f"file:{urllib.parse.quote(path)}?mode=ro", True
        else:
            target, uri = path, False
        # isolation_level=None: the sink issues BEGIN itself, so its DDL is inside the transaction too.
        conn = sqlite3.connect(target, isolation_level=None, uri=uri)
        # No ATTACH: a statement of a job may not open another database file than the link's.
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        try:
            conn.execute("PRAGMA schema_version").fetchone()  # fails for a file that is not a database
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def begin(self, conn: Any) -> None:
        conn.execute("BEGIN")

    def table_columns(self, conn: Any, schema: str, table: str) -> list[Column] | None:
        # table_xinfo lists generated columns too (hidden 2: virtual, 3: stored); 1 marks the hidden
        # columns of a virtual table, which are not the table's.
        rows = conn.execute(
            'SELECT name, type, "notnull", hidden IN (2, 3) FROM pragma_table_xinfo(?, ?) WHERE hidden <> 1',
            (table, schema),
        ).fetchall()
        return [
            Column(declared, t.with_not_null(read_field(name, declared), bool(not_null)), bool(generated))
            for name, declared, not_null, generated in rows
        ] or None

    def query_columns(self, conn: Any, sql: str) -> list[Column]:
        # A view reports the declared types of the columns it selects.
        view = f"opencdm_probe_{uuid.uuid4().hex}"
        conn.execute(f"CREATE TEMPORARY VIEW {self.quote(view)} AS {sql}")
        try:
            found = self.table_columns(conn, "temp", view)
        finally:
            conn.execute(f"DROP VIEW temp.{self.quote(view)}")
        if found is None:
            raise CdmError("Cdm.0926", "Cannot obtain the schema. Cause: the query returns no columns.")
        return found

    def is_duplicate_key(self, exc: Exception) -> bool:
        return getattr(exc, "sqlite_errorcode", None) in DUPLICATE_KEY_ERRORS

    def primary_key(self, conn: Any, schema: str, table: str) -> list[str]:
        rows = conn.execute("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table,)).fetchall()
        return [str(row[0]) for row in rows]

    def unique_keys(self, conn: Any, schema: str, table: str) -> list[tuple[str, ...]]:
        # An INTEGER PRIMARY KEY is the rowid and has no index of its own.
        primary = self.primary_key(conn, schema, table)
        keys = [tuple(primary)] if primary else []
        indexes = conn.execute(
            'SELECT name FROM pragma_index_list(?, ?) WHERE "unique" AND NOT partial', (table, schema)
        ).fetchall()
        for (index,) in indexes:
            columns = [row[0] for row in conn.execute("SELECT name FROM pragma_index_info(?, ?)", (index, schema))]
            if None not in columns:  # an expression is not a column
                keys.append(tuple(columns))
        return keys

    def merge_statement(
        self, loaded: str, expressions: Sequence[str], target: str, columns: Sequence[str], merge: Merge
    ) -> str:
        insert = self.insert_select(loaded, expressions, target, columns)
        if merge.mode is WriteMode.REPLACE:
            return "INSERT OR REPLACE" + insert.removeprefix("INSERT")
        if merge.mode is WriteMode.UPSERT:
            keys = ", ".join(self.quote(key) for key in merge.keys)
            assignments = ", ".join(f"{self.quote(column)} = excluded.{self.quote(column)}" for column in columns)
            # "WHERE true" tells SQLite's parser that ON CONFLICT is not a join constraint of the SELECT.
            return f"{insert} WHERE true ON CONFLICT ({keys}) DO UPDATE SET {assignments}"
        return insert

    def refused_values(self, array: pa.Array) -> pa.Array | None:
        # SQLite stores a NaN as NULL.
        floats = values.unusual_floats(array, infinite=False)
        return floats if floats is not None else super().refused_values(array)

    def stream(self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int) -> Iterator[pa.RecordBatch]:
        converters = [_read_converter(field) for field in schema]
        cursor = conn.execute(sql)
        try:
            while rows := cursor.fetchmany(batch_rows):
                yield batch_from_rows(rows, schema, converters)
        finally:
            cursor.close()

    def execute(self, conn: Any, sql: str) -> None:
        conn.execute(sql)

    def cancel(self, conn: Any) -> None:
        conn.interrupt()  # made to be called from another thread

    def writer(
        self, conn: Any, schema: str, table: str, targets: Sequence[Column], table_columns: Sequence[Column]
    ) -> Writer:
        return _SqliteWriter(self, conn, schema, table, targets, "?", [None] * len(targets))
