"""Parquet files: read by row group (``ParquetFile.iter_batches``), their schema kept exactly (types
and field metadata), columnList picking and casting; a file may be read in ranges of row groups.
Written with the source's types exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from opencdm.connectors.files.config import SinkConfig
from opencdm.connectors.files.formats.base import FileWriter, FormatReader, Reject, select_columns
from opencdm.connectors.files.formats.streams import read_errors
from opencdm.connectors.files.tree import FoundFile
from opencdm.connectors.types import cast_array


class ParquetReader(FormatReader):
    """Parquet keeps its schema exactly (types and field metadata); columnList picks and may cast."""

    def _open(self, file: FoundFile) -> pq.ParquetFile:
        return pq.ParquetFile(self.tree.filesystem.open_input_file(file.path))

    def schema(self, files: list[FoundFile], known: pa.Schema | None = None) -> pa.Schema:
        if self._schema is not None:
            return self._schema
        first = files[0]
        label = self.tree.show(first.path)
        with read_errors(self.tree, label):
            file_schema = self._open(first).schema_arrow
        self._picked = select_columns(self.config.columns, file_schema.names, label)
        fields = []
        for name, spec in self._picked:
            field = file_schema.field(name)
            fields.append(spec.field(name) if spec is not None and spec.type is not None else field)
        self._schema = pa.schema(fields)
        return self._schema

    def row_groups(self, file: FoundFile) -> int:
        with read_errors(self.tree, self.tree.show(file.path)):
            return int(self._open(file).metadata.num_row_groups)

    def estimate_rows(self, files: list[FoundFile]) -> int | None:
        total = 0
        for file in files:
            with read_errors(self.tree, self.tree.show(file.path)):
                total += int(self._open(file).metadata.num_rows)
        return total

    def read(
        self, file: FoundFile, batch_rows: int, piece: tuple[int, int] | None = None, reject: Reject = None
    ) -> Iterator[pa.RecordBatch]:
        schema = self._schema
        assert schema is not None, "schema() first"
        names = [name for name, _ in self._picked]
        with read_errors(self.tree, self.tree.show(file.path)):
            parquet = self._open(file)
            groups = list(range(*piece)) if piece else None
            for batch in parquet.iter_batches(
                batch_size=batch_rows, row_groups=groups, columns=names, use_threads=False
            ):
                arrays = [
                    cast_array(batch.column(name), field.type, name) for name, field in zip(names, schema, strict=True)
                ]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)
            # The bytes as stored: the file, or its row groups read (compressed, as in the file).
            if groups is None:
                self.bytes_read += self.tree.filesystem.get_file_info(file.path).size or 0
            else:
                self.bytes_read += sum(_compressed_size(parquet.metadata.row_group(group)) for group in groups)


def _compressed_size(group: pq.RowGroupMetaData) -> int:
    return sum(group.column(index).total_compressed_size for index in range(group.num_columns))


class ParquetWriter(FileWriter):
    """Keeps the source's types exactly (decimal precision and scale, time zones, field metadata)."""

    def __init__(self, stream: Any, schema: pa.Schema, config: SinkConfig) -> None:
        super().__init__(stream, schema, config)
        codec = None if config.compression == "none" else config.compression
        self._writer = pq.ParquetWriter(self._stream, schema, compression=codec)

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def close(self) -> None:
        self._writer.close()
        super().close()
