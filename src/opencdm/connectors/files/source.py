"""A file job's source: the files the job's paths name, read as one stream of batches.

Files are split across extractors: a partition is a group of files and pieces of files (balanced
by size). A Parquet file may be cut into ranges of row groups when there are fewer files than
extractors; an uncompressed CSV file larger than its share of the job (and than splitFileSize)
into byte ranges, each read from its first line start (see CsvReader.splittable).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator

import pyarrow as pa

from opencdm.connectors.base import Partition, RejectedRow, Source
from opencdm.connectors.files.config import FileFormat, SourceConfig
from opencdm.connectors.files.formats.choice import reader_for
from opencdm.connectors.files.formats.parquet import ParquetReader
from opencdm.connectors.files.tree import FileTree, FoundFile, nothing_to_read

# (path, start, end): a range of row groups (Parquet) or bytes (CSV), None, None for the whole file.
Unit = tuple[str, int | None, int | None]


class FileSource(Source):
    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        self._tree = tree
        self._config = config
        self._reader = reader_for(tree, config)
        self._files: list[FoundFile] | None = None
        self._rejected: list[RejectedRow] = []
        self._into: list[pa.Field | None] = []  # the destination's fields (convert_into)

    def _listed(self) -> list[FoundFile]:
        if self._files is None:
            config = self._config
            if config.marker_file is not None:
                self._tree.check_marker(config.paths, config.marker_file)
            files = self._tree.list_files(config.paths, config.filter, skip=config.marker_file)
            if not files:
                raise nothing_to_read(config.paths)
            self._files = files
        return self._files

    def schema(self) -> pa.Schema:
        return self._reader.schema(self._listed())

    def convert_into(self, fields: list[pa.Field | None]) -> None:
        self._into = fields  # applied by read, once the reader has the schema the run planned

    def take_bytes_read(self) -> int | None:
        taken, self._reader.bytes_read = self._reader.bytes_read, 0
        return taken

    def take_rejected(self) -> list[RejectedRow]:
        rows = list(self._rejected)
        self._rejected.clear()  # the list itself: read() hands rows to its append
        return rows

    def estimate_rows(self) -> int | None:
        return self._reader.estimate_rows(self._listed())

    def partitions(self, max_partitions: int) -> list[Partition]:
        files = self._listed()
        # The types inferred from every file travel with each partition: a copier in another
        # process reads with them rather than reading every file again.
        planned = {"schema": base64.b64encode(self.schema().serialize().to_pybytes()).decode()}
        if max_partitions <= 1:
            return [Partition(0, planned)]
        units: list[tuple[Unit, int]] = [((file.path, None, None), file.size) for file in files]
        if self._config.format is FileFormat.PARQUET and len(files) < max_partitions:
            units = self._row_group_ranges(files, max_partitions)
        elif self._config.format is FileFormat.CSV:
            units = self._byte_ranges(files, max_partitions)
        # Largest first into the least loaded group; each group then reads in path order.
        groups: list[tuple[int, list[Unit]]] = [(0, []) for _ in range(min(max_partitions, len(units)))]
        for unit, size in sorted(units, key=lambda item: -item[1]):
            lightest = min(range(len(groups)), key=lambda index: groups[index][0])
            load, members = groups[lightest]
            groups[lightest] = (load + size, [*members, unit])
        return [
            Partition(index, {**planned, "units": sorted(members, key=lambda u: (u[0], u[1] or 0))})
            for index, (_, members) in enumerate(groups)
        ]

    def _row_group_ranges(self, files: list[FoundFile], max_partitions: int) -> list[tuple[Unit, int]]:
        reader = self._reader
        assert isinstance(reader, ParquetReader)
        total = sum(file.size for file in files) or 1
        units: list[tuple[Unit, int]] = []
        for file in files:
            groups = reader.row_groups(file)
            pieces = max(1, min(groups, round(max_partitions * file.size / total)))
            bounds = [round(index * groups / pieces) for index in range(pieces + 1)]
            for start, end in zip(bounds, bounds[1:], strict=False):
                if end > start:
                    units.append(((file.path, start, end), file.size * (end - start) // max(groups, 1)))
        return units

    def _byte_ranges(self, files: list[FoundFile], max_partitions: int) -> list[tuple[Unit, int]]:
        # A file larger than its share of the job is cut into pieces of about that share.
        share = max(self._config.split_bytes, math.ceil(sum(file.size for file in files) / max_partitions))
        units: list[tuple[Unit, int]] = []
        for file in files:
            if file.size <= share or not self._reader.splittable(file):
                units.append(((file.path, None, None), file.size))
                continue
            pieces = math.ceil(file.size / share)
            bounds = [index * file.size // pieces for index in range(pieces)] + [file.size]
            units.extend(((file.path, start, end), end - start) for start, end in zip(bounds, bounds[1:], strict=False))
        return units

    def read(self, partition: Partition, batch_rows: int) -> Iterator[pa.RecordBatch]:
        files = self._listed()
        planned = partition.spec.get("schema")
        self._reader.schema(files, pa.ipc.read_schema(pa.py_buffer(base64.b64decode(planned))) if planned else None)
        self._reader.convert_into(self._into)
        units: list[Unit] = partition.spec.get("units") or [(file.path, None, None) for file in files]
        reject = self._rejected.append if self.skip_rejected_rows else None
        for path, start, end in units:
            piece = (start, end) if start is not None and end is not None else None
            yield from self._reader.read(FoundFile(path, 0), batch_rows, piece, reject)
