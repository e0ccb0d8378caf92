"""Reading and writing CSV, JSON (lines) and Parquet files as Arrow record batches, in bounded memory.

Readers stream: ``pyarrow.csv.open_csv`` and ``pyarrow.json.open_json`` read block by block,
Parquet by row group (``ParquetFile.iter_batches``). GZIP and ZIP are undone and GBK transcoded on
the way in, as streams. Writers stream into one output file each.

Types of CSV and JSON text are decided from the first block of the first file (see
``infer_text_type``) unless columnList declares them, and every later value must fit them.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import zipfile
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from opencdm.connectors.files.config import ColumnSpec, Compression, CsvOptions, FileFormat, SinkConfig, SourceConfig
from opencdm.connectors.files.tree import FileTree, FoundFile
from opencdm.connectors.jdbc.types import JSON, TIMESTAMP, TIMESTAMP_TZ, cast_array, logical_of, make_field
from opencdm.errors import CdmError

BLOCK_BYTES = 1 << 20

# Text shapes recognised in CSV and JSON strings, tried in this order on the first block.
_TEXT_SHAPES: tuple[tuple[str, pa.DataType], ...] = (
    (r"^(?i:true|false)$", pa.bool_()),
    (r"^[+-]?\d{1,18}$", pa.int64()),
    (r"^\d{4}-\d{2}-\d{2}$", pa.date32()),
    (r"^\d{2}:\d{2}:\d{2}(\.\d{1,6})?$", pa.time64("us")),
    (r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$", TIMESTAMP),
    (r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)$", TIMESTAMP_TZ),
)


class ParseError(Exception):
    """A value or line of a file that cannot be read; ``record`` is its 0-based record index
    in the file (data records, header excluded) when known."""

    def __init__(self, message: str, record: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.record = record


# --- text to typed columns ------------------------------------------------------------------------


def infer_text_type(values: pa.Array) -> pa.DataType:
    """The narrowest type every non-null value of a text column has the shape of: boolean,
    integer (up to 18 digits), date, time, timestamp (UTC when the text carries an offset), else
    text. Fractional numbers stay text: Arrow would read them as float64, which rounds decimals;
    a destination column converts the text exactly, and columnList can declare ``:double``."""
    present = pc.drop_null(values)
    if len(present) == 0:
        return pa.string()
    for pattern, type_ in _TEXT_SHAPES:
        if pc.all(pc.match_substring_regex(present, pattern)).as_py():
            return type_
    return pa.string()


def text_to(values: pa.Array, type_: pa.DataType) -> pa.Array:
    """Convert a text column to ``type_`` exactly; a value that does not fit raises ParseError
    naming its index."""
    if pa.types.is_string(type_):
        return values
    try:
        return _convert_text(values, type_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        for index in range(len(values)):
            try:
                _convert_text(values.slice(index, 1), type_)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise ParseError(f"value '{values[index].as_py()}' is not a {type_}", index) from exc
        raise ParseError(str(exc)) from exc


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


def _text_streams(tree: FileTree, file: FoundFile, config: SourceConfig) -> Generator[tuple[str, Any], None, None]:
    """(label, stream of UTF-8 bytes) for each text inside the file: one, or one per ZIP member."""
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
                    yield f"{label}!{member.filename}", decoded(pa.PythonFile(inner, mode="r"))
        return
    compression = "gzip" if config.compression is Compression.GZIP else None
    with tree.filesystem.open_input_stream(file.path, compression=compression) as raw:
        yield label, decoded(raw)


# --- readers --------------------------------------------------------------------------------------


class FormatReader:
    """Reads files of one format into batches of one schema: the first file's, columnList applied."""

    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        self.tree = tree
        self.config = config

    def schema(self, first: FoundFile) -> pa.Schema:
        raise NotImplementedError

    def read(
        self, file: FoundFile, batch_rows: int, row_groups: tuple[int, int] | None = None
    ) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

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


