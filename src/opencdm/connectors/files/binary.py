"""BINARY_FILE: files copied byte for byte between file links (nas-connector, obs-connector,
thirdparty-obs-connector), in any direction.

The bytes never become Arrow: the source offers them as the native format ``binary-file``
(``BINARY_FILES``), chunks of at most ``CHUNK_BYTES`` that say which file they belong to, and the
file sink writes each file under a temporary name next to where it goes, moved there at commit
like every file the sink writes. Each file keeps its path relative to the input directory.

With ``toJobConfig.validateMD5`` the sink computes the MD5 of the bytes it receives, reads the copy
back once it is written and compares; a mismatch fails the run naming the file. The digest is then
recorded in ``<file>.md5`` next to the copy (``md5sum`` format: ``<hex>  <name>``), the convention
CDM's own source-side MD5 check reads (that check is not supported here: its input is refused).
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from opencdm.connectors.base import NativeChunk, NativeFormat, Partition, Source, WriteResult
from opencdm.connectors.files.config import DuplicateFileOp, FileFormat, SinkConfig, SourceConfig
from opencdm.connectors.files.source import FileSource
from opencdm.connectors.files.tree import FileTree, FoundFile, nothing_to_read
from opencdm.errors import CdmError

CHUNK_BYTES = 1 << 20
BINARY_FILES = NativeFormat("binary-file", (), required=True)
MD5_SUFFIX = ".md5"
# What the engine is told the source's rows are: one per file.
SCHEMA = pa.schema([("path", pa.string()), ("bytes", pa.int64())])


def copies_files(job: Mapping[str, object], side: str) -> bool:
    """Whether a job's source (``side`` fromJobConfig) or destination (toJobConfig) inputs are
    those of a BINARY_FILE copy."""
    name = f"{side}.inputFormat" if side == "fromJobConfig" else f"{side}.outputFormat"
    return str(job.get(name) or "").strip().upper() == FileFormat.BINARY.value


def carried_as_is(job: Mapping[str, str]) -> str | None:
    """``Connector.carries_as_is`` of the file connectors: BINARY_FILE on either end of the job."""
    return BINARY_FILES.name if copies_files(job, "fromJobConfig") or copies_files(job, "toJobConfig") else None


@dataclass(frozen=True)
class FileChunk(NativeChunk):
    """Bytes of one file; ``rows`` is 1 on its last chunk (a file is a row for the counters)."""

    name: str  # the file's path below its input directory
    size: int  # the whole file's size when it was listed
    first: bool
    last: bool


class BinaryFileSource(Source):
    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        self._tree = tree
        self._config = config
        self._files: list[tuple[FoundFile, str]] | None = None

    def _listed(self) -> list[tuple[FoundFile, str]]:
        """The files to copy and their names below their input directory."""
        if self._files is not None:
            return self._files
        tree, config = self._tree, self._config
        if config.marker_file is not None:
            tree.check_marker(config.paths, config.marker_file)
        files: dict[str, tuple[FoundFile, str]] = {}
        for relative in config.paths:
            path = tree.path(relative)
            base = path if tree.info(path).type == pafs.FileType.Directory else posixpath.dirname(path)
            for found in tree.list_files((relative,), config.filter, skip=config.marker_file):
                name = posixpath.relpath(found.path, base)
                clash = next(
                    (other for other, other_name in files.values() if other_name == name and other.path != found.path),
                    None,
                )
                if clash is not None:
                    raise CdmError(
                        "Cdm.0014",
                        f"The parameter is invalid: {tree.show(clash.path)} and {tree.show(found.path)} "
                        f"would both be copied to {name} (fromJobConfig.inputDirectory).",
                    )
                files[found.path] = (found, name)
        if not files:
            raise nothing_to_read(config.paths)
        self._files = [files[path] for path in sorted(files)]
        return self._files

    def schema(self) -> pa.Schema:
        return SCHEMA

    def estimate_rows(self) -> int | None:
        return len(self._listed())

    def read(self, partition: Partition, batch_rows: int) -> Iterator[pa.RecordBatch]:
        raise CdmError(
            "Cdm.0062",
            "Binary files are supported only by SFTP/FTP/HDFS/OBS connectors: BINARY_FILE "
            "is copied as it is, to a file link with toJobConfig.outputFormat BINARY_FILE.",
        )

    def native_format(self) -> NativeFormat | None:
        return BINARY_FILES

    def read_native(self, partition: Partition) -> Iterator[NativeChunk]:
        for file, name in self._listed():
            try:
                # compression=None: bytes as they are, a .gz file included.
                with self._tree.filesystem.open_input_stream(file.path, compression=None) as stream:
                    data, first = stream.read(CHUNK_BYTES), True
                    while True:
                        # One chunk ahead, to tell the last one.
                        following = stream.read(CHUNK_BYTES) if data else b""
                        last = not following
                        yield FileChunk(data, int(last), name, file.size, first, last)
                        if last:
                            break
                        data, first = following, False
            except OSError as exc:
                raise self._tree.error(exc, f"read {self._tree.show(file.path)}") from exc


def open_file_source(tree: FileTree, config: SourceConfig) -> Source:
    """A file link's source: its files as they are for BINARY_FILE, else their rows."""
    return BinaryFileSource(tree, config) if config.format is FileFormat.BINARY else FileSource(tree, config)


