"""A run's own log: the lines its server and its worker write about it, kept in the store beside
the submission (``GET …/submissions/{id}/log``), so that any server sharing the store shows them."""

from __future__ import annotations

import logging
import os
import time

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opencdm.store.db import Store
from opencdm.store.models import RunLogLine

# A run that logs in a loop must not fill the store: past this many lines it says so, then stops.
MAX_LINES = 1000


def append(store: Store, submission_id: int, level: str, message: str) -> None:
    """One line of the run's log; nothing past MAX_LINES, nor for a run deleted with its job."""
    try:
        with store.session() as session:
            kept = session.scalar(select(func.count()).where(RunLogLine.submission_id == submission_id)) or 0
            if kept > MAX_LINES:
                return
            if kept == MAX_LINES:
                level, message = "WARNING", f"log truncated: a run keeps its first {MAX_LINES} lines"
            session.add(RunLogLine(submission_id=submission_id, time_ms=int(time.time() * 1000), level=level,
                                   message=message))
    except IntegrityError:  # no such run (any more): its job was deleted (the line's foreign key)
        pass


def rolled_back(written: int, kept: int) -> str:
    """What a failed run wrote and did not keep: its counters say written for committed only."""
    line = f"{written} rows written, then rolled back"
    return line if kept == 0 else f"{line} but for the {kept} of its committed partitions"


def lines(session: Session, submission_id: int) -> list[RunLogLine]:
    return list(session.scalars(
        select(RunLogLine).where(RunLogLine.submission_id == submission_id).order_by(RunLogLine.id)
    ))


class RunLogHandler(logging.Handler):
    """Sends the worker's log records to its run's log. Only this process's: copiers forked from
    it inherit the handler, but not a store connection they could share."""

    def __init__(self, store: Store, submission_id: int) -> None:
        super().__init__(logging.INFO)
        self.store, self.submission_id, self.pid = store, submission_id, os.getpid()

    def emit(self, record: logging.LogRecord) -> None:
        if os.getpid() != self.pid:
            return
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message = f"{message}: {type(error).__name__}: {error}"
        try:
            append(self.store, self.submission_id, record.levelname, message)
        except Exception:  # a log line must never end the run
            self.handleError(record)