class _TextReader(FormatReader):
    """CSV and JSON: raw batches (text or JSON-typed columns) refined into the job's schema."""

    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        super().__init__(tree, config)
        self._picked: list[tuple[str, ColumnSpec | None]] = []
        self._schema: pa.Schema | None = None

    def _raw_batches(self, stream: Any, label: str) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def _locate(self, file: FoundFile, label: str, error: ParseError, records_before: int) -> str:
        """Where in the file a ParseError happened, for the message."""
        return f" (record {records_before + error.record + 1})" if error.record is not None else ""

    def _converted(
        self, file: FoundFile, convert: Callable[[pa.RecordBatch], pa.RecordBatch]
    ) -> Generator[pa.RecordBatch, None, None]:
        """The file's raw batches through ``convert``; a ParseError gets its place in the file."""
        with _wrapped(self.tree, self.tree.show(file.path)):
            for label, stream in _text_streams(self.tree, file, self.config):
                records = 0
                try:
                    for raw in self._raw_batches(stream, label):
                        yield convert(raw)
                        records += raw.num_rows
                except ParseError as exc:
                    raise ParseError(exc.message + self._locate(file, label, exc, records)) from exc

    def schema(self, first: FoundFile) -> pa.Schema:
        if self._schema is not None:
            return self._schema
        with closing(self._converted(first, lambda raw: raw)) as batches:
            sample = next(batches, None)
        label = self.tree.show(first.path)
        if sample is None:
            raise CdmError("Cdm.0015", f"Failed to parse the file content of {label}: the file has no columns.")
        self._picked = _select(self.config.columns, sample.schema.names, label)
        fields = []
        for name, spec in self._picked:
            raw = sample.column(name)
            if spec is not None and spec.type is not None:
                fields.append(spec.field(name))
            elif pa.types.is_string(raw.type) or pa.types.is_null(raw.type):
                fields.append(make_field(name, infer_text_type(raw.cast(pa.string()))))
            elif pa.types.is_nested(raw.type):
                fields.append(make_field(name, pa.string(), logical=JSON))
            elif pa.types.is_timestamp(raw.type):
                fields.append(make_field(name, TIMESTAMP_TZ if raw.type.tz else TIMESTAMP))
            else:
                fields.append(make_field(name, raw.type))
        self._schema = pa.schema(fields)
        return self._schema

    def read(
        self, file: FoundFile, batch_rows: int, row_groups: tuple[int, int] | None = None
    ) -> Iterator[pa.RecordBatch]:
        schema = self._schema
        assert schema is not None, "schema() first"
        for batch in self._converted(file, lambda raw: self._typed(raw, schema)):
            for offset in range(0, batch.num_rows, batch_rows):
                yield batch.slice(offset, batch_rows)

    def _typed(self, raw: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
        arrays = []
        for (name, _), field in zip(self._picked, schema, strict=True):
            values = raw.column(name)
            try:
                if logical_of(field) == JSON and pa.types.is_nested(values.type):
                    arrays.append(_to_json_text(values))
                elif pa.types.is_string(values.type) or pa.types.is_null(values.type):
                    arrays.append(text_to(values.cast(pa.string()), field.type))
                else:
                    arrays.append(cast_array(values, field.type, name))
            except ParseError as exc:
                raise ParseError(f"column [{name}]: {exc.message}", exc.record) from exc
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


class CsvReader(_TextReader):
    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        super().__init__(tree, config)
        self._names: list[str] = []

    def _parse_options(self) -> pacsv.ParseOptions:
        options = self.config.csv
        return pacsv.ParseOptions(
            delimiter=options.delimiter,
            quote_char=options.quote or False,
            double_quote=True,
            newlines_in_values=options.quote is not None,
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

    def schema(self, first: FoundFile) -> pa.Schema:
        if not self._names:
            # Column names come from the first record of the first file (its header, or col1..colN);
            # every file is read with them, so all files must have the same columns.
            with _wrapped(self.tree, self.tree.show(first.path)), closing(
                _text_streams(self.tree, first, self.config)
            ) as streams:
                _, stream = next(streams)
                record: list[str] = next(self._python_csv(stream), [])
            if not record:
                raise CdmError(
                    "Cdm.0015", f"Failed to parse the file content of {self.tree.show(first.path)}: it is empty."
                )
            self._names = record if self.config.csv.header else [f"col{i + 1}" for i in range(len(record))]
        return super().schema(first)

    def _raw_batches(self, stream: Any, label: str) -> Iterator[pa.RecordBatch]:
        try:
            yield from pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    use_threads=False, block_size=BLOCK_BYTES, column_names=self._names,
                    skip_rows=1 if self.config.csv.header else 0,
                ),
                parse_options=self._parse_options(),
                convert_options=pacsv.ConvertOptions(
                    # Text as it is; types are decided by infer_text_type or columnList, not by Arrow.
                    column_types=dict.fromkeys(self._names, pa.string()),
                    include_columns=[name for name, _ in self._picked] or self._names,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    null_values=[""],
                ),
            )
        except pa.ArrowInvalid as exc:
            if "CSV parse error" not in str(exc):
                raise
            raise ParseError(str(exc)) from exc

    def _locate(self, file: FoundFile, label: str, error: ParseError, records_before: int) -> str:
        """The physical line of the bad record, found by reading the file again with Python's csv
        module: the failing record when a value did not convert, else the first record with the
        wrong number of fields."""
        target = None if error.record is None else records_before + error.record
        with closing(_text_streams(self.tree, file, self.config)) as streams:
            reader = self._python_csv(next(stream for candidate, stream in streams if candidate == label))
            if self.config.csv.header:
                next(reader, None)
            for index, record in enumerate(reader):
                if index == target or (target is None and len(record) != len(self._names)):
                    return f" at line {reader.line_num}"
        return ""


