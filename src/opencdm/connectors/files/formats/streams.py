"""Stored files opened as streams: the text inside a file as UTF-8 bytes (GZIP and ZIP undone, GBK
and GB18030 transcoded, a byte range alone), the bytes of the stored file read so far, line starts,
and failures of reading turned into errors that name the file.
"""

from __future__ import annotations

import functools
import io
import json
import zipfile
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager
from typing import Any, TypeVar

import pyarrow as pa

from opencdm.connectors.files.config import Compression, SourceConfig
from opencdm.connectors.files.tree import FileTree, FoundFile
from opencdm.errors import CdmError

BLOCK_BYTES = 1 << 20
# Read at a time when scanning a file's bytes (line starts, quote characters, line counts).
SCAN_BYTES = 1 << 16

Read = TypeVar("Read")


class ParseError(Exception):
    """A value or line of a file that cannot be read (the message says where, when known)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@contextmanager
def read_errors(tree: FileTree, label: str) -> Iterator[None]:
    """Turn decoding and I/O failures into a CdmError naming the file (and line, when known)."""
    try:
        yield
    except CdmError:
        raise
    except ParseError as exc:
        raise CdmError("Cdm.0015", f"Failed to parse the file content of {label}: {exc.message}") from exc
    except (pa.ArrowInvalid, UnicodeDecodeError, zipfile.BadZipFile, EOFError, json.JSONDecodeError) as exc:
        raise CdmError("Cdm.0015", f"Failed to parse the file content of {label}: {exc}") from exc
    except OSError as exc:
        raise tree.error(exc, f"read {label}") from exc


def text_streams(
    tree: FileTree, file: FoundFile, config: SourceConfig, byte_range: tuple[int, int] | None = None
) -> Generator[tuple[str, Any, Callable[[], int]], None, None]:
    """(label, stream of UTF-8 bytes, bytes of the stored file read so far) for each text inside
    the file: one, or one per ZIP member; ``byte_range`` (an uncompressed file's) reads those bytes
    only. The bytes are counted as stored: compressed ones for GZIP and ZIP (its members'), before
    decoding."""
    label = tree.show(file.path)
    encoding = config.csv.encoding

    def decoded(stream: Any) -> Any:
        return stream if encoding == "utf-8" else pa.transcoding_input_stream(stream, encoding, "utf-8")

    if config.compression is Compression.ZIP:
        with tree.filesystem.open_input_file(file.path) as raw, zipfile.ZipFile(raw) as archive:
            for member in archive.infolist():
                if member.is_dir():
                    continue
                with archive.open(member) as inner:
                    # Counted whole with the member's first batch: a ZIP member's reads tell no more.
                    stored = functools.partial(int, member.compress_size)
                    yield f"{label}!{member.filename}", decoded(pa.PythonFile(inner, mode="r")), stored
        return
    if byte_range is not None:
        start, end = byte_range
        with tree.filesystem.open_input_file(file.path) as raw:
            counted = _CountedInput(raw.get_stream(start, end - start))
            yield label, decoded(pa.PythonFile(counted, mode="r")), counted.taken
        return
    with tree.filesystem.open_input_stream(file.path, compression=None) as raw:
        counted = _CountedInput(raw)
        stream: Any = pa.PythonFile(counted, mode="r")
        if config.compression is Compression.GZIP:
            stream = pa.CompressedInputStream(stream, "gzip")
        yield label, decoded(stream), counted.taken


def from_first_text(tree: FileTree, file: FoundFile, config: SourceConfig, read: Callable[[Any], Read]) -> Read:
    """``read`` applied to the first text inside the file (its first ZIP member), failures naming the file."""
    with read_errors(tree, tree.show(file.path)), closing(text_streams(tree, file, config)) as streams:
        _, stream, _ = next(streams)
        return read(stream)


class _CountedInput(io.RawIOBase):
    """A readable stream that counts the bytes read through it (streams of Arrow cannot tell)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._taken = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read() if size is None or size < 0 else self._raw.read(size)
        self._taken += len(data)
        return bytes(data)

    def taken(self) -> int:
        return self._taken


def byte_chunks(raw: Any, start: int, end: int | None = None) -> Iterator[bytes]:
    """The bytes of a random-access file from ``start`` (to ``end``), in chunks."""
    raw.seek(start)
    left = None if end is None else end - start
    while left is None or left > 0:
        chunk = raw.read(SCAN_BYTES if left is None else min(SCAN_BYTES, left))
        if not chunk:
            return
        if left is not None:
            left -= len(chunk)
        yield chunk


def line_start(raw: Any, offset: int, newline: bytes) -> int:
    """The first line start at or after ``offset``: 0, just after a newline byte, or the file's end.
    Ranges cut at the same nominal offset agree on it, so each line belongs to exactly one range:
    the one in which it starts."""
    if offset <= 0:
        return 0
    position = offset - 1
    for chunk in byte_chunks(raw, position):
        found = chunk.find(newline)
        if found >= 0:
            return position + found + 1
        position += len(chunk)
    return int(raw.size())
