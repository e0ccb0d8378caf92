"""OpenCDM extensions the web console needs and CDM's API lacks (docs/console.md):

- ``GET …/cdm/connectors``: each connector's link inputs (name, type, mandatory, sensitive, size,
  default), so a link form can be drawn from the connector's own specs instead of a copy of them;
- ``GET …/cdm/links``: every link of the cluster, in ShowLink's shape (sensitive inputs without value).

Authenticated and scoped like every /v1.1 route: a caller only ever sees its own project's cluster.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from opencdm.api.errors import V11_ERROR_RESPONSES
from opencdm.api.present import link_out
from opencdm.api.routes.common import Caller, State, check_cluster, cluster_session
from opencdm.api.wire.connectors import ConnectorInput, ConnectorOut, ConnectorsResponse
from opencdm.api.wire.links import LinksResponse
from opencdm.connectors import connector_names, get_connector
from opencdm.connectors.base import InputSpec
from opencdm.store.models import Link

router = APIRouter(
    prefix="/v1.1/{project_id}/clusters/{cluster_id}/cdm", tags=["console"], responses=V11_ERROR_RESPONSES
)


def _input_out(spec: InputSpec) -> ConnectorInput:
    return ConnectorInput(
        name=spec.name, type=spec.type, mandatory=spec.mandatory, sensitive=spec.sensitive,
        size=spec.size, default_value=spec.default, values=list(spec.choices) or None,
    )


def _connector_out(name: str) -> ConnectorOut:
    connector = get_connector(name)
    return ConnectorOut(
        name=name,
        link_inputs=[_input_out(spec) for spec in connector.link_inputs],
        from_inputs=sorted(connector.source_inputs),
        to_inputs=sorted(connector.sink_inputs),
    )


@router.get("/connectors", operation_id="ListConnectors", response_model=None,
            responses={200: {"model": ConnectorsResponse}})
def list_connectors(project_id: str, cluster_id: str, caller: Caller, state: State) -> dict[str, Any]:
    """OpenCDM extension: the connectors and the inputs of their links."""
    check_cluster(state, caller, cluster_id)
    return ConnectorsResponse(connectors=[_connector_out(name) for name in connector_names()]).dump()


@router.get("/links", operation_id="ListLinks", response_model=None,
            responses={200: {"model": LinksResponse}})
def list_links(project_id: str, cluster_id: str, caller: Caller, state: State) -> dict[str, Any]:
    """OpenCDM extension: every link of the cluster, by name, as ShowLink shows one."""
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        links = session.scalars(select(Link).where(Link.cluster_id == cluster.id).order_by(Link.name)).all()
        return LinksResponse(links=[link_out(state.box, link) for link in links]).dump()
