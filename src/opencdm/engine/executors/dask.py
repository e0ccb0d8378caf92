"""The Dask executor: copiers as tasks on a distributed cluster, named by a scheduler address.

A Dask copier's events cross the scheduler pickled (``PickledEvents``): its queue carries msgpack,
which knows no dataclass, Decimal or date (dirty rows hold them). The scheduler is trusted like the
server (decision 0009).
"""

from __future__ import annotations

import itertools
import pickle
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from opencdm.connectors.base import Partition
from opencdm.engine.copy import copy_partitions
from opencdm.engine.events import CopierEvent, Started
from opencdm.engine.executors import Executor, PartitionFailed
from opencdm.engine.plan import PartitionJob
from opencdm.errors import JobStopped

# How long a Dask client may take to reach the scheduler.
DASK_CONNECT_SECONDS = 10
# A copier stops when the run that started it has not been heard from for this long (its worker
# process died): it must not commit, nor go on writing, unsupervised.
RUN_SILENCE_SECONDS = 30
# States of a task on its worker once nobody wants its result: the client that submitted it left.
ABANDONED_TASK_STATES = frozenset({"cancelled", "released", "forgotten"})
# How often a Dask copier asks the scheduler whether to stop or commit.
CONTROL_POLL_SECONDS = 0.5


class DaskControl:
    """A Dask copier's view of the run: a Variable the run sets to "copy", "commit" or "abort",
    with a beat the run advances while it lives (compared on the copier's own clock); and the
    copier's own task on its worker, which Dask cancels as soon as the run's client is gone (its
    process was killed): the copier then stops within a check, instead of after RUN_SILENCE_SECONDS
    of silence, and a run that resumes the job does not meet it still committing partitions."""

    def __init__(self, variable: Any, worker: Any, task_key: str) -> None:
        self._variable, self._worker, self._task_key = variable, worker, task_key
        self._state, self._beat = "copy", -1
        self._heard = self._asked = time.monotonic()
        self.committed: frozenset[int] = frozenset()
        # The copy's thread and the thread that cancels its statements on a stop both poll.
        self._polling = threading.Lock()
        self._poll(now=True)

    def _poll(self, now: bool = False) -> None:
        with self._polling:
            moment = time.monotonic()
            if not now and moment - self._asked < CONTROL_POLL_SECONDS:
                return
            self._asked = moment
            state, beat, committed = self._variable.get(timeout=DASK_CONNECT_SECONDS)
            if beat != self._beat:
                self._beat, self._heard = beat, moment
            self._state, self.committed = state, frozenset(committed)

    def _abandoned(self) -> bool:
        # The worker's own record of the task (WorkerState, read from the task's thread: a dict
        # lookup and an attribute, which the GIL keeps whole).
        task = self._worker.state.tasks.get(self._task_key)
        return task is None or task.state in ABANDONED_TASK_STATES

    def stopped(self) -> bool:
        self._poll()
        return self._state == "abort" or self._abandoned() or time.monotonic() - self._heard > RUN_SILENCE_SECONDS

    def check(self) -> None:
        if self.stopped():
            raise JobStopped()

    def commit_ordered(self, timeout: float) -> bool:
        time.sleep(min(timeout, CONTROL_POLL_SECONDS))
        self._poll()
        return self._state == "commit" and not self._abandoned()


class PickledEvents:
    """A copier's side of the run's event queue on the scheduler."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def put(self, event: CopierEvent) -> None:
        self._queue.put(pickle.dumps(event))


def received(pickled: list[bytes]) -> list[CopierEvent]:
    """The events PickledEvents put."""
    return [pickle.loads(event) for event in pickled]  # noqa: S301 - from the trusted scheduler


def copier_key(run_key: str, child: int) -> str:
    return f"{run_key}-copier-{child}"


def copy_on_dask(job: PartitionJob, child: int, partitions: list[Partition], run_key: str) -> str:
    """Body of a Dask copier task: its own share of the partitions, so that a task Dask runs again
    after its worker died copies exactly what the lost attempt had not committed (nothing: an
    attempt commits only at the end, when the run orders it). Returns the worker's address."""
    from distributed import Queue, Variable, get_worker

    events = PickledEvents(Queue(f"{run_key}-events"))
    worker = get_worker()
    address = str(worker.address)
    events.put(Started(child, address))
    control = DaskControl(Variable(f"{run_key}-control"), worker, copier_key(run_key, child))
    # A resumable run's partitions each commit alone: those the run recorded are not copied again.
    left = (partition for partition in partitions if partition.index not in control.committed)
    copy_partitions(job, child, left, events, control, dirty_to_run=True)
    return address


