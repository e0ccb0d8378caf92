"""The web console's static files (docs/console.md), served with headers that keep a page of it from
being framed by another site, from running any script or style that is not one of its own files, and
from being read as another type than it was sent as."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

# The console is app.js, style.css and index.html from this server, and talks to this server only.
CONSOLE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ConsoleFiles:
    def __init__(self) -> None:
        self.files = StaticFiles(packages=[("opencdm", "console")], html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in CONSOLE_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.files(scope, receive, with_headers)
