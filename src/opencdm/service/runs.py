"""Run control: start, stop, status and history of jobs.

Every run starts the same way, whoever asks (StartJob, a job group, the schedule, a retry):
``admit`` checks the job may run now and adds its BOOTING submission, then ``launch`` hands it to a
worker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from opencdm.engine import dirty, run_log
from opencdm.engine.driver import DriverConfig
from opencdm.engine.status import ACTIVE, RunStatus, now_ms
from opencdm.engine.supervisor import Supervisor, log_run_end
from opencdm.errors import CdmError
from opencdm.service.clusters import no_such_cluster
from opencdm.service.jobs import RunPolicy, active_submission, find_job, group_jobs
from opencdm.store.db import Store
from opencdm.store.models import Cluster, Job, Link, RunLogLine, Submission
from opencdm.store.statuses import ClusterStatus


@dataclass(frozen=True)
class Trigger:
    """Who starts a run, and why."""

    user: str
    variables: dict[str, Any] = field(default_factory=dict)
    # Started by the job's schedule (wire ``is-execute-auto``), or a retry of a run that was.
    automatic: bool = False
    attempt: int = 1
    # The due time of the schedule's run this is: one submission per job and due time.
    scheduled_ms: int | None = None


def start_job(
    store: Store, supervisor: Supervisor, cluster_id: str, job_name: str, user: str, variables: dict[str, Any]
) -> Submission:
    """Create a BOOTING submission and hand it to a worker; answers at once."""
    with supervisor.start_lock:
        with store.session() as session:
            cluster = session.get(Cluster, cluster_id)
            if cluster is None:  # deleted since the route found it
                raise no_such_cluster(cluster_id)
            submission = admit(session, cluster, find_job(session, cluster, job_name), Trigger(user, variables))
        launch(store, supervisor, submission)
    return submission


def start_group(
    store: Store, supervisor: Supervisor, cluster_id: str, group_name: str, user: str
) -> tuple[list[Submission], list[tuple[str, CdmError]]]:
    """Start every job of the group that can start; the others come back with the reason."""
    with store.session() as session:
        cluster = session.get(Cluster, cluster_id)
        if cluster is None:
            raise no_such_cluster(cluster_id)
        names = [job.name for job in group_jobs(session, cluster, group_name)]
    started, refused = [], []
    for name in names:
        try:
            started.append(start_job(store, supervisor, cluster_id, name, user, {}))
        except CdmError as exc:
            refused.append((name, exc))
    return started, refused


def _refusal(session: Session, cluster: Cluster, job: Job) -> CdmError | None:
    if cluster.status != ClusterStatus.NORMAL:
        return CdmError("Cdm.0056", f"Cannot submit the job. Cause: cluster {cluster.name} is not running.")
    if not job.enabled:
        return CdmError("Cdm.0059", f"Job {job.name} is disabled; cannot submit.")
    for link_name in (job.from_link_name, job.to_link_name):
        link = session.scalar(select(Link).where(Link.cluster_id == cluster.id, Link.name == link_name))
        if link is None:
            return CdmError("Cdm.0101", f"Link [{link_name}] does not exist.")
        if not link.enabled:
            return CdmError("Cdm.0060", f"Link {link_name} used by the job is disabled; cannot submit.")
    if active_submission(session, job) is not None:
        return CdmError("Cdm.0052", f"Job {job.name} is running.")
    return None


def _submission(job: Job, trigger: Trigger, status: RunStatus, progress: float, **values: Any) -> Submission:
    stamp = now_ms()
    return Submission(
        job_id=job.id,
        cluster_id=job.cluster_id,
        job_name=job.name,
        status=status,
        progress=progress,
        creation_user=trigger.user,
        creation_ms=stamp,
        last_update_user=trigger.user,
        last_update_ms=stamp,
        is_execute_auto=trigger.automatic,
        is_delete_job=RunPolicy.of(job).disposable != "NONE",
        variables=trigger.variables,
        attempt=trigger.attempt,
        scheduled_ms=trigger.scheduled_ms,
        **values,
    )


def admit(session: Session, cluster: Cluster, job: Job, trigger: Trigger) -> Submission:
    """Check that the job may start now and add its BOOTING submission to the caller's transaction.
    Hold ``supervisor.start_lock`` from here to ``launch``: it serialises "is it running? → start"."""
    refusal = _refusal(session, cluster, job)
    if refusal is not None:
        raise refusal
    # A new run replaces a retry still waiting to repeat the job's last failed run.
    session.execute(
        update(Submission).where(Submission.job_id == job.id, Submission.retry_due_ms.is_not(None))
        .values(retry_due_ms=None)
    )
    submission = _submission(job, trigger, RunStatus.BOOTING, 0.0)
    session.add(submission)
    session.flush()
    return submission


def admit_or_record(session: Session, cluster: Cluster, job: Job, trigger: Trigger) -> Submission | None:
    """``admit`` for runs nobody waits on (schedule, retry): a refusal becomes a FAILURE_ON_SUBMIT
    submission in the job's history instead of an error answer."""
    try:
        return admit(session, cluster, job, trigger)
    except CdmError as refusal:
        session.add(_submission(
            job, trigger, RunStatus.FAILURE_ON_SUBMIT, -1.0,
            error_summary=refusal.message, error_details=f"{refusal.code}: {refusal.message}",
        ))
        return None


