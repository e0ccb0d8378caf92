"""fromJobConfig / toJobConfig of the file connectors (nas-connector, obs-connector), parsed once.

Input names and values follow CDM (docs/cdm-api.md §7.4); ours are marked in docs/connectors/files.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import pyarrow as pa

from opencdm.connectors.inputs import (
    UNSET,
    boolean,
    columns,
    enum_value,
    ignored,
    names,
    refuse_unsupported,
    refused,
    required,
    text,
)
from opencdm.connectors.types import JSON, TIMESTAMP, TIMESTAMP_TZ, decimal_type, make_field
from opencdm.errors import CdmError

FILE_SEPARATOR = "|"
NEWLINES = ("\n", "\r\n", "\r")
BYTES_PER_MB = 1024 * 1024
# The smallest byte range a CSV file is cut into for several extractors: a file is cut only when
# worth it, since it costs one pass over the file looking for quote characters
# (CsvReader.splittable) and a few small reads per range to find its first line.
SPLIT_BYTES = 16 * BYTES_PER_MB


class FileFormat(Enum):
    CSV = "CSV_FILE"
    JSON = "JSON_FILE"
    PARQUET = "PARQUET_FILE"
    # Files copied as they are, between file links only (see binary.py).
    BINARY = "BINARY_FILE"


class Compression(Enum):
    NONE = "NONE"
    GZIP = "GZIP"
    ZIP = "ZIP"


class FilterType(Enum):
    NONE = "NONE"
    WILDCARD = "WILDCARD"
    TIME = "TIME"


class DuplicateFileOp(Enum):
    REPLACE = "REPLACE"
    SKIP = "SKIP"
    ABANDON = "ABANDON"


ENCODINGS = {"UTF_8": "utf-8", "UTF-8": "utf-8", "UTF8": "utf-8", "GBK": "gbk", "GB18030": "gb18030"}
PARQUET_CODECS = ("snappy", "zstd", "gzip", "lz4", "brotli", "none")
TEXT_CODECS = ("none", "gzip")

# Column types a columnList may declare (ours: "name:type"); SQL spellings and Arrow names.
_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(), "text": pa.string(), "varchar": pa.string(),
    "tinyint": pa.int8(), "int8": pa.int8(),
    "smallint": pa.int16(), "int16": pa.int16(),
    "int": pa.int32(), "integer": pa.int32(), "int32": pa.int32(),
    "bigint": pa.int64(), "int64": pa.int64(), "long": pa.int64(),
    "real": pa.float32(), "float": pa.float32(), "float32": pa.float32(),
    "double": pa.float64(), "float64": pa.float64(),
    "boolean": pa.bool_(), "bool": pa.bool_(),
    "date": pa.date32(), "time": pa.time64("us"),
    "timestamp": TIMESTAMP, "timestamptz": TIMESTAMP_TZ,
}
_DECIMAL = re.compile(r"^(?:decimal|numeric)\((\d+),\s*(\d+)\)$")
_VARCHAR = re.compile(r"^(?:varchar|character varying)\((\d+)\)$")


def _unescape(value: str) -> str:
    r"""Separators may be written as escapes (``\t``, ``\u0001``), as CDM's console accepts them."""
    return re.sub(
        r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[tnr0\\])",
        lambda m: {"t": "\t", "n": "\n", "r": "\r", "0": "\0", "\\": "\\"}.get(m.group(1))
        or chr(int(m.group(1)[1:], 16)),
        value,
    )


def _invalid(name: str, value: str, why: str) -> CdmError:
    return CdmError("Cdm.0014", f"The parameter is invalid: {name} [{value}] {why}.")


def _single_char(inputs: Mapping[str, object], name: str, default: str) -> str:
    raw = inputs.get(name)
    value = _unescape(str(raw)) if raw not in (None, "") else default
    if len(value) != 1:
        raise _invalid(name, str(raw), "must be one character (multi-character separators are not supported)")
    return value


def _quote_char(inputs: Mapping[str, object], name: str) -> str | None:
    """CDM's quoteChar is a boolean (use ``"``); ours may also name the character itself."""
    value = text(inputs, name)
    if value is None or value.lower() == "true":
        return '"'
    if value.lower() == "false":
        return None
    if len(value) != 1:
        raise _invalid(name, value, "must be true, false or one character")
    return value


