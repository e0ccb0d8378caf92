"""Reading and writing CSV, JSON (lines) and Parquet files as Arrow record batches, in bounded memory.

Readers stream: ``pyarrow.csv.open_csv`` and ``pyarrow.json.open_json`` read block by block,
Parquet by row group (``ParquetFile.iter_batches``). GZIP and ZIP are undone and GBK transcoded on
the way in, as streams. Writers stream into one output file each.

Types of CSV and JSON text are folded from every value of every file (``TypeFold``) unless
columnList declares them; with the destination's columns known (``convert_into``), text is
converted straight into their types. A record with a value that does not convert, or a CSV line
with the wrong number of fields, fails the read naming its file and line, or is left out and
handed to the reader's ``reject`` (dirty data). An uncompressed CSV file
may be read in byte ranges, each from its first line start (``CsvReader.splittable``).
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import json
import zipfile
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from opencdm.connectors.base import RejectedRow
from opencdm.connectors.files.config import ColumnSpec, Compression, CsvOptions, FileFormat, SinkConfig, SourceConfig
from opencdm.connectors.files.tree import FileTree, FoundFile
from opencdm.connectors.types import (
    JSON,
    MAX_DECIMAL256_PRECISION,
    TIMESTAMP,
    TIMESTAMP_TZ,
    cast_array,
    decimal_type,
    logical_of,
    make_field,
)
from opencdm.connectors.values import CONVERSION_ERRORS, failing_rows
from opencdm.errors import CdmError

BLOCK_BYTES = 1 << 20
# Read at a time when scanning a file's bytes (line starts, quote characters, line counts).
SCAN_BYTES = 1 << 16
# Rows left out of a stream are placed (their lines found by reading it again) this many at a time.
LOCATE_EVERY = 1000

# Text shapes recognised in CSV and JSON strings (see TypeFold), tried in this order on each block.
_INTEGER = r"^-?\d+$"  # Arrow reads no "+" in an integer: such texts are decimals
_DECIMAL = r"^[+-]?(\d+(\.\d*)?|\.\d+)$"
_TEXT_SHAPES: tuple[tuple[str, pa.DataType], ...] = (
    (r"^(?i:true|false)$", pa.bool_()),
    (r"^\d{4}-\d{2}-\d{2}$", pa.date32()),
    (r"^\d{2}:\d{2}:\d{2}(\.\d{1,6})?$", pa.time64("us")),
    (r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$", TIMESTAMP),
    (r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)$", TIMESTAMP_TZ),
)
# The narrowest integer types a created column may get, by the values seen.
_INTEGER_TYPES = (pa.int16(), pa.int32(), pa.int64())
_MAX_INTEGER_DIGITS = 18  # every 18-digit integer fits int64; longer ones become numeric(p,0)


class ParseError(Exception):
    """A value or line of a file that cannot be read (the message says where, when known)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- text to typed columns ------------------------------------------------------------------------


