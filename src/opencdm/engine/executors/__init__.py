"""Where a job's partition copiers run: processes of this worker (``local``), or tasks on a Dask
cluster (a scheduler address, ``tcp://host:8786``), named by the job's cluster.

Either way a copier is ``engine.copy.copy_partitions``: it opens its own source and sink, so rows
never pass through the run, the API server or the Dask scheduler; only small events (engine.events:
counters, Ready, Committed, Failed) come back, and the run answers with commit or abort. The
executors are in ``local.py`` and ``dask.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from opencdm.connectors.base import Partition
from opencdm.engine.events import CopierEvent
from opencdm.engine.plan import PartitionJob

LOCAL = "local"
DASK_SCHEME = "tcp://"


class PartitionFailed(Exception):
    """A copier failed: (summary, details)."""


def is_executor(value: str) -> bool:
    return value == LOCAL or (value.startswith(DASK_SCHEME) and len(value) > len(DASK_SCHEME))


class Executor(ABC):
    """Runs copiers for one run and passes their events on."""

    @abstractmethod
    def start(self, job: PartitionJob, partitions: list[Partition], copiers: int) -> int:
        """Start at most ``copiers`` copiers over ``partitions``; return how many started."""

    @abstractmethod
    def next_event(self, timeout: float) -> CopierEvent | None:
        """The next copier event, None after ``timeout`` seconds without one."""

    @abstractmethod
    def check_copiers(self, committed: set[int]) -> None:
        """Raise PartitionFailed when a copier not in ``committed`` ended without saying how."""

    @abstractmethod
    def note_committed(self, index: int) -> None:
        """Partition ``index`` was committed on its own (a resumable run): a copier run again skips it."""

    @abstractmethod
    def order_commit(self) -> None: ...

    @abstractmethod
    def abort(self) -> None: ...

    @abstractmethod
    def finish(self) -> list[CopierEvent]:
        """Wait for the copiers to end (they roll back when aborted); the events left unread."""


def executor_for(name: str, run_key: str) -> Executor:
    # Imported here: both modules build on Executor, above.
    from opencdm.engine.executors.dask import DaskExecutor
    from opencdm.engine.executors.local import LocalExecutor

    return LocalExecutor() if name == LOCAL else DaskExecutor(name, run_key)
