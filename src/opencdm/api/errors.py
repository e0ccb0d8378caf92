"""Every failure leaves the API in one of two documented shapes (cdm-api.md §9)."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from opencdm.api.auth import AuthError
from opencdm.errors import CdmError

log = logging.getLogger(__name__)


def cdm_error_response(code: str, message: str, http_status: int = 400) -> JSONResponse:
    return JSONResponse({"errCode": code, "externalMessage": message}, status_code=http_status)


def _describe_validation(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        if error.get("type") == "json_invalid":
            return f"The request body is not valid JSON: {error.get('ctx', {}).get('error', error['msg'])}."
        problems.append(f"{location or 'body'}: {error['msg']}")
    return "Invalid request: " + "; ".join(problems)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CdmError)
    async def _cdm(_: Request, exc: CdmError) -> JSONResponse:
        return cdm_error_response(exc.code, exc.message, exc.http_status)

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        return JSONResponse(
            {"error_msg": exc.message, "error_code": exc.error_code, "request_id": uuid.uuid4().hex},
            status_code=exc.http_status,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return cdm_error_response("Cdm.0014", _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return JSONResponse(
                {
                    "error_msg": "The API does not exist or has not been published in the environment",
                    "error_code": "APIGW.0101",
                    "request_id": uuid.uuid4().hex,
                },
                status_code=404,
            )
        return cdm_error_response("Cdm.0014", str(exc.detail), exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return cdm_error_response("Cdm.0000", f"System error: {type(exc).__name__}.", 500)