def _line_separator(inputs: Mapping[str, object], name: str, default: str) -> str:
    raw = inputs.get(name)
    value = _unescape(str(raw)) if raw not in (None, "") else default
    if value not in NEWLINES:
        raise _invalid(name, str(raw), r"must be \n, \r\n or \r")
    return value


def _encoding(inputs: Mapping[str, object], name: str) -> str:
    value = text(inputs, name) or "UTF_8"
    codec = ENCODINGS.get(value.upper())
    if codec is None:
        raise _invalid(name, value, f"must be one of {', '.join(sorted(ENCODINGS))}")
    return codec


def _choice(inputs: Mapping[str, object], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (text(inputs, name) or default).lower()
    if value not in allowed:
        raise _invalid(name, value, f"must be one of {', '.join(allowed)}")
    return value


def _megabytes(inputs: Mapping[str, object], name: str) -> int | None:
    """A size in MB (fractions allowed) as bytes, at least 1."""
    value = text(inputs, name)
    if value is None:
        return None
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = -1
    if not megabytes > 0:
        raise _invalid(name, value, "must be a positive number of MB")
    return max(1, int(megabytes * BYTES_PER_MB))


def _null_values(inputs: Mapping[str, object], name: str) -> tuple[str, ...]:
    """Markers separated by ``,``, taken as written (``\\N`` is a backslash and an N)."""
    value = text(inputs, name)
    if value is None:
        return ()
    markers = tuple(dict.fromkeys(marker.strip() for marker in value.split(",") if marker.strip()))
    if not markers:
        raise _invalid(name, value, "must name at least one marker, e.g. NA or NA,NULL,\\N")
    return markers


def _file_format(inputs: Mapping[str, object], name: str) -> FileFormat:
    required(inputs, name)
    return enum_value(inputs, name, FileFormat, FileFormat.CSV)


@dataclass(frozen=True)
class ColumnSpec:
    """One entry of a file columnList: a 1-based column number (CDM) or a name (ours), and
    optionally the type to read it as (ours, ``name:decimal(12,2)``)."""

    number: int | None
    name: str | None
    type: pa.DataType | None
    logical: str | None = None
    length: int | None = None  # varchar(n): a table created from the column gets that length

    def field(self, name: str) -> pa.Field:
        assert self.type is not None
        return make_field(name, self.type, length=self.length, logical=self.logical)


def parse_type(text: str, input_name: str) -> tuple[pa.DataType, str | None, int | None]:
    """A declared column type as (Arrow type, opencdm logical type, character length)."""
    spelled = text.strip().lower()
    if spelled == "json":
        return pa.string(), JSON, None
    if spelled in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[spelled], None, None
    match = _DECIMAL.match(spelled)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2))
        if not precision > 0 or scale > precision:
            raise _invalid(input_name, text, "is not a valid decimal(precision,scale)")
        return decimal_type(precision, scale), None, None
    match = _VARCHAR.match(spelled)
    if match and int(match.group(1)) > 0:
        return pa.string(), None, int(match.group(1))
    allowed = ", ".join([*_SIMPLE_TYPES, "json", "decimal(p,s)", "varchar(n)"])
    raise _invalid(input_name, text, f"is not a known type ({allowed})")


def _column_specs(inputs: Mapping[str, object], name: str) -> tuple[ColumnSpec, ...] | None:
    value = text(inputs, name)
    if value is None:
        return None
    specs = []
    for entry in value.split("&"):
        column, _, declared = entry.strip().partition(":")
        column = column.strip()
        if not column:
            raise _invalid(name, value, "contains an empty column")
        type_, logical, length = parse_type(declared, name) if declared.strip() else (None, None, None)
        if column.isdigit():
            if int(column) < 1:
                raise _invalid(name, value, "numbers columns from 1")
            specs.append(ColumnSpec(int(column), None, type_, logical, length))
        else:
            specs.append(ColumnSpec(None, column, type_, logical, length))
    keys = [spec.number if spec.number is not None else spec.name for spec in specs]
    if len(set(keys)) != len(keys):
        raise CdmError("Cdm.1116", f"Duplicate column names in {name} [{value}].")
    return tuple(specs)


