"""PostgreSQL table → Parquet file, written by DuckDB: the fast path behind ``FileSink.prepare_scan``.

DuckDB's postgres scanner reads the table over binary COPY on two threads and its Parquet writer
encodes on the same threads, while the Arrow path reads with ADBC and encodes with pyarrow in one.
The path is taken only where the file read back is the one the Arrow path writes:

- every column has a PostgreSQL type DuckDB reads into the Arrow type of the source's schema
  (``_expected``; e.g. not ``numeric`` without precision, which DuckDB reads as a double, nor
  ``character(n)``, whose padding DuckDB strips), checked again against DuckDB's own view of the
  table before anything is written;
- the source's Arrow schema (field metadata included: varchar lengths, NOT NULL) is stored in the
  file as pyarrow stores it (``ARROW:schema``), so pyarrow reads back the same schema;
- one file, on the local file system or on S3 (DuckDB's httpfs, with the link's ``S3Endpoint``),
  without ``writeFileSize``, ``partitionBy`` or brotli; anything
  else takes the Arrow path.

DuckDB and its extensions come from PyPI wheels pinned to one version (duckdb,
duckdb-extension-postgres-scanner, duckdb-extension-httpfs); each extension is loaded from its
package's directory, never downloaded. Without them this path is simply never chosen.
"""

from __future__ import annotations

import base64
import importlib
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from opencdm.connectors import types as t
from opencdm.connectors import values
from opencdm.connectors.base import TableScan, WriteResult
from opencdm.connectors.files.config import FileFormat, SinkConfig
from opencdm.connectors.files.tree import FileTree
from opencdm.errors import CdmError

if TYPE_CHECKING:
    from opencdm.connectors.files.s3 import S3Endpoint

# A bounded footprint beside the worker's own; DuckDB streams COPY ... TO, so it rarely nears it.
MEMORY_LIMIT = "1GB"
THREADS = 2
# How often the copy's progress is read (and a stop looked for) while DuckDB writes.
POLL_SECONDS = 0.5
# Progress counts rows as the scanned fraction of the estimate, never the whole estimate: the exact
# count comes when the copy ends.
MAX_ESTIMATED_FRACTION = 0.99
SOURCE_CATALOG = "opencdm_source"

_SIMPLE: dict[str, tuple[pa.DataType, str]] = {
    # PostgreSQL type (format_type): (Arrow type of the source's schema, DuckDB's type for it)
    "smallint": (pa.int16(), "SMALLINT"),
    "integer": (pa.int32(), "INTEGER"),
    "bigint": (pa.int64(), "BIGINT"),
    "real": (pa.float32(), "FLOAT"),
    "double precision": (pa.float64(), "DOUBLE"),
    "text": (pa.string(), "VARCHAR"),
    "character varying": (pa.string(), "VARCHAR"),
    "boolean": (pa.bool_(), "BOOLEAN"),
    "date": (pa.date32(), "DATE"),
    "bytea": (pa.binary(), "BLOB"),
    "time without time zone": (pa.time64("us"), "TIME"),
    "timestamp without time zone": (t.TIMESTAMP, "TIMESTAMP"),
    "timestamp with time zone": (t.TIMESTAMP_TZ, "TIMESTAMP WITH TIME ZONE"),
}
_VARCHAR = re.compile(r"^character varying\(\d+\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")
# Parquet codecs as SinkConfig spells them, in DuckDB's words. Not brotli: DuckDB's brotli writer
# takes some 10x longer than snappy and finishes its buffered row groups before a stop takes effect
# (36 s measured on 5M rows), so brotli stays on the Arrow path.
_CODECS = {"snappy": "snappy", "zstd": "zstd", "gzip": "gzip", "lz4": "lz4", "none": "uncompressed"}


def _expected(native: str) -> tuple[pa.DataType, str] | None:
    """The Arrow and DuckDB types of a PostgreSQL column on this path; None when it cannot take it."""
    if native in _SIMPLE:
        return _SIMPLE[native]
    if _VARCHAR.match(native):
        return _SIMPLE["character varying"]
    match = _NUMERIC.match(native)
    if match and int(match.group(1)) <= t.MAX_DECIMAL128_PRECISION:
        precision, scale = int(match.group(1)), int(match.group(2))
        return pa.decimal128(precision, scale), f"DECIMAL({precision},{scale})"
    return None


