"""Many clients at once: every request is answered, none waits on another's store connection."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import RunningServer, start_server
from helpers import job_body, signed_headers, sqlite_link_body, sqlite_source

CLIENTS = 64


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of this module's own: if it froze, no other test would be stuck behind it."""
    files = tmp_path_factory.mktemp("concurrency-files")
    running = start_server(tmp_path_factory.mktemp("concurrency-home"), env={"OPENCDM_FILE_ROOTS": str(files)})
    running.files = files  # type: ignore[attr-defined]
    yield running
    running.stop()


def _prepare_job(server: RunningServer) -> str:
    files: Path = server.files  # type: ignore[attr-defined]
    with server.client() as api:
        source = sqlite_source(files / "source.db")
        assert api.post(f"{server.cdm}/link", json=sqlite_link_body("src", source)).status_code == 200
        target = sqlite_link_body("dst", files / "target.db")
        assert api.post(f"{server.cdm}/link", json=target).status_code == 200
        assert api.post(f"{server.cdm}/job", json=job_body("busy", "src", "dst")).status_code == 200
    return "busy"


def test_64_concurrent_clients_are_all_answered(busy_server: RunningServer) -> None:
    """More clients than store connections (15) and than request threads (40), token and AK/SK
    authenticated, on every kind of route: each request gets its answer, none a 5xx."""
    job = _prepare_job(busy_server)
    token = busy_server.token()
    creds = busy_server.credentials
    cdm = busy_server.cdm
    reads = [f"{cdm}/job/all", f"{cdm}/job/{job}/status", f"{cdm}/link/src",
             f"/v1.1/{busy_server.project_id}/clusters", f"{cdm}/submissions?jname={job}"]

    async def one_client(number: int, client: httpx.AsyncClient) -> list[int]:
        statuses = []
        for round_ in range(4):
            target = reads[(number + round_) % len(reads)]
            if number % 2:
                headers = signed_headers(busy_server.url, "GET", target, creds["access_key"], creds["secret_key"],
                                         busy_server.project_id)
            else:
                headers = {"X-Auth-Token": token}
            response = await client.get(target, headers=headers)
            statuses.append(response.status_code)
        statuses.append((await client.get("/openapi.json")).status_code)
        return statuses

    async def all_clients() -> list[int]:
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=busy_server.url, timeout=60, limits=limits) as client:
            results = await asyncio.gather(*(one_client(n, client) for n in range(CLIENTS)))
        return [status for statuses in results for status in statuses]

    statuses = asyncio.run(all_clients())
    assert Counter(statuses) == Counter({200: CLIENTS * 5}), Counter(statuses)


@pytest.mark.parametrize("kind", ["job", "link"])
def test_concurrent_deletes_succeed_exactly_once(busy_server: RunningServer, kind: str) -> None:
    files: Path = busy_server.files  # type: ignore[attr-defined]
    with busy_server.client() as api:
        body = job_body("doomed", "src", "dst") if kind == "job" else sqlite_link_body("doomed", files / "d.db")
        assert api.post(f"{busy_server.cdm}/{kind}", json=body).status_code == 200
    token = busy_server.token()
    statuses: list[int] = []
    codes: list[str] = []
    barrier = threading.Barrier(20)

    def delete() -> None:
        with httpx.Client(base_url=busy_server.url, headers={"X-Auth-Token": token}, timeout=60) as client:
            barrier.wait()
            response = client.delete(f"{busy_server.cdm}/{kind}/doomed")
        statuses.append(response.status_code)
        if response.status_code != 200:
            codes.append(response.json()["errCode"])

    threads = [threading.Thread(target=delete) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(200) == 1, statuses
    assert codes == [{"job": "Cdm.0100", "link": "Cdm.0101"}[kind]] * 19, codes
