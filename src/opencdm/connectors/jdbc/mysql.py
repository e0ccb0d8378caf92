"""MySQL and MariaDB: connectorx Arrow batches out, ``LOAD DATA LOCAL INFILE`` of Arrow-written CSV in.

Both fast paths convert values in vectorised Arrow code, never in a Python loop per value (the
PyMySQL row loop costs ~17 µs a row). The generic DB-API paths (an unbuffered PyMySQL cursor out,
multi-row INSERTs in) remain the reference the fast paths are tested against, and the writer used
when the server refuses ``LOAD DATA LOCAL``; ``MySqlDialect.fast_paths = False`` selects them.

Sessions run with utf8mb4, ``time_zone='+00:00'`` (TIMESTAMP columns read and write as UTC) and
strict mode (a value that does not fit is an error, not a silent truncation). MariaDB and MySQL
lack a time-zone-aware type with full range, so a timestamptz column is created as DATETIME(6)
holding UTC with a column comment that restores tz-awareness when it is read back.
"""

from __future__ import annotations

import binascii
import datetime as dt
import math
import os
import queue
import re
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import quote as url_quote

import connectorx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pymysql
import pymysql.connections
import pymysql.cursors
from pymysql.protocol import LoadLocalPacketWrapper, MysqlPacket

from opencdm.connectors import types as t
from opencdm.connectors import values
from opencdm.connectors.jdbc.config import WriteMode
from opencdm.connectors.jdbc.dialect import (
    Converter,
    Dialect,
    ExecuteManyWriter,
    Merge,
    Writer,
    batch_from_rows,
)
from opencdm.connectors.jdbc.types import Column
from opencdm.errors import CdmError

TZ_COMMENT = "opencdm:timestamptz"
MAX_PRECISION, MAX_SCALE = 65, 30
MAX_VARCHAR = 16383  # utf8mb4 characters that fit a VARCHAR's 65,535-byte limit
_COLUMN_TYPE = re.compile(r"^(\w+)(?:\(([^)]*)\))?((?:\s+\w+)*)$")
_JSON_CHECK = re.compile(r"json_valid\(`((?:[^`]|``)+)`\)", re.IGNORECASE)
_INTEGERS = {
    "tinyint": (pa.int8(), pa.uint8()),
    "smallint": (pa.int16(), pa.uint16()),
    "mediumint": (pa.int32(), pa.uint32()),
    "int": (pa.int32(), pa.uint32()),
    "integer": (pa.int32(), pa.uint32()),
    "bigint": (pa.int64(), pa.uint64()),
}
# Run by every session, PyMySQL's and connectorx's alike.
_SESSION_SETUP = (
    "SET SESSION time_zone = '+00:00', "
    "SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES')"
)
MICROSECONDS_PER_DAY = 86_400_000_000
CONNECTORX_DECIMAL_SCALE = 10
# A keyed connectorx read: batches in a page (what connectorx may hold ahead of the writer), and
# batches the reading thread may hand over ahead of the writer. Small on purpose: whatever is read
# ahead when the source ends is written while the reading side idles, so on 2 cores every batch held
# ahead lengthens that tail. Pages of 2 with 1 ahead measured 4% faster than pages of 8 with 4 ahead
# on MariaDB -> PostgreSQL (and 25% less peak memory); pages of 1, or batches of 25k, are slower.
PAGE_BATCHES = 2
READ_AHEAD_BATCHES = 1
# connectorx errors carry the server's code and message inside the driver's debug text.
_CONNECTORX_ERROR = re.compile(r"ERROR (\d+) \([0-9A-Z]+\): (.*?) ?\}?$", re.DOTALL)
# CSV for LOAD DATA: every string quoted (so "" is an empty string and "NULL" the text NULL), an
# unquoted NULL for SQL NULL, quotes doubled, no backslash escapes. The file is all UTF-8 (binary
# values travel as hex) and is read as utf8mb4, so a column of another character set gets the
# server's checked conversion, as an INSERT would, not raw UTF-8 bytes.
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, null_string="NULL", quoting_style="needed")
_SEVERITY = {"Note": 1, "Warning": 2, "Error": 3}
# SHOW COLUMNS' Extra of a generated column (MySQL says DEFAULT_GENERATED of an expression default).
_GENERATED = re.compile(r"\b(?:VIRTUAL|STORED|PERSISTENT) GENERATED\b", re.IGNORECASE)
# ER_DUP_ENTRY and ER_DUP_ENTRY_WITH_KEY_NAME.
DUPLICATE_KEY_ERRORS = (1062, 1586)
# InnoDB's longest index key; utf8mb4 takes up to 4 bytes a character.
MAX_KEY_BYTES = 3072
UTF8MB4_BYTES = 4
MAX_FIXED_KEY_BYTES = 32  # a number, date or time: DECIMAL(65,30) takes 30 bytes
_TEXTS = {"tinytext", "text", "mediumtext", "longtext", "enum", "set"}
_BLOBS = {"tinyblob", "blob", "mediumblob", "longblob", "bit"}


