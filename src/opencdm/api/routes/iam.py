"""``POST /v3/auth/tokens``: Keystone v3 password authentication, project-scoped tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from opencdm.api.auth import AuthError
from opencdm.api.state import server_state
from opencdm.service import iam

router = APIRouter(tags=["iam"])


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _bad_request(message: str) -> AuthError:
    return AuthError(400, "IAM.0001", message)


@router.post("/v3/auth/tokens", status_code=201)
async def create_token(request: Request) -> JSONResponse:
    try:
        body: Any = await request.json()
        identity = body["auth"]["identity"]
        if "password" not in identity.get("methods", []):
            raise _bad_request("Only the password method is supported.")
        user = identity["password"]["user"]
        name, password = user["name"], user["password"]
        domain = (user.get("domain") or {}).get("name") or iam.DEFAULT_DOMAIN
        project = body["auth"]["scope"]["project"]
        project_ref = project.get("id") or project["name"]
    except (ValueError, KeyError, TypeError):
        raise _bad_request(
            "The request body must be {\"auth\": {\"identity\": {\"methods\": [\"password\"], \"password\": "
            "{\"user\": {\"name\", \"password\", \"domain\": {\"name\"}}}}, \"scope\": {\"project\": "
            "{\"id\" or \"name\"}}}}."
        ) from None
    state = server_state(request)
    try:
        with state.store.session() as session:
            issued = iam.issue_token(
                session, str(name), str(domain), str(password), str(project_ref), state.settings.token_ttl_seconds
            )
    except PermissionError as exc:
        raise AuthError(401, "APIGW.0301", f"Incorrect IAM authentication information: {exc}") from None
    token = {
        "methods": ["password"],
        "expires_at": _iso(issued.expires_ms),
        "issued_at": _iso(issued.issued_ms),
        "user": {"id": issued.user.id, "name": issued.user.name, "domain": {"name": issued.user.domain}},
        "project": {
            "id": issued.project.id,
            "name": issued.project.name,
            "domain": {"name": issued.project.domain},
        },
        "roles": [{"name": "admin"}],
    }
    return JSONResponse({"token": token}, status_code=201, headers={"X-Subject-Token": issued.token})
