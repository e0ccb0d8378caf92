"""Clusters: logical execution pools that own links and jobs, with CDM's lifecycle states."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from opencdm.engine.status import ACTIVE, now_ms
from opencdm.engine.supervisor import Supervisor
from opencdm.errors import CdmError
from opencdm.service.links import check_name, delete_once
from opencdm.store.db import Store
from opencdm.store.models import Cluster, Submission
from opencdm.store.statuses import ClusterStatus


def no_such_cluster(cluster_id: str) -> CdmError:
    # Another project's cluster is reported exactly like a missing one: nothing leaks.
    return CdmError("Cdm.0001", f"Cluster [{cluster_id}] does not exist or is invalid.")


def first_running(session: Session, project_id: str, cluster_ids: list[str]) -> Cluster:
    """One of the project's clusters among ``cluster_ids`` that is running ("random" in CDM; one
    running cluster is enough here)."""
    cluster = session.scalars(
        select(Cluster).where(
            Cluster.id.in_(cluster_ids), Cluster.project_id == project_id, Cluster.status == ClusterStatus.NORMAL,
        )
    ).first()
    if cluster is None:
        raise CdmError("Cdm.0056", "Cannot submit the job. Cause: none of the given clusters is running.")
    return cluster


def list_clusters(session: Session, project_id: str) -> list[Cluster]:
    return list(session.scalars(select(Cluster).where(Cluster.project_id == project_id).order_by(Cluster.created_ms)))


def check_new_name(session: Session, project_id: str, name: str) -> None:
    check_name("Cluster", name, "Cdm.0014")
    if session.scalar(select(Cluster.id).where(Cluster.project_id == project_id, Cluster.name == name)):
        raise CdmError("Cdm.0014", f"Cluster name {name} already exists.")


def _active_submissions(session: Session, cluster_id: str) -> list[Submission]:
    return list(
        session.scalars(
            select(Submission).where(Submission.cluster_id == cluster_id, Submission.status.in_(ACTIVE))
        )
    )


def delete_cluster(session: Session, cluster: Cluster) -> None:
    running = _active_submissions(session, cluster.id)
    if running:
        names = ", ".join(sorted({s.job_name for s in running}))
        raise CdmError("Cdm.0322", f"Cluster {cluster.name} has running jobs ({names}); stop them first.")
    delete_once(session, cluster, no_such_cluster(cluster.id))


def modify_cluster(session: Session, cluster: Cluster, changes: dict[str, Any]) -> None:
    # Auto power-off and schedules are cloud billing features; they are kept, not acted on.
    cluster.properties = {**cluster.properties, **changes}
    cluster.updated_ms = now_ms()


def act(store: Store, supervisor: Supervisor, cluster_id: str, action: str) -> None:
    """start → running; stop → its running jobs are stopped, then stopped; restart → both."""
    if action in ("stop", "restart"):
        with store.session() as session:
            running = _active_submissions(session, cluster_id)
            session.execute(
                update(Submission)
                .where(Submission.id.in_([s.id for s in running]))
                .values(stop_requested=True)
            )
        for submission in running:
            supervisor.stop(submission.id)
    with store.session() as session:
        cluster = session.get(Cluster, cluster_id)
        if cluster is None:  # deleted since the route found it
            raise no_such_cluster(cluster_id)
        cluster.status = ClusterStatus.STOPPED if action == "stop" else ClusterStatus.NORMAL
        cluster.updated_ms = now_ms()
