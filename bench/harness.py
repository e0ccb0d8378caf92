"""What bench/run.py and bench/parquet.py share: the paths, the databases, timing a process, an
``opencdm serve`` over HTTP, the results and their table, the machine's description."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import gen_data
import httpx
import psutil
import psycopg
import pymysql

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# The harness runs in the peers' environment, without OpenCDM: it takes the one module it shares with
# the tests (which imports nothing of OpenCDM) from the checkout.
sys.path.insert(0, str(REPO / "src"))
from opencdm.child_server import ChildServer, ServerDidNotStart  # noqa: E402

RESULTS = BENCH / "results"
DOC = REPO / "docs" / "performance.md"
IMG = DOC.parent / "img"
PEERS_PYTHON = BENCH / ".venv-peers" / "bin" / "python"
HOST = "127.0.0.1"  # the only address this benchmark ever talks to
PG_PORT, MY_PORT = 5432, 3306
PG_DSN = gen_data.PG_DSN
SQLITE_DST = gen_data.DATA_DIR / "dst.sqlite"
POLL_SECONDS = 0.2
SAMPLE_SECONDS = 0.1
MIB = 1024 * 1024


class ToolFailed(Exception):
    """A run that did not complete (non-zero exit, FAILED job, timeout)."""


class TreeSampler:
    """Peak of the summed RSS of a process and all its descendants, sampled every 0.1 s.

    Summing the tree is what a user pays: the OpenCDM server plus its worker processes, or a peer's
    interpreter plus whatever it spawns (sling, psql). Sampling can miss a spike shorter than 0.1 s.
    """

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> int:
        total = 0
        with contextlib.suppress(psutil.Error):
            processes = [self.root, *self.root.children(recursive=True)]
            for process in processes:
                with contextlib.suppress(psutil.Error):
                    total += process.memory_info().rss
        self.peak = max(self.peak, total)
        return total

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()

    def __enter__(self) -> TreeSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return self.peak / MIB


def run_process(argv: Sequence[str], env: dict[str, str], log: Path, timeout: float) -> tuple[float, float]:
    """Run a command (its own process group), timed, with its tree's peak RSS; raise ToolFailed on error."""
    with open(log, "wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        with TreeSampler(process.pid) as sampler:
            try:
                returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the group we created, nothing else
                process.wait()
                raise ToolFailed(f"timed out after {timeout:.0f} s") from None
        wall = time.monotonic() - started
    if returncode != 0:
        raise ToolFailed(f"exit code {returncode}: {_last_error(log)}")
    return wall, sampler.peak_mib


def _last_error(log: Path) -> str:
    """The line of a failed command's output most likely to name the cause (peers end with warnings)."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"(Error|Exception|FATAL|fatal)\b", line)]
    return (errors or lines or ["no output"])[-1][:300]


def pg(sql: str, *, fetch: bool = False) -> list[tuple[Any, ...]]:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if fetch else []


def mysql(sql: str, *, fetch: bool = False) -> list[tuple[Any, ...]]:
    conn = pymysql.connect(**gen_data.MY_PARAMS, database=gen_data.SCHEMA, charset="utf8mb4", autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SET time_zone = '+00:00'")  # TIMESTAMP values read as UTC, as they were written
            cursor.execute(sql)
            return list(cursor.fetchall()) if fetch else []
    finally:
        conn.close()


def source_bytes(kind: str, pg_name: str = "src") -> int:
    """The MB basis of a route: PG heap size, InnoDB data_length, or the SQLite file."""
    if kind == "pg":
        return int(pg(f"SELECT pg_relation_size('bench.{pg_name}')", fetch=True)[0][0])
    if kind == "mysql":
        return int(mysql(
            "SELECT data_length FROM information_schema.TABLES WHERE table_schema = 'bench' AND table_name = 'src'",
            fetch=True,
        )[0][0])
    return gen_data.SQLITE_PATH.stat().st_size


# --- OpenCDM over HTTP ---------------------------------------------------------------------------


def _configs(name: str, inputs: dict[str, str]) -> dict[str, Any]:
    return {"configs": [{"name": name, "inputs": [{"name": k, "value": v} for k, v in inputs.items()]}]}


class OpenCdmServer:
    """A fresh ``opencdm serve`` of this checkout on a free loopback port, with its own OPENCDM_HOME."""

    def __init__(self, python: str, home: Path, settings: dict[str, str] | None = None) -> None:
        self.home = home
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCDM_")}
        env.update(settings or {})
        try:
            child = ChildServer.start(python, home, env, home / "server.log", cwd=REPO)
        except ServerDidNotStart as exc:
            raise ToolFailed(f"opencdm serve {exc.what}: {exc.log[-800:]}") from exc
        self.port, self.process, self.url, self.cdm = child.port, child.process, child.url, child.cdm
        self.http = httpx.Client(base_url=self.url, timeout=60)
        self.http.headers["X-Auth-Token"] = self._token(child.credentials)
        self._links: dict[str, str] = {}

    def _token(self, creds: dict[str, str]) -> str:
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": creds["user"], "password": creds["password"], "domain": {"name": "Default"}}}},
            "scope": {"project": {"id": creds["project_id"]}},
        }}
        response = httpx.post(f"{self.url}/v3/auth/tokens", json=body, timeout=30)
        response.raise_for_status()
        return response.headers["X-Subject-Token"]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.request(method, self.cdm + path, json=body)
        if response.status_code >= 400:
            raise ToolFailed(f"{method} {path}: HTTP {response.status_code} {response.text[:400]}")
        return response.json() if response.content else {}

    def link_for(self, kind: str, destination: bool = False) -> str:
        """The link of a database, created on first use (SQLite: one file to read, one to write)."""
        name = f"bench-{kind}" + ("-dst" if kind == "sqlite" and destination else "")
        if name in self._links:
            return name
        inputs = {
            "pg": {"linkConfig.databaseType": "POSTGRESQL", "linkConfig.host": HOST, "linkConfig.port": str(PG_PORT),
                   "linkConfig.database": "test", "linkConfig.username": "postgres", "linkConfig.password": ""},
            "mysql": {"linkConfig.databaseType": "MYSQL", "linkConfig.host": HOST, "linkConfig.port": str(MY_PORT),
                      "linkConfig.database": gen_data.SCHEMA, "linkConfig.username": "root",
                      "linkConfig.password": ""},
            "sqlite": {"linkConfig.databaseType": "SQLITE",
                       "linkConfig.database": str(SQLITE_DST if destination else gen_data.SQLITE_PATH)},
        }[kind]
        self._call("POST", "/link", {"links": [{
            "name": name, "connector-name": "generic-jdbc-connector", "enabled": True,
            "link-config-values": _configs("linkConfig", inputs),
        }]})
        self._links[name] = name
        return name

    def create_job(self, name: str, *, from_link: str, to_link: str, from_inputs: dict[str, str],
                   to_inputs: dict[str, str], extractors: int, to_connector: str = "generic-jdbc-connector") -> None:
        self._call("POST", "/job", {"jobs": [{
            "name": name, "job_type": "NORMAL_JOB",
            "from-connector-name": "generic-jdbc-connector", "from-link-name": from_link,
            "to-connector-name": to_connector, "to-link-name": to_link,
            "from-config-values": _configs("fromJobConfig", from_inputs),
            "to-config-values": _configs("toJobConfig", to_inputs),
            "driver-config-values": _configs("throttlingConfig", {"throttlingConfig.numExtractors": str(extractors)}),
        }]})

    def run_job(self, name: str, timeout: float) -> tuple[float, dict[str, Any]]:
        """Wall time from the StartJob request to SUCCEEDED as seen by this client (polled every 0.2 s)."""
        started = time.monotonic()
        self._call("PUT", f"/job/{name}/start", {"variables": {}})
        while True:
            time.sleep(POLL_SECONDS)
            submission = self._call("GET", f"/job/{name}/status")["submissions"][0]
            if submission["status"] == "SUCCEEDED":
                return time.monotonic() - started, submission
            if submission["status"] not in ("BOOTING", "RUNNING"):
                summary = submission.get("error-summary") or submission.get("error_summary") or submission
                raise ToolFailed(f"job {submission['status']}: {str(summary)[:400]}")
            if time.monotonic() - started > timeout:
                with contextlib.suppress(ToolFailed):
                    self._call("PUT", f"/job/{name}/stop")
                raise ToolFailed(f"timed out after {timeout:.0f} s")

    def idle_rss_mib(self) -> float:
        return TreeSampler(self.process.pid).sample() / MIB

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Run:
    wall: float | None
    peak_rss_mib: float | None
    check: str
    cpu_busy_percent: float | None = None


@dataclass
class Result:
    id: str
    route: str
    tool: str
    note: str
    rows: int
    copied_rows: int
    scale: float
    source_bytes: int
    runs: list[Run] = field(default_factory=list)
    unavailable: str | None = None

    def good(self) -> list[Run]:
        return [r for r in self.runs if r.wall is not None and r.check.startswith("OK")]

    def median(self) -> float | None:
        walls = [r.wall * self.scale for r in self.good() if r.wall is not None]
        return statistics.median(walls) if walls else None

    def walls(self) -> list[float]:
        return [r.wall * self.scale for r in self.good() if r.wall is not None]

    def peak(self) -> float | None:
        peaks = [r.peak_rss_mib for r in self.good() if r.peak_rss_mib is not None]
        return max(peaks) if peaks else None

    def cpu_busy(self) -> float | None:
        shares = [r.cpu_busy_percent for r in self.good() if r.cpu_busy_percent is not None]
        return statistics.median(shares) if shares else None

    @classmethod
    def load(cls, data: dict[str, Any]) -> Result:
        runs = [Run(**run) for run in data.pop("runs")]
        return cls(**data, runs=runs)


QUIET_CPU_PERCENT = 15.0  # of all cores
QUIET_WINDOW_SECONDS = 2.0
QUIET_MAX_WAIT_SECONDS = 120.0


def wait_until_quiet() -> None:
    """Wait until the machine is idle for a moment: autovacuum of the last run's table, InnoDB's
    page flushing or a checkpoint would otherwise land inside the next timed run."""
    deadline = time.monotonic() + QUIET_MAX_WAIT_SECONDS
    psutil.cpu_percent()
    while time.monotonic() < deadline:
        if psutil.cpu_percent(interval=QUIET_WINDOW_SECONDS) < QUIET_CPU_PERCENT:
            return
    print(f"  (machine still busy after {QUIET_MAX_WAIT_SECONDS:.0f} s; running anyway)", flush=True)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    pg_settings = pg("SELECT version(), current_setting('shared_buffers'), current_setting('max_wal_size')",
                     fetch=True)[0]
    my_settings = mysql("SELECT version(), @@innodb_buffer_pool_size, @@innodb_flush_log_at_trx_commit", fetch=True)[0]

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "src"], capture_output=True, text=True)
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "ram": f"{psutil.virtual_memory().total / 1024**3:.1f} GiB",
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": f"{pg_settings[0].split(' on ')[0]} "
                      f"(shared_buffers {pg_settings[1]}, max_wal_size {pg_settings[2]})",
        "mariadb": f"{my_settings[0]} (innodb_buffer_pool_size {int(my_settings[1]) // MIB} MiB, "
                   f"innodb_flush_log_at_trx_commit {my_settings[2]})",
        "opencdm": f"{commit.stdout.strip()}{' + uncommitted changes in src/' if dirty.stdout.strip() else ''}",
        "peers": ", ".join(f"{p} {version(p)}" for p in ("dlt", "sling-linux-amd64", "pandas", "SQLAlchemy",
                                                          "connectorx", "adbc-driver-postgresql", "pyarrow")),
    }


def _save(kind: str, data: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{kind}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False))
