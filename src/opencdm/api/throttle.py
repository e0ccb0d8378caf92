"""Failed logins slow a password guesser down: ``POST /v3/auth/tokens`` answers 429 once a client has
failed too often in the last minute, for one user or for all users together.

Keyed by (user, client address), so a guesser from one address locks neither that user out
elsewhere nor the other users of that address; the looser per-address bound stops one address
from trying a few passwords on each of many users. Counted in memory by each server: with several
servers behind one address, each counts its own (docs/decisions/0015-replays-and-login-throttle.md).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Attempt:
    """A login being checked, already counted as a failure so that concurrent guesses count too."""

    user_key: tuple[str, str, str, str]
    client_key: tuple[str, str]
    at: float


class LoginThrottle:
    """Not thread-safe: used by the token route on the event loop only."""

    def __init__(self, per_user: int, per_client: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_user = per_user
        self.per_client = per_client
        self.clock = clock
        self.failures: dict[tuple[str, ...], deque[float]] = {}
        self.swept_at = clock()

    def _recent(self, key: tuple[str, ...], now: float) -> deque[float]:
        stamps = self.failures.setdefault(key, deque())
        while stamps and stamps[0] <= now - WINDOW_SECONDS:
            stamps.popleft()
        return stamps

    def _sweep(self, now: float) -> None:
        """Forget the keys with no failure left in the window, so that memory follows recent guessing."""
        if now - self.swept_at < WINDOW_SECONDS:
            return
        self.swept_at = now
        for key in [key for key, stamps in self.failures.items() if not stamps or stamps[-1] <= now - WINDOW_SECONDS]:
            del self.failures[key]

    def begin(self, domain: str, user: str, client: str) -> Attempt | int:
        """The attempt to check, or the seconds to wait (Retry-After) before this one may be tried."""
        now = self.clock()
        self._sweep(now)
        attempt = Attempt(("user", domain, user, client), ("client", client), now)
        wait = 0.0
        for key, limit in ((attempt.user_key, self.per_user), (attempt.client_key, self.per_client)):
            stamps = self._recent(key, now)
            if len(stamps) >= limit:
                # Allowed again once the failures beyond limit - 1 have left the window.
                wait = max(wait, stamps[len(stamps) - limit] + WINDOW_SECONDS - now)
        if wait > 0:
            return max(1, math.ceil(wait))
        self.failures[attempt.user_key].append(now)
        self.failures[attempt.client_key].append(now)
        return attempt

    def succeeded(self, attempt: Attempt) -> None:
        """A right password: the user's failures from this client are forgotten, and this attempt."""
        self.failures.pop(attempt.user_key, None)
        client = self.failures.get(attempt.client_key)
        if client is not None and attempt.at in client:
            client.remove(attempt.at)
