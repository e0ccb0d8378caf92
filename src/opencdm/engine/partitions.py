"""One partition from source to sink (``copy_partition``), what it counts (``Tally``), and the
cancelling of the statements a stopped run's ends are running. The loop over a run's partitions is
engine.copy."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from opencdm.connectors import values
from opencdm.connectors.base import (
    NativeChunk,
    NativeFormat,
    Partition,
    Refused,
    RejectedRow,
    Sink,
    Source,
    WriteResult,
)
from opencdm.engine.dirty import DirtyRecorder, with_rejects_handled, with_source_rejects
from opencdm.errors import CdmError

log = logging.getLogger(__name__)

# A stopped run cancels its ends' statements again this often until it has rolled back: a
# statement that began just after a cancel request went out must not block the stop.
CANCEL_AGAIN_SECONDS = 1.0
Chunk = TypeVar("Chunk", pa.RecordBatch, NativeChunk)


@dataclass
class Tally:
    rows_read: int = 0
    bytes_read: int = 0
    rows_written: int = 0
    bytes_written: int = 0
    rows_updated: int = 0
    rows_skipped: int = 0

    def count_read(self, chunk: pa.RecordBatch | NativeChunk, stored_bytes: int | None = None) -> None:
        """A chunk read, and the bytes the source read for it where it counts them (Source.take_bytes_read)."""
        if isinstance(chunk, NativeChunk):
            self.rows_read += chunk.rows
            self.bytes_read += len(chunk.data) if stored_bytes is None else stored_bytes
        else:
            self.rows_read += chunk.num_rows
            self.bytes_read += chunk.nbytes if stored_bytes is None else stored_bytes

    def count_written(self, result: WriteResult) -> None:
        self.rows_written += result.rows
        self.bytes_written += result.bytes
        self.rows_updated += result.updated
        self.rows_skipped += len(result.rejected)

    def add(self, *counts: int) -> None:
        """Add counts in the order of ``take``."""
        for counter, count in zip(fields(Tally), counts, strict=True):
            setattr(self, counter.name, getattr(self, counter.name) + count)

    def counts(self) -> tuple[int, ...]:
        """The counts, in the order ``add`` takes them."""
        return tuple(getattr(self, counter.name) for counter in fields(Tally))

    def take(self) -> tuple[int, ...]:
        """The counts since the last take."""
        counts = self.counts()
        for counter in fields(Tally):
            setattr(self, counter.name, 0)
        return counts


def copy_partition(
    source: Source,
    sink: Sink,
    partition: Partition,
    native: NativeFormat | None,
    batch_rows: int,
    tally: Tally,
    check: Callable[[], None],
    max_rejected: int | None = None,
    dirty: DirtyRecorder | None = None,
) -> Iterator[WriteResult]:
    """One partition from source to sink, natively when they agreed on a format, counting what is
    read; ``check`` runs before each chunk, so a stop lands between chunks. With ``max_rejected``
    the sink leaves out the rows it refuses (recorded by ``dirty``), up to that many."""

    def counted(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
        for chunk in chunks:
            check()
            tally.count_read(chunk, source.take_bytes_read())
            yield chunk
        tally.bytes_read += source.take_bytes_read() or 0  # read after the last chunk (e.g. a file's end)

    left_out: list[RejectedRow] = []  # rows holding values the sink cannot hold, with maxErrorRecords
    if native is not None:
        results = sink.write_native(counted(source.read_native(partition)))
    else:
        source.convert_into(sink.target_fields())
        batches = counted(source.read(partition, batch_rows))
        results = sink.write(held_values(batches, source, sink, None if max_rejected is None else left_out))
    if max_rejected is None:
        return results

    def source_rejected() -> list[RejectedRow]:
        rows = source.take_rejected()
        tally.rows_read += len(rows)  # read, then skipped: rows read = written + skipped still holds
        held = left_out[:]  # counted as read with their batch
        left_out.clear()
        return [*rows, *held]

    return with_rejects_handled(with_source_rejects(results, source_rejected), partition, dirty, max_rejected)


def held_values(
    batches: Iterator[pa.RecordBatch], source: Source, sink: Sink, left_out: list[RejectedRow] | None = None
) -> Iterator[pa.RecordBatch]:
    """``batches``, failing on the first value the sink cannot hold (``Sink.refused_values``), with
    its column, its row (by the source's ``row_key``, else its position in the partition) and the
    value named, rather than letting the destination change it or fail without saying where. Given
    ``left_out`` (a run with maxErrorRecords), the rows holding such values are left out of their
    batch and added to it, as dirty data, instead."""
    position = 0
    key = source.row_key()  # asked before the read begins: a connection may not serve two queries at once
    for batch in batches:
        refused = {
            name: found
            for index, (name, array) in enumerate(zip(batch.schema.names, batch.columns, strict=True))
            if (found := sink.refused_values(index, array)) is not None
        }
        held = batch
        if refused:
            any_refused = functools.reduce(pc.or_, (found.rows for found in refused.values()))
            if left_out is None:
                first = _refusal(batch, pc.index(any_refused, True).as_py(), position, key, refused)
                raise CdmError("Cdm.0232", f"Data write failed. Cause: {first}")
            for row in pc.indices_nonzero(any_refused).to_pylist():
                reason = _refusal(batch, row, position, key, refused)
                left_out.append(RejectedRow(_row_values(batch, row, refused), reason))
            held = batch.filter(pc.invert(any_refused))
        position += batch.num_rows
        yield held


def _refusal(
    batch: pa.RecordBatch, row: int, position: int, key: tuple[str, ...], refused: dict[str, Refused]
) -> str:
    """Why ``row`` of ``batch`` (the batch after ``position`` rows of the partition) is refused."""
    name, found = next((name, found) for name, found in refused.items() if found.rows[row].as_py())
    if key and all(column in batch.schema.names for column in key):
        named = ", ".join(f"{column}={values.value_text(batch.column(column), row)}" for column in key)
        where = f"the row with {named}"
    else:
        where = f"row {position + row + 1} of the partition"
    value = values.value_text(batch.column(name), row)
    return f"column [{name}] of {where} holds [{value}], {found.why}."


def _row_values(batch: pa.RecordBatch, row: int, refused: dict[str, Refused]) -> dict[str, Any]:
    """A row's values for dirty data: those the destination refused as text (a Python datetime has
    no infinity)."""
    return {
        name: values.value_text(column, row) if name in refused and refused[name].rows[row].as_py()
        else column[row].as_py()
        for name, column in zip(batch.schema.names, batch.columns, strict=True)
    }


def cancel_statements(*ends: Source | Sink | None) -> None:
    """Cancel what the ends' connections run, from another thread than the copy's: best effort,
    since an end may be closing, or have closed, meanwhile."""
    for end in ends:
        if end is None:
            continue
        try:
            end.cancel()
        except Exception:  # noqa: BLE001 - a stop goes on whatever a driver says here
            log.debug("cancelling a statement of %s failed", type(end).__name__, exc_info=True)


def keep_cancelling(cancel: Callable[[], None], finished: threading.Event) -> None:
    """``cancel`` now, and again every CANCEL_AGAIN_SECONDS until ``finished`` is set."""
    while True:
        cancel()
        if finished.wait(CANCEL_AGAIN_SECONDS):
            return


@contextlib.contextmanager
def cancelled_when_stopped(stopped: Callable[[], bool], cancel: Callable[[], None], poll: float) -> Iterator[None]:
    """While the block runs, a thread asks ``stopped`` every ``poll`` seconds; once it is true, the
    thread calls ``cancel`` (see keep_cancelling), so that a statement blocked in the database (a
    locked table, say), which no check between batches reaches, ends at once. No cancel comes after
    the block: its rollback must not be cancelled."""
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(poll):
            try:
                now_stopped = stopped()
            except Exception:  # noqa: BLE001 - the copy's own check meets the same failure and reports it
                log.debug("asking whether the run was stopped failed", exc_info=True)
                continue
            if now_stopped:
                keep_cancelling(cancel, finished)
                return

    watcher = threading.Thread(target=watch, name="opencdm-stop-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        finished.set()
        watcher.join()
