"""A file job's destination: files ``<prefix>-00000<ext>``, ``-00001``, … in the output directory.

A file is never seen half-written: each is written under a temporary name in the same directory
(``.opencdm-tmp-<run>-<name>``) and moved to its name at commit; rollback deletes the temporaries.
On S3 "moving" is a server-side copy then a delete of the temporary key (S3 has no rename), so
during a run readers may see the temporaries, never a final name with part of its data.
"""

from __future__ import annotations

import contextlib
import posixpath
import uuid
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.fs as pafs

from opencdm.connectors.base import Sink, WriteResult
from opencdm.connectors.files.config import DuplicateFileOp, SinkConfig
from opencdm.connectors.files.formats import WRITERS, FileWriter, file_extension
from opencdm.connectors.files.tree import FileTree
from opencdm.errors import CdmError

TEMPORARY_PREFIX = ".opencdm-tmp-"


class FileSink(Sink):
    # The files of one run are numbered in the order they are written, by one writer.
    parallel_writers = False

    def __init__(self, tree: FileTree, config: SinkConfig) -> None:
        self._tree = tree
        self._config = config
        self._directory = tree.path(config.directory)
        self._run = uuid.uuid4().hex[:12]
        self._schema: pa.Schema | None = None
        self._writer: FileWriter | None = None
        self._current: tuple[str, str] | None = None  # (temporary, final) being written
        self._written: list[tuple[str, str]] = []  # closed, waiting for commit

    def prepare(self, source_schema: pa.Schema) -> None:
        if self._tree.info(self._directory).type == pafs.FileType.File:
            raise CdmError(
                "Cdm.0246", f"Failed to create directory {self._tree.show(self._directory)}: it is a file."
            )
        self._tree.make_directory(self._directory)
        self._schema = source_schema

    def write(self, batches: Iterator[pa.RecordBatch]) -> Iterator[WriteResult]:
        limit = self._config.write_file_size
        for batch in batches:
            writer = self._writer or self._open_next()
            before = writer.size()
            try:
                writer.write(batch)
            except (OSError, pa.ArrowException) as exc:
                raise CdmError("Cdm.0232", f"Data write failed. Cause: {exc}") from exc
            after = writer.size()
            if limit is not None and after >= limit:
                self._close_current()
            yield WriteResult(rows=batch.num_rows, bytes=after - before)

    def _open_next(self) -> FileWriter:
        if self._schema is None:
            raise CdmError("Cdm.0234", "Loading error. Cause: prepare() was not called.")
        config = self._config
        name = f"{config.file_prefix}-{len(self._written):05d}{file_extension(config)}"
        final = posixpath.join(self._directory, name)
        temporary = posixpath.join(self._directory, f"{TEMPORARY_PREFIX}{self._run}-{name}")
        stream = self._tree.create(temporary)
        self._current = (temporary, final)
        self._writer = WRITERS[config.format](stream, self._schema, config)
        return self._writer

    def _close_current(self) -> None:
        writer, current = self._writer, self._current
        self._writer = self._current = None
        if writer is None or current is None:
            return
        self._written.append(current)
        try:
            writer.close()
        except (OSError, pa.ArrowException) as exc:
            raise CdmError("Cdm.0232", f"Data write failed. Cause: {exc}") from exc

    def commit(self) -> None:
        self._close_current()
        if not self._written:
            # Even no rows make a file: its header or Parquet schema says the export ran.
            self._open_next()
            self._close_current()
        tree, duplicate = self._tree, self._config.duplicate
        # Duplicates (same name and size, as CDM decides) are all found before anything moves,
        # so ABANDON leaves the directory as it was.
        moves = []
        for temporary, final in self._written:
            existing = tree.info(final)
            if existing.type == pafs.FileType.File and existing.size == tree.info(temporary).size:
                if duplicate is DuplicateFileOp.ABANDON:
                    raise CdmError(
                        "Cdm.0423", f"Duplicate file in the destination path: {tree.show(final)} has the same name "
                        "and size (toJobConfig.duplicateFileOpType is ABANDON)."
                    )
                if duplicate is DuplicateFileOp.SKIP:
                    continue
            moves.append((temporary, final))
        for move in moves:
            tree.move(*move)
            self._written.remove(move)
        self._discard_temporaries()  # the skipped ones
        if self._config.marker_file is not None:
            tree.create(posixpath.join(self._directory, self._config.marker_file)).close()

    def rollback(self) -> None:
        with contextlib.suppress(CdmError):
            self._close_current()
        self._discard_temporaries()

    def _discard_temporaries(self) -> None:
        for temporary, _ in self._written:
            self._tree.delete(temporary)
        self._written = []

    def close(self) -> None:
        # Nothing written and not committed stays behind, whatever ended the run.
        self.rollback()