def _field(name: str, native: str, comment: str, json_check: bool) -> pa.Field:
    match = _COLUMN_TYPE.match(native.lower())
    if not match:
        raise t.unsupported(native)
    base, args, flags = match.group(1), match.group(2), match.group(3).split()
    numbers = [int(part) for part in args.split(",")] if args and args.replace(",", "").isdigit() else []
    if base == "tinyint" and numbers == [1] and "unsigned" not in flags:
        return t.make_field(name, pa.bool_())  # BOOLEAN is tinyint(1)
    if base in _INTEGERS:
        return t.make_field(name, _INTEGERS[base]["unsigned" in flags])
    if base in ("decimal", "numeric"):
        precision, scale = (numbers + [10, 0])[:2] if numbers else (10, 0)
        return t.make_field(name, t.decimal_type(precision, scale))
    if base == "json" or (base == "longtext" and json_check):
        return t.make_field(name, pa.string(), logical=t.JSON)
    simple = {
        "float": pa.float32(),
        "double": pa.float64(),
        "real": pa.float64(),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "timestamp": t.TIMESTAMP_TZ,
        "year": pa.int16(),
    }
    if base in simple:
        return t.make_field(name, simple[base])
    if base == "datetime":
        return t.make_field(name, t.TIMESTAMP_TZ if TZ_COMMENT in comment else t.TIMESTAMP)
    if base == "varchar":
        return t.make_field(name, pa.string(), length=numbers[0])
    if base == "char":
        return t.make_field(name, pa.string(), length=numbers[0] if numbers else 1, logical=t.CHAR)
    if base in _TEXTS:
        return t.make_field(name, pa.string())
    if base in ("binary", "varbinary"):
        return t.make_field(name, pa.binary(), length=numbers[0] if numbers else None)
    if base in _BLOBS:
        return t.make_field(name, pa.binary())
    raise t.unsupported(native)


def _key_bytes(native: str) -> float:
    """The most bytes a value of a column created as ``native`` takes in an index (TEXT and BLOB: infinite)."""
    sized = re.match(r"(VARCHAR|CHAR|VARBINARY)\((\d+)\)", native)
    if sized:
        return int(sized.group(2)) * (1 if sized.group(1) == "VARBINARY" else UTF8MB4_BYTES)
    return math.inf if native in ("LONGTEXT", "LONGBLOB", "JSON") else MAX_FIXED_KEY_BYTES


def _not_a_time_of_day(value: dt.timedelta) -> CdmError:
    return CdmError("Cdm.0064", f"Data format mismatch: TIME value {value} is not a time of day.")


def _time_from_timedelta(value: dt.timedelta) -> dt.time:
    if not dt.timedelta(0) <= value < dt.timedelta(days=1):
        raise _not_a_time_of_day(value)
    return (dt.datetime.min + value).time()


def _time_from_microseconds(array: pa.Array) -> pa.Array:
    """TIME read as signed microseconds (see ``MySqlDialect._fast_select``), checked like the generic path."""
    outside = pc.filter(array, pc.or_(pc.less(array, 0), pc.greater_equal(array, MICROSECONDS_PER_DAY)))
    if len(outside):
        raise _not_a_time_of_day(dt.timedelta(microseconds=outside[0].as_py()))
    return array.cast(pa.time64("us"))


