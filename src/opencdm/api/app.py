"""The FastAPI application: routers, error handlers, and the server's lifetime (start-up recovery,
clean shutdown of running jobs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

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
from opencdm.engine.supervisor import Supervisor
from opencdm.service.scheduler import Scheduler
from opencdm.settings import Settings
from opencdm.store.db import Store, migrate
from opencdm.store.private import private_directory, private_file
from opencdm.store.secrets import SecretBox


def open_state(settings: Settings) -> ServerState:
    """Open (and migrate) the store; nothing is started yet."""
    private_directory(settings.home)
    store_file = settings.store_file
    if store_file is not None:
        # SQLite gives its -wal and -shm files the database file's mode: 0600 before it opens it.
        for companion in ("-wal", "-shm"):
            sibling = store_file.with_name(store_file.name + companion)
            if sibling.exists():
                private_file(sibling)
        private_file(store_file)
    for kept in ("secret.key", "credentials.json"):  # made 0600; tightened if an older server left them open
        if (settings.home / kept).exists():
            private_file(settings.home / kept)
    store = Store(settings.database_url)
    migrate(store.engine)
    box = SecretBox.load(settings.home, settings.secret_key)
    return ServerState(settings=settings, store=store, box=box, supervisor=Supervisor(settings, store))


def create_app(state: ServerState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.supervisor.start()  # first, so the runs a dead server left behind are marked FAILED
        scheduler = Scheduler(state.settings, state.store, state.supervisor)
        scheduler.start()
        yield
        scheduler.stop()  # first, so no run starts while the supervisor stops them
        state.supervisor.shutdown()
        state.store.dispose()

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
