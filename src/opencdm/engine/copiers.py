"""The run's side of its copiers: what each copier event does to the run (``CopierEvents``, the one
dispatcher), for the one copier of the run's own process (``copy_in_this_process``) and for the
copiers an executor runs elsewhere (``copy_in_parallel``)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Protocol

from opencdm.connectors.base import Partition, Sink, Source
from opencdm.engine.copy import PartitionCopier
from opencdm.engine.counters import Counters
from opencdm.engine.dirty import DirtyDataWriter
from opencdm.engine.events import (
    Committed,
    CopierEvent,
    DirtyRows,
    Failed,
    PartitionCommitted,
    Progress,
    Ready,
    Recorded,
    Started,
)
from opencdm.engine.executors import LOCAL, PartitionFailed, executor_for
from opencdm.engine.partitions import Tally
from opencdm.engine.plan import PartitionJob

log = logging.getLogger(__name__)


class Run(Protocol):
    """What copier events act on: the run that started the copiers (engine.runner)."""

    submission_id: int
    counters: Counters

    def check_alive(self) -> None:
        """Raise when the run was stopped or is no longer this worker's."""

    def before_commit(self) -> None:
        """Return once the run may commit (engine.runner: its lease must outlast the commit)."""

    def flush(self) -> None:
        """The counters on their way to the store."""

    def partition_committed(self, index: int, rows: int, counts: tuple[int, ...]) -> None:
        """Partition ``index`` committed on its own with ``rows`` rows, ``counts`` its Tally counts."""


class CopierEvents:
    """What the run makes of its copiers' events: counters, partitions committed on their own,
    dirty rows sent to it, and which copiers are ready to commit or committed."""

    def __init__(self, run: Run, job: PartitionJob, copiers: int, note_committed: Callable[[int], None]) -> None:
        self._run, self._job, self._note_committed = run, job, note_committed
        # Each copier's counts so far: a copier Dask starts again (its worker died, its transaction
        # with it) reports from zero, and what the lost attempt had counted is taken back.
        self._counted = {child: Tally() for child in range(copiers)}
        # Partitions committed on their own (resumable runs), whether this attempt or a lost one did.
        self._noted: set[int] = set()
        self._started: set[int] = set()
        self.ready: set[int] = set()
        self.committed: set[int] = set()
        # Dirty data the copiers send (on Dask), written here: a file per partition, so that the rows
        # a lost attempt sent for a partition it did not commit are dropped when the next one starts.
        self._dirty: dict[int, DirtyDataWriter] = {}
        self._dirty_of_copier: dict[int, set[int]] = {child: set() for child in range(copiers)}

    def handle(self, event: CopierEvent) -> None:
        counters = self._run.counters
        match event:
            case Progress(child, counts):
                counters.add(*counts)
                self._counted[child].add(*counts)
                counters.advance_progress()
            case Started(child, worker):
                lost = self._counted[child].take()
                log.info("submission %s: copier %s started on %s%s", self._run.submission_id, child, worker,
                         " again: its first attempt is lost" if any(lost) else "")
                counters.add(*(-count for count in lost))
                self.ready.discard(child)
                if child in self._started:
                    self._forget_lost_dirty(child)
                self._started.add(child)
            case PartitionCommitted(child, index, rows):
                self._committed_partition(index, rows, self._counted[child].take())  # kept, whatever happens next
            case Recorded(_, index, rows) if index not in self._noted:  # a lost attempt committed it: counted once
                counts = Tally(rows_read=rows, rows_written=rows).take()
                counters.add(*counts)
                self._committed_partition(index, rows, counts)
            case DirtyRows(child, index, rows):
                if index not in self._dirty:
                    self._dirty[index] = self._partition_dirty(index)
                self._dirty[index].record(rows)
                self._dirty_of_copier[child].add(index)
            case Ready(child):
                self.ready.add(child)
            case Committed(child):
                self.committed.add(child)
            case Failed(_, summary, details):
                raise PartitionFailed(summary, details)

    def handle_left(self, events: list[CopierEvent]) -> None:
        """The events copiers sent before they ended, read once the run is over: what they counted,
        committed (recorded even when the run is failing) and left out as dirty data."""
        for event in events:
            if isinstance(event, Progress | PartitionCommitted | Recorded | DirtyRows):
                self.handle(event)

    def close(self) -> None:
        for writer in self._dirty.values():
            writer.close()

    def _committed_partition(self, index: int, rows: int, counts: tuple[int, ...]) -> None:
        self._noted.add(index)
        self._run.partition_committed(index, rows, counts)
        self._note_committed(index)

    def _partition_dirty(self, index: int) -> DirtyDataWriter:
        assert self._job.dirty_place is not None  # copiers send dirty data only with a place for it
        return DirtyDataWriter(self._job.dirty_place, f"{self._job.dirty_file_stem}-partition-{index}.jsonl")

    def _forget_lost_dirty(self, child: int) -> None:
        for index in self._dirty_of_copier[child] - self._noted:
            self._dirty.pop(index).close()
            emptied = self._partition_dirty(index)
            emptied.record([])  # opens it anew, empty: the new attempt records the partition's rows again
            emptied.close()
        self._dirty_of_copier[child] &= self._noted


