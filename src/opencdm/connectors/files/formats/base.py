"""What every file format implements: a ``FormatReader`` that reads files into batches of one
schema, and a ``FileWriter`` that writes batches into one file (choice.py picks them by format).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from opencdm.connectors.base import RejectedRow
from opencdm.connectors.files.config import ColumnSpec, SinkConfig, SourceConfig
from opencdm.connectors.files.tree import FileTree, FoundFile
from opencdm.errors import CdmError

# Receives the rows a reader leaves out (dirty data); None: such a row fails the read.
Reject = Callable[[RejectedRow], None] | None


class FormatReader:
    """Reads files of one format into batches of one schema: the first file's, columnList applied."""

    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        self.tree = tree
        self.config = config
        # Bytes of the stored files read by ``read`` since the last take (FileSource.take_bytes_read).
        self.bytes_read = 0
        # Set by ``schema``: the file's columns columnList picks (select_columns), and the schema.
        self._picked: list[tuple[str, ColumnSpec | None]] = []
        self._schema: pa.Schema | None = None

    def schema(self, files: list[FoundFile], known: pa.Schema | None = None) -> pa.Schema:
        """The schema of the files' rows; ``known``: the one a run planned (a copier's source, in
        another process, takes it rather than reading every file again to infer it)."""
        raise NotImplementedError

    def convert_into(self, fields: list[pa.Field | None]) -> None:  # noqa: B027 - text readers only
        """Source.convert_into."""

    def read(
        self, file: FoundFile, batch_rows: int, piece: tuple[int, int] | None = None, reject: Reject = None
    ) -> Iterator[pa.RecordBatch]:
        """The file's rows, or only those of ``piece`` (a range of row groups for Parquet, of
        bytes for CSV); rows that cannot be read go to ``reject``, or fail the read."""
        raise NotImplementedError

    def splittable(self, file: FoundFile) -> bool:
        """Whether the file may be read in byte ranges (``read``'s ``piece``)."""
        return False

    def estimate_rows(self, files: list[FoundFile]) -> int | None:
        return None


def select_columns(
    specs: tuple[ColumnSpec, ...] | None, names: list[str], label: str
) -> list[tuple[str, ColumnSpec | None]]:
    """The file's columns a columnList picks, in its order: (column name, its spec)."""
    if specs is None:
        return [(name, None) for name in names]
    picked: list[tuple[str, ColumnSpec | None]] = []
    for spec in specs:
        if spec.number is not None:
            if spec.number > len(names):
                raise CdmError(
                    "Cdm.0014",
                    f"The parameter is invalid: fromJobConfig.columnList names column {spec.number}, "
                    f"but {label} has {len(names)} columns.",
                )
            picked.append((names[spec.number - 1], spec))
        elif spec.name in names:
            picked.append((spec.name, spec))
        else:
            raise CdmError(
                "Cdm.0014",
                f"The parameter is invalid: column [{spec.name}] of fromJobConfig.columnList does not exist in "
                f"{label} (columns: {', '.join(names)}).",
            )
    return picked


class FileWriter:
    """Writes batches into one output stream; ``size`` is what reached the stream so far."""

    def __init__(self, stream: Any, schema: pa.Schema, config: SinkConfig) -> None:
        self._raw = stream
        self._schema = schema
        self._config = config
        self._stream = pa.CompressedOutputStream(stream, "gzip") if config.gzipped else stream

    def write(self, batch: pa.RecordBatch) -> None:
        raise NotImplementedError

    def size(self) -> int:
        return int(self._raw.tell())

    def close(self) -> None:
        self._stream.close()
        if not self._raw.closed:
            self._raw.close()