def _time(inputs: Mapping[str, object], name: str) -> datetime | None:
    value = text(inputs, name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(name, value, "must be a time like 2024-01-31 08:00:00") from None
    # A time without an offset is the server's local time.
    return moment if moment.tzinfo is not None else moment.astimezone()


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str
    quote: str | None
    line_separator: str
    header: bool
    encoding: str

    @classmethod
    def parse(cls, inputs: Mapping[str, object], side: str, default_line_separator: str) -> CsvOptions:
        return cls(
            delimiter=_single_char(inputs, f"{side}.fieldSeparator", ","),
            quote=_quote_char(inputs, f"{side}.quoteChar"),
            line_separator=_line_separator(inputs, f"{side}.lineSeparator", default_line_separator),
            header=boolean(inputs, f"{side}.firstRowAsHeader"),
            encoding=_encoding(inputs, f"{side}.encodeType"),
        )


@dataclass(frozen=True)
class FileFilter:
    type: FilterType
    path_patterns: tuple[str, ...]
    file_patterns: tuple[str, ...]
    start: datetime | None
    end: datetime | None

    @classmethod
    def parse(cls, inputs: Mapping[str, object]) -> FileFilter:
        filter_type = enum_value(inputs, "fromJobConfig.filterType", FilterType, FilterType.NONE)
        # Older job samples say useWildCard / useTimeFilter instead of filterType.
        if filter_type is FilterType.NONE and boolean(inputs, "fromJobConfig.useWildCard"):
            filter_type = FilterType.WILDCARD
        if filter_type is FilterType.NONE and boolean(inputs, "fromJobConfig.useTimeFilter"):
            filter_type = FilterType.TIME

        def patterns(name: str) -> tuple[str, ...]:
            return tuple(p.strip() for p in (text(inputs, name) or "").split(",") if p.strip())

        start = _time(inputs, "fromJobConfig.startTime")
        end = _time(inputs, "fromJobConfig.endTime")
        if filter_type is FilterType.TIME and start is None and end is None:
            raise CdmError("Cdm.0238", "fromJobConfig.startTime and fromJobConfig.endTime cannot both be empty.")
        wildcard = filter_type is FilterType.WILDCARD
        return cls(
            type=filter_type,
            path_patterns=patterns("fromJobConfig.pathFilter") if wildcard else (),
            file_patterns=patterns("fromJobConfig.fileFilter") if wildcard else (),
            start=start if filter_type is FilterType.TIME else None,
            end=end if filter_type is FilterType.TIME else None,
        )


_UNDESCRIBED = "CDM documents no meaning for it (it appears only in CDM's samples)."
_NO_DECRYPTION = "files are read as they are: decrypting AES-256-GCM files is not implemented."
_NO_ENCRYPTION = (
    "files are written unencrypted: encrypting them (KMS, AES-256-GCM) is not implemented; use the "
    "storage's own encryption at rest."
)
_MD5_NEXT_TO_COPY = "with toJobConfig.validateMD5 each copy's MD5 is recorded in a <file>.md5 next to it."
# The inputs CDM documents for the file connectors' jobs (docs/cdm-api.md §7.4,
# cdm-connectors-more.md §1.2, §1.3, §4) that mean nothing here; the others are read below.
# docs/inputs.md lists them all.
SOURCE_UNUSED = (
    refused("fromJobConfig.regexSeparator", "fields are cut at fromJobConfig.fieldSeparator, one character."),
    ignored("fromJobConfig.regex", "it is read only with fromJobConfig.regexSeparator=true, which is not "
            "supported.", UNSET),
    ignored("fromJobConfig.splitType", "files are cut by size for several extractors "
            "(fromJobConfig.splitFileSize), never counted out by file.", ("", "SIZE")),
    refused("fromJobConfig.fromFileOpType", "source files are left as they are after a run: renaming or "
            "deleting them is not implemented.", ("", "DO_NOTHING")),
    ignored("fromJobConfig.waitTime", "a run does not wait for the marker file: without it the run fails at "
            "once (as with waitTime 0), to be started again.", ("", "0")),
    refused("fromJobConfig.decryption", _NO_DECRYPTION, ("", "NONE")),
    refused("fromJobConfig.dek", _NO_DECRYPTION, UNSET),
    refused("fromJobConfig.iv", _NO_DECRYPTION, UNSET),
    refused("fromJobConfig.md5FileSuffix", "checking files against MD5 files beside them is not implemented; "
            "toJobConfig.validateMD5 checks each copy against the bytes read.", UNSET),
    refused("fromJobConfig.listTextFile", "reading the files a list file names is not implemented: name them in "
            "fromJobConfig.inputDirectory, separated by fromJobConfig.fileSeparator."),
    ignored("fromJobConfig.nonexistentPathDisregard", "a path that does not exist fails the run."),
)
SINK_UNUSED = (
    refused("toJobConfig.encryption", _NO_ENCRYPTION, ("", "NONE")),
    refused("toJobConfig.dek", _NO_ENCRYPTION, UNSET),
    refused("toJobConfig.iv", _NO_ENCRYPTION, UNSET),
    refused("toJobConfig.kmsID", _NO_ENCRYPTION, UNSET),
    ignored("toJobConfig.projectID", "it names the project of a KMS key, and files are written unencrypted.",
            UNSET),
    refused("toJobConfig.recordMD5Link", _MD5_NEXT_TO_COPY, UNSET),
    refused("toJobConfig.recordMD5Bucket", _MD5_NEXT_TO_COPY, UNSET),
    refused("toJobConfig.recordMD5Directory", _MD5_NEXT_TO_COPY, UNSET),
    refused("toJobConfig.columnList", "a file's columns are the source's, in its order: choose them with "
            "fromJobConfig.columnList.", UNSET),
    ignored("toJobConfig.copyContentType", "objects are written without a Content-Type of their own."),
    refused("toJobConfig.shouldClearTable", "a file destination is not emptied before a run (files of the same "
            "name are handled as toJobConfig.duplicateFileOpType says): write each run into a directory of its "
            "own, e.g. with a date macro in toJobConfig.outputDirectory."),
    ignored("toJobConfig.useCustomDirectory", _UNDESCRIBED),
)

# What SourceConfig.parse reads (CsvOptions and FileFilter included), but the bucket (source_input_names).
_SOURCE_INPUTS = names(
    "fromJobConfig", "inputDirectory", "fileSeparator", "inputFormat", "fromCompression",
    "useMarkerFile", "markerFile", "columnList", "jsonReferenceNode", "splitFileSize",
    "fieldSeparator", "quoteChar", "lineSeparator", "firstRowAsHeader", "encodeType",
    "filterType", "useWildCard", "useTimeFilter", "pathFilter", "fileFilter", "startTime", "endTime",
    "nullValue",
)


def source_input_names(with_bucket: bool) -> frozenset[str]:
    """The input names ``SourceConfig.parse`` reads, called with ``with_bucket``."""
    return _SOURCE_INPUTS | (names("fromJobConfig", "bucketName") if with_bucket else frozenset())


@dataclass(frozen=True)
class SourceConfig:
    bucket: str | None
    paths: tuple[str, ...]
    format: FileFormat
    csv: CsvOptions
    compression: Compression
    columns: tuple[ColumnSpec, ...] | None
    json_reference_node: str | None
    filter: FileFilter
    marker_file: str | None  # set when useMarkerFile is true
    # Ours, splitFileSize: the smallest byte range a CSV file is cut into for several extractors.
    split_bytes: int = SPLIT_BYTES
    # Ours, nullValue: texts read as NULL besides the empty field (R's and pandas' NA, MySQL's \N).
    null_values: tuple[str, ...] = ()

    @classmethod
    def parse(cls, from_job: Mapping[str, object], with_bucket: bool) -> SourceConfig:
        side = "fromJobConfig"
        refuse_unsupported(from_job, SOURCE_UNUSED)
        separator = text(from_job, f"{side}.fileSeparator") or FILE_SEPARATOR
        raw_paths = required(from_job, f"{side}.inputDirectory")
        paths = tuple(path.strip() for path in raw_paths.split(separator) if path.strip())
        if not paths:
            raise CdmError("Cdm.0238", f"{side}.inputDirectory cannot be empty.")
        file_format = _file_format(from_job, f"{side}.inputFormat")
        compression = enum_value(from_job, f"{side}.fromCompression", Compression, Compression.NONE)
        if file_format is FileFormat.PARQUET and compression is not Compression.NONE:
            raise CdmError(
                "Cdm.0014",
                f"{side}.fromCompression must be NONE for PARQUET_FILE (Parquet compresses inside the file).",
            )
        marker = text(from_job, f"{side}.markerFile") if boolean(from_job, f"{side}.useMarkerFile") else None
        if boolean(from_job, f"{side}.useMarkerFile") and marker is None:
            raise CdmError("Cdm.0238", f"{side}.markerFile cannot be empty.")
        return cls(
            bucket=required(from_job, f"{side}.bucketName") if with_bucket else None,
            paths=paths,
            format=file_format,
            csv=CsvOptions.parse(from_job, side, "\n"),
            compression=compression,
            columns=_column_specs(from_job, f"{side}.columnList"),
            json_reference_node=text(from_job, f"{side}.jsonReferenceNode"),
            filter=FileFilter.parse(from_job),
            marker_file=marker,
            split_bytes=_megabytes(from_job, f"{side}.splitFileSize") or SPLIT_BYTES,
            null_values=_null_values(from_job, f"{side}.nullValue"),
        )


# What SinkConfig.parse reads (CsvOptions and _check_binary_inputs included), but the bucket
# (sink_input_names).
_SINK_INPUTS = names(
    "toJobConfig", "outputDirectory", "outputFormat", "compression", "writeFileSize",
    "fileNamePrefix", "filePrefix", "markerFile", "validateMD5", "recordMD5Result", "writeToTempFile", "partitionBy",
    "duplicateFileOpType", "fieldSeparator", "quoteChar", "lineSeparator", "firstRowAsHeader", "encodeType",
)


def sink_input_names(with_bucket: bool) -> frozenset[str]:
    """The input names ``SinkConfig.parse`` reads, called with ``with_bucket``."""
    return _SINK_INPUTS | (names("toJobConfig", "bucketName") if with_bucket else frozenset())


@dataclass(frozen=True)
class SinkConfig:
    bucket: str | None
    directory: str
    format: FileFormat
    csv: CsvOptions
    compression: str  # "none", "gzip" for CSV/JSON; a Parquet codec for PARQUET_FILE
    write_file_size: int | None  # bytes
    duplicate: DuplicateFileOp
    marker_file: str | None
    file_prefix: str
    # BINARY_FILE: each copy read back and compared with the MD5 of the bytes read, then recorded.
    validate_md5: bool = False
    # Hive-style key=value/ directories, by these source columns (left out of the files).
    partition_by: tuple[str, ...] = ()

    @property
    def gzipped(self) -> bool:
        """CSV or JSON written through GZIP (Parquet compresses inside the file, by its codec)."""
        return self.format is not FileFormat.PARQUET and self.compression == "gzip"

    @classmethod
    def parse(cls, to_job: Mapping[str, object], with_bucket: bool) -> SinkConfig:
        side = "toJobConfig"
        refuse_unsupported(to_job, SINK_UNUSED)
        file_format = _file_format(to_job, f"{side}.outputFormat")
        csv = CsvOptions.parse(to_job, side, "\n")
        if csv.quote not in (None, '"'):
            raise _invalid(
                f"{side}.quoteChar", csv.quote, 'must be true or false when writing (values are quoted with ")'
            )
        if file_format is FileFormat.PARQUET:
            compression = _choice(to_job, f"{side}.compression", PARQUET_CODECS, "snappy")
        else:
            compression = _choice(to_job, f"{side}.compression", TEXT_CODECS, "none")
        write_file_size = _megabytes(to_job, f"{side}.writeFileSize")
        # CDM's filePrefix, or fileNamePrefix, ours from before we knew CDM's name.
        prefix_input = f"{side}.filePrefix" if text(to_job, f"{side}.filePrefix") else f"{side}.fileNamePrefix"
        prefix = text(to_job, prefix_input) or "part"
        marker = text(to_job, f"{side}.markerFile")
        for name, value in ((prefix_input, prefix), (f"{side}.markerFile", marker)):
            if value is not None and ("/" in value or value in (".", "..") or value.startswith(".")):
                raise _invalid(name, value, "must be a plain file name")
        # Whatever its value, every file is written under a temporary name and moved at commit (sink.py).
        boolean(to_job, f"{side}.writeToTempFile")
        validate_md5 = boolean(to_job, f"{side}.validateMD5")
        partition_by = columns(to_job, f"{side}.partitionBy") or ()
        _check_binary_inputs(to_job, file_format, compression, write_file_size, validate_md5, partition_by)
        return cls(
            bucket=required(to_job, f"{side}.bucketName") if with_bucket else None,
            directory=required(to_job, f"{side}.outputDirectory"),
            format=file_format,
            csv=csv,
            compression=compression,
            write_file_size=write_file_size,
            duplicate=enum_value(to_job, f"{side}.duplicateFileOpType", DuplicateFileOp, DuplicateFileOp.REPLACE),
            marker_file=marker,
            file_prefix=prefix,
            validate_md5=validate_md5,
            partition_by=partition_by,
        )


# Characters of a table name written as %XX in its directory's name: path separators, the escape
# itself, macro braces (``${...}`` in a path is a date macro), and control characters; a leading
# "." too, so that no table becomes ".", ".." or a hidden directory. The rest (unicode included) stays.
_UNSAFE_IN_DIRECTORY = frozenset("/\\%{}") | frozenset(map(chr, [*range(0x20), 0x7F]))


def table_directory(table: str) -> str:
    """The directory name of ``table`` in an entire-database job: the name itself, its unsafe
    characters escaped as %XX of their UTF-8 bytes (so that two tables never share a directory)."""

    def escaped(char: str) -> str:
        return "".join(f"%{byte:02X}" for byte in char.encode())

    name = "".join(escaped(char) if char in _UNSAFE_IN_DIRECTORY else char for char in table)
    return escaped(".") + name[1:] if name.startswith(".") else name


def sink_table_job(to_job: Mapping[str, str], table: str) -> dict[str, str]:
    """The toJobConfig of the sub-job that writes ``table`` of an entire-database job: its files in
    ``<outputDirectory>/<table>/``, as Parquet unless the job names another format."""
    inputs = dict(to_job)
    directory = text(to_job, "toJobConfig.outputDirectory")
    if directory is not None:  # else SinkConfig.parse says it is missing
        inputs["toJobConfig.outputDirectory"] = f"{directory.rstrip('/')}/{table_directory(table)}"
    if text(to_job, "toJobConfig.outputFormat") is None:
        inputs["toJobConfig.outputFormat"] = FileFormat.PARQUET.value
    return inputs


def _check_binary_inputs(
    to_job: Mapping[str, object],
    file_format: FileFormat,
    compression: str,
    write_file_size: int | None,
    validate_md5: bool,
    partition_by: tuple[str, ...],
) -> None:
    """Destination inputs that only make sense with, or without, files copied as they are."""
    side = "toJobConfig"
    # The result of validateMD5 is always recorded, next to each copy.
    if boolean(to_job, f"{side}.recordMD5Result") and not validate_md5:
        raise _invalid(f"{side}.recordMD5Result", "true", "records the check of toJobConfig.validateMD5: set it too")
    if file_format is not FileFormat.BINARY:
        if validate_md5:
            raise _invalid(f"{side}.validateMD5", "true", "applies to BINARY_FILE copies only")
        return
    if partition_by:
        raise _invalid(f"{side}.partitionBy", "&".join(partition_by), "needs columns: not with BINARY_FILE")
    if write_file_size is not None:
        raise _invalid(
            f"{side}.writeFileSize", str(text(to_job, f"{side}.writeFileSize")), "does not apply to BINARY_FILE"
        )
    if compression != "none":
        raise _invalid(
            f"{side}.compression", compression, "does not apply to BINARY_FILE (bytes are copied as they are)"
        )