def _hex(array: pa.Array) -> pa.Array:
    """Binary values as hex digits, vectorised: Arrow's CSV writer accepts only UTF-8, so binary
    columns travel as hex and the server restores them with UNHEX()."""
    offset_type = pa.int64() if pa.types.is_large_binary(array.type) else pa.int32()
    offsets = pa.Array.from_buffers(offset_type, len(array) + 1, [None, array.buffers()[1]], offset=array.offset)
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    digits = binascii.hexlify(memoryview(array.buffers()[2])[start:end]) if end > start else b""
    doubled = pc.multiply(pc.subtract(offsets.cast(pa.int64()), start), 2)
    validity = pc.is_valid(array).buffers()[1] if array.null_count else None
    return pa.Array.from_buffers(
        pa.large_string(), len(array), [validity, doubled.buffers()[1], pa.py_buffer(digits)], array.null_count
    )


def _csv_ready(array: pa.Array) -> pa.Array:
    """The column in the form LOAD DATA reads back as the same value."""
    type_ = array.type
    if pa.types.is_boolean(type_):
        return array.cast(pa.int8())  # Arrow writes true/false, which MySQL does not take for TINYINT(1)
    if t.is_tz_timestamp(type_):
        return array.cast(t.TIMESTAMP)  # the UTC wall time, read in the session's +00:00
    if pa.types.is_binary(type_) or pa.types.is_large_binary(type_):
        return _hex(array)
    if pa.types.is_float32(type_):
        # The shortest float32 spelling of FLT_MAX, 3.4028235e+38, read as a double (as MariaDB
        # reads it) is above FLT_MAX: "Out of range". The exact double of each value reads back as it.
        return array.cast(pa.float64())
    return array


def _fits_connectorx_decimal(decimal: pa.Decimal128Type) -> bool:
    """Whether connectorx reads this DECIMAL exactly: at most 10 decimals (its scale) and at most 28
    digits once widened to 10 decimals (rust_decimal's 96-bit mantissa)."""
    integer_digits = decimal.precision - decimal.scale
    return decimal.scale <= CONNECTORX_DECIMAL_SCALE and integer_digits + CONNECTORX_DECIMAL_SCALE <= 28


def _is_panic(exc: BaseException) -> bool:
    # connectorx reports a value it cannot convert (e.g. a zero date) as a Rust panic: pyo3's
    # PanicException derives from BaseException and is not importable, so it is known by name.
    return type(exc).__name__ == "PanicException"


def _connectorx_error(exc: BaseException) -> pymysql.MySQLError:
    """A connectorx failure as the driver error PyMySQL would raise, so callers word it the same way."""
    match = _CONNECTORX_ERROR.search(str(exc))
    if match:
        return pymysql.err.OperationalError(int(match.group(1)), match.group(2))
    return pymysql.err.OperationalError(str(exc).strip())


