"""The reader, writer and file name of each row format, chosen by the job's inputFormat or outputFormat
(config.FileFormat; BINARY_FILE has none: see ../binary.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from opencdm.connectors.files.config import FileFormat, SinkConfig, SourceConfig
from opencdm.connectors.files.formats.base import FileWriter, FormatReader
from opencdm.connectors.files.formats.csv import CsvReader, CsvWriter
from opencdm.connectors.files.formats.json import JsonReader, JsonWriter
from opencdm.connectors.files.formats.parquet import ParquetReader, ParquetWriter
from opencdm.connectors.files.tree import FileTree


@dataclass(frozen=True)
class _Format:
    reader: type[FormatReader]
    writer: type[FileWriter]
    extension: str


_FORMATS = {
    FileFormat.CSV: _Format(CsvReader, CsvWriter, ".csv"),
    FileFormat.JSON: _Format(JsonReader, JsonWriter, ".json"),
    FileFormat.PARQUET: _Format(ParquetReader, ParquetWriter, ".parquet"),
}


def reader_for(tree: FileTree, config: SourceConfig) -> FormatReader:
    return _FORMATS[config.format].reader(tree, config)


def writer_for(stream: Any, schema: pa.Schema, config: SinkConfig) -> FileWriter:
    """A writer of ``schema`` into ``stream``, one output file."""
    return _FORMATS[config.format].writer(stream, schema, config)


def file_extension(config: SinkConfig) -> str:
    return _FORMATS[config.format].extension + (".gz" if config.gzipped else "")
