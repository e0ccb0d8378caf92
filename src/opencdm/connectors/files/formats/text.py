"""What CSV and JSON share: text read into the job's schema, its columns typed from every value
(text_types.py), declared in columnList or converted into the destination's (``TextReader``); a
record with a value that does not convert, or a CSV line with the wrong number of fields, fails the
read naming its file and line, or is left out and handed to the reader's ``reject`` (dirty data);
and binary columns written as hexadecimal text.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from opencdm.connectors.base import RejectedRow
from opencdm.connectors.files.config import SourceConfig
from opencdm.connectors.files.formats.base import FormatReader, Reject, select_columns
from opencdm.connectors.files.formats.streams import ParseError, read_errors, text_streams
from opencdm.connectors.files.formats.text_types import TextConverter, TypeFold, text_converter
from opencdm.connectors.files.tree import FileTree, FoundFile
from opencdm.connectors.types import JSON, TIMESTAMP, TIMESTAMP_TZ, cast_array, logical_of, make_field
from opencdm.connectors.values import CONVERSION_ERRORS, failing_rows
from opencdm.errors import CdmError

# Rows left out of a stream are placed (their lines found by reading it again) this many at a time.
LOCATE_EVERY = 1000


@dataclass
class _Bad:
    """A record of a text stream that cannot be read: ``index`` counts the stream's data records
    (the header excluded, bad records included) from 0; None when the parser did not say."""

    index: int | None
    row: RejectedRow


class StreamRead:
    """One text stream read into batches, keeping track of the records left out, so that each
    can be placed in the file and handed over (or fail the read)."""

    def __init__(
        self, reader: TextReader, file: FoundFile, label: str, byte_range: tuple[int, int] | None, reject: Reject
    ) -> None:
        self.reader, self.file, self.label, self.byte_range, self.reject = reader, file, label, byte_range, reject
        self.invalid: list[pacsv.InvalidRow] = []  # filled by the CSV parser as it meets them
        self.invalid_indices: list[int] = []
        self.pending: list[_Bad] = []
        self.records = 0  # records the parser returned so far
        # Places records in the file, reading it once more alongside, forward only.
        self.lines: LineFinder | None = None

    def header_rows(self) -> int:
        return self.reader.header_rows(self.byte_range)

    def data_index(self, returned: int) -> int:
        """The data index of the parser's ``returned``-th record (the parser leaves bad ones out)."""
        index = returned
        for bad in self.invalid_indices:  # ascending
            if bad > index:
                break
            index += 1
        return index

    def take_invalid(self) -> None:
        for row in self.invalid:
            index = None if row.number is None else row.number - 1 - self.header_rows()
            if index is not None:
                self.invalid_indices.append(index)
            reason = f"Expected {row.expected_columns} columns, got {row.actual_columns}"
            self.pending.append(_Bad(index, RejectedRow({}, reason, file=self.label, text=row.text)))
        self.invalid.clear()
        self.invalid_indices.sort()

    def settle(self, final: bool) -> None:
        """Hand the pending records over once there are enough of them (or at the end); without
        a receiver, fail on the first one."""
        if self.reject is _ignored:
            self.pending = []
        if not self.pending or (self.reject is not None and not final and len(self.pending) < LOCATE_EVERY):
            return
        pending = sorted(self.pending, key=lambda bad: -1 if bad.index is None else bad.index)
        self.pending = []
        if self.reject is None:
            pending = pending[:1]
        if self.lines is None:
            self.lines = self.reader.line_finder(self.file, self.label, self.byte_range)
        places = self.lines.find({bad.index for bad in pending if bad.index is not None})
        for bad in pending:
            row = bad.row
            if bad.index in places:
                row = replace(row, line=places[bad.index])
            elif bad.index is not None:  # no lines to count (JSON): its place among the records
                row = replace(row, reason=f"{row.reason} (record {bad.index + 1})")
            if self.reject is None:
                where = "" if row.line is None else f" at line {row.line}"
                raise ParseError(row.reason + where + (f": {_clipped(row.text)}" if row.text else ""))
            self.reject(row)

    def close(self) -> None:
        if self.lines is not None:
            self.lines.close()