class JsonReader(_TextReader):
    """JSON lines, or with jsonReferenceNode the array at that dotted path of a JSON document."""

    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        super().__init__(tree, config)
        self._raw_schema: pa.Schema | None = None

    def schema(self, first: FoundFile) -> pa.Schema:
        if self._raw_schema is None and self.config.json_reference_node is None:
            # Arrow reads "2024-01-31" as a timestamp; such columns are read as text and typed by
            # infer_text_type like CSV text. Every file is then read with this schema.
            with _wrapped(self.tree, self.tree.show(first.path)), closing(
                _text_streams(self.tree, first, self.config)
            ) as streams:
                _, stream = next(streams)
                inferred = self._open(stream, None).schema
            self._raw_schema = pa.schema(
                [field.with_type(pa.string()) if pa.types.is_timestamp(field.type) else field for field in inferred]
            )
        return super().schema(first)

    def _open(self, stream: Any, explicit: pa.Schema | None) -> pajson.JSONStreamingReader:
        return pajson.open_json(
            stream,
            read_options=pajson.ReadOptions(use_threads=False, block_size=BLOCK_BYTES),
            parse_options=pajson.ParseOptions(
                explicit_schema=explicit, unexpected_field_behavior="ignore" if explicit else "infer"
            ),
        )

    def _raw_batches(self, stream: Any, label: str) -> Iterator[pa.RecordBatch]:
        if self.config.json_reference_node is not None:
            yield from self._referenced(stream)
            return
        yield from self._open(stream, self._raw_schema)

    def _referenced(self, stream: Any) -> Iterator[pa.RecordBatch]:
        # The document is parsed whole: a JSON document has no record boundaries to stream by.
        node = self.config.json_reference_node
        assert node is not None
        document: Any = json.load(io.TextIOWrapper(stream, encoding="utf-8"))
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
            chunk = document[offset:offset + 10_000]
            batch = pa.RecordBatch.from_pylist(chunk, schema=self._raw_schema)
            if self._raw_schema is None:
                self._raw_schema = batch.schema
            yield batch


class ParquetReader(FormatReader):
    """Parquet keeps its schema exactly (types and field metadata); columnList picks and may cast."""

    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        super().__init__(tree, config)
        self._picked: list[tuple[str, ColumnSpec | None]] = []
        self._schema: pa.Schema | None = None

    def _open(self, file: FoundFile) -> pq.ParquetFile:
        return pq.ParquetFile(self.tree.filesystem.open_input_file(file.path))

    def schema(self, first: FoundFile) -> pa.Schema:
        if self._schema is not None:
            return self._schema
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
        self, file: FoundFile, batch_rows: int, row_groups: tuple[int, int] | None = None
    ) -> Iterator[pa.RecordBatch]:
        schema = self._schema
        assert schema is not None, "schema() first"
        names = [name for name, _ in self._picked]
        with _wrapped(self.tree, self.tree.show(file.path)):
            parquet = self._open(file)
            groups = list(range(*row_groups)) if row_groups else None
            for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=groups, columns=names,
                                              use_threads=False):
                arrays = [cast_array(batch.column(name), field.type, name) for name, field in zip(names, schema,
                                                                                                strict=True)]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def reader_for(tree: FileTree, config: SourceConfig) -> FormatReader:
    readers: dict[FileFormat, Callable[[FileTree, SourceConfig], FormatReader]] = {
        FileFormat.CSV: CsvReader, FileFormat.JSON: JsonReader, FileFormat.PARQUET: ParquetReader,
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
