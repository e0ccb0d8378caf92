"""PostgreSQL's binary COPY: the native pass-through between two PostgreSQL databases, the writer
of Arrow batches (``adbc_ingest``, or psycopg's COPY for runs that leave refused rows out), and
timestamps and dates as the integers of the binary format, ±infinity included.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import pq

from opencdm.connectors import types as t
from opencdm.connectors import values as v
from opencdm.connectors.base import NativeChunk, WriteResult
from opencdm.connectors.jdbc.config import WriteMode
from opencdm.connectors.jdbc.dialect import Dialect, Merge, Writer
from opencdm.connectors.jdbc.postgresql_types import pg_native
from opencdm.connectors.jdbc.types import Column
from opencdm.connectors.types import cast_batch
from opencdm.errors import CdmError

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
# PostgreSQL's binary timestamps and dates count from 2000-01-01 (Arrow's from 1970-01-01), and
# its earliest value is 4714-11-24 BC; its latest date is 5874897-12-31 (its latest timestamp lies
# beyond Arrow's). Keyed by values.temporal_kind: timestamps in microseconds, dates in days.
_EPOCH_SHIFT = {v.TIMESTAMP_KIND: 946_684_800_000_000, v.DATE_KIND: 10_957}
_EARLIEST = {v.TIMESTAMP_KIND: -210_866_803_200_000_000, v.DATE_KIND: -2_440_588}
_LATEST = {v.TIMESTAMP_KIND: 2**63 - 2, v.DATE_KIND: 2_145_042_905}


def _needs_text(column: Column) -> bool:
    """ADBC's binary COPY cannot write these from Arrow; they go in as text and are cast by the server."""
    return t.logical_of(column.field) == t.NUMERIC or pg_native(column.field) is not None


def restore_infinities(array: pa.Array, column: str) -> pa.Array:
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


def binary_copy_out(conn: Any, relation: str) -> Iterator[NativeChunk]:
    """``relation``'s rows as binary COPY data, in chunks (the native pass-through's source side)."""
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


def binary_copy_in(conn: Any, target: str, chunks: Iterator[NativeChunk]) -> Iterator[WriteResult]:
    """Binary COPY data into ``target``, written by a thread while the next chunks are read."""
    with conn.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:

        def write(queued: Iterator[NativeChunk]) -> None:
            for chunk in queued:
                copy.write(chunk.data)

        for chunk in _handed_to_a_thread(chunks, write, NATIVE_QUEUE_CHUNKS, "opencdm-copy-in"):
            yield WriteResult(rows=chunk.rows, bytes=len(chunk.data))


def _text_copy_values(array: pa.Array) -> list[Any]:
    """A column's values for a text COPY: Python's, with ±infinity spelled as PostgreSQL reads them."""
    infinite = v.infinities(array)
    if infinite is None:
        return array.to_pylist()
    values = pc.if_else(infinite, None, array).to_pylist()
    for index in pc.indices_nonzero(infinite).to_pylist():
        values[index] = v.infinity_text(array, index)
    return values


class PostgresWriter(Writer):
    """``adbc_ingest`` into the table, or, when ADBC cannot address it directly or a write mode
    has to match keys, into a staging table.

    ADBC's COPY names no columns (it needs every table column, in order) and cannot encode
    unconstrained numeric or types without an Arrow mapping; those cases go through a temporary
    table of text columns and an INSERT ... SELECT that casts on the server, as do REPLACE and
    UPSERT, whose INSERT ... SELECT has an ON CONFLICT clause.
    """

    def __init__(
        self,
        dialect: Dialect,
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
