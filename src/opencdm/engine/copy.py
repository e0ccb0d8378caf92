"""The copy loop, one for every path: a copier copies its partitions from source to sink and tells
its run what happened as events (engine.events), which the run follows (engine.copiers).

The run's own process is a copier over the run's source and sink when it copies alone. Otherwise
each copier (a process of the worker, or a Dask task: see engine.executors) opens its own source
and sink, copies its partitions, then waits: the run tells every copier to commit once all of them
have written everything, or to roll back as soon as one fails or the job is stopped. So either
every partition's rows are committed, or none (short of a crash between two copiers' commits). In
a resumable run each partition commits on its own instead.
"""

from __future__ import annotations

import contextlib
import functools
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from opencdm.connectors.base import Partition, Sink, Source
from opencdm.engine.dirty import DirtyDataWriter, DirtyRecorder, DirtyRowsToRun
from opencdm.engine.events import Committed, EventQueue, Failed, PartitionCommitted, Progress, Ready, Recorded
from opencdm.engine.partitions import Tally, cancel_statements, cancelled_when_stopped, copy_partition
from opencdm.engine.plan import PartitionJob, open_ends
from opencdm.errors import CdmError, JobStopped

# How often a copier in another process reports its counts.
PROGRESS_SECONDS = 0.5


class PartitionCopier:
    """Copies partitions from an open source to an open sink, attached for the job (Sink.attach),
    counting as it goes; the counts go to ``events`` at most every ``report_seconds``."""

    def __init__(self, job: PartitionJob, child: int, events: EventQueue, report_seconds: float) -> None:
        self.job, self.child, self.events = job, child, events
        self.tally = Tally()
        self._report_seconds = report_seconds
        self._last_report = time.monotonic()

    def report(self, force: bool = False) -> None:
        if force or time.monotonic() - self._last_report >= self._report_seconds:
            self.events.put(Progress(self.child, self.tally.take()))
            self._last_report = time.monotonic()

    def copy(
        self, source: Source, sink: Sink, partitions: Iterable[Partition], check: Callable[[], None],
        before_partition_commit: Callable[[], None], dirty: Callable[[Partition], DirtyRecorder | None],
        recorded: dict[int, int],
    ) -> None:
        """Copy ``partitions``; ``check`` runs before each chunk, so a stop lands between chunks. A
        resumable run commits each partition once ``before_partition_commit`` lets it; a partition
        in ``recorded`` (committed by a lost attempt: index → rows) is reported, not copied again.
        Ends with the last counts and Ready."""
        job, child = self.job, self.child
        for partition in partitions:
            if partition.index in recorded:  # the run counts it unless it heard of it already
                self.events.put(Recorded(child, partition.index, recorded[partition.index]))
                continue
            partition_rows = 0
            for result in copy_partition(
                source, sink, partition, job.native, job.batch_rows, self.tally, check, job.max_rejected,
                dirty(partition),
            ):
                self.tally.count_written(result)
                partition_rows += result.rows
                self.report()
            if job.resumable_plan is not None:
                before_partition_commit()
                sink.commit_partition(job.resumable_plan, partition.index, partition_rows)
                self.report(force=True)  # the committed partition's counts, before the run notes it committed
                self.events.put(PartitionCommitted(child, partition.index, partition_rows))
                sink.attach(job.schema, job.native)
        self.report(force=True)
        self.events.put(Ready(child))


class RunControl(Protocol):
    """What a copier in another process asks of the run that started it."""

    def stopped(self) -> bool:
        """Whether the run was stopped, failed elsewhere or is gone (asked from any thread)."""

    def check(self) -> None:
        """Raise JobStopped when the run was stopped, failed elsewhere or is gone."""

    def commit_ordered(self, timeout: float) -> bool:
        """Whether the run ordered the commit, waiting at most about ``timeout`` seconds."""


def copy_partitions(
    job: PartitionJob, child: int, partitions: Iterator[Partition], events: EventQueue, control: RunControl,
    dirty_to_run: bool = False,
) -> None:
    """A copier in a process of its own: opens its ends, copies ``partitions`` in one transaction (or
    one each, with ``job.resumable_plan``), and commits when the run orders it (Committed), or
    rolls back (Failed when it failed). With ``dirty_to_run`` (a copier on another machine) its
    dirty data goes to the run as DirtyRows instead of being written here."""
    copier = PartitionCopier(job, child, events, PROGRESS_SECONDS)

    def fail(summary: str, details: str) -> None:
        _rollback(sink)
        copier.report(force=True)  # what it read and wrote since its last report: written, then rolled back
        events.put(Failed(child, summary, details))

    source = sink = None
    written_here = (
        DirtyDataWriter(job.dirty_place, f"{job.dirty_file_stem}-{child}.jsonl")
        if job.dirty_place and not dirty_to_run else None
    )

    def dirty(partition: Partition) -> DirtyRecorder | None:
        if job.dirty_place is not None and dirty_to_run:
            return DirtyRowsToRun(events, child, partition.index)
        return written_here

    try:
        source, sink = open_ends(job.ends, job.max_rejected is not None, lambda _source: job.cursor)
        with cancelled_when_stopped(control.stopped, functools.partial(cancel_statements, source, sink), poll=0.2):
            # A copier run again (its Dask worker died) finds what its lost attempt committed.
            recorded = sink.committed_partitions(job.resumable_plan) if job.resumable_plan else {}
            sink.attach(job.schema, job.native)
            copier.copy(source, sink, partitions, control.check, control.check, dirty, recorded)
            while job.resumable_plan is None and not control.commit_ordered(0.2):
                control.check()
        sink.commit()
        events.put(Committed(child))
    except JobStopped:
        _rollback(sink)
    except CdmError as exc:
        fail(exc.message, f"{exc.code}: {exc.message}")
    except Exception as exc:
        fail(f"{type(exc).__name__}: {exc}", traceback.format_exc())
    finally:
        for end in (source, sink):
            if end is not None:
                end.close()
        if written_here is not None:
            written_here.close()


def _rollback(sink: Sink | None) -> None:
    if sink is None:
        return
    # The connection is about to be closed, and the database rolls back then anyway.
    with contextlib.suppress(Exception):
        sink.rollback()