def _extension(package: str) -> Path | None:
    """The extension shipped by a PyPI wheel for the installed DuckDB; None when either is missing."""
    try:
        duckdb = importlib.import_module("duckdb")
        module = importlib.import_module(package)
    except ImportError:
        return None
    found = sorted(Path(module.__file__ or "").parent.glob(f"extensions/v{duckdb.__version__}/*.duckdb_extension"))
    return found[0] if found else None


def _location(tree: FileTree, path: str) -> str | None:
    """``path`` of ``tree`` as DuckDB names it; None where DuckDB cannot write it as the tree would."""
    if isinstance(tree.filesystem, pafs.LocalFileSystem):
        return path
    if tree.s3_endpoint() is None:
        return None
    if any(mark in path for mark in "?#%*[{"):  # taken for URL parts or globs
        return None
    return f"s3://{path}"


def accepts(tree: FileTree, config: SinkConfig, schema: pa.Schema, scan: TableScan) -> bool:
    """Whether DuckDB writes exactly the file the Arrow path would write of ``schema`` from ``scan``."""
    if scan.dialect != "postgresql" or config.format is not FileFormat.PARQUET:
        return False
    if config.write_file_size is not None or config.partition_by:
        return False
    if _location(tree, tree.path(config.directory)) is None:
        return False
    if tree.s3_endpoint() is not None and _extension("duckdb_extension_httpfs") is None:
        return False
    if config.compression not in _CODECS:
        return False
    if list(scan.columns) != schema.names or len({name.lower() for name in scan.columns}) != len(scan.columns):
        return False  # DuckDB matches identifiers without regard to case
    for field, native in zip(schema, scan.column_types, strict=True):
        expected = _expected(native)
        if expected is None or expected[0] != field.type:
            return False
    return _extension("duckdb_extension_postgres_scanner") is not None


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Session:
    """One DuckDB database in memory with the PostgreSQL database attached, read-only, and the
    destination's S3 credentials when it writes to S3."""

    def __init__(self, scan: TableScan, s3: S3Endpoint | None) -> None:
        import duckdb

        self._scan = scan
        # Secrets to keep out of messages.
        self._secrets = [secret for secret in (scan.password, s3 and s3.secret_key) if secret]
        self.errors: type[Exception] = duckdb.Error
        extension = _extension("duckdb_extension_postgres_scanner")
        assert extension is not None, "accepts() first"
        self.con: Any = duckdb.connect(
            config={
                "threads": THREADS,
                "memory_limit": MEMORY_LIMIT,
                # Nothing fetched from the network: the extension comes from its wheel.
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            }
        )
        try:
            # query_progress() needs the progress bar on; nothing is printed.
            self.con.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
            self.con.execute(f"LOAD {_literal(str(extension))}")
            self.con.execute(f"ATTACH {_literal(scan.conninfo)} AS {SOURCE_CATALOG} (TYPE postgres, READ_ONLY)")
            if s3 is not None:
                self._add_s3(s3)
        except duckdb.Error as exc:
            self.con.close()
            raise CdmError("Cdm.0903", f"Failed to obtain metadata. Cause: {self.message(exc)}") from exc

    def _add_s3(self, s3: S3Endpoint) -> None:
        httpfs = _extension("duckdb_extension_httpfs")
        assert httpfs is not None, "accepts() first"
        self.con.execute(f"LOAD {_literal(str(httpfs))}")
        options = {
            "KEY_ID": _literal(s3.access_key),
            "SECRET": _literal(s3.secret_key),
            "ENDPOINT": _literal(s3.host),
            "URL_STYLE": _literal("path" if s3.path_style else "vhost"),
            "USE_SSL": "true" if s3.scheme == "https" else "false",
            **({"REGION": _literal(s3.region)} if s3.region else {}),
        }
        self.con.execute(
            f"CREATE SECRET opencdm_destination (TYPE s3, {', '.join(f'{k} {v}' for k, v in options.items())})"
        )

    def message(self, exc: Exception) -> str:
        """DuckDB's message, without a password or key should it quote one."""
        text = str(exc)
        for secret in self._secrets:
            text = text.replace(secret, "******")
        return text

    def select(self) -> str:
        scan = self._scan
        pairs = zip(scan.columns, scan.column_types, strict=True)
        columns = ", ".join(self._held(name, native) for name, native in pairs)
        return f"SELECT {columns} FROM {SOURCE_CATALOG}.{_quote(scan.schema)}.{_quote(scan.table)}"

    def _held(self, name: str, native: str) -> str:
        """The column, failing on ±infinity of a timestamp or date as the Arrow path does
        (engine.partitions.held_values): DuckDB would write them as years 294247 and -290308."""
        expected = _expected(native)
        quoted = _quote(name)
        if expected is None or values.temporal_kind(expected[0]) is None:
            return quoted
        key = " || ', ' || ".join(
            f"{_literal(column + '=')} || CAST({_quote(column)} AS VARCHAR)" for column in self._scan.key
        )
        row = f"'the row with ' || {key}" if key else "'a row'"
        message = (
            f"{_literal(f'column [{name}] of ')} || {row} || ' holds [' || CAST({quoted} AS VARCHAR) || "
            "'], which the destination cannot hold.'"
        )
        return f"CASE WHEN isinf({quoted}) THEN error({message}) ELSE {quoted} END AS {quoted}"

    def check_types(self) -> None:
        """DuckDB reads every column as the type this path was agreed for (see _expected)."""
        try:
            described = self.con.execute(f"DESCRIBE {self.select()}").fetchall()
        except self.errors as exc:
            raise CdmError("Cdm.0903", f"Failed to obtain metadata. Cause: {self.message(exc)}") from exc
        for (name, duck_type, *_), native in zip(described, self._scan.column_types, strict=True):
            expected = _expected(native)
            if expected is None or expected[1] != duck_type:
                raise CdmError(
                    "Cdm.0232", f"Data write failed. Cause: DuckDB reads column {name} ({native}) as {duck_type}."
                )