@dataclass
class TypeFold:
    """The type of a text column, folded over every block of every file: the narrowest one every
    non-null value fits exactly (docs/type-mapping.md, "Types of created columns").

    ``kind`` is None before any value, "integer" (``low``..``high``, or ``digits`` past 18),
    "decimal" (``digits`` before the point, ``scale`` after it), "text", or a shape of
    ``_TEXT_SHAPES`` (bool, date, time, timestamp, timestamp with an offset)."""

    kind: str | pa.DataType | None = None
    low: int = 0
    high: int = 0
    digits: int = 0
    scale: int = 0

    def add(self, values: pa.Array) -> None:
        present = pc.drop_null(values)
        if len(present) == 0 or self.kind == "text":
            return

        def matches(pattern: str) -> bool:
            return bool(pc.all(pc.match_substring_regex(present, pattern)).as_py())

        if matches(_INTEGER) and self.kind in (None, "integer", "decimal"):
            unsigned = pc.utf8_ltrim(pc.utf8_ltrim(present, "+-"), "0")
            digits = pc.max(pc.utf8_length(unsigned)).as_py() or 0
            self.digits = max(self.digits, digits)
            if digits <= _MAX_INTEGER_DIGITS:
                low, high = pc.min_max(pc.cast(present, pa.int64())).values()
                first = self.kind is None
                self.low = low.as_py() if first else min(self.low, low.as_py())
                self.high = high.as_py() if first else max(self.high, high.as_py())
            self.kind = self.kind or "integer"
            return
        if matches(_DECIMAL) and self.kind in (None, "integer", "decimal"):
            # Digits before the point (leading zeros left out) and after it, the widest of each.
            stripped = pc.utf8_ltrim(pc.utf8_ltrim(present, "+-"), "0")
            length = pc.utf8_length(stripped)
            found = pc.find_substring(stripped, ".")
            point = pc.if_else(pc.less(found, 0), length, found)  # an integer among decimals
            self.digits = max(self.digits, pc.max(point).as_py())
            self.scale = max(self.scale, pc.max(pc.subtract(pc.subtract(length, point), 1)).as_py(), 0)
            self.kind = "decimal"
            return
        for pattern, type_ in _TEXT_SHAPES:
            if self.kind in (None, type_) and matches(pattern):
                try:
                    _convert_text(present, type_)  # a date such as 2024-02-30 has the shape, not the type
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    break
                self.kind = type_
                return
        self.kind = "text"

    def type(self) -> pa.DataType:
        if self.kind == "integer" and self.digits <= _MAX_INTEGER_DIGITS:
            return next(t for t in _INTEGER_TYPES if _fits(self.low, self.high, t))
        if self.kind in ("integer", "decimal"):
            precision = max(self.digits + self.scale, 1)
            return decimal_type(precision, self.scale) if precision <= MAX_DECIMAL256_PRECISION else pa.string()
        if isinstance(self.kind, pa.DataType):
            return self.kind
        return pa.string()


def _fits(low: int, high: int, type_: pa.DataType) -> bool:
    bound = 1 << (type_.bit_width - 1)
    return -bound <= low and high < bound


# Converts a column of text into its column's type; raises one of values.CONVERSION_ERRORS.
TextConverter = Callable[[pa.Array], pa.Array]


def text_converter(type_: pa.DataType, into: pa.Field | None = None) -> TextConverter:
    """How text read as ``type_`` becomes ``into`` (the destination's column, when the sink named
    it: Source.convert_into), exactly: text into a text column as it is in the file, else the
    text of an inferred or declared column in that type, then cast to ``into``'s by cast_array."""
    target = type_ if into is None else into.type
    if pa.types.is_string(target) or pa.types.is_large_string(target):
        return lambda values: values.cast(target)
    if pa.types.is_string(type_) or into is None:
        return lambda values: _convert_text(values, target)
    assert into is not None
    return lambda values: cast_array(_convert_text(values, type_), target, into.name)


def _convert_text(values: pa.Array, type_: pa.DataType) -> pa.Array:
    if pa.types.is_time(type_):
        # Arrow casts no text to time; a timestamp on the epoch's day gives it.
        stamped = pc.binary_join_element_wise("1970-01-01 ", values, "")
        return pc.cast(stamped, pa.timestamp("us")).cast(type_)
    if pa.types.is_boolean(type_):
        values = pc.utf8_lower(values)
    return pc.cast(values, type_, safe=True)


def _to_json_text(values: pa.Array) -> pa.Array:
    return pa.array(
        [None if value is None else json.dumps(value, ensure_ascii=False, default=str) for value in values.to_pylist()],
        pa.string(),
    )


# --- opening files --------------------------------------------------------------------------------


@contextmanager
def _wrapped(tree: FileTree, label: str) -> Iterator[None]:
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