def launch(store: Store, supervisor: Supervisor, submission: Submission) -> None:
    """Hand an admitted (committed) submission to a worker."""
    cause = "by the job's schedule" if submission.is_execute_auto else f"by {submission.creation_user}"
    if submission.attempt > 1:
        cause = f"as retry {submission.attempt - 1} of a failed run"
    run_log.append(store, submission.id, "INFO", f"run of job {submission.job_name} requested {cause}")
    try:
        supervisor.launch(submission.id)
    except OSError as exc:
        with store.session() as session:
            session.execute(
                update(Submission)
                .where(Submission.id == submission.id)
                .values(
                    status=RunStatus.FAILURE_ON_SUBMIT, progress=-1.0, error_summary=f"Cannot start a worker: {exc}"
                )
            )
        log_run_end(store, submission.id)
        raise CdmError("Cdm.0037", f"Failed to submit the job: {exc}") from exc


def stop_job(store: Store, supervisor: Supervisor, cluster: Cluster, job: Job, user: str) -> None:
    """Stop the running run; on an idle job, cancel the retry that waits (if none: Cdm.0053)."""
    with store.session() as session:
        submission = active_submission(session, job)
        if submission is None:
            cancelled = session.execute(
                update(Submission).where(Submission.job_id == job.id, Submission.retry_due_ms.is_not(None))
                .values(retry_due_ms=None, last_update_user=user, last_update_ms=now_ms())
            )
            if cancelled.rowcount:  # type: ignore[attr-defined]
                return
            raise CdmError("Cdm.0053", f"Job {job.name} is not running.")
        session.execute(
            update(Submission)
            .where(Submission.id == submission.id)
            .values(stop_requested=True, last_update_user=user, last_update_ms=now_ms())
        )
        submission_id = submission.id
    supervisor.stop(submission_id)


def table_runs(session: Session, runs: list[Submission]) -> dict[int, dict[str, int]]:
    """Of runs of entire-database jobs, their tables' runs so far by how they stand, by run id."""
    counts: dict[int, dict[str, int]] = {}
    if not runs:
        return counts
    rows = session.execute(
        select(Submission.parent_submission_id, Submission.status, func.count())
        .where(Submission.parent_submission_id.in_([run.id for run in runs]))
        .group_by(Submission.parent_submission_id, Submission.status)
    ).tuples()
    for parent_id, status, count in rows:
        if parent_id is None:  # never, by the query: the column is nullable
            continue
        standing = "running" if status in ACTIVE else "succeeded" if status == RunStatus.SUCCEEDED else "failed"
        counts.setdefault(parent_id, {"running": 0, "succeeded": 0, "failed": 0})[standing] += count
    return counts


def history(session: Session, job: Job, page_no: int, page_size: int) -> tuple[int, list[Submission]]:
    total = session.scalar(select(func.count()).where(Submission.job_id == job.id)) or 0
    rows = session.scalars(
        select(Submission)
        .where(Submission.job_id == job.id)
        .order_by(Submission.id.desc())
        .offset((page_no - 1) * page_size)
        .limit(page_size)
    ).all()
    return total, list(rows)


def _run_of(session: Session, cluster: Cluster, submission_id: int) -> Submission:
    run = session.get(Submission, submission_id)
    if run is None or run.cluster_id != cluster.id:
        raise CdmError("Cdm.0100", f"Submission[{submission_id}] doesn't exist.")
    return run


def log_of(session: Session, cluster: Cluster, submission_id: int) -> tuple[Submission, list[RunLogLine]]:
    """A run of the cluster's, and its log lines, oldest first."""
    run = _run_of(session, cluster, submission_id)
    return run, run_log.lines(session, submission_id)


@dataclass(frozen=True)
class DirtyPage:
    run: Submission
    total: int
    records: list[dict[str, Any]]
    # Where the job now writes its dirty data when that is a link's (the server keeps none of it).
    written_to: dict[str, str] | None


def dirty_of(
    session: Session, cluster: Cluster, submission_id: int, home: Path, page_no: int, page_size: int
) -> DirtyPage:
    """A page of the dirty-data records a run of the cluster's left under the server's data directory
    (engine.dirty), in the order of its files and lines."""
    run = _run_of(session, cluster, submission_id)
    directory = dirty.server_directory(home, cluster.project_id, run.job_name)
    first = (page_no - 1) * page_size
    total, records = 0, []
    for path in dirty.run_files(directory, dirty.run_stem(run.job_name, run.id)):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if first <= total < first + page_size:
                    records.append(json.loads(line))
                total += 1
    written_to = None
    job = session.get(Job, run.job_id)
    driver = DriverConfig.parse(job.driver_config) if job is not None else None
    if total == 0 and driver is not None and driver.record_dirty_data and driver.dirty_data_link is not None:
        places = {"link": driver.dirty_data_link, "bucket": driver.dirty_data_bucket,
                  "directory": driver.dirty_data_directory or "/"}
        written_to = {name: value for name, value in places.items() if value is not None}
    return DirtyPage(run, total, records, written_to)
