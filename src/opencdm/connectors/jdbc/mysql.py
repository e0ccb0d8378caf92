"""MySQL and MariaDB through PyMySQL: an unbuffered cursor out, multi-row INSERTs in.

Sessions run with utf8mb4, ``time_zone='+00:00'`` (TIMESTAMP columns read and write as UTC) and
strict mode (a value that does not fit is an error, not a silent truncation). MariaDB and MySQL
lack a time-zone-aware type with full range, so a timestamptz column is created as DATETIME(6)
holding UTC with a column comment that restores tz-awareness when it is read back.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pymysql
import pymysql.cursors

from opencdm.connectors.jdbc import types as t
from opencdm.connectors.jdbc.dialect import (
    Converter,
    Dialect,
    ExecuteManyWriter,
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


def _time_from_timedelta(value: dt.timedelta) -> dt.time:
    if not dt.timedelta(0) <= value < dt.timedelta(days=1):
        raise CdmError("Cdm.0064", f"Data format mismatch: TIME value {value} is not a time of day.")
    return (dt.datetime.min + value).time()


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None)


class MySqlDialect(Dialect):
    quote_char = "`"
    driver_errors = (pymysql.MySQLError,)

    def default_schema(self) -> str:
        return self.link.database

    def _connect(self) -> Any:
        link = self.link
        conn = pymysql.connect(
            host=link.host,
            port=link.port or 3306,
            user=link.username,
            password=link.password,
            database=link.database,
            charset="utf8mb4",
            autocommit=False,
            connect_timeout=10,
        )
        with conn.cursor() as cursor:
            cursor.execute(
                "SET SESSION time_zone = '+00:00', "
                "SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES')"
            )
        return conn

    def error_message(self, exc: Exception) -> str:
        if len(exc.args) == 2 and isinstance(exc.args[0], int):
            return f"({exc.args[0]}) {exc.args[1]}"
        return str(exc).strip()

    def _show_columns(self, conn: Any, ref: str) -> list[tuple[str, str, str]]:
        with conn.cursor() as cursor:
            cursor.execute(f"SHOW FULL COLUMNS FROM {ref}")
            return [(row[0], row[1], row[8] or "") for row in cursor.fetchall()]

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
            Column(native, _field(name, native, comment, name in json_columns)) for name, native, comment in described
        ]

    def query_columns(self, conn: Any, sql: str) -> list[Column]:
        # MySQL describes result types best as a table; a temporary one does not commit the transaction.
        probe = self.quote(f"opencdm_probe_{uuid.uuid4().hex}")
        self.execute(conn, f"CREATE TEMPORARY TABLE {probe} AS SELECT * FROM ({sql}) opencdm_query LIMIT 0")
        try:
            return [
                Column(native, _field(name, native, comment, False))
                for name, native, comment in self._show_columns(conn, probe)
            ]
        finally:
            self.execute(conn, f"DROP TEMPORARY TABLE {probe}")

    def estimate_rows(self, conn: Any, schema: str, table: str) -> int | None:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (schema, table),
            )
            row = cursor.fetchone()
            # InnoDB's TABLE_ROWS is a rough sample, far off for small tables; counting those is cheap.
            if row is not None and row[0] is not None and row[0] >= 100_000:
                return int(row[0])
            cursor.execute(f"SELECT COUNT(*) FROM {self.table_ref(schema, table)}")
            return int(cursor.fetchone()[0])

    def stream(self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int) -> Iterator[pa.RecordBatch]:
        converters = [self._read_converter(field) for field in schema]
        cursor = conn.cursor(pymysql.cursors.SSCursor)
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(batch_rows):
                yield batch_from_rows(rows, schema, converters)
        finally:
            cursor.close()

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
        # PyMySQL rewrites executemany(INSERT ... VALUES (...)) into multi-row INSERT statements.
        converters = [_naive_utc if t.is_tz_timestamp(c.field.type) else None for c in targets]
        return ExecuteManyWriter(self, conn, schema, table, targets, "%s", converters)
