"""JSON files: JSON lines read with ``pyarrow.json.open_json`` block by block, or with jsonReferenceNode
the array at a path of one JSON document; texts typed as text.py says. Written one object a line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from opencdm.connectors.files.config import SourceConfig
from opencdm.connectors.files.formats.base import FileWriter
from opencdm.connectors.files.formats.streams import BLOCK_BYTES, ParseError, from_first_text
from opencdm.connectors.files.formats.text import StreamRead, TextReader, text_columns
from opencdm.connectors.files.tree import FileTree, FoundFile
from opencdm.errors import CdmError


class JsonReader(TextReader):
    """JSON lines, or with jsonReferenceNode the array at that dotted path of a JSON document."""

    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        super().__init__(tree, config)
        self._raw_schema: pa.Schema | None = None

    def schema(self, files: list[FoundFile], known: pa.Schema | None = None) -> pa.Schema:
        first = files[0]
        if self._raw_schema is None and self.config.json_reference_node is None:
            # Arrow reads "2024-01-31" as a timestamp; such columns are read as text and typed by
            # TypeFold like CSV text. Every file is then read with this schema.
            inferred = from_first_text(self.tree, first, self.config, lambda stream: self._open(stream, None).schema)
            self._raw_schema = pa.schema(
                [field.with_type(pa.string()) if pa.types.is_timestamp(field.type) else field for field in inferred]
            )
        return super().schema(files, known)

    def _open(self, stream: Any, explicit: pa.Schema | None) -> pajson.JSONStreamingReader:
        return pajson.open_json(
            stream,
            read_options=pajson.ReadOptions(use_threads=False, block_size=BLOCK_BYTES),
            parse_options=pajson.ParseOptions(
                explicit_schema=explicit, unexpected_field_behavior="ignore" if explicit else "infer"
            ),
        )

    def _raw_batches(self, stream: Any, state: StreamRead) -> Iterator[pa.RecordBatch]:
        batches = self._referenced(stream) if self.config.json_reference_node is not None else self._open(
            stream, self._raw_schema
        )
        markers = pa.array(self.config.null_values, pa.string())
        for batch in batches:
            yield batch if not markers else _markers_as_null(batch, markers)

    def _referenced(self, stream: Any) -> Iterator[pa.RecordBatch]:
        # The document is parsed whole: a JSON document has no record boundaries to stream by.
        node = self.config.json_reference_node
        assert node is not None
        # Read in blocks: a stream of unknown size cannot be read whole at once.
        document: Any = json.loads(b"".join(iter(lambda: stream.read(BLOCK_BYTES), b"")).decode("utf-8"))
        for key in node.split("."):
            if isinstance(document, list) and key.isdigit() and int(key) < len(document):
                document = document[int(key)]
            elif isinstance(document, dict) and key in document:
                document = document[key]
            else:
                raise ParseError(f"fromJobConfig.jsonReferenceNode [{node}] does not exist in the document")
        if isinstance(document, dict):
            document = [document]
        if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
            raise ParseError(f"fromJobConfig.jsonReferenceNode [{node}] is not an object or an array of objects")
        for offset in range(0, len(document), 10_000):
            chunk = document[offset : offset + 10_000]
            batch = pa.RecordBatch.from_pylist(chunk, schema=self._raw_schema)
            if self._raw_schema is None:
                self._raw_schema = batch.schema
            yield batch


def _markers_as_null(batch: pa.RecordBatch, markers: pa.Array) -> pa.RecordBatch:
    """The batch with the string values that are one of ``markers`` (nullValue) as NULL."""
    arrays = [
        pc.if_else(pc.is_in(column, markers), pa.scalar(None, column.type), column)
        if pa.types.is_string(column.type) else column
        for column in batch.columns
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


class JsonWriter(FileWriter):
    """One JSON object per line. Decimals, dates, times and timestamps are written as text
    (decimals keep every digit), binary as hexadecimal text, JSON columns as their text."""

    def write(self, batch: pa.RecordBatch) -> None:
        columns = []
        for column in text_columns(batch):
            if pa.types.is_decimal(column.type) or pa.types.is_temporal(column.type):
                column = pc.cast(column, pa.string())
            columns.append(column.to_pylist())
        names = batch.schema.names
        encoding = self._config.csv.encoding
        lines = [
            json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False) for row in zip(*columns, strict=True)
        ]
        if not lines:
            return
        try:
            self._stream.write(("\n".join(lines) + "\n").encode(encoding))
        except UnicodeEncodeError as exc:
            raise CdmError(
                "Cdm.0232", f"Data write failed. Cause: a value cannot be written in {encoding}: {exc}"
            ) from exc