def copy_table(
    scan: TableScan,
    tree: FileTree,
    path: str,
    config: SinkConfig,
    schema: pa.Schema,
    rows_estimate: int | None,
    check: Callable[[], None],
) -> Iterator[WriteResult]:
    """Write every row of ``scan`` to the Parquet file ``path`` of ``tree`` (as ``accepts`` agreed),
    yielding progress every POLL_SECONDS; ``check`` raising stops DuckDB (the caller deletes the
    file)."""
    location = _location(tree, path)
    assert location is not None, "accepts() first"
    session = _Session(scan, tree.s3_endpoint())
    try:
        session.check_types()
        arrow_schema = base64.b64encode(schema.serialize().to_pybytes()).decode()
        statement = (
            f"COPY ({session.select()}) TO {_literal(location)} (FORMAT parquet, "
            f"COMPRESSION {_CODECS[config.compression]}, KV_METADATA {{'ARROW:schema': {_literal(arrow_schema)}}})"
        )
        outcome: list[int] = []
        failures: list[BaseException] = []

        def run() -> None:
            try:
                outcome.append(int(session.con.execute(statement).fetchone()[0]))
            except BaseException as exc:
                failures.append(exc)

        thread = threading.Thread(target=run, name="opencdm-duckdb-copy", daemon=True)
        thread.start()
        rows = size = 0
        try:
            while thread.is_alive():
                thread.join(POLL_SECONDS)
                check()
                percent = session.con.query_progress()
                estimated = int(min(percent / 100, MAX_ESTIMATED_FRACTION) * rows_estimate) if rows_estimate else 0
                now = tree.info(path).size or 0
                if estimated > rows or now > size:
                    yield WriteResult(rows=max(0, estimated - rows), bytes=max(0, now - size))
                    rows, size = max(rows, estimated), max(size, now)
        finally:
            if thread.is_alive():  # stopped, or the consumer went away: DuckDB stops with us
                session.con.interrupt()
                thread.join()
        if failures:
            failure = failures[0]
            if isinstance(failure, session.errors):
                raise CdmError("Cdm.0232", f"Data write failed. Cause: {session.message(failure)}") from failure
            raise failure
        total_rows = outcome[0]
        total_size = tree.info(path).size or 0
        # The data's uncompressed size, as the Arrow path counts the batches it reads.
        with tree.filesystem.open_input_file(path) as file:
            metadata = pq.read_metadata(file)
        read = sum(metadata.row_group(index).total_byte_size for index in range(metadata.num_row_groups))
        yield WriteResult(rows=total_rows - rows, bytes=total_size - size, bytes_read=read)
    finally:
        session.con.close()
