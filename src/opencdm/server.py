"""``opencdm serve``: open the store, bootstrap on first start, run the API with uvicorn."""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

import uvicorn

from opencdm.api.app import create_app, open_state
from opencdm.api.state import ServerState
from opencdm.logs import configure_logging
from opencdm.service.iam import bootstrap
from opencdm.settings import Settings

log = logging.getLogger("opencdm")


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


def serve(host: str, port: int, settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_format)
    state = open_bootstrapped_state(settings)
    log.info("OpenCDM data directory: %s", settings.home)
    base = base_url(host, port)
    print(f"OpenCDM API on {base}, web console at {base}/console/", flush=True)
    uvicorn.run(create_app(state), host=host, port=port, log_level="info", timeout_graceful_shutdown=15,
                # Our own log setup (opencdm.logs), and our own request lines (api.metrics.RequestLog).
                log_config=None, access_log=False)


def base_url(host: str, port: int) -> str:
    """The URL a browser on this machine opens: a wildcard address stands for every one, loopback included."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"
