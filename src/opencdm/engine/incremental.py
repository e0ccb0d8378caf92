"""Incremental runs with a stored cursor, after Sqoop 2's IncrementalRead.

``fromJobConfig.incrMigration=true`` with ``fromJobConfig.checkColumn`` (the cursor column) and
an optional ``fromJobConfig.lastValue`` (where the first run starts). A run reads the rows past the
stored cursor and at most the column's greatest value when it starts, so rows committed during the
run come in the next one; that greatest value becomes the cursor once the destination committed.
Rows whose check column is NULL are never read.

Ties: when the destination merges rows on a key (``toJobConfig.writeMode`` UPSERT or REPLACE), a
run re-reads the rows equal to the cursor, so rows that arrive later with exactly that value are
not lost and re-read rows merge instead of repeating. With INSERT a run starts strictly after the
cursor: no duplicates, but a row committed after a run with exactly the cursor value is missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from opencdm.connectors.base import CursorRange, Source
from opencdm.connectors.inputs import boolean, names, required, text

MERGING_WRITE_MODES = ("UPSERT", "REPLACE")
# The fromJobConfig inputs IncrementalRead.parse reads, whatever the source; toJobConfig.writeMode is
# the destination connector's.
INCREMENTAL_INPUTS = names("fromJobConfig", "incrMigration", "checkColumn", "lastValue")


@dataclass(frozen=True)
class IncrementalRead:
    check_column: str
    last_value: str | None
    inclusive: bool

    @classmethod
    def parse(cls, from_job: Mapping[str, str], to_job: Mapping[str, str]) -> IncrementalRead | None:
        if not boolean(from_job, "fromJobConfig.incrMigration"):
            return None
        write_mode = (text(to_job, "toJobConfig.writeMode") or "").upper()
        return cls(
            required(from_job, "fromJobConfig.checkColumn"),
            text(from_job, "fromJobConfig.lastValue"),
            write_mode in MERGING_WRITE_MODES,
        )

    def next_range(self, source: Source, stored_cursor: str | None) -> CursorRange | None:
        """The rows this run reads; None when no row is past the cursor."""
        after = stored_cursor if stored_cursor is not None else self.last_value
        upper = source.cursor_max(self.check_column, after, self.inclusive)
        if upper is None:
            return None
        return CursorRange(self.check_column, after, self.inclusive, upper)
