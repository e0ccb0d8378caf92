"""``opencdm serve`` in a child process on a loopback port, started and waited for: what the tests'
servers (tests/conftest.py) and the benchmarks' (bench/harness.py, bench/concurrency.py) share.

It imports nothing of OpenCDM, only httpx, so that the benchmark harness, which runs in the peers'
environment where OpenCDM is not installed, can take it from the checkout.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import httpx

HOST = "127.0.0.1"
READY_SECONDS = 60


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ServerDidNotStart(RuntimeError):
    """The server exited, or did not answer in time (it is killed then); ``log`` holds what it wrote."""

    def __init__(self, what: str, log: str) -> None:
        super().__init__(f"server {what}: {log}")
        self.what, self.log = what, log


@dataclass
class ChildServer:
    """An ``opencdm serve`` answering on loopback, with the bootstrap credentials of its home."""

    home: Path
    port: int
    process: subprocess.Popen[bytes]
    credentials: dict[str, str]
    log_path: Path
    # The CA that signed the certificate the server serves HTTPS with; None: it serves HTTP.
    ca_file: Path | None = None

    @property
    def url(self) -> str:
        return _url(self.port, self.ca_file)

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What an httpx client passes as ``verify`` to trust this server."""
        return _trusting(self.ca_file)

    @property
    def cdm(self) -> str:
        """Path prefix of the (bootstrap) cluster's CDM resources."""
        return f"/v1.1/{self.credentials['project_id']}/clusters/{self.credentials['cluster_id']}/cdm"

    @classmethod
    def start(
        cls, python: str, home: Path, environment: Mapping[str, str], log_path: Path, *, port: int | None = None,
        wrapper: Sequence[str] = (), cwd: Path | None = None, ca_file: Path | None = None,
        options: Sequence[str] = (),
    ) -> Self:
        """``python -m opencdm serve [options]`` on ``port`` (a free one by default) with ``environment`` and
        OPENCDM_HOME=``home``, run by ``wrapper`` if any (e.g. with fewer privileges), its output to
        ``log_path``; returned once it answers. With ``ca_file``, ``environment`` gives the server a
        certificate that CA signed (OPENCDM_SSL_CERTFILE, OPENCDM_SSL_KEYFILE, or ``options``): it is reached
        over HTTPS."""
        port = port or free_port()
        home.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [*wrapper, python, "-m", "opencdm", "serve", "--host", HOST, "--port", str(port), *options],
                env={**environment, "OPENCDM_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=cwd,
            )
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerDidNotStart("exited", log_path.read_text(errors="replace"))
            try:
                httpx.get(f"{_url(port, ca_file)}/openapi.json", timeout=1, verify=_trusting(ca_file))
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            process.kill()
            raise ServerDidNotStart(f"did not answer within {READY_SECONDS} s", log_path.read_text(errors="replace"))
        credentials = json.loads((home / "credentials.json").read_text())
        return cls(home, port, process, credentials, log_path, ca_file)


def _url(port: int, ca_file: Path | None) -> str:
    return f"{'https' if ca_file else 'http'}://{HOST}:{port}"


def _trusting(ca_file: Path | None) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
