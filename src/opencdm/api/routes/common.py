"""What every /v1.1 route shares: the authenticated caller, the caller's cluster, a store session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.orm import Session

from opencdm.api.auth import authenticate
from opencdm.api.state import ServerState, server_state
from opencdm.service.clusters import no_such_cluster
from opencdm.service.iam import Principal
from opencdm.store.models import Cluster

Caller = Annotated[Principal, Depends(authenticate)]
State = Annotated[ServerState, Depends(server_state)]
# Bounded so that (page_no - 1) * page_size stays a 64-bit offset for the store.
PageNo = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=1000)]


@contextmanager
def cluster_session(state: ServerState, caller: Principal, cluster_id: str) -> Iterator[tuple[Session, Cluster]]:
    """A store session and the caller's cluster, for the length of one route body.

    Routes are plain functions, which FastAPI runs in its thread pool, and each opens its session
    there and closes it before returning. A session must never outlive its thread's turn: one held
    by a request that waits for a pool thread, while the pool's threads wait for a store connection,
    freezes the server.
    """
    with state.store.session() as session:
        yield session, find_cluster(session, caller, cluster_id)


def find_cluster(session: Session, caller: Principal, cluster_id: str) -> Cluster:
    cluster = session.get(Cluster, cluster_id)
    if cluster is None or cluster.project_id != caller.project_id:
        raise no_such_cluster(cluster_id)
    return cluster


def check_cluster(state: ServerState, caller: Principal, cluster_id: str) -> None:
    """Cdm.0001 unless the cluster is the caller's project's."""
    with state.store.session() as session:
        find_cluster(session, caller, cluster_id)