def _text_streams(
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


def _scan(raw: Any, start: int, end: int | None = None) -> Iterator[bytes]:
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


def _line_start(raw: Any, offset: int, newline: bytes) -> int:
    """The first line start at or after ``offset``: 0, just after a newline byte, or the file's end.
    Ranges cut at the same nominal offset agree on it, so each line belongs to exactly one range:
    the one in which it starts."""
    if offset <= 0:
        return 0
    position = offset - 1
    for chunk in _scan(raw, position):
        found = chunk.find(newline)
        if found >= 0:
            return position + found + 1
        position += len(chunk)
    return int(raw.size())


# --- readers --------------------------------------------------------------------------------------

# Receives the rows a reader leaves out (dirty data); None: such a row fails the read.
Reject = Callable[[RejectedRow], None] | None


class FormatReader:
    """Reads files of one format into batches of one schema: the first file's, columnList applied."""

    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        self.tree = tree
        self.config = config
        # Bytes of the stored files read by ``read`` since the last take (FileSource.take_bytes_read).
        self.bytes_read = 0

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


def _select(specs: tuple[ColumnSpec, ...] | None, names: list[str], label: str) -> list[tuple[str, ColumnSpec | None]]:
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


@dataclass
class _Bad:
    """A record of a text stream that cannot be read: ``index`` counts the stream's data records
    (the header excluded, bad records included) from 0; None when the parser did not say."""

    index: int | None
    row: RejectedRow


class _StreamRead:
    """One text stream read into batches, keeping track of the records left out, so that each
    can be placed in the file and handed over (or fail the read)."""

    def __init__(
        self, reader: _TextReader, file: FoundFile, label: str, byte_range: tuple[int, int] | None, reject: Reject
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


class _TextReader(FormatReader):
    """CSV and JSON: raw batches (text or JSON-typed columns) refined into the job's schema."""

    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        super().__init__(tree, config)
        self._picked: list[tuple[str, ColumnSpec | None]] = []
        self._schema: pa.Schema | None = None
        # The picked columns read from text with no type declared in columnList: typed by
        # TypeFold, or converted into the destination's columns (convert_into).
        self._from_text: set[str] = set()
        # The fields batches are read into (the schema, or the destination's), and how a column
        # read as text gets there (a column of JSON values is cast as it is).
        self._fields: list[pa.Field] = []
        self._converters: list[TextConverter] = []

    def _raw_batches(self, stream: Any, state: _StreamRead) -> Iterator[pa.RecordBatch]:
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
        with _wrapped(self.tree, self.tree.show(file.path)):
            for label, stream, taken in _text_streams(self.tree, file, self.config, byte_range):
                state = _StreamRead(self, file, label, byte_range, reject)
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
        self._picked = _select(self.config.columns, sample.schema.names, label)
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

    def _typed(self, raw: pa.RecordBatch, state: _StreamRead) -> pa.RecordBatch:
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


class CsvReader(_TextReader):
    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        super().__init__(tree, config)
        self._names: list[str] = []

    def _parse_options(self, state: _StreamRead | None = None) -> pacsv.ParseOptions:
        options = self.config.csv

        def invalid_row(row: pacsv.InvalidRow) -> str:
            assert state is not None
            state.invalid.append(row)
            return "skip"  # placed and handed over (or failing the read) by _StreamRead.settle

        return pacsv.ParseOptions(
            delimiter=options.delimiter,
            quote_char=options.quote or False,
            double_quote=True,
            newlines_in_values=options.quote is not None,
            invalid_row_handler=invalid_row if state is not None else None,
        )

    def _python_csv(self, stream: Any) -> Any:
        """The stream's records as Python's csv module reads them (for what Arrow does not say)."""
        options = self.config.csv
        return csv.reader(
            io.TextIOWrapper(stream, encoding="utf-8", newline=""),
            delimiter=options.delimiter,
            quotechar=options.quote or '"',
            quoting=csv.QUOTE_MINIMAL if options.quote else csv.QUOTE_NONE,
        )

    def _newline(self) -> bytes:
        # The byte ending every line: "\r\n" ends with "\n"; GBK and GB18030 never use 0x0A or 0x0D
        # inside a character, so a byte search is safe in every encoding we read.
        return b"\r" if self.config.csv.line_separator == "\r" else b"\n"

    def splittable(self, file: FoundFile) -> bool:
        """Uncompressed files, unless their quoting may hide line breaks: a quoted value may hold
        a newline, and a range that begins inside one cannot tell. Rather than guess, a file in
        which the quote character appears at all is read whole (found by one pass over its bytes,
        which stops at the first quote: files that quote are known quickly, and a file that is
        split is about to be read anyway)."""
        if self.config.compression is not Compression.NONE:
            return False
        quote = self.config.csv.quote
        if quote is None:
            return True
        mark = quote.encode(self.config.csv.encoding)
        label = self.tree.show(file.path)
        with _wrapped(self.tree, label), self.tree.filesystem.open_input_file(file.path) as raw:
            tail = b""
            for chunk in _scan(raw, 0):
                if mark in tail + chunk:
                    return False
                tail = chunk[-(len(mark) - 1) :] if len(mark) > 1 else b""
        return True

    def _line_range(self, file: FoundFile, piece: tuple[int, int]) -> tuple[int, int]:
        """The bytes of a nominal range [start, end) to read: from the first line that starts in
        it to the end of the last line that starts in it (past ``end`` if that line crosses it)."""
        newline = self._newline()
        with _wrapped(self.tree, self.tree.show(file.path)), self.tree.filesystem.open_input_file(file.path) as raw:
            return _line_start(raw, piece[0], newline), _line_start(raw, piece[1], newline)

    def header_rows(self, byte_range: tuple[int, int] | None) -> int:
        # Only the file's first line is a header: a range further in starts with data.
        return 1 if self.config.csv.header and (byte_range is None or byte_range[0] == 0) else 0

    def schema(self, files: list[FoundFile], known: pa.Schema | None = None) -> pa.Schema:
        first = files[0]
        if not self._names:
            # Column names come from the first record of the first file (its header, or col1..colN);
            # every file is read with them, so all files must have the same columns.
            with (
                _wrapped(self.tree, self.tree.show(first.path)),
                closing(_text_streams(self.tree, first, self.config)) as streams,
            ):
                _, stream, _ = next(streams)
                record: list[str] = next(self._python_csv(stream), [])
            if not record:
                raise CdmError(
                    "Cdm.0015", f"Failed to parse the file content of {self.tree.show(first.path)}: it is empty."
                )
            self._names = record if self.config.csv.header else [f"col{i + 1}" for i in range(len(record))]
        return super().schema(files, known)

    def _raw_batches(self, stream: Any, state: _StreamRead) -> Iterator[pa.RecordBatch]:
        try:
            yield from pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    use_threads=False,
                    block_size=BLOCK_BYTES,
                    column_names=self._names,
                    skip_rows=state.header_rows(),
                ),
                parse_options=self._parse_options(state),
                convert_options=pacsv.ConvertOptions(
                    # Text as it is; types are decided by TypeFold, columnList or the destination, not by Arrow.
                    column_types=dict.fromkeys(self._names, pa.string()),
                    include_columns=[name for name, _ in self._picked] or self._names,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    null_values=["", *self.config.null_values],
                ),
            )
        except pa.ArrowInvalid as exc:
            if "CSV parse error" not in str(exc):
                raise
            raise ParseError(str(exc)) from exc

    def line_finder(self, file: FoundFile, label: str, byte_range: tuple[int, int] | None) -> LineFinder:
        first_line = 1
        if byte_range is not None and byte_range[0] > 0:
            newline = self._newline()
            with self.tree.filesystem.open_input_file(file.path) as raw:
                first_line += sum(chunk.count(newline) for chunk in _scan(raw, 0, byte_range[0]))
        streams = _text_streams(self.tree, file, self.config, byte_range)
        stream = next(stream for candidate, stream, _ in streams if candidate == label)
        quote = self.config.csv.quote
        return CsvLineFinder(
            streams, stream, first_line, self.header_rows(byte_range), self._newline(),
            quote.encode() if quote is not None else None, self._python_csv,
        )