class LineFinder:
    """Where data records of a stream begin in the file: none known (JSON), see CsvLineFinder."""

    def find(self, indices: set[int]) -> dict[int, int]:
        """The 1-based line of each of these data records (higher than any asked before), where known."""
        return {}

    def close(self) -> None:  # noqa: B027 - nothing to release here
        """Release the stream."""


def _clipped(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _ignored(row: RejectedRow) -> None:
    """Rows left out of a schema sample."""


class TextReader(FormatReader):
    """CSV and JSON: raw batches (text or JSON-typed columns) refined into the job's schema."""

    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        super().__init__(tree, config)
        # The picked columns read from text with no type declared in columnList: typed by
        # TypeFold, or converted into the destination's columns (convert_into).
        self._from_text: set[str] = set()
        # The fields batches are read into (the schema, or the destination's), and how a column
        # read as text gets there (a column of JSON values is cast as it is).
        self._fields: list[pa.Field] = []
        self._converters: list[TextConverter] = []

    def _raw_batches(self, stream: Any, state: StreamRead) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def header_rows(self, byte_range: tuple[int, int] | None) -> int:
        """Records before the data in a stream of the file (its header)."""
        return 0

    def line_finder(self, file: FoundFile, label: str, byte_range: tuple[int, int] | None) -> LineFinder:
        return LineFinder()

    def _converted(
        self, file: FoundFile, typed: bool, byte_range: tuple[int, int] | None, reject: Reject
    ) -> Generator[pa.RecordBatch, None, None]:
        """The file's batches, raw or ``typed`` (into ``_fields``), records that cannot be read
        left out (to ``reject``) or failing the read at their place in the file; typed reads
        count the bytes of the file they read."""
        with read_errors(self.tree, self.tree.show(file.path)):
            for label, stream, taken in text_streams(self.tree, file, self.config, byte_range):
                state = StreamRead(self, file, label, byte_range, reject)
                counted = 0
                try:
                    for raw in self._raw_batches(stream, state):
                        state.take_invalid()
                        batch = self._typed(raw, state) if typed else raw
                        state.records += raw.num_rows
                        state.settle(final=False)
                        if typed:
                            self.bytes_read += taken() - counted
                            counted = taken()
                        yield batch
                    state.take_invalid()
                    state.settle(final=True)
                finally:
                    state.close()
                if typed:
                    self.bytes_read += taken() - counted

    def schema(self, files: list[FoundFile], known: pa.Schema | None = None) -> pa.Schema:
        if self._schema is not None:
            return self._schema
        # Records that cannot be read are left out of the sample and of the inference: reading
        # the rows meets them in the file's order, and fails or rejects them.
        first = files[0]
        with closing(self._converted(first, False, None, _ignored)) as batches:
            sample = next(batches, None)
        label = self.tree.show(first.path)
        if sample is None:
            raise CdmError("Cdm.0015", f"Failed to parse the file content of {label}: the file has no columns.")
        self._picked = select_columns(self.config.columns, sample.schema.names, label)
        self._from_text = {
            name for name, spec in self._picked
            if (spec is None or spec.type is None)
            and (pa.types.is_string(sample.column(name).type) or pa.types.is_null(sample.column(name).type))
        }
        if known is None:
            known = self._inferred(files, sample)
        self._schema = known
        self.convert_into([])
        return known

    def _inferred(self, files: list[FoundFile], sample: pa.RecordBatch) -> pa.Schema:
        """The fields of the picked columns: declared, or folded from every value of every file
        (docs/type-mapping.md), so that no later value can miss the type a table is created with."""
        folds = {name: TypeFold() for name in self._from_text}
        if folds:
            for file in files:
                with closing(self._converted(file, False, None, _ignored)) as batches:
                    for batch in batches:
                        for name, fold in folds.items():
                            if name in batch.schema.names:
                                fold.add(batch.column(name).cast(pa.string()))
        fields = []
        for name, spec in self._picked:
            raw = sample.column(name)
            if spec is not None and spec.type is not None:
                fields.append(spec.field(name))
            elif name in folds:
                fields.append(make_field(name, folds[name].type()))
            elif pa.types.is_nested(raw.type):
                fields.append(make_field(name, pa.string(), logical=JSON))
            elif pa.types.is_timestamp(raw.type):
                fields.append(make_field(name, TIMESTAMP_TZ if raw.type.tz else TIMESTAMP))
            else:
                fields.append(make_field(name, raw.type))
        return pa.schema(fields)

    def convert_into(self, fields: list[pa.Field | None]) -> None:
        schema = self._schema
        assert schema is not None, "schema() first"
        self._fields, self._converters = [], []
        for index, ((name, _), field) in enumerate(zip(self._picked, schema, strict=True)):
            into = fields[index] if index < len(fields) and name in self._from_text else None
            self._fields.append(field if into is None else make_field(name, into.type))
            self._converters.append(text_converter(field.type, into))

    def read(
        self, file: FoundFile, batch_rows: int, piece: tuple[int, int] | None = None, reject: Reject = None
    ) -> Iterator[pa.RecordBatch]:
        assert self._schema is not None, "schema() first"
        byte_range = self._line_range(file, piece) if piece is not None else None
        if byte_range is not None and byte_range[0] >= byte_range[1]:
            return
        for batch in self._converted(file, True, byte_range, reject):
            for offset in range(0, batch.num_rows, batch_rows):
                yield batch.slice(offset, batch_rows)

    def _line_range(self, file: FoundFile, piece: tuple[int, int]) -> tuple[int, int]:
        raise NotImplementedError

    def _typed(self, raw: pa.RecordBatch, state: StreamRead) -> pa.RecordBatch:
        """The raw batch in ``_fields``; rows with a value that does not fit are left out (pending
        in ``state``), found column by column in memory (values.failing_rows)."""
        try:
            return self._cast(raw)
        except CONVERSION_ERRORS:
            pass  # some values do not fit: found below, and their rows left out
        unfit: dict[int, str] = {}
        for (name, _), field, convert in zip(self._picked, self._fields, self._converters, strict=True):
            values = raw.column(name)
            if pa.types.is_string(values.type) or pa.types.is_null(values.type):
                text = values.cast(pa.string())
                for index in failing_rows(text, convert):
                    unfit.setdefault(index, f"column [{name}]: value '{text[index].as_py()}' is not a {field.type}")
        if not unfit:
            return self._cast(raw)  # a failure that is no value's (raised again, as it is)
        names = [name for name, _ in self._picked]
        indices = sorted(unfit)
        left_out_rows = raw.select(names).take(pa.array(indices, pa.int64())).to_pylist()
        for index, values in zip(indices, left_out_rows, strict=True):
            state.pending.append(
                _Bad(state.data_index(state.records + index), RejectedRow(values, unfit[index], file=state.label))
            )
        left_out = [False] * raw.num_rows
        for index in unfit:
            left_out[index] = True
        return self._cast(raw.filter(pc.invert(pa.array(left_out))))

    def _cast(self, raw: pa.RecordBatch) -> pa.RecordBatch:
        arrays = []
        for (name, _), field, convert in zip(self._picked, self._fields, self._converters, strict=True):
            values = raw.column(name)
            if logical_of(field) == JSON and pa.types.is_nested(values.type):
                arrays.append(_to_json_text(values))
            elif pa.types.is_string(values.type) or pa.types.is_null(values.type):
                arrays.append(convert(values.cast(pa.string())))
            else:
                arrays.append(cast_array(values, field.type, name))
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(self._fields))


def _to_json_text(values: pa.Array) -> pa.Array:
    return pa.array(
        [None if value is None else json.dumps(value, ensure_ascii=False, default=str) for value in values.to_pylist()],
        pa.string(),
    )


def is_binary(type_: pa.DataType) -> bool:
    return pa.types.is_binary(type_) or pa.types.is_large_binary(type_) or pa.types.is_fixed_size_binary(type_)


def text_columns(batch: pa.RecordBatch) -> list[pa.Array]:
    """Columns as CSV and JSON hold them: binary as hexadecimal text."""
    return [
        pa.array([None if v is None else v.hex() for v in column.to_pylist()], pa.string())
        if is_binary(column.type) else column
        for column in batch.columns
    ]
