"""What every /v1.1 route shares: the authenticated caller, the caller's cluster, a session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from opencdm.api.auth import authenticate
from opencdm.api.state import ServerState, server_state
from opencdm.errors import CdmError
from opencdm.service.iam import Principal
from opencdm.store.models import Cluster

Caller = Annotated[Principal, Depends(authenticate)]
State = Annotated[ServerState, Depends(server_state)]


def _session(request: Request) -> Iterator[Session]:
    with server_state(request).store.session() as session:
        yield session


# scope="function": commit before the response is sent, so a client never outruns its own write.
DbSession = Annotated[Session, Depends(_session, scope="function")]


def find_cluster(session: Session, caller: Principal, cluster_id: str) -> Cluster:
    cluster = session.get(Cluster, cluster_id)
    # Another project's cluster is reported exactly like a missing one: nothing leaks.
    if cluster is None or cluster.project_id != caller.project_id:
        raise CdmError("Cdm.0001", f"Cluster [{cluster_id}] does not exist or is invalid.")
    return cluster
