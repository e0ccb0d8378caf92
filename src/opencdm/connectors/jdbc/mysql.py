"""MySQL and MariaDB: connectorx Arrow batches out, ``LOAD DATA LOCAL INFILE`` of Arrow-written CSV in.

Both fast paths convert values in vectorised Arrow code, never in a Python loop per value (the
PyMySQL row loop costs ~17 µs a row). The generic DB-API paths (an unbuffered PyMySQL cursor out,
multi-row INSERTs in) remain the reference the fast paths are tested against, and the writer used
when the server refuses ``LOAD DATA LOCAL``; ``MySqlDialect.fast_paths = False`` selects them.
The LOAD DATA writer is in ``mysql_load.py``, the type table in ``mysql_types.py``.

Sessions run with utf8mb4, ``time_zone='+00:00'`` (TIMESTAMP columns read and write as UTC),
strict mode (a value that does not fit is an error, not a silent truncation) and
``NO_AUTO_VALUE_ON_ZERO`` (a copied 0 in an AUTO_INCREMENT column stays 0, as mysqldump keeps it,
instead of taking the next number).
"""

from __future__ import annotations

import datetime as dt
import math
import queue
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar
from urllib.parse import quote as url_quote

import connectorx
import pyarrow as pa
import pyarrow.compute as pc
import pymysql
import pymysql.cursors

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
from opencdm.connectors.jdbc.mysql_load import LoadDataWriter, LocalInfileConnection
from opencdm.connectors.jdbc.mysql_types import MYSQL_TYPES, read_field
from opencdm.connectors.jdbc.types import Column
from opencdm.errors import CdmError

# The column a CHECK clause holds to be JSON (MariaDB's JSON is LONGTEXT with such a check).
_JSON_CHECK = re.compile(r"json_valid\(`((?:[^`]|``)+)`\)", re.IGNORECASE)
# Run by every session, PyMySQL's and connectorx's alike.
_SESSION_SETUP = (
    "SET SESSION time_zone = '+00:00', "
    "SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES', 'NO_AUTO_VALUE_ON_ZERO')"
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
# SHOW COLUMNS' Extra of a generated column (MySQL says DEFAULT_GENERATED of an expression default).
_GENERATED = re.compile(r"\b(?:VIRTUAL|STORED|PERSISTENT) GENERATED\b", re.IGNORECASE)
# ER_DUP_ENTRY and ER_DUP_ENTRY_WITH_KEY_NAME.
DUPLICATE_KEY_ERRORS = (1062, 1586)
# InnoDB's longest index key; utf8mb4 takes up to 4 bytes a character.
MAX_KEY_BYTES = 3072
UTF8MB4_BYTES = 4
MAX_FIXED_KEY_BYTES = 32  # a number, date or time: DECIMAL(65,30) takes 30 bytes


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
    type_table = MYSQL_TYPES
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
        conn = LocalInfileConnection(
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
            Column(
                native, t.with_not_null(read_field(name, native, comment, name in json_columns), not_null), generated
            )
            for name, native, comment, not_null, generated in described
        ]

    def query_columns(self, conn: Any, sql: str) -> list[Column]:
        # MySQL describes result types best as a table; a temporary one does not commit the transaction.
        probe = self.quote(f"opencdm_probe_{uuid.uuid4().hex}")
        self.execute(conn, f"CREATE TEMPORARY TABLE {probe} AS SELECT * FROM ({sql}) opencdm_query LIMIT 0")
        try:
            return [
                Column(native, t.with_not_null(read_field(name, native, comment, False), not_null))
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

    def writer(
        self, conn: Any, schema: str, table: str, targets: Sequence[Column], table_columns: Sequence[Column]
    ) -> Writer:
        if self.fast_paths and self._local_infile_enabled(conn):
            return LoadDataWriter(self, conn, schema, table, targets)
        # PyMySQL rewrites executemany(INSERT ... VALUES (...)) into multi-row INSERT statements.
        converters = [_naive_utc if t.is_tz_timestamp(c.field.type) else None for c in targets]
        return ExecuteManyWriter(self, conn, schema, table, targets, "%s", converters)
