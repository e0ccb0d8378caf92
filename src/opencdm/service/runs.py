"""Run control: start, stop, status and history of jobs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from opencdm.engine.supervisor import Supervisor
from opencdm.errors import CdmError
from opencdm.service.iam import now_ms
from opencdm.service.jobs import active_submission
from opencdm.store.db import Store
from opencdm.store.models import Cluster, Job, Link, Submission

CLUSTER_RUNNING = "200"


def start_job(
    store: Store,
    supervisor: Supervisor,
    cluster_id: str,
    job_name: str,
    user: str,
    variables: dict[str, Any],
    automatic: bool = False,
) -> Submission:
    """Create a BOOTING submission and hand it to a worker; answers at once."""
    from opencdm.service.jobs import find_job

    with supervisor.start_lock:
        with store.session() as session:
            cluster = session.get(Cluster, cluster_id)
            assert cluster is not None
            job = find_job(session, cluster, job_name)
            if cluster.status != CLUSTER_RUNNING:
                raise CdmError(
                    "Cdm.0056", f"Cannot submit the job. Cause: cluster {cluster.name} is not running."
                )
            if not job.enabled:
                raise CdmError("Cdm.0059", f"Job {job_name} is disabled; cannot submit.")
            for link_name in (job.from_link_name, job.to_link_name):
                link = session.scalar(select(Link).where(Link.cluster_id == cluster.id, Link.name == link_name))
                if link is None:
                    raise CdmError("Cdm.0101", f"Link [{link_name}] does not exist.")
                if not link.enabled:
                    raise CdmError("Cdm.0060", f"Link {link_name} used by the job is disabled; cannot submit.")
            if active_submission(session, job) is not None:
                raise CdmError("Cdm.0052", f"Job {job_name} is running.")
            stamp = now_ms()
            submission = Submission(
                job_id=job.id,
                cluster_id=cluster.id,
                job_name=job.name,
                status="BOOTING",
                progress=0.0,
                creation_user=user,
                creation_ms=stamp,
                last_update_user=user,
                last_update_ms=stamp,
                is_execute_auto=automatic,
                variables=variables,
            )
            session.add(submission)
            session.flush()
        try:
            supervisor.launch(submission.id)
        except OSError as exc:
            with store.session() as session:
                session.execute(
                    update(Submission)
                    .where(Submission.id == submission.id)
                    .values(status="FAILURE_ON_SUBMIT", progress=-1.0, error_summary=f"Cannot start a worker: {exc}")
                )
            raise CdmError("Cdm.0037", f"Failed to submit the job: {exc}") from exc
    return submission


def stop_job(store: Store, supervisor: Supervisor, cluster: Cluster, job: Job, user: str) -> None:
    with store.session() as session:
        submission = active_submission(session, job)
        if submission is None:
            raise CdmError("Cdm.0053", f"Job {job.name} is not running.")
        session.execute(
            update(Submission)
            .where(Submission.id == submission.id)
            .values(stop_requested=True, last_update_user=user, last_update_ms=now_ms())
        )
        submission_id = submission.id
    supervisor.stop(submission_id)


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
