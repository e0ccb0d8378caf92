"""Every failure leaves the API in one of two documented shapes (docs/cdm-api.md §9)."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from opencdm.api.auth import AuthError, authenticate
from opencdm.api.wire.errors import CdmErrorBody, GatewayErrorBody
from opencdm.errors import CdmError

log = logging.getLogger(__name__)


def _cdm(description: str) -> dict[str, Any]:
    return {"model": CdmErrorBody, "description": description}


def _gateway(description: str) -> dict[str, Any]:
    return {"model": GatewayErrorBody, "description": description}


# Every error a /v1.1 operation answers. "default" (any other status: 405, 500) also keeps FastAPI
# from documenting its 422, which this server never answers (validation errors are Cdm.0014, 400).
V11_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _cdm("A CDM error: the request is invalid or the service refused it (every Cdm code is 400)."),
    401: _gateway("APIGW.0301: no valid X-Auth-Token or AK/SK signature."),
    403: _gateway("APIGW.0302: the credential belongs to another project."),
    404: _gateway("APIGW.0101: no such API (a path parameter holding '/')."),
    413: _cdm("Cdm.0014: the body is larger than OPENCDM_MAX_BODY_BYTES."),
    "default": _cdm("405 (with Allow) for a method the path does not take; 500 Cdm.0000 for a server bug."),
}
TOKEN_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _gateway("IAM.0001: the body is not a Keystone v3 password-auth request; the message names the part."),
    401: _gateway("APIGW.0301: unknown user, wrong password, or a project the user is not in."),
    413: V11_ERROR_RESPONSES[413],
    429: _gateway("APIGW.0308: too many failed logins from this client (for this user, or for all users) "
                  "in the last minute; the Retry-After header says when to try again."),
    "default": V11_ERROR_RESPONSES["default"],
}


class RefusedWhoeverAsks(StarletteHTTPException):
    """A request refused for its bytes alone (e.g. a NUL character in its body), found while the body
    was read: a 400 answered without first asking who the caller is, as a body over the size limit
    is (the caller's signature covers a body that is not to be read again)."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, detail)


def _request_id_header() -> dict[str, str]:
    # The SDK copies X-Request-Id into its exceptions' request_id (docs/cdm-api.md §3.1).
    return {"X-Request-Id": uuid.uuid4().hex}


def cdm_error_response(code: str, message: str, http_status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"errCode": code, "externalMessage": message}, status_code=http_status, headers=_request_id_header()
    )


def gateway_error_response(code: str, message: str, http_status: int) -> JSONResponse:
    """The API gateway's shape; its request_id is the one in the X-Request-Id header."""
    headers = _request_id_header()
    return JSONResponse(
        {"error_msg": message, "error_code": code, "request_id": headers["X-Request-Id"]},
        status_code=http_status,
        headers=headers,
    )


def invalid_input_response(path: str, message: str) -> JSONResponse:
    """400 for input refused before any route ran, in the shape of the route asked for: IAM's
    (``IAM.0001``) on Keystone's ``/v3`` routes, CDM's (``Cdm.0014``) everywhere else."""
    if path.startswith("/v3/"):
        return gateway_error_response("IAM.0001", message, 400)
    return cdm_error_response("Cdm.0014", message)


def _describe_body(error: dict[str, Any]) -> str | None:
    """A message for a body that did not even parse, or None when the error is about its content."""
    if error.get("type") == "json_invalid":
        return f"The request body is not valid JSON: {error.get('ctx', {}).get('error', error['msg'])}."
    if tuple(error.get("loc", ())) != ("body",):
        return None
    if error.get("type") == "missing":
        return "The request body is missing: a JSON object is required."
    raw = error.get("input")
    if isinstance(raw, bytes | str):
        # FastAPI leaves the body as raw bytes when Content-Type is not JSON (curl -d sends a form type).
        try:
            json.loads(raw)
        except ValueError as exc:
            return f"The request body is not valid JSON: {getattr(exc, 'msg', exc)}."
        return "The request body is JSON but was not sent with Content-Type: application/json."
    return None


def _describe_validation(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        if (about_body := _describe_body(error)) is not None:
            return about_body
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{location or 'body'}: {error['msg']}")
    return "Invalid request: " + "; ".join(problems)


def _gateway_error(exc: AuthError) -> JSONResponse:
    return gateway_error_response(exc.error_code, exc.message, exc.http_status)


async def _refused_caller(request: Request) -> JSONResponse | None:
    """The 401/403 answer for a caller that ``authenticate`` would refuse, else None.

    FastAPI reads and parses a JSON body *before* it resolves dependencies, so a malformed body is
    reported before ``authenticate`` has run. Checking the caller first keeps the rule of every other
    request: an anonymous caller, or one of another project, gets 401/403 and learns nothing more.
    """
    project_id = request.path_params.get("project_id")
    if not isinstance(project_id, str):
        return None  # not a /v1.1/{project_id} route (e.g. /v3/auth/tokens)
    try:
        await authenticate(request, project_id)
    except AuthError as exc:
        return _gateway_error(exc)
    return None


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route takes at this path: Starlette's own Allow names only the first route's."""
    methods: set[str] = set()
    for route in iter_route_contexts(app.routes):
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CdmError)
    async def _cdm(_: Request, exc: CdmError) -> JSONResponse:
        return cdm_error_response(exc.code, exc.message, exc.http_status)

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        return _gateway_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return await _refused_caller(request) or cdm_error_response("Cdm.0014", _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return gateway_error_response(
                "APIGW.0101", "The API does not exist or has not been published in the environment", 404
            )
        # The body was not read whole, or is not to be read again: authentication could not check it.
        if isinstance(exc, RefusedWhoeverAsks):
            return invalid_input_response(request.url.path, str(exc.detail))
        if exc.status_code == 413:
            return cdm_error_response("Cdm.0014", str(exc.detail), 413)
        # E.g. "There was an error parsing the body": raised before authentication too.
        answer = await _refused_caller(request) or cdm_error_response("Cdm.0014", str(exc.detail), exc.status_code)
        if exc.status_code == 405:
            answer.headers["Allow"] = ", ".join(_allowed_methods(app, request))
        return answer

    @app.exception_handler(IntegrityError)
    async def _conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests racing to create the same name both pass the service's existence check;
        # the store's unique constraint stops the second one. That is the client's conflict, not a 500.
        log.warning("store constraint refused a write: %s", exc.orig)
        return cdm_error_response(
            "Cdm.0017", "Failed to save to the repository: a concurrent request changed the same resource; retry."
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return cdm_error_response("Cdm.0000", f"System error: {type(exc).__name__}.", 500)
