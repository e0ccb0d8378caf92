"""Verified copies: ``verifyConfig.mode`` NONE, COUNT (the default) or CHECKSUM.

COUNT checks that every row read was written or skipped, and, where the destination can tell which
rows are this run's (a table the run created or emptied), that it holds that many. CHECKSUM also
compares an order-independent checksum of every copied value, read back from both sides.

Both run before the destination commits when one transaction holds the run, so a mismatch rolls the
copy back; parallel partitions commit together first, so their mismatch fails a committed run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from opencdm.connectors import values
from opencdm.connectors.base import Sink, Source
from opencdm.engine.counters import Counters

# A value's text is joined to the next with a byte no text form contains; NULL is its own marker,
# distinct from every text (including the empty one).
_SEPARATOR = b"\x1f"
_NULL = b"\x00"
_MASK = (1 << 64) - 1


class VerifyMode(Enum):
    NONE = "NONE"
    COUNT = "COUNT"
    CHECKSUM = "CHECKSUM"


@dataclass
class Verification:
    """What was compared, as the submission shows it."""

    mode: str
    rows_read: int
    rows_written: int
    rows_skipped: int
    destination_rows: int | None = None
    source_checksum: str | None = None
    destination_checksum: str | None = None
    passed: bool = True
    summary: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _row_texts(batch: pa.RecordBatch, schema: pa.Schema) -> pa.Array:
    """Each row as one binary value: the canonical text of its values, in ``schema``'s types."""
    columns = []
    for field, column in zip(schema, batch.columns, strict=True):
        if not column.type.equals(field.type):
            column = column.cast(field.type)
        column = values.without_negative_zero(column)  # -0 equals 0; a destination without -0 writes 0
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            text = column.cast(pa.binary())
        else:
            text = column.cast(pa.string()).cast(pa.binary())
        columns.append(pc.fill_null(text, _NULL))
    if not columns:
        return pa.array([b""] * batch.num_rows, pa.binary())
    return pc.binary_join_element_wise(*columns, _SEPARATOR)


def checksum(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> tuple[int, str]:
    """Row count and an order-independent checksum (sum of row hashes modulo 2^64) of ``batches``,
    their values compared in ``schema``'s types. Python's hash of bytes is salted per process, so
    both sides of one comparison must be hashed by the same process, as the worker does."""
    rows = total = 0
    for batch in batches:
        rows += batch.num_rows
        total = (total + sum(map(hash, _row_texts(batch, schema).to_pylist()))) & _MASK
    return rows, f"{total:016x}"


def compare_counts(mode: VerifyMode, rows_read: int, rows_written: int, rows_skipped: int,
                   destination_rows: int | None) -> Verification:
    result = Verification(mode.value, rows_read, rows_written, rows_skipped, destination_rows)
    problems = []
    if rows_read != rows_written + rows_skipped:
        problems.append(f"{rows_read} rows read, but {rows_written} written and {rows_skipped} skipped")
    if destination_rows is not None and destination_rows != rows_written:
        problems.append(f"the destination holds {destination_rows} rows of this run, but {rows_written} were written")
    result.passed = not problems
    result.summary = "; ".join(problems) or (
        f"{rows_read} rows read = {rows_written} written + {rows_skipped} skipped"
        + (f"; the destination holds {destination_rows}" if destination_rows is not None else "")
    )
    return result


def add_checksums(result: Verification, source: tuple[int, str], destination: tuple[int, str] | None) -> None:
    result.source_checksum = source[1]
    if destination is None:
        result.summary += "; checksum not compared: the destination cannot tell this run's rows from others"
        return
    result.destination_checksum = destination[1]
    if source != destination:
        result.passed = False
        result.summary = (
            f"checksum mismatch: the source's {source[0]} rows give {source[1]}, "
            f"the destination's {destination[0]} rows give {destination[1]}"
        )
    else:
        result.summary += f"; checksums equal ({source[1]})"


class VerificationFailed(Exception):
    """The copy does not match its source; args are (summary, details)."""


@dataclass
class Verifier:
    """A run's checks of its copy, recorded in its counters; a mismatch raises VerificationFailed."""

    mode: VerifyMode
    counters: Counters
    source: Source
    sink: Sink
    schema: pa.Schema
    batch_rows: int

    def counts(self) -> Verification | None:
        """The counts compared (in the sink's transaction, before its commit); None with mode NONE."""
        if self.mode is VerifyMode.NONE:
            return None
        counters = self.counters
        verification = compare_counts(
            self.mode, counters.rows_read, counters.rows_written, counters.rows_skipped, self.sink.rows_of_this_run()
        )
        self._record(verification)
        return verification

    def checksums(self, verification: Verification) -> None:
        """With mode CHECKSUM, both sides read back and compared (after the commit)."""
        if self.mode is VerifyMode.CHECKSUM:
            # The source is read a second time: one that changed since the copy shows as a mismatch.
            source_batches = (batch for partition in self.source.partitions(1)
                              for batch in self.source.read(partition, self.batch_rows))
            destination = self.sink.read_back(self.batch_rows)
            add_checksums(verification, checksum(source_batches, self.schema),
                          checksum(destination, self.schema) if destination is not None else None)
            self._record(verification)

    def everything(self) -> None:
        verification = self.counts()
        if verification is not None:
            self.checksums(verification)

    def _record(self, verification: Verification) -> None:
        self.counters.verification = verification.as_dict()
        if not verification.passed:
            raise VerificationFailed(
                f"Verification ({verification.mode}) failed: {verification.summary}.",
                "The copy was compared with its source after writing (verifyConfig.mode); see the "
                "submission's verification.",
            )
