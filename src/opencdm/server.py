"""``opencdm serve``: open the store, bootstrap on first start, run the API with uvicorn."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TextIO

import uvicorn

from opencdm.api.app import create_app
from opencdm.api.state import ServerState
from opencdm.engine.supervisor import Supervisor
from opencdm.logs import configure_logging
from opencdm.service.iam import bootstrap
from opencdm.service.scheduler import Scheduler
from opencdm.settings import Settings
from opencdm.store.db import Store, migrate
from opencdm.store.private import private_directory, private_file
from opencdm.store.secrets import SecretBox

log = logging.getLogger("opencdm")


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


def open_bootstrapped_state(settings: Settings, announce_to: TextIO = sys.stdout) -> ServerState:
    """The migrated store, bootstrapped on its very first use (by ``serve`` or ``admin``)."""
    state = open_state(settings)
    credentials = bootstrap(state.store, state.box, settings.home, settings.admin_password)
    if credentials is not None:
        # Printed once, on the very first start; kept in credentials.json (mode 0600) afterwards.
        print("OpenCDM bootstrapped a project, an admin user, an AK/SK pair and a cluster:", file=announce_to)
        print(json.dumps(credentials, indent=2), file=announce_to)
        print(f"(also written to {settings.home / 'credentials.json'})", file=announce_to, flush=True)
    return state


@asynccontextmanager
async def running(state: ServerState) -> AsyncIterator[None]:
    """The server's lifetime: start-up recovery, the scheduler, and a clean shutdown of running jobs."""
    state.supervisor.start()  # first, so the runs a dead server left behind are marked FAILED
    scheduler = Scheduler(state.settings, state.store, state.supervisor)
    scheduler.start()
    yield
    scheduler.stop()  # first, so no run starts while the supervisor stops them
    state.supervisor.shutdown()
    state.store.dispose()


def serve(host: str, port: int, settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_format)
    state = open_bootstrapped_state(settings)
    log.info("OpenCDM data directory: %s", settings.home)
    base = base_url(host, port)
    print(f"OpenCDM API on {base}, web console at {base}/console/", flush=True)
    uvicorn.run(create_app(state, lambda _: running(state)), host=host, port=port, log_level="info",
                timeout_graceful_shutdown=15,
                # Our own log setup (opencdm.logs), and our own request lines (api.metrics.RequestLog).
                log_config=None, access_log=False)


def base_url(host: str, port: int) -> str:
    """The URL a browser on this machine opens: a wildcard address stands for every one, loopback included."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"
