"""MySQL and MariaDB's bulk writer: each batch written by Arrow as CSV, then ``LOAD DATA LOCAL INFILE``.

Values are converted in vectorised Arrow code, never in a Python loop per value. The connection
sends a local file only for its own LOAD DATA, whatever file the server asks for.
"""

from __future__ import annotations

import binascii
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pymysql
import pymysql.connections
from pymysql.protocol import LoadLocalPacketWrapper, MysqlPacket

from opencdm.connectors import types as t
from opencdm.connectors import values
from opencdm.connectors.jdbc.dialect import Dialect, Writer
from opencdm.connectors.jdbc.types import Column

# CSV for LOAD DATA: every string quoted (so "" is an empty string and "NULL" the text NULL), an
# unquoted NULL for SQL NULL, quotes doubled, no backslash escapes. The file is all UTF-8 (binary
# values travel as hex) and is read as utf8mb4, so a column of another character set gets the
# server's checked conversion, as an INSERT would, not raw UTF-8 bytes.
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, null_string="NULL", quoting_style="needed")
_SEVERITY = {"Note": 1, "Warning": 2, "Error": 3}


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
    if t.is_binary(type_):
        return _hex(array)
    if pa.types.is_float32(type_):
        # The shortest float32 spelling of FLT_MAX, 3.4028235e+38, read as a double (as MariaDB
        # reads it) is above FLT_MAX: "Out of range". The exact double of each value reads back as it.
        return array.cast(pa.float64())
    return array


class LocalInfileConnection(pymysql.connections.Connection):
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

    def __init__(
        self, dialect: Dialect, conn: LocalInfileConnection, schema: str, table: str, targets: Sequence[Column]
    ) -> None:
        names, assignments = [], []
        for index, column in enumerate(targets):
            type_ = column.field.type
            if t.is_binary(type_):
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