class _Connection(pymysql.connections.Connection):
    """A PyMySQL connection that sends a local file only for its own ``LOAD DATA LOCAL INFILE``.

    PyMySQL answers a server's LOCAL INFILE request with whatever file the server names, so a rogue
    server behind a link could read any file of the worker. The capability has to be announced at
    connect time, but it is answered only inside ``local_file`` and only for that file.
    """

    _allowed_file: bytes | None = None
    _read_timeout: float | None
    _write_timeout: float | None

    def __init__(self, handshake_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(local_infile=True, defer_connect=True, **kwargs)
        self._local_infile = False  # PyMySQL refuses LOCAL INFILE requests while this is off
        # PyMySQL's connect_timeout covers only the TCP connection: a peer that accepts it and then
        # stays silent would hold the handshake forever. It gets handshake_timeout; the reads and
        # writes that follow get the timeouts asked for (None for a job's long queries).
        steady = self._read_timeout, self._write_timeout
        if handshake_timeout is not None:
            self._read_timeout = self._read_timeout or handshake_timeout
            self._write_timeout = self._write_timeout or handshake_timeout
        try:
            self.connect()
        finally:
            self._read_timeout, self._write_timeout = steady

    @contextmanager
    def local_file(self, path: str) -> Iterator[None]:
        self._local_infile, self._allowed_file = True, os.fsencode(path)
        try:
            yield
        finally:
            self._local_infile, self._allowed_file = False, None

    def _read_packet(self, packet_type: type[MysqlPacket] = MysqlPacket) -> MysqlPacket:
        packet = super()._read_packet(packet_type)
        if self._allowed_file is not None and packet.is_load_local_packet():
            requested = LoadLocalPacketWrapper(packet).filename
            if requested != self._allowed_file:
                self._force_close()  # the protocol cannot continue without sending a file
                raise pymysql.err.OperationalError(
                    2000, f"The server asked for local file {requested!r}, not the one being loaded."
                )
        return packet


class LoadDataWriter(Writer):
    """Each batch written by Arrow as CSV to a private temporary file, then ``LOAD DATA LOCAL INFILE``.

    LOAD DATA is transactional in InnoDB, so it stays inside the sink's transaction. With LOCAL the
    server downgrades errors to warnings and skips rows (duplicate keys, truncation), as it cannot
    stop the client mid-file; any warning therefore fails the batch, and the sink rolls back.
    """

    def __init__(self, dialect: MySqlDialect, conn: _Connection, schema: str, table: str, targets: Sequence[Column]):
        names, assignments = [], []
        for index, column in enumerate(targets):
            type_ = column.field.type
            if pa.types.is_binary(type_) or pa.types.is_large_binary(type_):
                names.append(f"@opencdm_{index}")
                assignments.append(f"{dialect.quote(column.field.name)} = UNHEX(@opencdm_{index})")
            else:
                names.append(dialect.quote(column.field.name))
        assign = f" SET {', '.join(assignments)}" if assignments else ""
        # Hex literals for the terminators: backslash escapes in string literals depend on sql_mode.
        self._after_path = (
            f" INTO TABLE {dialect.table_ref(schema, table)} CHARACTER SET utf8mb4 FIELDS TERMINATED BY X'2C' "
            f"OPTIONALLY ENCLOSED BY X'22' ESCAPED BY '' LINES TERMINATED BY X'0A' ({', '.join(names)}){assign}"
        )
        self._conn = conn

    def write(self, batch: pa.RecordBatch) -> int:
        ready = pa.RecordBatch.from_arrays([_csv_ready(array) for array in batch.columns], names=batch.schema.names)
        with tempfile.NamedTemporaryFile(prefix="opencdm-", suffix=".csv") as handle:
            pacsv.write_csv(ready, handle.name, _CSV_OPTIONS)
            sql = f"LOAD DATA LOCAL INFILE {self._conn.escape(handle.name)}{self._after_path}"
            with self._conn.local_file(handle.name), self._conn.cursor() as cursor:
                loaded = cursor.execute(sql)
                warnings = cursor.warning_count
        if warnings:
            # The worst one explains the failure best (an error is listed after the notes it caused).
            level, code, message = max(self._conn.show_warnings(), key=lambda row: _SEVERITY.get(row[0], 0))
            raise pymysql.err.DataError(
                code, f"{message}{_value_named(message, batch)} ({level}; {warnings} warning(s) in LOAD DATA)"
            )
        if loaded != batch.num_rows:
            raise pymysql.err.DataError(f"LOAD DATA stored {loaded} of {batch.num_rows} rows.")
        return 0


# How MariaDB names the field of a LOAD DATA warning: "… for column 'v' at row 3".
_WARNED_FIELD = re.compile(r"column '(?P<column>[^']+)' at row (?P<row>\d+)")


def _value_named(message: str, batch: pa.RecordBatch) -> str:
    """The value a LOAD DATA warning is about, which MariaDB does not show, as " (value [x])"."""
    found = _WARNED_FIELD.search(message)
    if found is None or found["column"] not in batch.schema.names or not 0 < int(found["row"]) <= batch.num_rows:
        return ""
    array, index = batch.column(found["column"]), int(found["row"]) - 1
    return f" (value [{'NULL' if array[index].as_py() is None else values.value_text(array, index)}])"


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _read_ahead(batches: Iterator[pa.RecordBatch], depth: int) -> Iterator[pa.RecordBatch]:
    """``batches`` produced in a thread, at most ``depth`` ahead of the consumer: the next page's
    query starts while the destination still writes the last page."""
    ready: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue(maxsize=depth)
    abandoned = threading.Event()

    def hand_over(item: pa.RecordBatch | BaseException | None) -> bool:
        while not abandoned.is_set():
            try:
                ready.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not hand_over(batch):
                    return
            hand_over(None)
        except BaseException as exc:
            hand_over(exc)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # in this thread, where the generator runs: closes connectorx's stream

    thread = threading.Thread(target=produce, name="opencdm-read-ahead", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        abandoned.set()
        thread.join()


class MySqlDialect(Dialect):
    quote_char = "`"
    backslash_escapes = True
    driver_errors = (pymysql.MySQLError,)
    transactional_ddl = False
    fast_paths: ClassVar[bool] = True  # False: the generic DB-API reader and writer
    reads_ahead = True  # connectorx: see stream_by_key
    negative_zero = False  # MariaDB reads a DOUBLE or FLOAT -0 back as 0

    def default_schema(self) -> str:
        return self.link.database

    def _connect(self) -> Any:
        link = self.link
        conn = _Connection(
            host=link.host,
            port=link.port or 3306,
            user=link.username,
            password=link.password,
            database=link.database,
            charset="utf8mb4",
            autocommit=False,
            connect_timeout=self.connect_timeout,
            handshake_timeout=self.connect_timeout,
            # A link's validation waits for no answer longer than the connection; a job's queries may be long.
            read_timeout=self.connect_timeout if self.validating else None,
            write_timeout=self.connect_timeout if self.validating else None,
        )
        with conn.cursor() as cursor:
            cursor.execute(_SESSION_SETUP)
        return conn

    default_port = 3306

    def connect_failure(self, exc: Exception) -> str | None:
        # Errors numbered below 2000 are the server's own answers (e.g. 1045 access denied, 1049
        # unknown database); 2000 and above are the client's, which may quote what another kind of
        # service sent (e.g. "Packet sequence number wrong - got 45").
        if isinstance(exc, pymysql.MySQLError) and exc.args and isinstance(exc.args[0], int) and exc.args[0] < 2000:
            return self.error_message(exc)
        return self.unreachable()

    def is_duplicate_key(self, exc: Exception) -> bool:
        return bool(exc.args) and exc.args[0] in DUPLICATE_KEY_ERRORS

    def key_constraint(self, key: Sequence[pa.Field]) -> str:
        # A PRIMARY KEY is a B-tree index, which takes no TEXT or BLOB column and at most
        # MAX_KEY_BYTES; MariaDB enforces a UNIQUE key on longer values through a hash instead.
        if sum(_key_bytes(self.column_type(field)) for field in key) > MAX_KEY_BYTES:
            return "UNIQUE (" + ", ".join(self.quote(field.name) for field in key) + ")"
        return super().key_constraint(key)

    def error_message(self, exc: Exception) -> str:
        if len(exc.args) == 2 and isinstance(exc.args[0], int):
            return f"({exc.args[0]}) {exc.args[1]}"
        return str(exc).strip()

    def _show_columns(self, conn: Any, ref: str) -> list[tuple[str, str, str, bool, bool]]:
        """Name, type, comment, NOT NULL and generated (VIRTUAL or STORED) of each column."""
        with conn.cursor() as cursor:
            cursor.execute(f"SHOW FULL COLUMNS FROM {ref}")
            return [
                (row[0], row[1], row[8] or "", row[3] == "NO", bool(_GENERATED.search(row[6] or "")))
                for row in cursor.fetchall()
            ]

    def _json_columns(self, conn: Any, schema: str, table: str) -> set[str]:
        """MariaDB stores JSON as LONGTEXT with a json_valid() check; MySQL has a native JSON type."""
        with conn.cursor() as cursor:
            try:
                cursor.execute(
                    "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                    "WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s",
                    (schema, table),
                )
            except pymysql.err.OperationalError:  # MySQL's CHECK_CONSTRAINTS has no TABLE_NAME
                return set()
            return {m.replace("``", "`") for (clause,) in cursor.fetchall() for m in _JSON_CHECK.findall(clause)}

    def table_columns(self, conn: Any, schema: str, table: str) -> list[Column] | None:
        try:
            described = self._show_columns(conn, self.table_ref(schema, table))
        except pymysql.err.ProgrammingError as exc:
            if exc.args and exc.args[0] == 1146:  # ER_NO_SUCH_TABLE
                return None
            raise
        json_columns = self._json_columns(conn, schema, table)
        return [
            Column(native, t.with_not_null(_field(name, native, comment, name in json_columns), not_null), generated)
            for name, native, comment, not_null, generated in described
        ]

    def query_columns(self, conn: Any, sql: str) -> list[Column]:
        # MySQL describes result types best as a table; a temporary one does not commit the transaction.
        probe = self.quote(f"opencdm_probe_{uuid.uuid4().hex}")
        self.execute(conn, f"CREATE TEMPORARY TABLE {probe} AS SELECT * FROM ({sql}) opencdm_query LIMIT 0")
        try:
            return [
                Column(native, t.with_not_null(_field(name, native, comment, False), not_null))
                for name, native, comment, not_null, _ in self._show_columns(conn, probe)
            ]
        finally:
            self.execute(conn, f"DROP TEMPORARY TABLE {probe}")

    def unique_keys(self, conn: Any, schema: str, table: str) -> list[tuple[str, ...]]:
        # A unique index on a column prefix (SUB_PART) does not make the whole column unique.
        rows = self.query(
            conn,
            "SELECT INDEX_NAME, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS "
            f"WHERE TABLE_SCHEMA = {self.literal(schema)} AND TABLE_NAME = {self.literal(table)} AND NON_UNIQUE = 0 "
            "ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
        )
        keys: dict[str, tuple[str, ...]] = {}
        prefixed = {index for index, _, sub_part in rows if sub_part is not None}
        for index, column, _ in rows:
            if index not in prefixed:
                keys[index] = (*keys.get(index, ()), column)
        return list(keys.values())

    def create_table_like(
        self, conn: Any, ref: str, schema: str, table: str, columns: Sequence[Column], temporary: bool
    ) -> None:
        # Selected from the table, the columns keep their character sets and collations, which
        # SHOW COLUMNS' type names leave out (the schema's default could not hold every value).
        names = ", ".join(self.quote(column.field.name) for column in columns)
        self.execute(
            conn,
            f"CREATE {'TEMPORARY ' if temporary else ''}TABLE {ref} AS "
            f"SELECT {names} FROM {self.table_ref(schema, table)} LIMIT 0",
        )

    def merge_statement(
        self, loaded: str, expressions: Sequence[str], target: str, columns: Sequence[str], merge: Merge
    ) -> str:
        insert = self.insert_select(loaded, expressions, target, columns)
        if merge.mode is WriteMode.REPLACE:
            return "REPLACE" + insert.removeprefix("INSERT")
        if merge.mode is WriteMode.UPSERT:
            assignments = ", ".join(f"{self.quote(column)} = VALUES({self.quote(column)})" for column in columns)
            return f"{insert} ON DUPLICATE KEY UPDATE {assignments}"
        return insert

    def table_statistics_sql(self, schema: str, table: str) -> str | None:
        # InnoDB's TABLE_ROWS is a rough sample.
        return (
            "SELECT TABLE_ROWS FROM information_schema.TABLES "
            f"WHERE TABLE_SCHEMA = {self.literal(schema)} AND TABLE_NAME = {self.literal(table)}"
        )

    def refused_values(self, array: pa.Array) -> pa.Array | None:
        # MariaDB's FLOAT and DOUBLE have no NaN or ±Infinity.
        floats = values.unusual_floats(array, infinite=True)
        return floats if floats is not None else super().refused_values(array)

    def stream(self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int) -> Iterator[pa.RecordBatch]:
        if self.fast_paths:
            yield from self._stream_connectorx(sql, schema, batch_rows)
            return
        converters = [self._read_converter(field) for field in schema]
        cursor = conn.cursor(pymysql.cursors.SSCursor)
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(batch_rows):
                yield batch_from_rows(rows, schema, converters)
        finally:
            cursor.close()

    def stream_by_key(
        self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int, key: str
    ) -> Iterator[pa.RecordBatch]:
        if not self.fast_paths:
            yield from self.stream(conn, sql, schema, batch_rows)
            return
        yield from _read_ahead(self._pages(sql, schema, batch_rows, key), READ_AHEAD_BATCHES)

    def _pages(self, sql: str, schema: pa.Schema, batch_rows: int, key: str) -> Iterator[pa.RecordBatch]:
        # connectorx reads its whole result ahead of a slower consumer (memory grew with the table),
        # so the result is read in pages that follow the key, of PAGE_BATCHES batches each.
        page_rows = PAGE_BATCHES * batch_rows
        quoted = f"opencdm_fast.{self.quote(key)}"
        after: Any = None
        while True:
            condition = f" WHERE {quoted} > {self.literal(after)}" if after is not None else ""
            page = f"{condition} ORDER BY {quoted} LIMIT {page_rows}"
            rows = 0
            for batch in self._stream_connectorx(sql, schema, batch_rows, page):
                rows += batch.num_rows
                after = batch.column(key)[-1].as_py()
                yield batch
            if rows < page_rows:
                return

    def _connectorx_url(self) -> str:
        link = self.link
        assert link.host is not None
        host = f"[{link.host}]" if ":" in link.host else link.host
        user, password = url_quote(link.username or "", safe=""), url_quote(link.password, safe="")
        return f"mysql://{user}:{password}@{host}:{link.port or 3306}/{url_quote(link.database, safe='')}"

    def _fast_select(self, sql: str, schema: pa.Schema, page: str) -> str:
        """``sql`` wrapped so that connectorx reads every column exactly.

        connectorx makes every DECIMAL a decimal128(38,10) through a 28-digit decimal: a wider or
        finer decimal fails or, worse, loses digits, so those are read as their text and parsed by
        Arrow. It also fails on TIME values outside a day: TIME is read as signed microseconds and
        checked like the generic path checks it.
        """
        expressions = []
        for field in schema:
            name = self.quote(field.name)
            if pa.types.is_decimal(field.type) and not _fits_connectorx_decimal(field.type):
                expressions.append(f"CAST(opencdm_fast.{name} AS CHAR) AS {name}")
            elif pa.types.is_time(field.type):
                expressions.append(f"CAST(TIME_TO_SEC(opencdm_fast.{name}) * 1000000 AS SIGNED) AS {name}")
            else:
                expressions.append(f"opencdm_fast.{name}")
        # The page's ORDER BY and LIMIT stay outside the derived table, so MariaDB merges it
        # into the outer query instead of materialising it.
        return f"SELECT {', '.join(expressions)} FROM ({sql}) opencdm_fast{page}"

    def _stream_connectorx(
        self, sql: str, schema: pa.Schema, batch_rows: int, page: str = ""
    ) -> Iterator[pa.RecordBatch]:
        """Arrow batches straight from connectorx (Rust, binary protocol, streamed), cast to ``schema``."""
        try:
            reader = connectorx.read_sql(
                self._connectorx_url(),
                self._fast_select(sql, schema, page),
                return_type="arrow_stream",
                batch_size=batch_rows,
                pre_execution_query=[_SESSION_SETUP],
            )
            with reader:  # a read abandoned midway (job stopped) closes the stream now, not at garbage collection
                for batch in reader:
                    if batch.num_rows:
                        yield self._from_connectorx(batch, schema)
        except RuntimeError as exc:
            raise _connectorx_error(exc) from exc
        except BaseException as exc:
            if _is_panic(exc):
                raise _connectorx_error(exc) from exc
            raise

    @staticmethod
    def _from_connectorx(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
        # Decimal text parses exactly (a value that does not fit fails); tinyint(1) becomes
        # bool as nonzero, like bool() in the generic path; large_binary narrows to binary.
        arrays = [
            _time_from_microseconds(array)
            if pa.types.is_time(field.type)
            else t.cast_array(array, field.type, field.name)
            for array, field in zip(batch.columns, schema, strict=True)
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    @staticmethod
    def _read_converter(field: pa.Field) -> Converter | None:
        if pa.types.is_time(field.type):
            return _time_from_timedelta
        if pa.types.is_boolean(field.type):
            return bool
        return None  # naive DATETIME values in a UTC-typed field are taken as UTC by Arrow

    def execute(self, conn: Any, sql: str) -> None:
        with conn.cursor() as cursor:
            cursor.execute(sql)

    def cancel(self, conn: Any) -> None:
        # MariaDB cancels a statement by its connection id, from another connection.
        killer = self._connect()
        try:
            self.execute(killer, f"KILL QUERY {int(conn.thread_id())}")
        finally:
            killer.close()

    @staticmethod
    def _local_infile_enabled(conn: Any) -> bool:
        """MySQL 8 ships with local_infile OFF; such a server gets the generic writer."""
        with conn.cursor() as cursor:
            cursor.execute("SELECT @@GLOBAL.local_infile")
            return bool(cursor.fetchone()[0])

    def column_type(self, field: pa.Field) -> str:
        type_ = field.type
        length = t.length_of(field)
        logical = t.logical_of(field)
        if pa.types.is_string(type_) or pa.types.is_large_string(type_):
            if t.is_json(field):
                return "JSON"
            if logical == t.NUMERIC:
                return f"DECIMAL({MAX_PRECISION},{MAX_SCALE})"
            if logical == t.CHAR and length and length <= 255:
                return f"CHAR({length})"
            return f"VARCHAR({length})" if length and length <= MAX_VARCHAR else "LONGTEXT"
        if pa.types.is_decimal(type_):
            if type_.precision <= MAX_PRECISION and type_.scale <= MAX_SCALE:
                return f"DECIMAL({type_.precision},{type_.scale})"
            raise t.unsupported(f"decimal({type_.precision},{type_.scale}) (MySQL allows DECIMAL(65,30) at most)")
        if pa.types.is_binary(type_) or pa.types.is_large_binary(type_):
            return f"VARBINARY({length})" if length and length <= MAX_VARCHAR else "LONGBLOB"
        if t.is_tz_timestamp(type_):
            return f"DATETIME(6) COMMENT '{TZ_COMMENT}'"
        integers = {
            pa.int8(): "TINYINT",
            pa.int16(): "SMALLINT",
            pa.int32(): "INT",
            pa.int64(): "BIGINT",
            pa.uint8(): "TINYINT UNSIGNED",
            pa.uint16(): "SMALLINT UNSIGNED",
            pa.uint32(): "INT UNSIGNED",
            pa.uint64(): "BIGINT UNSIGNED",
        }
        others = {
            pa.float32(): "FLOAT",
            pa.float64(): "DOUBLE",
            pa.bool_(): "BOOLEAN",
            pa.date32(): "DATE",
            pa.time64("us"): "TIME(6)",
            t.TIMESTAMP: "DATETIME(6)",
        }
        native = integers.get(type_) or others.get(type_)
        if native is None:
            raise t.unsupported(str(type_))
        return native

    def writer(
        self, conn: Any, schema: str, table: str, targets: Sequence[Column], table_columns: Sequence[Column]
    ) -> Writer:
        if self.fast_paths and self._local_infile_enabled(conn):
            return LoadDataWriter(self, conn, schema, table, targets)
        # PyMySQL rewrites executemany(INSERT ... VALUES (...)) into multi-row INSERT statements.
        converters = [_naive_utc if t.is_tz_timestamp(c.field.type) else None for c in targets]
        return ExecuteManyWriter(self, conn, schema, table, targets, "%s", converters)