class _HandledAtOnce:
    """The event queue of the copier in the run's own process."""

    def __init__(self, events: CopierEvents, run: Run) -> None:
        self._events, self._run = events, run

    def put(self, event: CopierEvent) -> None:
        self._events.handle(event)
        self._run.flush()


def copy_in_this_process(run: Run, job: PartitionJob, source: Source, sink: Sink, partitions: list[Partition]) -> None:
    """The run's own process as its one copier, over the run's source and sink, prepared in the
    transaction that the run commits after: counted at every write, committing partitions of a
    resumable run on its own, dirty data in the run's own file."""
    events = CopierEvents(run, job, copiers=1, note_committed=lambda _index: None)
    copier = PartitionCopier(job, 0, _HandledAtOnce(events, run), report_seconds=0)
    dirty = DirtyDataWriter(job.dirty_place, f"{job.dirty_file_stem}.jsonl") if job.dirty_place else None
    try:
        copier.copy(source, sink, partitions, run.check_alive, run.before_commit, lambda _partition: dirty, {})
    except BaseException:
        run.counters.add(*copier.tally.take())  # read since its last write: counted in the run's failure
        raise
    finally:
        if dirty is not None:
            dirty.close()


def copy_in_parallel(run: Run, job: PartitionJob, partitions: list[Partition], executor_name: str,
                     extractors: int) -> None:
    """Copiers on the executor, at most ``extractors``, followed until all committed; the commit is
    ordered once all are ready."""
    executor = executor_for(executor_name, f"opencdm-{uuid.uuid4().hex}-{run.submission_id}")
    copiers = executor.start(job, partitions, extractors)
    where = "processes" if executor_name == LOCAL else f"Dask tasks of {executor_name}"
    log.info("submission %s: %d partitions on %d %s", run.submission_id, len(partitions), copiers, where)
    events = CopierEvents(run, job, copiers, executor.note_committed)
    commit_ordered = False
    try:
        while len(events.committed) < copiers:
            if len(events.ready) < copiers:
                # Once the commit is ordered, a stop comes too late: stopping then would leave the
                # copiers that committed first committed, and the others not.
                run.check_alive()
            event = executor.next_event(0.2)
            if event is not None:
                events.handle(event)
            else:
                executor.check_copiers(events.committed)
            if len(events.ready) == copiers:
                if not commit_ordered:
                    run.before_commit()
                    commit_ordered = True
                executor.order_commit()
            run.flush()
    except BaseException:
        executor.abort()
        raise
    finally:
        try:
            events.handle_left(executor.finish())
        finally:
            events.close()
