"""The FastAPI application: routers, middleware and error handlers. What it runs on is built, started
and stopped by server.py."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.types import Lifespan

from opencdm import __version__
from opencdm.api import metrics
from opencdm.api.console import ConsoleFiles
from opencdm.api.errors import install_error_handlers
from opencdm.api.inputs import RefuseControlCharacters
from opencdm.api.limits import BodySizeLimit
from opencdm.api.metrics import RequestLog
from opencdm.api.openapi import install_openapi
from opencdm.api.routes import clusters, connectors, iam, jobs, links
from opencdm.api.state import ServerState


def create_app(state: ServerState, lifespan: Lifespan[FastAPI]) -> FastAPI:
    """The API on ``state``; ``lifespan`` starts and stops what runs beside it (see server.py)."""
    # FastAPIOffline: /docs and /redoc load their scripts from the package, not from a CDN, so they
    # work on a machine without internet access.
    app = FastAPIOffline(
        title="OpenCDM",
        version=__version__,
        description="Self-hosted data migration, wire-compatible with the Huawei Cloud CDM v1.1 API.",
        lifespan=lifespan,
        # Authentication is by header, never by cookie, so a JSON body sent as curl's default form
        # type cannot be a cross-site request: accept it.
        strict_content_type=False,
    )
    app.state.opencdm = state
    install_error_handlers(app)
    # Inside BodySizeLimit: it only ever holds a body under the limit.
    app.add_middleware(RefuseControlCharacters)
    app.add_middleware(BodySizeLimit, max_bytes=state.settings.max_body_bytes)
    app.add_middleware(RequestLog)

    app.include_router(iam.router)
    # The create-and-start route must win over /clusters/{cluster_id}.
    app.include_router(jobs.router)
    app.include_router(links.router)
    app.include_router(clusters.router)
    app.include_router(connectors.router)  # OpenCDM extensions for the console (docs/console.md)
    # The web console: static files shipped in the package, a client of the API above (docs/console.md).
    app.mount("/console", ConsoleFiles(), name="console")
    app.include_router(metrics.router)
    install_openapi(app)
    return app
