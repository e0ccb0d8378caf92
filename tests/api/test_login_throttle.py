"""Failed logins are throttled per (user, client address), with a looser bound per client address:
a password guesser gets 429 with Retry-After, while other users of the same address and the same user
elsewhere still sign in. The server here allows 3 failures per user and client and 6 per client in a
minute (the defaults are 10 and 100); clients are told apart by their loopback source address."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from opencdm.api.throttle import WINDOW_SECONDS, Attempt, LoginThrottle

from conftest import RunningServer, start_server
from helpers import Tenant, assert_gateway_error, create_tenant

PER_USER = 3
PER_CLIENT = 6


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("throttle-home"), env={
        "OPENCDM_LOGIN_FAILURES": str(PER_USER), "OPENCDM_LOGIN_CLIENT_FAILURES": str(PER_CLIENT)})
    yield running
    running.stop()


def login(server: RunningServer, tenant: Tenant, client: str, password: str | None = None) -> httpx.Response:
    """POST /v3/auth/tokens from the loopback address ``client``."""
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": tenant.user, "password": password or tenant.password, "domain": {"name": "Default"}}}},
        "scope": {"project": {"id": tenant.project_id}},
    }}
    with httpx.Client(transport=httpx.HTTPTransport(local_address=client), timeout=30) as http:
        return http.post(f"{server.url}/v3/auth/tokens", json=body)


def assert_throttled(response: httpx.Response) -> int:
    assert_gateway_error(response, 429, "APIGW.0308")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW_SECONDS
    assert "token" not in response.text.lower() and "X-Subject-Token" not in response.headers
    return retry_after


def test_a_guesser_is_throttled_without_locking_anyone_else_out(guarded: RunningServer) -> None:
    alice, bob = create_tenant(guarded, "alice"), create_tenant(guarded, "bob")
    for _ in range(PER_USER):
        assert_gateway_error(login(guarded, alice, "127.0.0.2", "wrong"), 401, "APIGW.0301")
    # Throttled: even the right password is not checked from this client for now.
    assert_throttled(login(guarded, alice, "127.0.0.2", "wrong"))
    assert_throttled(login(guarded, alice, "127.0.0.2"))
    # Another user from the same client, and the same user from another client, sign in.
    assert login(guarded, bob, "127.0.0.2").status_code == 201
    assert login(guarded, alice, "127.0.0.3").status_code == 201


def test_one_client_trying_many_users_is_throttled_as_a_whole(guarded: RunningServer) -> None:
    users = [create_tenant(guarded, f"spray{index}") for index in range(PER_CLIENT // PER_USER + 1)]
    for user in users[:-1]:
        for _ in range(PER_USER):
            assert_gateway_error(login(guarded, user, "127.0.0.4", "wrong"), 401, "APIGW.0301")
    assert_throttled(login(guarded, users[-1], "127.0.0.4"))
    assert login(guarded, users[-1], "127.0.0.5").status_code == 201


def test_a_successful_login_forgets_the_users_failures(guarded: RunningServer) -> None:
    carol = create_tenant(guarded, "carol")
    for _ in range(PER_USER - 1):
        assert login(guarded, carol, "127.0.0.6", "typo").status_code == 401
    assert login(guarded, carol, "127.0.0.6").status_code == 201
    for _ in range(PER_USER - 1):
        assert login(guarded, carol, "127.0.0.6", "typo").status_code == 401
    assert login(guarded, carol, "127.0.0.6").status_code == 201


def test_failures_leave_the_count_after_a_minute() -> None:
    now = [1000.0]
    throttle = LoginThrottle(per_user=2, per_client=100, clock=lambda: now[0])
    for _ in range(2):
        assert isinstance(throttle.begin("Default", "dave", "10.0.0.1"), Attempt)  # failed: never succeeded()
        now[0] += 10
    assert throttle.begin("Default", "dave", "10.0.0.1") == WINDOW_SECONDS - 20  # the first leaves at +60 s
    now[0] = 1000.0 + WINDOW_SECONDS + 0.5
    assert isinstance(throttle.begin("Default", "dave", "10.0.0.1"), Attempt)
    # The keys of failures out of the window are forgotten (memory follows recent guessing only).
    now[0] += 2 * WINDOW_SECONDS
    throttle.begin("Default", "erin", "10.0.0.2")
    assert ("user", "Default", "dave", "10.0.0.1") not in throttle.failures
