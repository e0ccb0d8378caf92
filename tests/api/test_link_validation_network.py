"""Link validation (``POST .../link?validate=true``) against peers that are not what the link says:
every connection the server opens has a connect and a read timeout (OPENCDM_CONNECT_TIMEOUT), and
the answer says "cannot connect to host:port" rather than what another kind of service answered,
so that links cannot read the banners of a host's ports. A database's own refusal (a wrong
password, an unknown database) is still reported as the database words it."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest

from conftest import RunningServer, config_values, mysql_link, pg_link, start_server

TIMEOUT_SECONDS = "2"


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("quick-timeout-home"),
                           env={"OPENCDM_CONNECT_TIMEOUT": TIMEOUT_SECONDS})
    yield running
    running.stop()


class Peer:
    """A TCP service on 127.0.0.1: it accepts connections and either never says a word (``answer``
    None) or sends ``answer`` (after reading what the client sent first, if anything) and hangs up."""

    def __init__(self, answer: bytes | None) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.answer is None:
                self.held.append(conn)  # open and silent until the test ends
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        assert self.answer is not None
        with conn:
            conn.settimeout(0.5)
            try:
                conn.sendall(self.answer)  # banner-first protocols speak before the client
                conn.recv(4096)
            except OSError:
                pass

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def peer(request: pytest.FixtureRequest) -> Iterator[Peer]:
    running = Peer(request.param)
    yield running
    running.close()


def validate(server: RunningServer, connector: str, inputs: dict[str, str]) -> list[str]:
    """The validation messages of a link (none: it works); the answer must come well within 20 s."""
    with httpx.Client(base_url=server.url, headers={"X-Auth-Token": server.token()}, timeout=20) as api:
        response = api.post(f"{server.cdm}/link?validate=true", json={"links": [{
            "name": f"v_{uuid.uuid4().hex[:8]}", "connector-name": connector, "enabled": True,
            "link-config-values": config_values("linkConfig", inputs)}]})
    body = response.json()
    if response.status_code == 200:
        assert body["validation-result"] == [], body
        return []
    # CDM's answer to a link that does not work (docs/decisions/0007-link-validation-answer.md).
    assert response.status_code == 500 and set(body) == {"validation-result"}, response.text
    return [item["message"] for result in body["validation-result"] for item in result["linkConfig"]]


def peer_links(port: int) -> dict[str, tuple[str, dict[str, str]]]:
    """A PostgreSQL, a MySQL and an obs link, each aimed at 127.0.0.1:port."""
    return {
        "postgresql": ("generic-jdbc-connector", pg_link() | {"linkConfig.host": "127.0.0.1",
                                                               "linkConfig.port": str(port)}),
        "mysql": ("generic-jdbc-connector", mysql_link("test") | {"linkConfig.host": "127.0.0.1",
                                                                   "linkConfig.port": str(port)}),
        "obs": ("obs-connector", {"linkConfig.server": "127.0.0.1", "linkConfig.port": str(port),
                                  "linkConfig.protocol": "http", "linkConfig.accessKey": "ak",
                                  "linkConfig.securityKey": "sk"}),
    }


@pytest.mark.parametrize("peer", [None], indirect=True)
@pytest.mark.parametrize("kind", ["postgresql", "mysql", "obs"])
def test_validation_of_a_silent_peer_ends_with_the_timeout(quick_server: RunningServer, peer: Peer, kind: str) -> None:
    connector, inputs = peer_links(peer.port)[kind]
    messages = validate(quick_server, connector, inputs)
    assert len(messages) == 1 and f"cannot connect to 127.0.0.1:{peer.port}" in messages[0], messages


@pytest.mark.parametrize("peer", [
    b"SSH-2.0-SECRETBANNER\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nSECRETBODY",
    b"HTTP/1.1 500 SECRETSTATUS\r\nContent-Type: application/xml\r\nContent-Length: 59\r\n\r\n"
    b"<Error><Code>SECRETCODE</Code><Message>SECRET</Message></Error>",
    b"EFATAL SECRET\x00",
], indirect=True)
@pytest.mark.parametrize("kind", ["postgresql", "mysql", "obs"])
def test_validation_never_repeats_what_another_service_answered(
    quick_server: RunningServer, peer: Peer, kind: str
) -> None:
    connector, inputs = peer_links(peer.port)[kind]
    messages = validate(quick_server, connector, inputs)
    assert len(messages) == 1, messages
    assert "SECRET" not in messages[0]
    assert f"cannot connect to 127.0.0.1:{peer.port}" in messages[0], messages


def test_the_database_s_own_refusals_are_still_reported(
    quick_server: RunningServer, pg_available: None, mysql_available: None
) -> None:
    messages = validate(quick_server, "generic-jdbc-connector", mysql_link("test") | {"linkConfig.password": "wrong"})
    assert len(messages) == 1 and "Access denied for user" in messages[0], messages
    # PostgreSQL trusts loopback connections here: its refusals are of an unknown role or database.
    messages = validate(quick_server, "generic-jdbc-connector", pg_link() | {"linkConfig.username": "no_such_role"})
    assert len(messages) == 1 and 'role "no_such_role" does not exist' in messages[0], messages
    messages = validate(quick_server, "generic-jdbc-connector", pg_link() | {"linkConfig.database": "no_such_db"})
    assert len(messages) == 1 and 'database "no_such_db" does not exist' in messages[0], messages
    assert validate(quick_server, "generic-jdbc-connector", pg_link()) == []
    assert validate(quick_server, "generic-jdbc-connector", mysql_link("test")) == []
