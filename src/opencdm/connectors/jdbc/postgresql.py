"""PostgreSQL through ADBC: binary COPY out to Arrow batches, binary COPY in with ``adbc_ingest``.

The COPY paths (the writer, the native pass-through) are in ``postgresql_copy.py``, the type table
in ``postgresql_types.py``.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import adbc_driver_manager
import adbc_driver_postgresql
import adbc_driver_postgresql.dbapi as adbc
import psycopg
import pyarrow as pa

from opencdm.connectors import types as t
from opencdm.connectors.base import NativeChunk, TableScan, WriteResult
from opencdm.connectors.jdbc.config import WriteMode
from opencdm.connectors.jdbc.dialect import APPEND, Dialect, Merge, Writer
from opencdm.connectors.jdbc.postgresql_copy import PostgresWriter, binary_copy_in, binary_copy_out, restore_infinities
from opencdm.connectors.jdbc.postgresql_types import POSTGRESQL_TYPES, meaning, pg_native, read_field
from opencdm.connectors.jdbc.tls import explain_failure, libpq_parameters
from opencdm.connectors.jdbc.types import Column
from opencdm.connectors.types import cast_batch
from opencdm.errors import CdmError

# Bounds of ADBC's batch size hint (bytes); see PostgresDialect.stream.
MIN_BATCH_HINT_BYTES = 64 * 1024
MAX_BATCH_HINT_BYTES = 16 * 1024 * 1024
BATCH_HINT_BYTES_PER_ROW = 128
UNIQUE_VIOLATION = "23505"  # SQLSTATE, as ADBC's and psycopg's errors carry it
# What the server answered at connection time, as libpq words it: "FATAL:  password authentication failed ...".
_SERVER_ANSWER = re.compile(r"\b(?:FATAL|ERROR|PANIC):[ \t]+[^\n]*")

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


def _conninfo_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class PostgresDialect(Dialect):
    type_table = POSTGRESQL_TYPES
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
            answer = answered.group(0).strip() if answered else None
            tls_failure = explain_failure(str(exc), self.link.tls, self.link.host or "", answer)
            if tls_failure or answer:
                return tls_failure or answer
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
            **libpq_parameters(link.tls),
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
        return [meaning(native) for native in source_types] == [meaning(native) for native in target_types]

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
        return binary_copy_out(conn, relation)

    def copy_in(self, conn: Any, target: str, chunks: Iterator[NativeChunk]) -> Iterator[WriteResult]:
        return binary_copy_in(conn, target, chunks)

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
                Column(native, t.with_not_null(read_field(name, native), not_null), generated)
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
        return None  # ±infinity included: see postgresql_copy

    def select_expression(self, column: Column) -> str:
        quoted = self.quote(column.field.name)
        return f"{quoted}::text" if pg_native(column.field) is not None else quoted

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
                    [restore_infinities(array, field.name) for array, field in zip(cast.columns, schema, strict=True)],
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

    def writer(
        self, conn: Any, schema: str, table: str, targets: Sequence[Column], table_columns: Sequence[Column]
    ) -> Writer:
        return PostgresWriter(self, conn, schema, table, targets, table_columns, APPEND)

    def merging_writer(
        self,
        conn: Any,
        schema: str,
        table: str,
        targets: Sequence[Column],
        table_columns: Sequence[Column],
        merge: Merge,
    ) -> Writer:
        return PostgresWriter(self, conn, schema, table, targets, table_columns, merge)
