"""What the API needs at run time, held on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from opencdm.api.throttle import LoginThrottle
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
    login_throttle: LoginThrottle = field(init=False)

    def __post_init__(self) -> None:
        self.login_throttle = LoginThrottle(
            self.settings.login_failures_per_user, self.settings.login_failures_per_client
        )


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.opencdm
    return state
