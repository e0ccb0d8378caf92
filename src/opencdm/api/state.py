"""What the API needs at run time, held on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from opencdm.engine.supervisor import Supervisor
from opencdm.settings import Settings
from opencdm.store.db import Store
from opencdm.store.secrets import SecretBox


@dataclass
class ServerState:
    settings: Settings
    store: Store
    box: SecretBox
    supervisor: Supervisor


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.opencdm
    return state
