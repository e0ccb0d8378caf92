"""CSV files: read with ``pyarrow.csv.open_csv`` block by block, as text typed as text.py says; written
with Arrow's CSV writer. An uncompressed file may be read in byte ranges, each from its first line
start (``CsvReader.splittable``); a record left out is placed at its line by reading the stream once
more alongside (``CsvLineFinder``). Separators, quoting, header and encoding: config.CsvOptions.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from opencdm.connectors.files.config import Compression, CsvOptions, SinkConfig, SourceConfig
from opencdm.connectors.files.formats.base import FileWriter
from opencdm.connectors.files.formats.streams import (
    BLOCK_BYTES,
    ParseError,
    byte_chunks,
    from_first_text,
    line_start,
    read_errors,
    text_streams,
)
from opencdm.connectors.files.formats.text import LineFinder, StreamRead, TextReader, is_binary, text_columns
from opencdm.connectors.files.tree import FileTree, FoundFile
from opencdm.errors import CdmError


class CsvReader(TextReader):
    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        super().__init__(tree, config)
        self._names: list[str] = []

    def _parse_options(self, state: StreamRead | None = None) -> pacsv.ParseOptions:
        options = self.config.csv

        def invalid_row(row: pacsv.InvalidRow) -> str:
            assert state is not None
            state.invalid.append(row)
            return "skip"  # placed and handed over (or failing the read) by StreamRead.settle

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
        with read_errors(self.tree, label), self.tree.filesystem.open_input_file(file.path) as raw:
            tail = b""
            for chunk in byte_chunks(raw, 0):
                if mark in tail + chunk:
                    return False
                tail = chunk[-(len(mark) - 1) :] if len(mark) > 1 else b""
        return True

    def _line_range(self, file: FoundFile, piece: tuple[int, int]) -> tuple[int, int]:
        """The bytes of a nominal range [start, end) to read: from the first line that starts in
        it to the end of the last line that starts in it (past ``end`` if that line crosses it)."""
        newline = self._newline()
        with read_errors(self.tree, self.tree.show(file.path)), self.tree.filesystem.open_input_file(file.path) as raw:
            return line_start(raw, piece[0], newline), line_start(raw, piece[1], newline)

    def header_rows(self, byte_range: tuple[int, int] | None) -> int:
        # Only the file's first line is a header: a range further in starts with data.
        return 1 if self.config.csv.header and (byte_range is None or byte_range[0] == 0) else 0

    def schema(self, files: list[FoundFile], known: pa.Schema | None = None) -> pa.Schema:
        first = files[0]
        if not self._names:
            # Column names come from the first record of the first file (its header, or col1..colN);
            # every file is read with them, so all files must have the same columns.
            record: list[str] = from_first_text(
                self.tree, first, self.config, lambda stream: next(self._python_csv(stream), [])
            )
            if not record:
                raise CdmError(
                    "Cdm.0015", f"Failed to parse the file content of {self.tree.show(first.path)}: it is empty."
                )
            self._names = record if self.config.csv.header else [f"col{i + 1}" for i in range(len(record))]
        return super().schema(files, known)

    def _raw_batches(self, stream: Any, state: StreamRead) -> Iterator[pa.RecordBatch]:
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
                first_line += sum(chunk.count(newline) for chunk in byte_chunks(raw, 0, byte_range[0]))
        streams = text_streams(self.tree, file, self.config, byte_range)
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


class CsvWriter(FileWriter):
    def __init__(self, stream: Any, schema: pa.Schema, config: SinkConfig) -> None:
        super().__init__(stream, schema, config)
        options: CsvOptions = config.csv
        text_schema = pa.schema([
            pa.field(field.name, pa.string()) if is_binary(field.type) else field.remove_metadata()
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
        self._writer.write_batch(pa.RecordBatch.from_arrays(text_columns(batch), schema=self._text_schema))

    def close(self) -> None:
        self._writer.close()
        if self._target is not self._stream:
            self._target.close()
        super().close()
