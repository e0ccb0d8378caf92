"""A file job's destination: files ``<prefix>-00000<ext>``, ``-00001``, … in the output directory,
or with ``toJobConfig.partitionBy`` in Hive-style ``col=value/`` directories below it, or with
BINARY_FILE the source's files themselves (see binary.py).

A file is never seen half-written: each is written under a temporary name in the same directory
(``.opencdm-tmp-<run>-<name>``) and moved to its name at commit; rollback deletes the temporaries.
On S3 "moving" is a server-side copy then a delete of the temporary key (S3 has no rename), so
during a run readers may see the temporaries, never a final name with part of its data.
"""

from __future__ import annotations

import contextlib
import posixpath
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from opencdm.connectors.base import NativeChunk, NativeFormat, Sink, TableScan, WriteResult
from opencdm.connectors.files.binary import BINARY_FILES, BinaryCopy
from opencdm.connectors.files.config import DuplicateFileOp, FileFormat, SinkConfig
from opencdm.connectors.files.formats.base import FileWriter
from opencdm.connectors.files.formats.choice import file_extension, writer_for
from opencdm.connectors.files.tree import FileTree
from opencdm.errors import CdmError

TEMPORARY_PREFIX = ".opencdm-tmp-"
# Hive's directory for NULL (and empty text) partition values.
HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# What Hive percent-encodes in partition names and values (FileUtils.escapePathName).
_HIVE_ESCAPED = frozenset("\"#%'*/:=?\\\x7f{[]^") | frozenset(chr(code) for code in range(1, 32))
# Files of a partitioned run open at once; beyond, the least recently written is closed (rows of
# its partition that come later start its next file).
MAX_OPEN_FILES = 32


def hive_escape(text: str) -> str:
    return "".join(f"%{ord(char):02X}" if char in _HIVE_ESCAPED else char for char in text)


def partition_directories(batch: pa.RecordBatch, columns: tuple[str, ...]) -> pa.Array:
    """Each row's ``col=value/col2=value2`` directory, values escaped as Hive does."""
    parts = []
    for name in columns:
        encoded = pc.dictionary_encode(pc.cast(batch.column(name), pa.string()))
        prefix = hive_escape(name) + "="
        # Escaping runs once per distinct value; the last entry stands for NULL.
        names = pa.array(
            [
                prefix + (hive_escape(value) if value else HIVE_DEFAULT_PARTITION)
                for value in encoded.dictionary.to_pylist()
            ]
            + [prefix + HIVE_DEFAULT_PARTITION],
            pa.string(),
        )
        parts.append(names.take(pc.fill_null(encoded.indices, len(encoded.dictionary))))
    return pc.binary_join_element_wise(*parts, "/")


