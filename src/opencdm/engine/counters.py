"""A run's counters: what it read, wrote and skipped, its progress, and what of it the destination
committed."""

from __future__ import annotations

from dataclasses import dataclass, field

from opencdm.engine.partitions import Tally


@dataclass
class Counters(Tally):
    rows_estimate: int | None = None
    progress: float = 0.0
    verification: dict[str, object] | None = None
    # What the destination committed of the counts above: all of them once the run commits, those
    # of its committed partitions before that (resumable runs), none when it rolls back.
    committed: Tally = field(default_factory=Tally)

    def as_values(self) -> dict[str, object]:
        """The live counters: what was written so far, committed or not."""
        return {
            "rows_read": self.rows_read,
            "bytes_read": self.bytes_read,
            "rows_written": self.rows_written,
            "bytes_written": self.bytes_written,
            "update_rows": self.rows_updated,
            "rows_skipped": self.rows_skipped,
            "rows_estimate": self.rows_estimate,
            "verification": self.verification,
        }

    def committed_values(self) -> dict[str, object]:
        return {
            "committed_rows": self.committed.rows_written,
            "committed_bytes": self.committed.bytes_written,
            "committed_updates": self.committed.rows_updated,
        }

    def kept_values(self) -> dict[str, object]:
        """The counters of a run that ended: written means committed (a rollback took the rest back)."""
        return {
            **self.as_values(), **self.committed_values(), "rows_written": self.committed.rows_written,
            "bytes_written": self.committed.bytes_written, "update_rows": self.committed.rows_updated,
        }

    def keep_all(self) -> None:
        self.committed = Tally(*self.counts())

    def advance_progress(self) -> None:
        """Progress from rows written against the estimate; below 100 until committed, never backwards."""
        if self.rows_estimate:
            self.progress = max(self.progress, min(99.0, 100.0 * self.rows_written / self.rows_estimate))