class _Copy:
    """One file being written: its temporary, final path and the MD5 of what it received."""

    def __init__(self, temporary: str, final: str, stream: Any) -> None:
        self.temporary = temporary
        self.final = final
        self.stream = stream
        self.md5 = hashlib.md5(usedforsecurity=False)


class BinaryCopy:
    """The file sink's side of a BINARY_FILE copy (see FileSink.prepare_native)."""

    def __init__(
        self,
        tree: FileTree,
        config: SinkConfig,
        temporary_name: Callable[[str], str],
        make_directory: Callable[[str], None],
        written: list[tuple[str, str]],
    ) -> None:
        self._tree = tree
        self._config = config
        self._temporary_name = temporary_name  # final path -> its temporary, beside it
        self._make_directory = make_directory  # once per directory and run
        # The sink's (temporary, final) to move at commit or delete at rollback; duplicates settled.
        self._written = written
        self._current: _Copy | None = None
        self._records: set[str] = set()  # the MD5 records written
        self._copied: set[str] = set()  # final paths of the files copied

    def write(self, chunks: Iterator[NativeChunk]) -> Iterator[WriteResult]:
        for chunk in chunks:
            if not isinstance(chunk, FileChunk):
                raise CdmError("Cdm.0234", "Loading error. Cause: BINARY_FILE chunks carry no file name.")
            if chunk.first:
                self._begin(chunk)
            written = 0
            if self._current is not None:
                self._append(chunk.data)
                written = len(chunk.data)
            if chunk.last:
                self._finish()
            yield WriteResult(rows=chunk.rows, bytes=written)

    def _begin(self, chunk: FileChunk) -> None:
        tree = self._tree
        final = tree.path(posixpath.join(self._config.directory, chunk.name))
        if final in self._records:
            # A source file named like the MD5 record of one copied before it (``x.md5`` beside
            # ``x``, e.g. in an earlier copy): the record computed for this copy takes its place.
            return
        existing = tree.info(final)
        if existing.type == pafs.FileType.File and existing.size == chunk.size:
            if self._config.duplicate is DuplicateFileOp.ABANDON:
                raise CdmError(
                    "Cdm.0423",
                    f"Duplicate file in the destination path: {tree.show(final)} has the same name and "
                    "size (toJobConfig.duplicateFileOpType is ABANDON).",
                )
            if self._config.duplicate is DuplicateFileOp.SKIP:
                return  # its chunks pass by unwritten
        self._make_directory(posixpath.dirname(final))
        temporary = self._temporary_name(final)
        self._current = _Copy(temporary, final, tree.create(temporary))
        # Listed before it is complete, so that a failure deletes a half-written temporary too.
        self._written.append((temporary, final))
        self._copied.add(final)

    def _append(self, data: bytes | bytearray) -> None:
        current = self._current
        assert current is not None
        current.md5.update(data)
        try:
            current.stream.write(data)
        except OSError as exc:
            raise self._tree.error(exc, f"write {self._tree.show(current.temporary)}", "Cdm.0232") from exc

    def _finish(self) -> None:
        current, self._current = self._current, None
        if current is None:
            return
        tree = self._tree
        try:
            current.stream.close()
        except OSError as exc:
            raise tree.error(exc, f"write {tree.show(current.temporary)}", "Cdm.0232") from exc
        if not self._config.validate_md5:
            return
        expected = current.md5.hexdigest()
        found = self._md5_of(current.temporary)
        if found != expected:
            raise CdmError(
                "Cdm.0232",
                f"Data write failed. Cause: the MD5 of {tree.show(current.final)} as written ({found}) "
                f"differs from the MD5 of the bytes read from the source ({expected}) (toJobConfig.validateMD5).",
            )
        record = current.final + MD5_SUFFIX
        temporary = self._temporary_name(record)
        with tree.create(temporary) as stream:
            stream.write(f"{expected}  {posixpath.basename(current.final)}\n".encode())
        if record not in self._copied:  # else that copy's temporary now holds the record
            self._written.append((temporary, record))
        self._records.add(record)

    def _md5_of(self, path: str) -> str:
        """The MD5 of a file as the storage returns it, read again in chunks."""
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with self._tree.filesystem.open_input_stream(path, compression=None) as stream:
                while data := stream.read(CHUNK_BYTES):
                    digest.update(data)
        except OSError as exc:
            raise self._tree.error(exc, f"read {self._tree.show(path)} back") from exc
        return digest.hexdigest()

    def abort(self) -> None:
        """Close a file left open by a failure (its temporary is in the sink's list, to be deleted)."""
        current, self._current = self._current, None
        if current is not None:
            with contextlib.suppress(OSError):
                current.stream.close()