def split_by_partition(
    batch: pa.RecordBatch, columns: tuple[str, ...], kept: list[str]
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """The batch's rows (``kept`` columns) grouped by partition directory, in row order within each."""
    encoded = pc.dictionary_encode(partition_directories(batch, columns))
    data = batch.select(kept)
    if len(encoded.dictionary) == 1:
        yield encoded.dictionary[0].as_py(), data
        return
    order = pc.sort_indices(encoded.indices)  # stable: rows keep their order within a partition
    runs = pc.run_end_encode(encoded.indices.take(order))
    grouped = data.take(order)
    start = 0
    for end, code in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
        yield encoded.dictionary[code].as_py(), grouped.slice(start, end - start)
        start = end


@dataclass
class _Output:
    writer: FileWriter
    temporary: str
    final: str


class FileSink(Sink):
    # The files of one run are numbered in the order they are written, by one writer.
    parallel_writers = False

    def __init__(self, tree: FileTree, config: SinkConfig) -> None:
        self._tree = tree
        self._config = config
        self._directory = tree.path(config.directory)
        self._run = uuid.uuid4().hex[:12]
        self._schema: pa.Schema | None = None  # of the files: without partition columns
        self._partition_by: tuple[str, ...] = ()  # source column names
        self._kept: list[str] = []  # the columns the files hold
        # Open files by partition directory ("" without partitionBy), least recently written first.
        self._open: OrderedDict[str, _Output] = OrderedDict()
        self._numbers: dict[str, int] = {}  # the next file number of each partition directory
        self._directories: set[str] = set()  # made during this run
        self._written: list[tuple[str, str]] = []  # (temporary, final) closed, waiting for commit
        self._binary: BinaryCopy | None = None

    def _prepare_directory(self) -> None:
        if self._tree.info(self._directory).type == pafs.FileType.File:
            raise CdmError("Cdm.0246", f"Failed to create directory {self._tree.show(self._directory)}: it is a file.")
        self._make_directory(self._directory)

    def prepare(self, source_schema: pa.Schema) -> None:
        if self._config.format is FileFormat.BINARY:
            raise CdmError(
                "Cdm.0062",
                "Binary files are supported only by SFTP/FTP/HDFS/OBS connectors: "
                "toJobConfig.outputFormat BINARY_FILE needs a BINARY_FILE file source.",
            )
        self._partition_by = self._partition_columns(source_schema)
        self._kept = [name for name in source_schema.names if name not in self._partition_by]
        self._schema = pa.schema([source_schema.field(name) for name in self._kept], metadata=source_schema.metadata)
        self._prepare_directory()

    def _partition_columns(self, schema: pa.Schema) -> tuple[str, ...]:
        """partitionBy as the source's column names (matched case-insensitively when not exactly)."""
        found = []
        for wanted in self._config.partition_by:
            name = (
                wanted
                if wanted in schema.names
                else next((name for name in schema.names if name.lower() == wanted.lower()), None)
            )
            if name is None:
                raise CdmError(
                    "Cdm.0014",
                    f"The parameter is invalid: column [{wanted}] of toJobConfig.partitionBy "
                    f"is not a source column ({', '.join(schema.names)}).",
                )
            type_ = schema.field(name).type
            if (
                pa.types.is_binary(type_)
                or pa.types.is_large_binary(type_)
                or pa.types.is_fixed_size_binary(type_)
                or pa.types.is_nested(type_)
            ):
                raise CdmError(
                    "Cdm.0014",
                    f"The parameter is invalid: column [{name}] of toJobConfig.partitionBy "
                    f"is {type_}: partition by columns of text, number, boolean, date or time.",
                )
            found.append(name)
        if found and len(found) == len(schema.names):
            raise CdmError(
                "Cdm.0014",
                "The parameter is invalid: toJobConfig.partitionBy names every column; the files would hold none.",
            )
        return tuple(found)

    def write(self, batches: Iterator[pa.RecordBatch]) -> Iterator[WriteResult]:
        partition_by = self._partition_by
        for batch in batches:
            pieces = split_by_partition(batch, partition_by, self._kept) if partition_by else iter([("", batch)])
            written = 0
            for partition, piece in pieces:
                written += self._write_piece(partition, piece)
            yield WriteResult(rows=batch.num_rows, bytes=written)

    def _write_piece(self, partition: str, batch: pa.RecordBatch) -> int:
        """Write rows of one partition directory; the bytes that reached its file."""
        output = self._open.get(partition)
        if output is None:
            output = self._open_next(partition)
        else:
            self._open.move_to_end(partition)
        writer = output.writer
        before = writer.size()
        try:
            writer.write(batch)
        except (OSError, pa.ArrowException) as exc:
            raise CdmError("Cdm.0232", f"Data write failed. Cause: {exc}") from exc
        after = writer.size()
        limit = self._config.write_file_size
        if limit is not None and after >= limit:
            self._close(partition)
        return after - before

    def _open_next(self, partition: str = "") -> _Output:
        if self._schema is None:
            raise CdmError("Cdm.0234", "Loading error. Cause: prepare() was not called.")
        while len(self._open) >= MAX_OPEN_FILES:
            self._close(next(iter(self._open)))
        directory = posixpath.join(self._directory, partition) if partition else self._directory
        self._make_directory(directory)
        final = self._next_name(partition, directory)
        temporary = self._temporary(final)
        config = self._config
        output = _Output(writer_for(self._tree.create(temporary), self._schema, config), temporary, final)
        self._open[partition] = output
        return output

    def _next_name(self, partition: str, directory: str) -> str:
        """The final path of the partition's next file: ``<prefix>-<number><ext>``, numbered in order."""
        number = self._numbers.get(partition, 0)
        self._numbers[partition] = number + 1
        return posixpath.join(directory, f"{self._config.file_prefix}-{number:05d}{file_extension(self._config)}")

    def _make_directory(self, directory: str) -> None:
        if directory not in self._directories:
            self._tree.make_directory(directory)
            self._directories.add(directory)

    def _temporary(self, final: str) -> str:
        """Where a file is written until commit: beside its final path, hidden from listings."""
        directory, name = posixpath.split(final)
        return posixpath.join(directory, f"{TEMPORARY_PREFIX}{self._run}-{name}")

    def _close(self, partition: str) -> None:
        output = self._open.pop(partition)
        self._written.append((output.temporary, output.final))
        try:
            output.writer.close()
        except (OSError, pa.ArrowException) as exc:
            raise CdmError("Cdm.0232", f"Data write failed. Cause: {exc}") from exc

    def _close_all(self) -> None:
        while self._open:
            self._close(next(iter(self._open)))

    # --- a table DuckDB reads and writes by itself (see duckdb_parquet.py) ---------------------
    def prepare_scan(self, source_schema: pa.Schema, scan: TableScan) -> bool:
        from opencdm.connectors.files import duckdb_parquet  # imports DuckDB: only when a table is offered

        if not duckdb_parquet.accepts(self._tree, self._config, source_schema, scan):
            return False
        self.prepare(source_schema)
        return True

    def write_scan(
        self, scan: TableScan, rows_estimate: int | None, check: Callable[[], None]
    ) -> Iterator[WriteResult]:
        from opencdm.connectors.files import duckdb_parquet

        assert self._schema is not None, "prepare_scan() first"
        final = self._next_name("", self._directory)
        temporary = self._temporary(final)
        # Listed before DuckDB writes it, so that a failed or stopped run deletes it.
        self._written.append((temporary, final))
        yield from duckdb_parquet.copy_table(
            scan, self._tree, temporary, self._config, self._schema, rows_estimate, check
        )

    # --- BINARY_FILE ---------------------------------------------------------------------------
    def prepare_native(self, source_schema: pa.Schema, native: NativeFormat) -> bool:
        if native.name != BINARY_FILES.name or self._config.format is not FileFormat.BINARY:
            return False
        self._prepare_directory()
        self._binary = BinaryCopy(self._tree, self._config, self._temporary, self._make_directory, self._written)
        return True

    def write_native(self, chunks: Iterator[NativeChunk]) -> Iterator[WriteResult]:
        if self._binary is None:
            raise CdmError("Cdm.0234", "Loading error. Cause: prepare_native() was not called.")
        return self._binary.write(chunks)

    # --- the end of a run ----------------------------------------------------------------------
    def commit(self) -> None:
        if self._binary is not None:
            # Duplicates were settled file by file, before each was copied.
            moves = list(self._written)
        else:
            self._close_all()
            if not self._written and not self._config.partition_by:
                # Even no rows make a file: its header or Parquet schema says the export ran.
                self._open_next()
                self._close_all()
            moves = self._settle_duplicates()
        tree = self._tree
        moved: set[tuple[str, str]] = set()
        try:
            for move in moves:
                tree.move(*move)
                moved.add(move)
        finally:
            # What is left is deleted: the skipped files now, the rest if the run rolls back.
            self._written[:] = [pair for pair in self._written if pair not in moved]
        self._discard_temporaries()
        if self._config.marker_file is not None:
            tree.create(posixpath.join(self._directory, self._config.marker_file)).close()

    def _settle_duplicates(self) -> list[tuple[str, str]]:
        """The moves to make. Duplicates (same name and size, as CDM decides) are all found before
        anything moves, so ABANDON leaves the directory as it was."""
        tree, duplicate = self._tree, self._config.duplicate
        moves = []
        for temporary, final in self._written:
            existing = tree.info(final)
            if existing.type == pafs.FileType.File and existing.size == tree.info(temporary).size:
                if duplicate is DuplicateFileOp.ABANDON:
                    raise CdmError(
                        "Cdm.0423",
                        f"Duplicate file in the destination path: {tree.show(final)} has the same name "
                        "and size (toJobConfig.duplicateFileOpType is ABANDON).",
                    )
                if duplicate is DuplicateFileOp.SKIP:
                    continue
            moves.append((temporary, final))
        return moves

    def rollback(self) -> None:
        if self._binary is not None:
            self._binary.abort()
        while self._open:
            with contextlib.suppress(CdmError):
                self._close(next(iter(self._open)))
        self._discard_temporaries()

    def _discard_temporaries(self) -> None:
        for temporary, _ in self._written:
            self._tree.delete(temporary)
        self._written.clear()

    def close(self) -> None:
        # Nothing written and not committed stays behind, whatever ended the run.
        self.rollback()
