"""Dirty data: the rows a destination refused or a source could not read, kept as JSON lines
``{"row": {...}, "reason": "..."}`` (a source's rows also name their ``file`` and ``line``, and a
line that could not be cut into fields is kept as its ``text``).

With ``throttlingConfig.maxErrorRecords`` above 0 such rows are left out and counted as
ROWS_WRITTEN_SKIPPED (and, from a source, as read); a partition with more fails the run. With
``throttlingConfig.recordDirtyData=true`` they are also written, one file per process of the run,
to ``throttlingConfig.dirtyDataDirectory`` on the file link ``throttlingConfig.writeToLink`` (in
``throttlingConfig.obsBucket`` for object storage), or else under the server's data directory, in
a folder of the job's project and the job's own (``server_directory``).

A copier on a Dask worker, maybe on another machine, writes none itself: it sends its rows to the
run (``DirtyRowsToRun``), whose server writes them, one file per partition with dirty rows.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from opencdm.connectors import get_connector
from opencdm.connectors.base import Partition, RejectedRow, WriteResult
from opencdm.engine.events import DirtyRows, EventQueue
from opencdm.errors import CdmError
from opencdm.store.private import open_private, private_directory


@dataclass(frozen=True)
class DirtyDataPlace:
    """Where a run's dirty data goes: ``directory`` on a link, or a local directory (no link)."""

    directory: str
    link_connector: str | None = None
    link: dict[str, str] | None = None
    bucket: str | None = None


def server_directory(home: Path, project_id: str, job_name: str) -> Path:
    """Where a job's dirty data goes without a link: the server's data directory, in a folder per
    project (jobs of two projects may share a name) and per job; each run's files name the run."""
    return home / "dirty-data" / project_id / job_name


def run_stem(job_name: str, submission_id: int) -> str:
    """The start of the names of a run's dirty-data files: ``<stem>.jsonl``, written by the run's
    own process, and ``<stem>-<suffix>.jsonl``, by its copiers."""
    return f"{job_name}-{submission_id}"


def run_files(directory: Path, stem: str) -> list[Path]:
    """The dirty-data files of the run named by ``stem`` in ``directory``, in name order."""
    if not directory.is_dir():
        return []
    return sorted(
        path for path in directory.iterdir()
        if path.name == f"{stem}.jsonl" or (path.name.startswith(f"{stem}-") and path.name.endswith(".jsonl"))
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | dt.timedelta):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class DirtyDataWriter:
    """One process's file of dirty data, created with its first row."""

    def __init__(self, place: DirtyDataPlace, file_name: str) -> None:
        self._place = place
        self._file_name = file_name
        self._stream: BinaryIO | None = None

    def _open(self) -> BinaryIO:
        place = self._place
        path = f"{place.directory.rstrip('/')}/{self._file_name}"
        if place.link_connector is None:
            # Under the server's data directory, which is its owner's only (store.private).
            private_directory(Path(place.directory))
            return os.fdopen(open_private(Path(path)), "wb")
        assert place.link is not None
        return get_connector(place.link_connector).open_output(place.link, place.bucket, path)

    def record(self, rows: Sequence[RejectedRow]) -> None:
        if self._stream is None:
            self._stream = self._open()
        for row in rows:
            record: dict[str, Any] = {"row": row.values, "reason": row.reason}
            place = {"file": row.file, "line": row.line, "text": row.text}
            record.update({key: value for key, value in place.items() if value is not None})
            line = json.dumps(record, default=_jsonable, ensure_ascii=False)
            self._stream.write(line.encode() + b"\n")

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


class DirtyRecorder(Protocol):
    def record(self, rows: Sequence[RejectedRow]) -> None: ...


class DirtyRowsToRun:
    """A Dask copier's dirty rows of one partition, sent to its run (events.DirtyRows) for the run's
    server to record: the place may be the server's data directory or a nas directory, which a
    worker on another machine cannot see."""

    def __init__(self, events: EventQueue, child: int, partition: int) -> None:
        self._events, self._child, self._partition = events, child, partition

    def record(self, rows: Sequence[RejectedRow]) -> None:
        self._events.put(DirtyRows(self._child, self._partition, tuple(rows)))


def with_source_rejects(results: Iterator[WriteResult], take: Callable[[], list[RejectedRow]]) -> Iterator[WriteResult]:
    """The sink's results with the rows the source left out (``take``) added to their rejected
    rows, and one more result for those left out after the last batch."""
    for result in results:
        taken = take()
        if taken:
            result.rejected = [*taken, *result.rejected]
        yield result
    taken = take()
    if taken:
        yield WriteResult(rejected=taken)


def with_rejects_handled(
    results: Iterator[WriteResult], partition: Partition, writer: DirtyRecorder | None, max_rejected: int
) -> Iterator[WriteResult]:
    """The results, their rejected rows recorded, failing once the partition rejected more than
    ``max_rejected``."""
    rejected = 0
    for result in results:
        if result.rejected:
            rejected += len(result.rejected)
            if writer is not None:
                writer.record(result.rejected)
            if rejected > max_rejected:
                raise CdmError(
                    "Cdm.0936",
                    f"The number of dirty-data records reached the limit: partition {partition.index} had "
                    f"{rejected} rows refused or unreadable, more than throttlingConfig.maxErrorRecords "
                    f"({max_rejected}). "
                    f"Last reason: {_described(result.rejected[-1])}",
                )
        yield result


def _described(row: RejectedRow) -> str:
    if row.file is None:
        return row.reason
    return f"File {row.file}{'' if row.line is None else f', line {row.line}'}: {row.reason}"
