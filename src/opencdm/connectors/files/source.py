"""A file job's source: the files the job's paths name, read as one stream of batches.

Files are split across extractors: a partition is a group of files (balanced by size), and a
Parquet file may be cut into ranges of row groups when there are fewer files than extractors.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.fs as pafs

from opencdm.connectors.base import Partition, Source
from opencdm.connectors.files.config import FileFormat, SourceConfig
from opencdm.connectors.files.formats import ParquetReader, reader_for
from opencdm.connectors.files.tree import FileTree, FoundFile
from opencdm.errors import CdmError

# (path, first row group, end row group) with None, None for the whole file; size for balancing.
Unit = tuple[str, int | None, int | None]


class FileSource(Source):
    def __init__(self, tree: FileTree, config: SourceConfig) -> None:
        self._tree = tree
        self._config = config
        self._reader = reader_for(tree, config)
        self._files: list[FoundFile] | None = None

    def _listed(self) -> list[FoundFile]:
        if self._files is None:
            config = self._config
            if config.marker_file is not None:
                self._check_marker(config.marker_file)
            files = self._tree.list_files(config.paths, config.filter, skip=config.marker_file)
            if not files:
                raise CdmError(
                    "Cdm.0420", f"The source file or directory does not exist: no file to read in "
                    f"{', '.join(config.paths)} (after the filters)."
                )
            self._files = files
        return self._files

    def _check_marker(self, marker: str) -> None:
        """useMarkerFile: the job reads a directory only once the marker file is there (we do not
        wait for it: the run fails, to be started again)."""
        for relative in self._config.paths:
            path = self._tree.path(relative)
            directory = path if self._tree.info(path).type == pafs.FileType.Directory else posixpath.dirname(path)
            marker_path = posixpath.join(directory, marker)
            if self._tree.info(marker_path).type != pafs.FileType.File:
                raise CdmError(
                    "Cdm.0420",
                    f"The marker file {self._tree.show(marker_path)} does not exist (fromJobConfig.useMarkerFile).",
                )

    def schema(self) -> pa.Schema:
        return self._reader.schema(self._listed()[0])

    def estimate_rows(self) -> int | None:
        return self._reader.estimate_rows(self._listed())

    def partitions(self, max_partitions: int) -> list[Partition]:
        files = self._listed()
        if max_partitions <= 1:
            return [Partition(0)]
        units: list[tuple[Unit, int]] = [((file.path, None, None), file.size) for file in files]
        if self._config.format is FileFormat.PARQUET and len(files) < max_partitions:
            units = self._row_group_ranges(files, max_partitions)
        # Largest first into the least loaded group; each group then reads in path order.
        groups: list[tuple[int, list[Unit]]] = [(0, []) for _ in range(min(max_partitions, len(units)))]
        for unit, size in sorted(units, key=lambda item: -item[1]):
            lightest = min(range(len(groups)), key=lambda index: groups[index][0])
            load, members = groups[lightest]
            groups[lightest] = (load + size, [*members, unit])
        return [
            Partition(index, {"units": sorted(members, key=lambda u: (u[0], u[1] or 0))})
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

    def read(self, partition: Partition, batch_rows: int) -> Iterator[pa.RecordBatch]:
        files = self._listed()
        self.schema()
        units: list[Unit] = partition.spec.get("units") or [(file.path, None, None) for file in files]
        for path, start, end in units:
            row_groups = (start, end) if start is not None and end is not None else None
            yield from self._reader.read(FoundFile(path, 0), batch_rows, row_groups)
