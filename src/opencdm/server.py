"""``opencdm serve``: open the store, bootstrap on first start, run the API with uvicorn."""

from __future__ import annotations

import json
import logging
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NoReturn, TextIO

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


class TlsFilesUnusable(ValueError):
    """The HTTPS certificate or key is missing, unreadable, or not a pair: the server does not start."""


def serve(host: str, port: int, settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    tls = tls_files(settings)  # before anything is opened or bootstrapped
    configure_logging(settings.log_format)
    state = open_bootstrapped_state(settings)
    log.info("OpenCDM data directory: %s", settings.home)
    base = base_url(host, port, https=tls is not None)
    print(f"OpenCDM API on {base}, web console at {base}/console/", flush=True)
    certfile, keyfile = tls or (None, None)
    uvicorn.run(create_app(state, lambda _: running(state)), host=host, port=port, log_level="info",
                timeout_graceful_shutdown=15, ssl_certfile=certfile, ssl_keyfile=keyfile,
                # Our own log setup (opencdm.logs), and our own request lines (api.metrics.RequestLog).
                log_config=None, access_log=False)


def tls_files(settings: Settings) -> tuple[Path, Path] | None:
    """The certificate and key to serve HTTPS with, checked the way uvicorn will load them; None: HTTP."""
    certfile, keyfile = settings.ssl_certfile, settings.ssl_keyfile
    if certfile is None and keyfile is None:
        return None
    if certfile is None or keyfile is None:
        given = "certificate" if certfile is not None else "key"
        raise TlsFilesUnusable(
            f"HTTPS needs a certificate and its key, and only the {given} was given: set both --ssl-certfile "
            f"(OPENCDM_SSL_CERTFILE) and --ssl-keyfile (OPENCDM_SSL_KEYFILE), or neither to serve HTTP.")
    for path in (certfile, keyfile):
        try:
            path.read_bytes()
        except OSError as exc:
            raise TlsFilesUnusable(f"Cannot read the HTTPS file {path}: {exc.strerror}") from exc
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            certfile, keyfile, password=_no_key_password)
    except ssl.SSLError as exc:
        raise TlsFilesUnusable(
            f"The certificate {certfile} and the key {keyfile} are not a PEM certificate and its private key "
            f"({exc.reason or exc})") from exc
    return certfile, keyfile


def _no_key_password() -> NoReturn:
    # Without it OpenSSL would prompt on the terminal for the passphrase of an encrypted key.
    raise TlsFilesUnusable("The HTTPS key is encrypted: give it unencrypted, readable only by the server's user.")


def base_url(host: str, port: int, https: bool = False) -> str:
    """The URL a browser on this machine opens: a wildcard address stands for every one, loopback included."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"{'https' if https else 'http'}://{shown}:{port}"
