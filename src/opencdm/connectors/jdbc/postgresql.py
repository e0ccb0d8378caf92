"""PostgreSQL through ADBC: binary COPY out to Arrow batches, binary COPY in with ``adbc_ingest``."""

from __future__ import annotations

import json
import math
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import adbc_driver_manager
import adbc_driver_postgresql
import adbc_driver_postgresql.dbapi as adbc
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import pq

from opencdm.connectors import types as t
from opencdm.connectors import values as v
from opencdm.connectors.base import NativeChunk, TableScan, WriteResult
from opencdm.connectors.jdbc.config import WriteMode
from opencdm.connectors.jdbc.dialect import APPEND, Dialect, Merge, Writer
from opencdm.connectors.jdbc.types import Column
from opencdm.connectors.types import cast_batch
from opencdm.errors import CdmError

_SIMPLE: dict[str, pa.DataType] = {
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "text": pa.string(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "bytea": pa.binary(),
    "time": pa.time64("us"),
    "timestamp": t.TIMESTAMP,
}
# format_type() output: a base name, optional (precision[,scale]), optional time-zone qualifier.
# Bounds of ADBC's batch size hint (bytes); see PostgresDialect.stream.
MIN_BATCH_HINT_BYTES = 64 * 1024
MAX_BATCH_HINT_BYTES = 16 * 1024 * 1024
BATCH_HINT_BYTES_PER_ROW = 128
# Native pass-through: bytes gathered before they are handed on (one COPY message is one row), or
# the time after which they are handed on anyway, so a slow source still shows progress.
NATIVE_CHUNK_BYTES = 1024 * 1024
NATIVE_CHUNK_SECONDS = 0.5
# Chunks on their way to the destination's writer thread.
NATIVE_QUEUE_CHUNKS = 8
# Arrow batches on their way to the thread that streams them into one COPY: one, so that little
# is left for the server to write alone once the source is done (see mysql.PAGE_BATCHES).
STREAM_QUEUE_BATCHES = 1
T = TypeVar("T")
UNIQUE_VIOLATION = "23505"  # SQLSTATE, as ADBC's and psycopg's errors carry it
# What the server answered at connection time, as libpq words it: "FATAL:  password authentication failed ...".
_SERVER_ANSWER = re.compile(r"\b(?:FATAL|ERROR|PANIC):[ \t]+[^\n]*")
# PostgreSQL's binary timestamps and dates count from 2000-01-01 (Arrow's from 1970-01-01), and
# its earliest value is 4714-11-24 BC; its latest date is 5874897-12-31 (its latest timestamp lies
# beyond Arrow's). Keyed by values.temporal_kind: timestamps in microseconds, dates in days.
_EPOCH_SHIFT = {v.TIMESTAMP_KIND: 946_684_800_000_000, v.DATE_KIND: 10_957}
_EARLIEST = {v.TIMESTAMP_KIND: -210_866_803_200_000_000, v.DATE_KIND: -2_440_588}
_LATEST = {v.TIMESTAMP_KIND: 2**63 - 2, v.DATE_KIND: 2_145_042_905}
_FORMAT_TYPE = re.compile(r"^([a-z ]+?)(?:\((\d+)(?:,(\d+))?\))?( with time zone| without time zone)?$")

_ATTRIBUTES = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated <> ''
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {where} AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
# Indexes ON CONFLICT can take as arbiter: unique, immediate, on plain columns, without a condition.
_UNIQUE_KEYS = """
SELECT i.indexrelid, a.attname
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position)
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE n.nspname = {schema} AND c.relname = {table} AND i.indisunique AND i.indimmediate
  AND i.indpred IS NULL AND i.indexprs IS NULL AND k.position <= i.indnkeyatts
ORDER BY i.indisprimary DESC, i.indexrelid, k.position
"""


def _field(name: str, native: str) -> pa.Field:
    match = _FORMAT_TYPE.match(native)
    if match:
        base, first, second, zone = match.groups()
        if base == "numeric":
            if first is None:
                return t.make_field(name, pa.string(), logical=t.NUMERIC)
            return t.make_field(name, t.decimal_type(int(first), int(second or 0)))
        if base == "character varying":
            return t.make_field(name, pa.string(), length=int(first) if first else None)
        if base == "character":
            return t.make_field(name, pa.string(), length=int(first or 1), logical=t.CHAR)
        if base in ("json", "jsonb"):
            return t.make_field(name, pa.string(), logical=base)
        if base == "timestamp" and zone == " with time zone":
            return t.make_field(name, t.TIMESTAMP_TZ)
        if base in _SIMPLE and zone != " with time zone":
            return t.make_field(name, _SIMPLE[base])
    return t.make_field(name, pa.string(), logical=t.PG_NATIVE_PREFIX + native)


# "timestamp(6)" and "timestamp" are one type: 6 digits is the precision of an unqualified one.
_DEFAULT_PRECISION = re.compile(r"^(timestamp|time|interval)\(6\)")


def _meaning(native: str) -> str:
    return _DEFAULT_PRECISION.sub(r"\1", native)


def _pg_native(field: pa.Field) -> str | None:
    logical = t.logical_of(field)
    return logical[len(t.PG_NATIVE_PREFIX) :] if logical and logical.startswith(t.PG_NATIVE_PREFIX) else None


def _needs_text(column: Column) -> bool:
    """ADBC's binary COPY cannot write these from Arrow; they go in as text and are cast by the server."""
    return t.logical_of(column.field) == t.NUMERIC or _pg_native(column.field) is not None


def _restore_infinities(array: pa.Array, column: str) -> pa.Array:
    """A timestamp or date column as ADBC read it, with ±infinity as ``values.infinite_values``.

    ADBC shifts the server's integers to 1970 without an overflow check, so ±infinity (the
    integer's extremes) arrive wrapped around, far below PostgreSQL's earliest value; shifting
    them back with the same wrap-around gives the server's integer again."""
    kind = v.temporal_kind(array.type)
    if kind is None or array.null_count == len(array):
        return array
    integers = v.integers_of(array)
    if pc.min(integers).as_py() >= _EARLIEST[kind]:
        return array
    wrapped = pc.less(integers, _EARLIEST[kind])
    server = pc.subtract(integers, pa.scalar(_EPOCH_SHIFT[kind], integers.type))  # wraps around
    infinite = pc.is_in(server, pa.array(v.infinite_values(array.type), integers.type))
    if pc.any(pc.and_(wrapped, pc.invert(infinite))).as_py():
        raise CdmError(
            "Cdm.0904",
            f"Error retrieving data from the result set. Cause: column [{column}] holds a timestamp after "
            "294247-01-10 04:00:54.775807, the latest one OpenCDM carries.",
        )
    return pc.if_else(wrapped, server, integers).view(array.type)


def _server_integers(array: pa.Array, column: str) -> pa.Array:
    """A timestamp or date column as PostgreSQL's binary form holds it: integers since 2000-01-01,
    ±infinity at the integer's extremes. A value PostgreSQL cannot hold fails with column and value."""
    kind = v.temporal_kind(array.type)
    assert kind is not None
    integers = v.integers_of(array)
    infinite = v.infinities(array)
    finite = integers if infinite is None else pc.if_else(infinite, None, integers)
    outside = pc.or_(pc.less(finite, _EARLIEST[kind]), pc.greater(finite, _LATEST[kind]))
    if pc.any(outside).as_py():
        index = pc.index(outside, True).as_py()
        raise CdmError(
            "Cdm.0232",
            f"Data write failed. Cause: column [{column}] value [{v.value_text(array, index)}] is outside "
            f"the range of PostgreSQL's {kind}.",
        )
    shifted = pc.subtract(integers, pa.scalar(_EPOCH_SHIFT[kind], integers.type))
    return shifted if infinite is None else pc.if_else(infinite, integers, shifted)


def _binary_form(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with its timestamps and dates as the integers of PostgreSQL's binary COPY format
    (``schema``): ADBC's own conversion refuses ±infinity as an overflow."""
    arrays = [
        _server_integers(array, field.name) if v.temporal_kind(array.type) else array
        for array, field in zip(batch.columns, schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _expect(pgconn: Any, result: Any, status: pq.ExecStatus | None) -> None:
    """Raise the server's error unless ``result`` has ``status`` (None: no more results)."""
    if result is None and status is None:
        return
    if result is not None and result.status == status:
        return
    # libpq hands out every pending result before it takes the next command.
    while pgconn.get_result() is not None:
        pass
    message = result.error_message.decode(errors="replace").strip() if result is not None else ""
    raise psycopg.DatabaseError(message or "COPY ended unexpectedly")


def _handed_to_a_thread(
    items: Iterator[T], consume: Callable[[Iterator[T]], None], depth: int, name: str
) -> Iterator[T]:
    """``items``, each yielded once queued for ``consume``, which a thread runs over the queue (at most
    ``depth`` waiting): the destination is written while the source is read (libpq and ADBC release
    the GIL), in bounded memory. A failure of ``consume`` is raised here."""
    pending: queue.Queue[T | None] = queue.Queue(maxsize=depth)
    failures: list[BaseException] = []
    ended = threading.Event()  # the end of the stream was taken from the queue

    def queued() -> Iterator[T]:
        while (item := pending.get()) is not None:
            yield item
        ended.set()

    def run() -> None:
        try:
            consume(queued())
        except BaseException as exc:
            failures.append(exc)
            # Keep the producer from blocking on a full queue, unless the consumer failed after the
            # end of the stream (a duplicate key found as the COPY ends), when nothing more comes.
            while not ended.is_set() and pending.get() is not None:
                pass

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        for item in items:
            if failures:
                break
            pending.put(item)
            yield item
    finally:
        pending.put(None)  # the end of the stream (an abandoned one is rolled back with the sink)
        thread.join()
    if failures:
        raise failures[0]


def _conninfo_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class PostgresDialect(Dialect):
    driver_errors = (adbc_driver_manager.Error, psycopg.Error)
    native_format_name = "postgresql-binary-copy"
    rejects_need_native_connection = True  # after a failed COPY, ADBC's driver refuses ROLLBACK TO SAVEPOINT

    default_port = 5432

    def default_schema(self) -> str:
        return "public"

    def connect_failure(self, exc: Exception) -> str | None:
        # libpq words what the server itself answered as "FATAL:  ..." (a wrong password, an unknown
        # database); anything else it says may quote a byte some other service sent.
        if isinstance(exc, self.driver_errors):
            answered = _SERVER_ANSWER.search(str(exc))
            if answered:
                return answered.group(0).strip()
        return self.unreachable()

    def _conninfo(self) -> str:
        link = self.link
        if not link.checked_addresses:
            # Its name resolved to nothing when it was checked: libpq resolving it anew could lead
            # anywhere, the metadata store included.
            raise CdmError("Cdm.0901", f"Cannot connect to the database server. Cause: {self.unreachable()}")
        params = {
            # The addresses the link was checked against (an empty one: a unix socket's directory);
            # libpq still reads the host's name for its password file.
            "host": ",".join(host for host, _ in link.checked_addresses),
            "hostaddr": ",".join(address for _, address in link.checked_addresses),
            "port": str(link.port or 5432),
            "dbname": link.database,
            "user": link.username or "",
            "password": link.password,
            # libpq's connect_timeout bounds the whole start-up (TCP, TLS, authentication); whole seconds.
            "connect_timeout": str(max(2, math.ceil(self.connect_timeout))),
            "application_name": "opencdm",
        }
        return " ".join(f"{key}={_conninfo_value(value)}" for key, value in params.items())

    def _connect(self) -> Any:
        return adbc.connect(self._conninfo())

    def table_scan(self, schema: str, table: str, columns: Sequence[Column]) -> TableScan:
        return TableScan(
            "postgresql", self._conninfo(), self.link.password, schema, table,
            tuple(column.field.name for column in columns), tuple(column.native for column in columns),
        )

    def passes_through(self, source_types: tuple[str, ...], target_types: tuple[str, ...]) -> bool:
        # xml's binary form drops a declaration such as <?xml version="1.0"?>; its text (the
        # Arrow path reads xml::text) keeps it.
        if any(native.startswith("xml") for native in source_types):
            return False
        return [_meaning(native) for native in source_types] == [_meaning(native) for native in target_types]

    def native_connect(self) -> Any:
        # RawCursor takes the same $1 placeholders as ADBC, so every metadata query serves both.
        return psycopg.connect(self._conninfo(), cursor_factory=psycopg.RawCursor)

    def copies_by_name(self, conn: Any, schema: str, table: str) -> bool:
        # COPY ... TO takes an ordinary table only: "cannot copy from view" (materialized view,
        # foreign table, partitioned table).
        rows = self.query(
            conn,
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = {self.literal(schema)} AND c.relname = {self.literal(table)}",
        )
        return bool(rows) and rows[0][0] == "r"

    def copy_out(self, conn: Any, relation: str) -> Iterator[NativeChunk]:
        # One message per row; the header rides with the first, the trailer comes alone last. This
        # loop runs once per row, so it talks to libpq directly (blocking) rather than through
        # psycopg's Copy iterator, which costs a third more CPU per row, and copies each message
        # into the chunk at once: the message is freed before the next one is read (a list of
        # messages joined per chunk cost 20% more CPU, partly in the garbage collector). A chunk is
        # handed over before a message is added, never after, so the last one holds the trailer.
        pgconn = conn.pgconn
        pgconn.send_query(f"COPY {relation} TO STDOUT (FORMAT BINARY)".encode())
        while pgconn.flush():
            pass
        _expect(pgconn, pgconn.get_result(), pq.ExecStatus.COPY_OUT)
        read_message = pgconn.get_copy_data
        chunk, messages = bytearray(), 0
        deadline = time.monotonic() + NATIVE_CHUNK_SECONDS
        while True:
            length, message = read_message(0)
            if length < 0:
                break
            if len(chunk) >= NATIVE_CHUNK_BYTES or (messages & 255 == 255 and time.monotonic() > deadline):
                yield NativeChunk(chunk, messages)
                chunk, messages = bytearray(), 0
                deadline = time.monotonic() + NATIVE_CHUNK_SECONDS
            chunk += message
            messages += 1
        _expect(pgconn, pgconn.get_result(), pq.ExecStatus.COMMAND_OK)
        _expect(pgconn, pgconn.get_result(), None)
        yield NativeChunk(chunk, messages - 1)

    def copy_in(self, conn: Any, target: str, chunks: Iterator[NativeChunk]) -> Iterator[WriteResult]:
        with conn.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:

            def write(queued: Iterator[NativeChunk]) -> None:
                for chunk in queued:
                    copy.write(chunk.data)

            for chunk in _handed_to_a_thread(chunks, write, NATIVE_QUEUE_CHUNKS, "opencdm-copy-in"):
                yield WriteResult(rows=chunk.rows, bytes=len(chunk.data))

    def is_duplicate_key(self, exc: Exception) -> bool:
        return getattr(exc, "sqlstate", None) == UNIQUE_VIOLATION

    def error_message(self, exc: Exception) -> str:
        """The server's own words: ADBC gives its diagnostics apart (``details``), where the message
        (``Failed to execute COPY statement: PGRES_FATAL_ERROR ERROR: …``) leaves out the failing row
        and where the COPY failed (line, column), which are what a user needs to find the value."""
        details = getattr(exc, "details", None) or []
        diagnostics = {key.decode(): value.decode(errors="replace") for key, value in details}
        primary = diagnostics.get("PG_DIAG_MESSAGE_PRIMARY")
        if primary is None:
            # Drop ADBC's status prefix ("IO: [libpq] ") so the server's own words remain.
            return re.sub(r"^[A-Z_]+: \[libpq\] ", "", str(exc).strip())
        detail = diagnostics.get("PG_DIAG_MESSAGE_DETAIL")
        context = diagnostics.get("PG_DIAG_CONTEXT")
        return primary + (f". {detail}" if detail else "") + (f" (at {context})" if context else "")

    def _attributes(self, conn: Any, where: str, params: tuple[str, ...]) -> list[Column]:
        cursor = conn.cursor()
        try:
            cursor.execute(_ATTRIBUTES.format(where=where), params)
            return [
                Column(native, t.with_not_null(_field(name, native), not_null), generated)
                for name, native, not_null, generated in cursor.fetchall()
            ]
        finally:
            cursor.close()

    def table_columns(self, conn: Any, schema: str, table: str) -> list[Column] | None:
        where = "n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
        return self._attributes(conn, where, (schema, table)) or None

    def query_columns(self, conn: Any, sql: str) -> list[Column]:
        # A temporary view keeps each output column's exact type modifier (numeric(12,2), varchar(64)).
        view = f"opencdm_probe_{uuid.uuid4().hex}"
        self.execute(conn, f"CREATE TEMPORARY VIEW {self.quote(view)} AS {sql}")
        try:
            return self._attributes(conn, "c.oid = $1::regclass", (f"pg_temp.{view}",))
        finally:
            self.execute(conn, f"DROP VIEW {self.quote(view)}")

    def unique_keys(self, conn: Any, schema: str, table: str) -> list[tuple[str, ...]]:
        keys: dict[int, tuple[str, ...]] = {}
        sql = _UNIQUE_KEYS.format(schema=self.literal(schema), table=self.literal(table))
        for index, column in self.query(conn, sql):
            keys[index] = (*keys.get(index, ()), column)
        return list(keys.values())

    def merge_statement(
        self, loaded: str, expressions: Sequence[str], target: str, columns: Sequence[str], merge: Merge
    ) -> str:
        insert = self.insert_select(loaded, expressions, target, columns)
        if merge.mode is WriteMode.INSERT:
            return insert
        quote = self.quote
        assignments = [f"{quote(column)} = EXCLUDED.{quote(column)}" for column in columns]
        if merge.mode is WriteMode.REPLACE:
            assignments += [f"{quote(column)} = DEFAULT" for column in merge.others]
        keys = ", ".join(quote(key) for key in merge.keys)
        return f"{insert} ON CONFLICT ({keys}) DO UPDATE SET {', '.join(assignments)}"

    def merge(
        self, conn: Any, loaded: str, expressions: Sequence[str], target: str, columns: Sequence[str], merge: Merge
    ) -> int:
        statement = self.merge_statement(loaded, expressions, target, columns, merge)
        if merge.mode is WriteMode.INSERT:
            self.execute(conn, statement)
            return 0
        # A row version an INSERT created has xmax 0; one ON CONFLICT ... DO UPDATE wrote carries
        # the updating transaction's id.
        rows = self.query(
            conn,
            f"WITH merged AS ({statement} RETURNING xmax = 0 AS inserted) "
            "SELECT count(*) FILTER (WHERE NOT inserted) FROM merged",
        )
        return int(rows[0][0])

    def empty_statement(self, ref: str) -> str:
        return f"TRUNCATE {ref}"

    def table_statistics_sql(self, schema: str, table: str) -> str | None:
        # reltuples is -1 before the first VACUUM/ANALYZE.
        return (
            "SELECT c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = {self.literal(schema)} AND c.relname = {self.literal(table)}"
        )

    def estimate_query_rows(self, conn: Any, sql: str) -> int | None:
        cursor = conn.cursor()
        try:
            # ADBC runs queries through COPY, which does not take EXPLAIN.
            option = adbc_driver_postgresql.StatementOptions.USE_COPY.value
            cursor.adbc_statement.set_options(**{option: "false"})
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            (plan,) = cursor.fetchone()
        finally:
            cursor.close()
        document = json.loads(plan) if isinstance(plan, str) else plan
        return int(document[0]["Plan"]["Plan Rows"])

    def split_points(
        self,
        conn: Any,
        relation: str,
        column: Column,
        where: str | None,
        parts: int,
        table: tuple[str, str] | None,
    ) -> list[Any]:
        # ANALYZE's histogram already holds quantiles of the column: free, where it exists. It leaves
        # out the most common values, though, so with those present exact quantiles are computed.
        if table is not None and where is None:
            bounds = self.query(
                conn,
                f"SELECT unnest(histogram_bounds::text::{column.native}[]) FROM pg_stats "
                f"WHERE schemaname = {self.literal(table[0])} AND tablename = {self.literal(table[1])} "
                f"AND attname = {self.literal(column.field.name)} AND most_common_vals IS NULL",
            )
            if len(bounds) > parts:
                step = (len(bounds) - 1) / parts
                return [bounds[round(step * index)][0] for index in range(1, parts)]
        return super().split_points(conn, relation, column, where, parts, table)

    def refused_values(self, array: pa.Array) -> pa.Array | None:
        return None  # ±infinity included: see _server_integers

    def select_expression(self, column: Column) -> str:
        quoted = self.quote(column.field.name)
        return f"{quoted}::text" if _pg_native(column.field) is not None else quoted

    def stream(self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int) -> Iterator[pa.RecordBatch]:
        cursor = conn.cursor()
        try:
            # ADBC collects ~16 MB before it hands a batch over; a hint sized from batch_rows keeps
            # memory bounded and lets rows (and progress) flow while a slow query produces them.
            hint = min(MAX_BATCH_HINT_BYTES, max(MIN_BATCH_HINT_BYTES, batch_rows * BATCH_HINT_BYTES_PER_ROW))
            option = adbc_driver_postgresql.StatementOptions.BATCH_SIZE_HINT_BYTES.value
            cursor.adbc_statement.set_options(**{option: str(hint)})
            cursor.execute(sql)
            for batch in cursor.fetch_record_batch():
                # ADBC hands numeric over as opaque text and json as an extension type: cast to the schema.
                cast = cast_batch(batch, schema)
                cast = pa.RecordBatch.from_arrays(
                    [_restore_infinities(array, field.name) for array, field in zip(cast.columns, schema, strict=True)],
                    schema=schema,
                )
                for offset in range(0, cast.num_rows, batch_rows):
                    yield cast.slice(offset, batch_rows)
        finally:
            cursor.close()

    def execute(self, conn: Any, sql: str) -> None:
        cursor = conn.cursor()
        try:
            cursor.execute(sql)
        finally:
            cursor.close()

    def cancel(self, conn: Any) -> None:
        # PostgreSQL's cancel request, on a connection of its own: safe from another thread.
        if isinstance(conn, psycopg.Connection):
            conn.cancel_safe()
        else:
            conn.adbc_cancel()

    def column_type(self, field: pa.Field) -> str:
        type_ = field.type
        logical = t.logical_of(field)
        length = t.length_of(field)
        if pa.types.is_string(type_) or pa.types.is_large_string(type_):
            native = _pg_native(field)
            if native is not None:
                return native
            if logical in (t.JSON, t.JSONB):
                return logical
            if logical == t.NUMERIC:
                return "numeric"
            if logical == t.CHAR:
                return f"character({length or 1})"
            return f"character varying({length})" if length else "text"
        if pa.types.is_decimal(type_):
            return f"numeric({type_.precision},{type_.scale})"
        if pa.types.is_timestamp(type_):
            return "timestamp with time zone" if t.is_tz_timestamp(type_) else "timestamp without time zone"
        if pa.types.is_binary(type_) or pa.types.is_large_binary(type_) or pa.types.is_fixed_size_binary(type_):
            return "bytea"
        integers = {
            pa.int8(): "smallint",
            pa.uint8(): "smallint",
            pa.int16(): "smallint",
            pa.uint16(): "integer",
            pa.int32(): "integer",
            pa.uint32(): "bigint",
            pa.int64(): "bigint",
            pa.uint64(): "numeric(20,0)",
        }
        others = {
            pa.float32(): "real",
            pa.float64(): "double precision",
            pa.bool_(): "boolean",
            pa.date32(): "date",
            pa.time64("us"): "time without time zone",
        }
        native = integers.get(type_) or others.get(type_)
        if native is None:
            raise t.unsupported(str(type_))
        return native

    def writer(
        self, conn: Any, schema: str, table: str, targets: Sequence[Column], table_columns: Sequence[Column]
    ) -> Writer:
        return _PostgresWriter(self, conn, schema, table, targets, table_columns, APPEND)

    def merging_writer(
        self,
        conn: Any,
        schema: str,
        table: str,
        targets: Sequence[Column],
        table_columns: Sequence[Column],
        merge: Merge,
    ) -> Writer:
        return _PostgresWriter(self, conn, schema, table, targets, table_columns, merge)


def _text_copy_values(array: pa.Array) -> list[Any]:
    """A column's values for a text COPY: Python's, with ±infinity spelled as PostgreSQL reads them."""
    infinite = v.infinities(array)
    if infinite is None:
        return array.to_pylist()
    values = pc.if_else(infinite, None, array).to_pylist()
    for index in pc.indices_nonzero(infinite).to_pylist():
        values[index] = v.infinity_text(array, index)
    return values


class _PostgresWriter(Writer):
    """``adbc_ingest`` into the table, or, when ADBC cannot address it directly or a write mode
    has to match keys, into a staging table.

    ADBC's COPY names no columns (it needs every table column, in order) and cannot encode
    unconstrained numeric or types without an Arrow mapping; those cases go through a temporary
    table of text columns and an INSERT ... SELECT that casts on the server, as do REPLACE and
    UPSERT, whose INSERT ... SELECT has an ON CONFLICT clause.
    """

    def __init__(
        self,
        dialect: PostgresDialect,
        conn: Any,
        schema: str,
        table: str,
        targets: Sequence[Column],
        table_columns: Sequence[Column],
        merge: Merge,
    ) -> None:
        self._dialect = dialect
        self._conn = conn
        self._wire = pa.schema([self._wire_field(column) for column in targets])
        self._binary = pa.schema(
            [
                field.with_type(v.integer_type(field.type)) if v.temporal_kind(field.type) else field
                for field in self._wire
            ]
        )
        staged = merge.mode is not WriteMode.INSERT or any(_needs_text(column) for column in targets)
        in_order = [c.field.name for c in table_columns] == [c.field.name for c in targets]
        self._move: Callable[[], int] | None = None
        if not staged and in_order:
            self._ingest_schema, self._ingest_table = schema, table
            return
        quote = dialect.quote
        stage = f"opencdm_stage_{uuid.uuid4().hex}"
        stage_columns = ", ".join(
            f"{quote(c.field.name)}::text AS {quote(c.field.name)}" if _needs_text(c) else quote(c.field.name)
            for c in targets
        )
        dialect.execute(
            conn,
            f"CREATE TEMPORARY TABLE {quote(stage)} ON COMMIT DROP AS "
            f"SELECT {stage_columns} FROM {dialect.table_ref(schema, table)} WITH NO DATA",
        )
        casts = [f"{quote(c.field.name)}::{c.native}" if _needs_text(c) else quote(c.field.name) for c in targets]
        self._ingest_schema, self._ingest_table = "pg_temp", stage
        target, columns = dialect.table_ref(schema, table), [column.field.name for column in targets]
        self._move = lambda: dialect.move_rows(conn, quote(stage), target, columns, merge, casts)

    @staticmethod
    def _wire_field(column: Column) -> pa.Field:
        field = column.field
        if _needs_text(column):
            return pa.field(field.name, pa.string())
        if t.logical_of(field) == t.JSONB:
            # jsonb's binary COPY format has a version byte; ADBC writes it for the JSON extension type.
            return pa.field(field.name, pa.json_(pa.string()))
        return pa.field(field.name, field.type)

    def write(self, batch: pa.RecordBatch) -> int:
        wire = cast_batch(batch, self._wire)
        if isinstance(self._conn, psycopg.Connection):
            self._copy_rows(wire)
        else:
            cursor = self._conn.cursor()
            try:
                binary = _binary_form(wire, self._binary)
                cursor.adbc_ingest(self._ingest_table, binary, mode="append", db_schema_name=self._ingest_schema)
            finally:
                cursor.close()
        return self._move() if self._move is not None else 0

    def _copy_rows(self, batch: pa.RecordBatch) -> None:
        """The batch row by row through psycopg's COPY: the writer of runs that leave refused rows
        out (JdbcSink.skip_rejected_rows), whose connection must survive a failed statement."""
        quote = self._dialect.quote
        names = ", ".join(quote(name) for name in batch.schema.names)
        target = f"{quote(self._ingest_schema)}.{quote(self._ingest_table)}"
        with self._conn.cursor() as cursor, cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for row in zip(*(_text_copy_values(column) for column in batch.columns), strict=True):
                copy.write_row(row)

    def write_all(self, batches: Iterator[pa.RecordBatch]) -> Iterator[int]:
        """Straight into the table, every batch goes through one ``adbc_ingest`` (one COPY) run by a
        thread that takes them from a queue of STREAM_QUEUE_BATCHES: ADBC encodes and sends (without
        the GIL) while the source reads and casts the next batches, and no COPY starts per batch."""
        if self._move is not None or isinstance(self._conn, psycopg.Connection):
            yield from super().write_all(batches)
            return
        def ingest(queued: Iterator[pa.RecordBatch]) -> None:
            cursor = self._conn.cursor()
            try:
                reader = pa.RecordBatchReader.from_batches(self._binary, queued)
                cursor.adbc_ingest(self._ingest_table, reader, mode="append", db_schema_name=self._ingest_schema)
            finally:
                cursor.close()

        cast = (_binary_form(cast_batch(batch, self._wire), self._binary) for batch in batches)
        for _ in _handed_to_a_thread(cast, ingest, STREAM_QUEUE_BATCHES, "opencdm-ingest"):
            yield 0
