"""Submission state changes. Each is a conditional UPDATE, so a late writer never overwrites a
final state: whoever ends a run first (worker, stop, reaper) decides how it ended."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import update

from opencdm.store.db import Store
from opencdm.store.models import Submission

ACTIVE = ("BOOTING", "RUNNING")
SYSTEM_USER = "opencdm"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _update_if(store: Store, submission_id: int, statuses: tuple[str, ...], **values: Any) -> bool:
    with store.session() as session:
        result = session.execute(
            update(Submission)
            .where(Submission.id == submission_id, Submission.status.in_(statuses))
            .values(last_update_ms=_now_ms(), last_update_user=SYSTEM_USER, **values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_running(store: Store, submission_id: int) -> bool:
    return _update_if(store, submission_id, ("BOOTING",), status="RUNNING", execute_ms=_now_ms())


def record_progress(store: Store, submission_id: int, **counters: Any) -> bool:
    return _update_if(store, submission_id, ("RUNNING",), **counters)


def succeed(store: Store, submission_id: int, **counters: Any) -> bool:
    return _update_if(store, submission_id, ("RUNNING",), status="SUCCEEDED", progress=100.0, **counters)


def fail_if_active(store: Store, submission_id: int, summary: str, details: str, **counters: Any) -> bool:
    return _update_if(
        store,
        submission_id,
        ACTIVE,
        status="FAILED",
        progress=-1.0,
        error_summary=summary,
        error_details=details,
        **counters,
    )
