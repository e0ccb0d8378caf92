"""What runs of a job hand on to each other through the store: the partition plan of a resumable
run (which partitions committed), the incremental cursor, and the stage tables a killed run left."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.sql.dml import Delete

from opencdm.connectors.base import Partition, Sink
from opencdm.engine import run_log
from opencdm.engine.status import ACTIVE
from opencdm.store.db import Store
from opencdm.store.models import Job, ResumablePartition, Submission

log = logging.getLogger(__name__)

# A resumable run cuts its source into at least this many partitions, so a crash loses little.
RESUMABLE_PARTITIONS = 8


@dataclass(frozen=True)
class UnfinishedPlan:
    """The partition plan a failed resumable run of the job left."""

    plan_id: str
    # Its partitions not committed yet.
    left: list[Partition]
    committed: int


def unfinished_plan(store: Store, job_id: int) -> UnfinishedPlan | None:
    """The plan a failed resumable run of the job left; None when none failed."""
    with store.session() as session:
        rows = session.scalars(
            select(ResumablePartition).where(ResumablePartition.job_id == job_id)
            .order_by(ResumablePartition.position)
        ).all()
        if not rows:
            return None
        plan_id = rows[0].plan_id
        if plan_id is None:  # recorded before plans had ids
            plan_id = uuid.uuid4().hex
            for row in rows:
                row.plan_id = plan_id
        committed = sum(1 for row in rows if row.committed_rows is not None)
        left = [Partition(row.position, row.spec) for row in rows if row.committed_rows is None]
    return UnfinishedPlan(plan_id, left, committed)


def record_plan(store: Store, job_id: int, partitions: list[Partition]) -> str:
    """Record a resumable run's partitions, replacing the job's last plan; the new plan's id."""
    plan_id = uuid.uuid4().hex
    with store.session() as session:
        session.execute(delete(ResumablePartition).where(ResumablePartition.job_id == job_id))
        session.add_all(
            ResumablePartition(job_id=job_id, position=partition.index, spec=dict(partition.spec), plan_id=plan_id)
            for partition in partitions
        )
    return plan_id


def partition_committed(store: Store, job_id: int, position: int, rows: int) -> None:
    # After the destination's commit: a crash in between copies this partition again.
    with store.session() as session:
        session.execute(
            update(ResumablePartition)
            .where(ResumablePartition.job_id == job_id, ResumablePartition.position == position)
            .values(committed_rows=rows)
        )


def committed_partitions(store: Store, job_id: int) -> int:
    """How many partitions of the job's plan are recorded as committed."""
    with store.session() as session:
        return session.scalar(
            select(func.count()).select_from(ResumablePartition)
            .where(ResumablePartition.job_id == job_id, ResumablePartition.committed_rows.is_not(None))
        ) or 0


def forget_plan(job_id: int) -> Delete:
    """The statement that drops the job's plan, run with the success of the run that finished it."""
    return delete(ResumablePartition).where(ResumablePartition.job_id == job_id)


def save_cursor(store: Store, job_id: int, value: str) -> None:
    # After the destination committed: a run that failed or was stopped never moves the cursor.
    with store.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(incremental_cursor=value))


def drop_tables_left(store: Store, submission_id: int, job_id: int, sink: Sink) -> None:
    """Drop the stage tables earlier runs of the job announced and did not drop (their worker was
    killed outright), and say so in both runs' logs. A table that cannot be dropped now stays
    recorded for the next run; this run goes on."""
    with store.session() as session:
        recorded = session.execute(
            select(Submission.id, Submission.stage_table).where(
                Submission.job_id == job_id, Submission.id != submission_id,
                Submission.stage_table.is_not(None), Submission.status.not_in(ACTIVE),
            )
        ).all()
    left = {run_id: table for run_id, table in recorded if table is not None}
    for run_id, table in left.items():
        name = f"{table['schema']}.{table['table']}"
        try:
            dropped = sink.drop_table_left(table["schema"], table["table"])
        except Exception:
            log.warning("submission %s: stage table %s, left by run %s of the job, could not be dropped",
                        submission_id, name, run_id, exc_info=True)
            continue
        with store.session() as session:
            session.execute(update(Submission).where(Submission.id == run_id).values(stage_table=None))
        if dropped:
            log.info("submission %s: dropped stage table %s, left by run %s of the job (its worker was killed)",
                     submission_id, name, run_id)
            run_log.append(store, run_id, "INFO", f"stage table {name} dropped by run {submission_id} of the job")
