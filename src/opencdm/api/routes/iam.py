"""``POST /v3/auth/tokens``: Keystone v3 password authentication, project-scoped tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from opencdm.api.auth import AuthError
from opencdm.api.errors import TOKEN_ERROR_RESPONSES, gateway_error_response
from opencdm.api.state import server_state
from opencdm.api.wire.iam import TokenResponse
from opencdm.service import iam

router = APIRouter(tags=["iam"], responses=TOKEN_ERROR_RESPONSES)
_SHAPE = '{"auth": {"identity": {"methods": ["password"], "password": {"user": ...}}, "scope": {"project": ...}}}'


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _bad_request(message: str) -> AuthError:
    return AuthError(400, "IAM.0001", message)


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad_request(f"{path} must be a JSON object.")
    return value


def _text(parent: dict[str, Any], key: str, path: str) -> str:
    value = parent.get(key)
    # str(None) or str([...]) would otherwise be looked up as a name or checked as a password.
    if not isinstance(value, str) or not value:
        raise _bad_request(f"{path}.{key} must be a non-empty string.")
    return value


@dataclass(frozen=True)
class PasswordAuth:
    user: str
    domain: str
    password: str
    project: str  # id or name


def parse_password_auth(body: Any) -> PasswordAuth:
    """The Keystone v3 password-auth body; every malformed part is reported by its JSON path."""
    auth = _object(_object(body, f"The request body ({_SHAPE})").get("auth"), "auth")
    identity = _object(auth.get("identity"), "auth.identity")
    methods = identity.get("methods")
    if not isinstance(methods, list) or "password" not in methods:
        raise _bad_request('Only the password method is supported: auth.identity.methods must be ["password"].')
    user = _object(_object(identity.get("password"), "auth.identity.password").get("user"),
                   "auth.identity.password.user")
    path = "auth.identity.password.user"
    domain = user.get("domain")
    domain_name = iam.DEFAULT_DOMAIN
    if domain is not None:
        domain_name = _object(domain, f"{path}.domain").get("name") or iam.DEFAULT_DOMAIN
        if not isinstance(domain_name, str):
            raise _bad_request(f"{path}.domain.name must be a string.")
    project = _object(_object(auth.get("scope"), "auth.scope (a project scope is required)").get("project"),
                      "auth.scope.project")
    if project.get("id") is not None:
        project_ref = _text(project, "id", "auth.scope.project")
    else:
        project_ref = _text(project, "name", "auth.scope.project (id or name)")
    return PasswordAuth(_text(user, "name", path), domain_name, _text(user, "password", path), project_ref)


@router.post("/v3/auth/tokens", status_code=201, operation_id="KeystoneCreateUserTokenByPassword", response_model=None,
             responses={201: {"model": TokenResponse}})
async def create_token(request: Request) -> JSONResponse:
    try:
        body: Any = await request.json()
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise _bad_request(f"The request body must be JSON: {_SHAPE}.") from None
    credentials = parse_password_auth(body)
    state = server_state(request)
    attempt = state.login_throttle.begin(
        credentials.domain, credentials.user, request.client.host if request.client else ""
    )
    if isinstance(attempt, int):
        refused = gateway_error_response(
            "APIGW.0308", f"The throttling threshold has been reached: too many failed logins; retry in {attempt} s.",
            429,
        )
        refused.headers["Retry-After"] = str(attempt)
        return refused

    def issue() -> iam.IssuedToken:
        with state.store.session() as session:
            return iam.issue_token(
                session, credentials.user, credentials.domain, credentials.password, credentials.project,
                state.settings.token_ttl_seconds,
            )

    try:
        # scrypt is deliberately slow: keep it off the event loop, which serves every other request.
        issued = await run_in_threadpool(issue)
    except PermissionError as exc:
        raise AuthError(401, "APIGW.0301", f"Incorrect IAM authentication information: {exc}") from None
    state.login_throttle.succeeded(attempt)
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
