"""nas-connector: files on the server's machine, under a link's root directory.

The operator allows directories with OPENCDM_FILE_ROOTS; a link's root must be inside one of them,
and every job path inside the link's root, symlinks and ``..`` resolved. Unset, nas links are refused.
Whatever the roots, nothing of the server's own data directory is reachable (see local_paths).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, BinaryIO

import pyarrow.fs as pafs

from opencdm.connectors.base import ConfigGroup, Connector, InputSpec, Sink, Source
from opencdm.connectors.files.binary import carried_as_is, open_file_source
from opencdm.connectors.files.config import (
    SINK_UNUSED,
    SOURCE_UNUSED,
    SinkConfig,
    SourceConfig,
    sink_input_names,
    sink_table_job,
    source_input_names,
)
from opencdm.connectors.files.sink import FileSink
from opencdm.connectors.files.tree import FileTree
from opencdm.connectors.inputs import UNSET, ignored, required, text
from opencdm.connectors.local_paths import allowed_local_path, is_server_private
from opencdm.errors import CdmError

ROOT_INPUT = "linkConfig.rootDirectory"
# CDM's nas link names a share (linkConfig.server); here, a share the operator mounted on the server.
SHARE_INPUT = "linkConfig.server"
_MOUNTED = (
    "the share is read through the server's own file system, where its operator mounts it "
    "(linkConfig.rootDirectory or linkConfig.server: the mount point)."
)
# The link inputs CDM documents for nas-connector (cdm-connectors-more.md §2) that mean nothing here.
LINK_UNUSED = (
    ignored("linkConfig.protocol", _MOUNTED, UNSET),
    ignored("linkConfig.username", _MOUNTED, UNSET),
    ignored("linkConfig.password", _MOUNTED, UNSET),
)


def _root(link: Mapping[str, str]) -> str:
    """The link's root, checked against the directories the operator allows."""
    share = text(link, SHARE_INPUT)
    if text(link, ROOT_INPUT) is None and share is not None:
        if share.startswith("\\\\") or ":" in share:
            raise CdmError(
                "Cdm.0014",
                f"{SHARE_INPUT} [{share}] is a network share, which OpenCDM does not mount: mount it on the "
                f"server and give its mount point as {ROOT_INPUT} (inside OPENCDM_FILE_ROOTS).",
            )
        return allowed_local_path(SHARE_INPUT, share)
    return allowed_local_path(ROOT_INPUT, required(link, ROOT_INPUT))


class LocalTree(FileTree):
    """The local file system under a root directory that job paths cannot leave."""

    def __init__(self, root: str) -> None:
        super().__init__(pafs.LocalFileSystem(), os.path.realpath(root))

    def path(self, relative: str) -> str:
        # CDM writes job paths from "/", meaning the link's root.
        joined = os.path.realpath(os.path.join(self.root, relative.lstrip("/")))
        refusal = self.refusal(joined)
        if refusal is not None:
            raise CdmError("Cdm.0250", f"Cannot operate on path: {relative} ({refusal}).")
        return joined

    def show(self, path: str) -> str:
        return "/" + os.path.relpath(path, self.root).removeprefix(".")

    def refusal(self, path: str) -> str | None:
        real = os.path.realpath(path)
        if os.path.commonpath([self.root, real]) != self.root:
            return "it leads outside the link's root directory"
        if is_server_private(real):
            return "it leads into the server's own data directory, which no link can reach"
        return None

    # Checked again where files are made or renamed: a path may have become a symlink since.
    def create(self, path: str) -> Any:
        self._check(path)
        return super().create(path)

    def move(self, source: str, destination: str) -> None:
        self._check(source)
        self._check(destination)
        super().move(source, destination)

    def _check(self, path: str) -> None:
        refusal = self.refusal(path)
        if refusal is not None:
            raise CdmError("Cdm.0250", f"Cannot operate on path: {self.show(path)} ({refusal}).")


def _tree(link: Mapping[str, str]) -> LocalTree:
    return LocalTree(_root(link))


class NasConnector(Connector):
    name = "nas-connector"
    # Files are numbered in the order one writer writes them: a resumed run would number anew.
    commits_partitions_alone = False
    link_inputs = (
        InputSpec(ROOT_INPUT, size=1024),
        InputSpec(SHARE_INPUT, size=1024),
        InputSpec("linkConfig.protocol", "ENUM", choices=("NFS", "CIFS", "SMB")),
        InputSpec("linkConfig.username", size=256),
        InputSpec("linkConfig.password", sensitive=True, size=256),
    )
    source_inputs = source_input_names(with_bucket=False)
    sink_inputs = sink_input_names(with_bucket=False)
    unused_inputs = (*LINK_UNUSED, *SOURCE_UNUSED, *SINK_UNUSED)

    def check_link_inputs(self, link: Mapping[str, str]) -> None:
        _root(link)

    def validate_link(self, link: Mapping[str, str]) -> None:
        root = _root(link)
        given = text(link, ROOT_INPUT) or text(link, SHARE_INPUT)
        if not os.path.isdir(root):
            raise CdmError("Cdm.0420", f"The source file or directory does not exist: {given}")
        if not os.access(root, os.R_OK | os.X_OK):
            raise CdmError("Cdm.0250", f"Cannot operate on path: {given} (not readable by the server).")

    def check_from_job(self, link: Mapping[str, str], from_job: Mapping[str, str]) -> None:
        tree = _tree(link)
        for path in SourceConfig.parse(from_job, with_bucket=False).paths:
            tree.path(path)

    def check_to_job(self, link: Mapping[str, str], to_job: Mapping[str, str]) -> None:
        _tree(link).path(SinkConfig.parse(to_job, with_bucket=False).directory)

    def table_job(self, group: ConfigGroup, job: Mapping[str, str], table: str, prepared: bool) -> dict[str, str]:
        if group == "fromJobConfig":
            return super().table_job(group, job, table, prepared)
        return sink_table_job(job, table)

    def carries_as_is(self, job: Mapping[str, str]) -> str | None:
        return carried_as_is(job)

    def server_disk_place(self, link: Mapping[str, str]) -> str | None:
        return f"the nas directory {_root(link)}"

    def open_source(self, link: Mapping[str, str], from_job: Mapping[str, str]) -> Source:
        return open_file_source(_tree(link), SourceConfig.parse(from_job, with_bucket=False))

    def open_sink(self, link: Mapping[str, str], to_job: Mapping[str, str]) -> Sink:
        return FileSink(_tree(link), SinkConfig.parse(to_job, with_bucket=False))

    def check_output(self, link: Mapping[str, str], bucket: str | None, path: str) -> None:
        _tree(link).path(path)

    def open_output(self, link: Mapping[str, str], bucket: str | None, path: str) -> BinaryIO:
        stream: BinaryIO = _tree(link).open_new(path)
        return stream
