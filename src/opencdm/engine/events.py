"""What a copier tells the run that started it (engine.copy → engine.copiers).

Frozen dataclasses, so that they pickle: they cross process boundaries (a local copier's queue) and
the Dask scheduler (pickled whole by engine.executors.dask). ``child`` is the copier's number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from opencdm.connectors.base import RejectedRow


@dataclass(frozen=True)
class Started:
    """A Dask copier began on ``worker`` (again, if its first worker died)."""

    child: int
    worker: str


@dataclass(frozen=True)
class Progress:
    """What the copier read and wrote since its last report, in the order of ``Tally.take``."""

    child: int
    counts: tuple[int, ...]


@dataclass(frozen=True)
class PartitionCommitted:
    """A resumable run's partition, committed on its own with ``rows`` rows."""

    child: int
    index: int
    rows: int


@dataclass(frozen=True)
class Recorded:
    """A partition that a lost attempt of the copier committed, found recorded in the destination."""

    child: int
    index: int
    rows: int


@dataclass(frozen=True)
class DirtyRows:
    """Rows of partition ``index`` left out as dirty data, for the run's server to record (a copier
    on another machine cannot see where the run keeps them)."""

    child: int
    index: int
    rows: tuple[RejectedRow, ...]


@dataclass(frozen=True)
class Ready:
    """The copier wrote everything and waits for the commit order."""

    child: int


@dataclass(frozen=True)
class Committed:
    child: int


@dataclass(frozen=True)
class Failed:
    """The copier failed and rolled back."""

    child: int
    summary: str
    details: str


CopierEvent = Started | Progress | PartitionCommitted | Recorded | DirtyRows | Ready | Committed | Failed


class EventQueue(Protocol):
    """Where a copier puts its events."""

    def put(self, event: CopierEvent, /) -> object: ...
