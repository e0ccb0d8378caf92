"""Links: ``/v1.1/{project_id}/clusters/{cluster_id}/cdm/link[/{link_name:path}]``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from opencdm.api.errors import V11_ERROR_RESPONSES
from opencdm.api.present import link_out
from opencdm.api.routes.common import Caller, State, check_cluster, cluster_session
from opencdm.api.wire.common import Empty
from opencdm.api.wire.links import (
    LinkIn,
    LinkSaved,
    LinksRequest,
    LinksResponse,
    LinkValidationFailed,
    LinkValidationResult,
    ValidationMessage,
)
from opencdm.service import links as link_service

router = APIRouter(
    prefix="/v1.1/{project_id}/clusters/{cluster_id}/cdm", tags=["links"], responses=V11_ERROR_RESPONSES
)


def _draft(link: LinkIn) -> link_service.LinkDraft:
    return link_service.draft_from_wire(
        link.name, link.connector_name, link.enabled, link.link_config_values.model_dump(by_alias=True)
    )


@router.post("/link", operation_id="CreateLink", response_model=None,
             responses={200: {"model": LinkSaved},
                        500: {"model": LinkValidationFailed,
                              "description": "?validate=true: the link does not work (CDM's answer)."}})
def create_link(
    project_id: str, cluster_id: str, body: LinksRequest, caller: Caller, state: State,
    validate: str | None = None,
) -> dict[str, Any] | JSONResponse:
    draft = _draft(body.links[0])
    if (validate or "").lower() == "true":
        # No store session is held while the link's own server is tried: that may take a while.
        check_cluster(state, caller, cluster_id)
        problems = link_service.validate_link(draft)
        if problems:
            # As CDM answers it (docs/decisions/0007-link-validation-answer.md).
            failed = LinkValidationFailed(validation_result=[
                LinkValidationResult(link_config=[ValidationMessage(message=m) for m in problems])])
            return JSONResponse(failed.dump(), status_code=500)
        return {"name": draft.name, "validation-result": []}
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        link_service.create_link(session, state.box, cluster, draft, caller.user_name)
    return {"name": draft.name, "validation-result": []}


@router.get("/link/{link_name:path}", operation_id="ShowLink", response_model=None,
            responses={200: {"model": LinksResponse}})
def show_link(project_id: str, cluster_id: str, link_name: str, caller: Caller, state: State) -> dict[str, Any]:
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        return {"links": [link_out(state.box, link_service.find_link(session, cluster, link_name)).dump()]}


@router.put("/link/{link_name:path}", operation_id="UpdateLink", response_model=None,
            responses={200: {"model": LinkSaved}})
def update_link(
    project_id: str, cluster_id: str, link_name: str, body: LinksRequest, caller: Caller, state: State,
) -> dict[str, Any]:
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        link_service.update_link(session, state.box, cluster, link_name, _draft(body.links[0]), caller.user_name)
    return {"name": link_name, "validation-result": []}


@router.delete("/link/{link_name:path}", operation_id="DeleteLink", response_model=None,
               responses={200: {"model": Empty}})
def delete_link(project_id: str, cluster_id: str, link_name: str, caller: Caller, state: State) -> dict[str, Any]:
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        link_service.delete_link(session, cluster, link_name)
    return {}
