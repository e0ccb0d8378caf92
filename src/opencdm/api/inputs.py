"""Characters no name or value may hold, refused before any route sees them (400 ``Cdm.0014``, or
``IAM.0001`` on ``/v3/auth/tokens``).

- NUL, in the path, the query or the body: PostgreSQL's text cannot hold one, so it reached the
  store as a 500 ``DataError`` (and a reset connection) where SQLite answered 400.
- Any control character in the path: Starlette anchors its routes with ``$``, which also matches
  before a final newline, so ``DELETE …/job/name%0A`` deleted job ``name``. No name holds one (names
  are letters, digits, ``-`` and ``_``), so such a path never stands for an existing resource.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opencdm.api.errors import RefusedWhoeverAsks, invalid_input_response

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A JSON string escape of U+0000: "\u0000" after an even number of backslashes (after an odd run, the
# backslash before "u0000" is itself escaped: the text "\u0000").
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _refusal(where: str, character: str) -> str:
    what = "a NUL character" if character == "\x00" else "a control character"
    return f"The request's {where} holds {what} (%{ord(character):02X}), which no name or value may hold."


def _holds_nul(body: bytes) -> bool:
    return b"\x00" in body or _ESCAPED_NUL.search(body) is not None


class RefuseControlCharacters:
    """A path with a control character, or a query with a NUL, is answered before routing; a NUL in
    the body is found once the body has been read whole, and refused before anything parses it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = None
        if (control := _CONTROL.search(scope["path"])) is not None:
            refusal = _refusal("path", control.group())
        elif b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            refusal = _refusal("query", "\x00")
        if refusal is not None:
            await invalid_input_response(scope["path"], refusal)(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def checked() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and _holds_nul(b"".join(chunks)):
                    raise RefusedWhoeverAsks(_refusal("body", "\x00"))
            return message

        await self.app(scope, checked, send)