class DaskExecutor(Executor):
    def __init__(self, address: str, run_key: str) -> None:
        try:
            from distributed import Client, Queue, Variable
        except ImportError as exc:
            raise PartitionFailed(
                f"The cluster runs partitions on the Dask scheduler {address}, and this server lacks Dask's "
                "distributed package: install opencdm[dask].", repr(exc),
            ) from exc
        try:
            self._client = Client(address, timeout=DASK_CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            summary = f"The cluster's Dask scheduler {address} cannot be reached: {exc}"
            raise PartitionFailed(summary, repr(exc)) from exc
        self._address, self._run_key, self._lost = address, run_key, False
        self._events = Queue(f"{run_key}-events", client=self._client)
        self._control = Variable(f"{run_key}-control", client=self._client)
        self._state, self._beats, self._committed = "copy", itertools.count(), set[int]()
        self._last_beat = 0.0
        self._futures: list[Any] = []
        self._received: deque[CopierEvent] = deque()
        with self._scheduler():
            self._beat(force=True)

    @contextmanager
    def _scheduler(self) -> Iterator[None]:
        """A call to the scheduler; losing it fails the run (copiers roll back on their own: their
        next check cannot reach the run either)."""
        try:
            yield
        except (OSError, TimeoutError) as exc:
            raise self._scheduler_lost(repr(exc)) from exc

    def _scheduler_lost(self, cause: str) -> PartitionFailed:
        self._lost = True
        return PartitionFailed(
            f"The cluster's Dask scheduler {self._address} was lost during the run: {cause}",
            "The Dask scheduler stopped answering; nothing of an atomic run was committed, and a resumable "
            "run resumes from its committed partitions.",
        )

    def _beat(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_beat >= CONTROL_POLL_SECONDS:
            self._control.set((self._state, next(self._beats), sorted(self._committed)))
            self._last_beat = now

    def start(self, job: PartitionJob, partitions: list[Partition], copiers: int) -> int:
        # A copier holds a worker thread until the run orders the commit: no more copiers than
        # threads, or those that got one would wait for those that never start.
        with self._scheduler():
            threads = sum(self._client.nthreads().values())
            count = max(1, min(copiers, len(partitions), threads))
            self._futures = [
                self._client.submit(
                    copy_on_dask, job, child, partitions[child::count], self._run_key,
                    key=copier_key(self._run_key, child), pure=False,
                )
                for child in range(count)
            ]
        return count

    def next_event(self, timeout: float) -> CopierEvent | None:
        with self._scheduler():
            self._beat()
            if not self._received:
                # Whatever is queued, without waiting on the scheduler: a get that times out there
                # would log a traceback each time.
                self._received.extend(received(self._events.get(batch=True)))
        if not self._received:
            time.sleep(timeout)
            return None
        return self._received.popleft()

    def check_copiers(self, committed: set[int]) -> None:
        if self._client.status != "running":  # its futures are cancelled then, which says less
            raise self._scheduler_lost(f"the client is {self._client.status}")
        for child, future in enumerate(self._futures):
            if child not in committed and future.status in ("error", "cancelled", "lost"):
                raise PartitionFailed(
                    f"A partition task failed on the Dask cluster: {future.exception()!r}"
                    if future.status == "error" else f"A partition task was {future.status} on the Dask cluster.",
                    "The Dask task copying partitions ended without reporting a result.",
                )

    def note_committed(self, index: int) -> None:
        self._committed.add(index)

    def order_commit(self) -> None:
        self._state = "commit"
        with self._scheduler():
            self._beat(force=True)

    def abort(self) -> None:
        self._state = "abort"
        if not self._lost:
            with suppress(PartitionFailed), self._scheduler():  # the run is failing already
                self._beat(force=True)

    def finish(self) -> list[CopierEvent]:
        left: list[CopierEvent] = []
        if not self._lost:
            with suppress(PartitionFailed), self._scheduler():
                # Aborted copiers roll back at their next check; the rest have ended already.
                deadline = time.monotonic() + RUN_SILENCE_SECONDS
                while not all(future.done() for future in self._futures) and time.monotonic() < deadline:
                    time.sleep(0.1)
                self._client.cancel(self._futures)
                left = [*self._received, *received(self._events.get(batch=True))]
                self._events.close()
                self._control.delete()
        self._client.close(timeout=DASK_CONNECT_SECONDS)
        return left
