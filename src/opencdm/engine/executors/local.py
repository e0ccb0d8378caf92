"""The local executor: copiers in forked processes of the run's worker."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from typing import Any

from opencdm.connectors.base import Partition
from opencdm.engine.copy import copy_partitions
from opencdm.engine.events import CopierEvent
from opencdm.engine.executors import Executor, PartitionFailed
from opencdm.engine.plan import PartitionJob
from opencdm.errors import JobStopped


@dataclass
class LocalControl:
    commit: Event
    abort: Event
    parent_pid: int

    def stopped(self) -> bool:
        return self.abort.is_set() or os.getppid() != self.parent_pid

    def check(self) -> None:
        if self.stopped():
            raise JobStopped()

    def commit_ordered(self, timeout: float) -> bool:
        return self.commit.wait(timeout)


def _queued(tasks: Any, control: LocalControl) -> Iterator[Partition]:
    """Partitions from the shared queue until this copier's end marker (None)."""
    while True:
        control.check()
        try:
            item: Partition | None = tasks.get(timeout=0.2)
        except queue.Empty:
            continue
        if item is None:
            return
        yield item


def copy_in_process(job: PartitionJob, child: int, tasks: Any, events: Any, control: LocalControl) -> None:
    """Body of a local copier process: partitions from a queue shared with the other copiers."""
    import gc

    gc.freeze()  # as the worker does: see opencdm.engine.worker.freeze_imported_objects
    # Forked: the worker's handlers would only set the worker's stop flag, which a copier never reads,
    # and wake the worker's stop watcher (opencdm.engine.worker) through the pipe they share.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.set_wakeup_fd(-1)
    copy_partitions(job, child, _queued(tasks, control), events, control)


class LocalExecutor(Executor):
    def __init__(self) -> None:
        # Forked, not spawned: a copier starts with the worker's imports done (a spawned one spent
        # about 0.7 s of CPU importing pyarrow, the drivers and the connectors again). It uses none
        # of the worker's connections nor its store, only its own, and the queues (which
        # multiprocessing resets after a fork); it leaves with os._exit, closing nothing inherited.
        self._context = multiprocessing.get_context("fork")
        self._events = self._context.Queue()
        self._commit, self._abort = self._context.Event(), self._context.Event()
        self._processes: list[Any] = []

    def start(self, job: PartitionJob, partitions: list[Partition], copiers: int) -> int:
        # Kept by the executor: a child that unpickles it after the parent dropped it finds its
        # semaphore gone.
        self._tasks = tasks = self._context.Queue()
        count = min(copiers, len(partitions))
        for partition in partitions:
            tasks.put(partition)
        for _ in range(count):
            tasks.put(None)  # one end marker per copier
        control = LocalControl(self._commit, self._abort, os.getpid())
        self._processes = [
            self._context.Process(
                target=copy_in_process, args=(job, child, tasks, self._events, control),
                name=f"opencdm-partition-{child}",
            )
            for child in range(count)
        ]
        for process in self._processes:
            process.start()
        return count

    def next_event(self, timeout: float) -> CopierEvent | None:
        try:
            event: CopierEvent = self._events.get(timeout=timeout)
            return event
        except queue.Empty:
            return None

    def check_copiers(self, committed: set[int]) -> None:
        for child, process in enumerate(self._processes):
            if process.exitcode is not None and child not in committed:
                raise PartitionFailed(
                    f"A partition process ended unexpectedly (exit code {process.exitcode}).",
                    "The process copying partitions ended without reporting a result.",
                )

    def note_committed(self, index: int) -> None:
        pass  # a local copier is never run again within its run

    def order_commit(self) -> None:
        self._commit.set()

    def abort(self) -> None:
        self._abort.set()

    def finish(self) -> list[CopierEvent]:
        for process in self._processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        left: list[CopierEvent] = []
        while True:
            try:
                left.append(self._events.get_nowait())
            except queue.Empty:
                return left
