"""Request bodies have a size limit, enforced before they are read."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opencdm.api.errors import cdm_error_response


def too_large_message(max_bytes: int) -> str:
    return f"The request body is larger than the server's limit of {max_bytes} bytes (OPENCDM_MAX_BODY_BYTES)."


class BodySizeLimit:
    """Answers 413 at once to a request whose Content-Length is over the limit, before
    authentication reads anything; a chunked body is counted as it arrives and refused as soon as
    it goes over (the route sees HTTPException(413), which FastAPI passes on unchanged)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = cdm_error_response("Cdm.0014", too_large_message(self.max_bytes), 413)
            response.headers["Connection"] = "close"  # the rest of the body is not read
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, too_large_message(self.max_bytes))
            return message

        await self.app(scope, counted, send)
