"""Where a file job's paths live: a pyarrow FileSystem and the root job paths are relative to.

Paths handed to pyarrow are full paths of that FileSystem (``/srv/data/in.csv``,
``bucket/dir/in.csv``); each connector's tree (nas.LocalTree, obs.BucketTree) says how a job
path maps to one and how it is shown in messages.
"""

from __future__ import annotations

import fnmatch
import posixpath
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow.fs as pafs

from opencdm.connectors.files.config import FileFilter, FilterType
from opencdm.errors import CdmError

if TYPE_CHECKING:
    from opencdm.connectors.files.s3 import S3Endpoint

# Files whose name starts with one of these are skipped when a directory is listed: our own
# temporaries (".opencdm-tmp-…") and the usual markers of other tools ("_SUCCESS", ".crc").
# Empty files are skipped too (marker files such as toJobConfig.markerFile hold no rows).
HIDDEN_PREFIXES = (".", "_")


@dataclass(frozen=True)
class FoundFile:
    path: str  # full path in the FileSystem
    size: int


class FileTree(ABC):
    """A FileSystem and the root job paths are relative to."""

    def __init__(self, filesystem: pafs.FileSystem, root: str) -> None:
        self.filesystem = filesystem
        self.root = root

    @abstractmethod
    def path(self, relative: str) -> str:
        """The full path of a job path."""

    @abstractmethod
    def show(self, path: str) -> str:
        """A full path as the user knows it, for messages."""

    def refusal(self, path: str) -> str | None:
        """Why a path found by listing is not one the job may read; None when it is."""
        return None

    def s3_endpoint(self) -> S3Endpoint | None:
        """The object storage the tree is a bucket of; None for a local tree."""
        return None

    def error(self, exc: OSError, what: str, code: str = "Cdm.0416") -> CdmError:
        """A storage failure as a CdmError; ``what`` says what failed, e.g. "read /in/a.csv"."""
        return CdmError(code, f"Failed to {what}: {exc}")

    # --- listing ----------------------------------------------------------------------------
    def info(self, path: str) -> pafs.FileInfo:
        try:
            return self.filesystem.get_file_info(path)
        except OSError as exc:
            raise self.error(exc, f"get the status of {self.show(path)}", "Cdm.0240") from exc

    def list_files(self, relative_paths: tuple[str, ...], file_filter: FileFilter, skip: str | None) -> list[FoundFile]:
        """The files named by the job's paths (directories are walked), filtered, in path order;
        ``skip`` is a file name to leave out (the marker file)."""
        found: dict[str, FoundFile] = {}
        for relative in relative_paths:
            path = self.path(relative)
            info = self.info(path)
            if info.type == pafs.FileType.NotFound:
                raise CdmError("Cdm.0420", f"The source file or directory does not exist: {relative}")
            if info.type == pafs.FileType.File:
                if _time_matches(info, file_filter):
                    found[path] = FoundFile(path, info.size or 0)
                continue
            try:
                listed = self.filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
            except OSError as exc:
                raise self.error(exc, f"list {self.show(path)}") from exc
            for entry in listed:
                if entry.type != pafs.FileType.File or entry.base_name == skip or not entry.size:
                    continue
                inner = posixpath.relpath(entry.path, path)
                if any(part.startswith(HIDDEN_PREFIXES) for part in inner.split("/")):
                    continue
                refusal = self.refusal(entry.path)
                if refusal is not None:
                    raise CdmError("Cdm.0250", f"Cannot operate on path: {self.show(entry.path)} ({refusal}).")
                if _wildcard_matches(inner, file_filter) and _time_matches(entry, file_filter):
                    found[entry.path] = FoundFile(entry.path, entry.size or 0)
        return [found[path] for path in sorted(found)]

    def check_marker(self, relative_paths: tuple[str, ...], marker: str) -> None:
        """useMarkerFile: a job reads a directory only once the marker file is there (we do not wait
        for it: the run fails, to be started again)."""
        for relative in relative_paths:
            path = self.path(relative)
            directory = path if self.info(path).type == pafs.FileType.Directory else posixpath.dirname(path)
            marker_path = posixpath.join(directory, marker)
            if self.info(marker_path).type != pafs.FileType.File:
                raise CdmError(
                    "Cdm.0420",
                    f"The marker file {self.show(marker_path)} does not exist (fromJobConfig.useMarkerFile).",
                )

    # --- writing ----------------------------------------------------------------------------
    def make_directory(self, path: str) -> None:
        try:
            self.filesystem.create_dir(path, recursive=True)
        except OSError as exc:
            raise self.error(exc, f"create directory {self.show(path)}", "Cdm.0246") from exc

    def move(self, source: str, destination: str) -> None:
        try:
            self.filesystem.move(source, destination)
        except OSError as exc:
            raise self.error(exc, f"rename {self.show(source)} to {self.show(destination)}", "Cdm.0243") from exc

    def delete(self, path: str) -> None:
        try:
            self.filesystem.delete_file(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self.error(exc, f"delete file {self.show(path)}", "Cdm.0245") from exc

    def open_new(self, relative: str) -> Any:
        """An output stream to a new file at a job path, its directory made if needed."""
        path = self.path(relative)
        self.make_directory(posixpath.dirname(path))
        return self.create(path)

    def create(self, path: str) -> Any:
        """An output stream to a new file (replacing any file of that name)."""
        try:
            # compression=None: pyarrow would otherwise gzip a file named *.gz on its own, on top of
            # what the writer compresses (and a BINARY_FILE copy of a .gz file).
            return self.filesystem.open_output_stream(path, compression=None)
        except OSError as exc:
            raise self.error(exc, f"create file {self.show(path)}", "Cdm.0244") from exc


def nothing_to_read(relative_paths: tuple[str, ...]) -> CdmError:
    """A source job whose paths hold no file to read, once filtered."""
    return CdmError(
        "Cdm.0420",
        f"The source file or directory does not exist: no file to read in "
        f"{', '.join(relative_paths)} (after the filters).",
    )


def _wildcard_matches(inner: str, file_filter: FileFilter) -> bool:
    """pathFilter matches the file's directory below the input directory, fileFilter its name;
    several patterns are separated by commas."""
    if file_filter.type is not FilterType.WILDCARD:
        return True
    directory, name = posixpath.split(inner)
    if file_filter.file_patterns and not any(fnmatch.fnmatchcase(name, p) for p in file_filter.file_patterns):
        return False
    return not file_filter.path_patterns or any(
        fnmatch.fnmatchcase(directory, p) for p in file_filter.path_patterns
    )


def _time_matches(info: pafs.FileInfo, file_filter: FileFilter) -> bool:
    """TIME: files modified at or after startTime and before endTime."""
    if file_filter.type is not FilterType.TIME:
        return True
    modified: datetime | None = info.mtime
    if modified is None:
        return True
    if modified.tzinfo is None:
        modified = modified.astimezone()
    if file_filter.start is not None and modified < file_filter.start:
        return False
    return file_filter.end is None or modified < file_filter.end