class CsvLineFinder(LineFinder):
    """Lines of a stream's records, found by reading it once more alongside, forward only: the
    records of a stream are placed in one pass however many are left out.

    Lines are counted as in the file (Arrow counts records: a quoted value may span lines, and
    empty lines are no records). Until the quote character appears, lines are cut from blocks of
    bytes; from the first block that holds one, Python's csv module reads the rest."""

    def __init__(
        self, streams: Generator[Any, None, None], stream: Any, first_line: int, header_rows: int,
        newline: bytes, quote: bytes | None, csv_reader: Callable[[Any], Any],
    ) -> None:
        self._streams, self._stream, self._newline, self._quote = streams, stream, newline, quote
        self._csv_reader = csv_reader
        self._line = first_line  # the line the unread bytes begin
        self._index = -header_rows  # the data index of the next record (the header's are negative)
        self._rest = b""  # the start of a line read but not ended
        self._records: Any = None  # the csv module's reader, once a quote was met
        self._before = 0  # lines that reader read before its next record
        self._done = False

    def find(self, indices: set[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        last = max(indices, default=-1)
        while self._index <= last and not self._done:
            if self._records is None:
                self._next_block(indices, found)
            else:
                self._next_record(indices, found)
        return found

    def _next_block(self, indices: set[int], found: dict[int, int]) -> None:
        block = self._stream.read(BLOCK_BYTES)
        if (self._quote is not None and self._quote in block) or self._other_newlines(block):
            self._records = self._csv_reader(io.BufferedReader(_Prefixed(self._rest + block, self._stream)))
            return
        if not block:
            self._done = True
        lines = (self._rest + block).split(self._newline)
        self._rest = lines.pop() if block else b""
        for line in lines:
            if line and line != b"\r":
                if self._index in indices:
                    found[self._index] = self._line
                self._index += 1
            self._line += 1

    def _other_newlines(self, block: bytes) -> bool:
        """Whether the block ends lines otherwise than by ``newline`` (or "\\r\\n" for "\\n"): every
        separator is read whatever lineSeparator says, and the csv module tells them apart."""
        if self._newline == b"\r":
            return b"\n" in block
        return block.count(b"\r") != block.count(b"\r\n")

    def _next_record(self, indices: set[int], found: dict[int, int]) -> None:
        try:
            record = next(self._records, None)
        except csv.Error:  # a record Python's csv cannot read (e.g. a huge field): lines found so far
            record = None
        if record is None:
            self._done = True
            return
        if record:
            if self._index in indices:
                found[self._index] = self._line + self._before
            self._index += 1
        self._before = self._records.line_num

    def close(self) -> None:
        self._streams.close()


class _Prefixed(io.RawIOBase):
    """``prefix``, then the rest of ``stream``."""

    def __init__(self, prefix: bytes, stream: Any) -> None:
        self._prefix, self._stream = prefix, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        if self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
        else:
            data = bytes(self._stream.read(size))
        buffer[: len(data)] = data
        return len(data)


class JsonReader(_TextReader):
    """JSON lines, or with jsonReferenceNode the array at that dotted path of a JSON document."""

    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        super().__init__(tree, config)
        self._raw_schema: pa.Schema | None = None

    def schema(self, files: list[FoundFile], known: pa.Schema | None = None) -> pa.Schema:
        first = files[0]
        if self._raw_schema is None and self.config.json_reference_node is None:
            # Arrow reads "2024-01-31" as a timestamp; such columns are read as text and typed by
            # TypeFold like CSV text. Every file is then read with this schema.
            with (
                _wrapped(self.tree, self.tree.show(first.path)),
                closing(_text_streams(self.tree, first, self.config)) as streams,
            ):
                _, stream, _ = next(streams)
                inferred = self._open(stream, None).schema
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

    def _raw_batches(self, stream: Any, state: _StreamRead) -> Iterator[pa.RecordBatch]:
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


class ParquetReader(FormatReader):
    """Parquet keeps its schema exactly (types and field metadata); columnList picks and may cast."""

    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        super().__init__(tree, config)
        self._picked: list[tuple[str, ColumnSpec | None]] = []
        self._schema: pa.Schema | None = None

    def _open(self, file: FoundFile) -> pq.ParquetFile:
        return pq.ParquetFile(self.tree.filesystem.open_input_file(file.path))

    def schema(self, files: list[FoundFile], known: pa.Schema | None = None) -> pa.Schema:
        if self._schema is not None:
            return self._schema
        first = files[0]
        label = self.tree.show(first.path)
        with _wrapped(self.tree, label):
            file_schema = self._open(first).schema_arrow
        self._picked = _select(self.config.columns, file_schema.names, label)
        fields = []
        for name, spec in self._picked:
            field = file_schema.field(name)
            fields.append(spec.field(name) if spec is not None and spec.type is not None else field)
        self._schema = pa.schema(fields)
        return self._schema

    def row_groups(self, file: FoundFile) -> int:
        with _wrapped(self.tree, self.tree.show(file.path)):
            return int(self._open(file).metadata.num_row_groups)

    def estimate_rows(self, files: list[FoundFile]) -> int | None:
        total = 0
        for file in files:
            with _wrapped(self.tree, self.tree.show(file.path)):
                total += int(self._open(file).metadata.num_rows)
        return total

    def read(
        self, file: FoundFile, batch_rows: int, piece: tuple[int, int] | None = None, reject: Reject = None
    ) -> Iterator[pa.RecordBatch]:
        schema = self._schema
        assert schema is not None, "schema() first"
        names = [name for name, _ in self._picked]
        with _wrapped(self.tree, self.tree.show(file.path)):
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


def reader_for(tree: FileTree, config: SourceConfig) -> FormatReader:
    readers: dict[FileFormat, Callable[[FileTree, SourceConfig], FormatReader]] = {
        FileFormat.CSV: CsvReader,
        FileFormat.JSON: JsonReader,
        FileFormat.PARQUET: ParquetReader,
    }
    return readers[config.format](tree, config)


# --- writers --------------------------------------------------------------------------------------


class _Transcoder(io.RawIOBase):
    """A writable stream that re-encodes the UTF-8 written into it (by Arrow's CSV writer)."""

    def __init__(self, target: Any, encoding: str) -> None:
        self._target = target
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._encoding = encoding

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._target.write(self._decoder.decode(bytes(data)).encode(self._encoding))
        return len(data)


def _text_columns(batch: pa.RecordBatch) -> list[pa.Array]:
    """Columns as CSV and JSON hold them: binary as hexadecimal text."""
    return [
        pa.array([None if v is None else v.hex() for v in column.to_pylist()], pa.string())
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)
        or pa.types.is_fixed_size_binary(column.type) else column
        for column in batch.columns
    ]


class FileWriter:
    """Writes batches into one output stream; ``size`` is what reached the stream so far."""

    def __init__(self, stream: Any, schema: pa.Schema, config: SinkConfig) -> None:
        self._raw = stream
        self._schema = schema
        self._config = config
        compressed = config.format is not FileFormat.PARQUET and config.compression == "gzip"
        self._stream = pa.CompressedOutputStream(stream, "gzip") if compressed else stream

    def write(self, batch: pa.RecordBatch) -> None:
        raise NotImplementedError

    def size(self) -> int:
        return int(self._raw.tell())

    def close(self) -> None:
        self._stream.close()
        if not self._raw.closed:
            self._raw.close()


class CsvWriter(FileWriter):
    def __init__(self, stream: Any, schema: pa.Schema, config: SinkConfig) -> None:
        super().__init__(stream, schema, config)
        options: CsvOptions = config.csv
        text_schema = pa.schema([
            pa.field(field.name, pa.string()) if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type)
            or pa.types.is_fixed_size_binary(field.type) else field.remove_metadata()
            for field in schema
        ])
        self._text_schema = text_schema
        target = self._stream if options.encoding == "utf-8" else pa.PythonFile(
            _Transcoder(self._stream, options.encoding), mode="w"
        )
        self._target = target
        # Arrow quotes every column name when it may quote; plain names are written plain.
        special = (options.delimiter, '"', "\n", "\r")
        plain_names = not any(mark in name for name in schema.names for mark in special)
        self._writer = pacsv.CSVWriter(target, text_schema, write_options=pacsv.WriteOptions(
            include_header=options.header,
            delimiter=options.delimiter,
            eol=options.line_separator,
            quoting_style="needed" if options.quote else "none",
            quoting_header="none" if plain_names or not options.quote else "needed",
        ))

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(pa.RecordBatch.from_arrays(_text_columns(batch), schema=self._text_schema))

    def close(self) -> None:
        self._writer.close()
        if self._target is not self._stream:
            self._target.close()
        super().close()


class JsonWriter(FileWriter):
    """One JSON object per line. Decimals, dates, times and timestamps are written as text
    (decimals keep every digit), binary as hexadecimal text, JSON columns as their text."""

    def write(self, batch: pa.RecordBatch) -> None:
        columns = []
        for column in _text_columns(batch):
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


WRITERS: dict[FileFormat, type[FileWriter]] = {
    FileFormat.CSV: CsvWriter, FileFormat.JSON: JsonWriter, FileFormat.PARQUET: ParquetWriter,
}
EXTENSIONS = {FileFormat.CSV: ".csv", FileFormat.JSON: ".json", FileFormat.PARQUET: ".parquet"}


def file_extension(config: SinkConfig) -> str:
    compressed = config.format is not FileFormat.PARQUET and config.compression == "gzip"
    return EXTENSIONS[config.format] + (".gz" if compressed else "")
