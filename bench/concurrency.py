"""Concurrency benchmark: many API clients at once against one ``opencdm serve``.

N concurrent clients (default 50) for D seconds (default 60) on ShowJobs (``GET …/cdm/job/all``),
ShowJobStatus (``GET …/cdm/job/{name}/status``) and StartJob/StopJob churn (``PUT …/start``,
``PUT …/stop``) on a few small SQLite → SQLite jobs; most clients send an X-Auth-Token, some sign
every request with AK/SK (SDK-HMAC-SHA256, each request signed anew, each with its own key pair).
Then it waits for every run to settle, counts stuck runs, and reports latency per operation, errors
and the server's RSS (sampled every second from /proc). Results go to bench/results/concurrency.json
and their own section of docs/performance.md. See bench/README.md ("Concurrency").

Only 127.0.0.1: the server is started here on a free loopback port with a temporary OPENCDM_HOME.

    PYTHONPATH=src .venv/bin/python bench/concurrency.py [--clients 50] [--duration 60] [--procs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import math
import multiprocessing
import os
import random
import re
import shlex
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
# Also imported from the peers' environment (bench/dask_scaling.py, bench/run.py), without OpenCDM: the
# module shared with the tests (which imports nothing of OpenCDM) comes from the checkout.
sys.path.insert(0, str(REPO / "src"))
from doc_sections import write_section  # noqa: E402

from opencdm.child_server import ChildServer  # noqa: E402

RESULTS = REPO / "bench" / "results"
DOC = REPO / "docs" / "performance.md"
SECTION = "## Concurrency (API under load)"
READS = ("ShowJobs", "ShowJobStatus")
OPS = ("ShowJobs", "ShowJobStatus", "StartJob", "StopJob")
ACTIVE = ("BOOTING", "RUNNING")
# Targets of the concurrency issue.
P99_TARGET_MS = 100.0
RSS_BAND = 0.10

# --- the server -----------------------------------------------------------------------------------


def start_server(home: Path, file_root: Path, python: str, worker_nice: int | None = None) -> ChildServer:
    """``opencdm serve`` on a free loopback port, its local paths under ``file_root``."""
    env = {k: v for k, v in os.environ.items() if k != "OPENCDM_DATABASE_URL"}
    env["OPENCDM_FILE_ROOTS"] = str(file_root)
    if worker_nice is not None:
        env["OPENCDM_WORKER_NICE"] = str(worker_nice)
    return ChildServer.start(python, home, env, home / "server.log")


def token(server: ChildServer) -> str:
    import httpx

    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": server.credentials["user"], "password": server.credentials["password"],
            "domain": {"name": "Default"}}}},
        "scope": {"project": {"id": server.credentials["project_id"]}},
    }}
    response = httpx.post(f"{server.url}/v3/auth/tokens", json=body, timeout=30)
    response.raise_for_status()
    return response.headers["X-Subject-Token"]


def access_keys(server: ChildServer, python: str, count: int) -> list[tuple[str, str]]:
    """``count`` AK/SK pairs of the admin (one per signed client), made with the admin CLI."""
    env = {**os.environ, "OPENCDM_HOME": str(server.home)}
    env.pop("OPENCDM_DATABASE_URL", None)
    pairs = [(server.credentials["access_key"], server.credentials["secret_key"])]
    while len(pairs) < count:
        out = subprocess.run(
            [python, "-m", "opencdm", "admin", "ak", "create", "--user", server.credentials["user"],
             "--project", server.credentials["project_id"], "--json"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout
        created = json.loads(out[out.index("{"):])
        pairs.append((created["access_key"], created["secret_key"]))
    return pairs[:count]


def inputs(config: str, values: dict[str, str]) -> dict[str, Any]:
    return {"name": config, "inputs": [{"name": k, "value": v} for k, v in values.items()]}


def setup_jobs(server: ChildServer, data: Path, links: int, jobs: int, idle_jobs: int, rows: int) -> list[str]:
    """``links`` SQLite links (one database file each, table ``t`` of ``rows`` rows), ``jobs`` churn jobs
    spread over them (each its own destination table, cleared before each run) and ``idle_jobs`` that
    never run (ShowJobs lists them too). Returns the churn jobs' names."""
    import httpx

    with httpx.Client(base_url=server.url, headers={"X-Auth-Token": token(server)}, timeout=30) as api:
        for i in range(links):
            path = data / f"db{i}.sqlite"
            with sqlite3.connect(path) as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name VARCHAR(20))")
                conn.executemany("INSERT OR REPLACE INTO t VALUES (?, ?)", [(r, f"n{r}") for r in range(rows)])
            response = api.post(f"{server.cdm}/link", json={"links": [{
                "name": f"sqlite{i}", "connector-name": "generic-jdbc-connector", "enabled": True,
                "link-config-values": {"configs": [inputs("linkConfig", {
                    "linkConfig.databaseType": "SQLITE", "linkConfig.database": str(path)})]}}]})
            response.raise_for_status()
        names = [f"churn{j}" for j in range(jobs)] + [f"idle{j}" for j in range(idle_jobs)]
        for j, name in enumerate(names):
            link = f"sqlite{j % links}"
            response = api.post(f"{server.cdm}/job", json={"jobs": [{
                "name": name, "job_type": "NORMAL_JOB",
                "from-connector-name": "generic-jdbc-connector", "from-link-name": link,
                "to-connector-name": "generic-jdbc-connector", "to-link-name": link,
                "from-config-values": {"configs": [inputs("fromJobConfig", {"fromJobConfig.tableName": "t"})]},
                "to-config-values": {"configs": [inputs("toJobConfig", {
                    "toJobConfig.tableName": f"t_{name}", "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST",
                    "toJobConfig.beforeImportType": "shouldClearTable"})]},
                "driver-config-values": {"configs": [inputs("throttlingConfig", {
                    "throttlingConfig.numExtractors": "1"})]}}]})
            response.raise_for_status()
        # One run of each churn job before the load, so the first runs' table creation is not measured.
        for name in names[:jobs]:
            api.put(f"{server.cdm}/job/{name}/start").raise_for_status()
        wait_settled(api, server, names[:jobs], 60)
    return names[:jobs]


def wait_settled(api: Any, server: ChildServer, names: list[str], bound: float) -> tuple[float, list[str]]:
    """Poll the jobs' status until none is BOOTING/RUNNING, at most ``bound`` s: (seconds, still active)."""
    started = time.monotonic()
    active = list(names)
    while active:
        active = [n for n in active
                  if api.get(f"{server.cdm}/job/{n}/status").json()["submissions"][0]["status"] in ACTIVE]
        if not active or time.monotonic() - started > bound:
            break
        time.sleep(0.25)
    return time.monotonic() - started, active


# --- /proc sampling -------------------------------------------------------------------------------


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """Children, grandchildren, …: job workers are children of the server's fork server."""
    found = children(pid)
    for child in list(found):
        found.extend(descendants(child))
    return found


def workers_cpu_seconds(server_pid: int) -> float:
    """CPU time of everything the server started (fork server, job workers, their partitions):
    live ones and those already reaped by their parent."""
    total = cpu_seconds(server_pid)[1]
    for pid in descendants(server_pid):
        try:
            total += sum(cpu_seconds(pid))
        except OSError:  # ended meanwhile: its parent counts it once reaped
            continue
    return total


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User + system CPU time of ``pid`` itself, and of its children that ended (reaped)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def machine_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


@dataclass
class Sampler:
    server_pid: int
    samples: list[dict[str, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            kids = descendants(self.server_pid)
            server = rss_kib(self.server_pid) or 0
            workers = sum(rss_kib(k) or 0 for k in kids)
            self.samples.append({"t": time.time(), "server_kib": server, "workers_kib": workers,
                                 "workers": len(kids)})
            self._stop.wait(1.0)


# --- the clients ----------------------------------------------------------------------------------

SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


def sign(method: str, url_path: str, host: str, project_id: str, access_key: str, secret_key: str,
         body: bytes = b"") -> dict[str, str]:
    """Headers of an SDK-HMAC-SHA256 signed request (as the Huawei SDK signs: cdm-api.md §4.1)."""
    headers = {
        "content-type": "application/json",
        "host": host,
        "user-agent": "huaweicloud-usdk-python/3.0",
        "x-project-id": project_id,
        "x-sdk-date": datetime.now(UTC).strftime(SDK_DATE_FORMAT),
    }
    signed = sorted(headers)
    canonical_uri = "/".join(quote(segment, safe="~") for segment in url_path.split("/"))
    if not canonical_uri.endswith("/"):
        canonical_uri += "/"
    canonical = "\n".join([
        method, canonical_uri, "", "".join(f"{n}:{headers[n]}\n" for n in signed), ";".join(signed),
        hashlib.sha256(body).hexdigest(),
    ])
    to_sign = f"SDK-HMAC-SHA256\n{headers['x-sdk-date']}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(secret_key.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"SDK-HMAC-SHA256 Access={access_key}, SignedHeaders={';'.join(signed)}, "
                                f"Signature={signature}")
    return headers


@dataclass
class ClientSpec:
    index: int
    role: str  # "ShowJobs", "ShowJobStatus" or "churn"
    token: str | None  # X-Auth-Token, or None: signed with ``keys``
    keys: tuple[str, str] | None


@dataclass
class LoadPlan:
    url: str
    cdm: str
    project_id: str
    jobs: list[str]
    start_at: float  # time.time() at which every client begins
    stop_at: float
    think: float
    churn_hold: float
    churn_pause: float
    timeout: float
    seed: int


def classify(op: str, status: int, body: bytes) -> str:
    if status == 200:
        return "ok"
    code = ""
    text = ""
    try:
        parsed = json.loads(body)
        code = str(parsed.get("errCode") or parsed.get("error_code") or "")
        text = str(parsed.get("externalMessage") or parsed.get("error_msg") or "")
    except (ValueError, AttributeError):
        pass
    if status == 400 and ((op == "StartJob" and code == "Cdm.0052") or (op == "StopJob" and code == "Cdm.0053")):
        return "refused"
    if status == 401 and "replay" in text:
        return "replay"
    return f"error:{status}:{code}"


async def run_client(spec: ClientSpec, plan: LoadPlan, records: list[tuple[str, float, float, str]]) -> None:
    import httpx

    rng = random.Random(plan.seed * 1000 + spec.index)
    host = plan.url.removeprefix("http://")
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=plan.url, timeout=plan.timeout, limits=limits) as client:

        async def call(op: str, method: str, path: str) -> str:
            if spec.keys is not None:
                headers = sign(method, path, host, plan.project_id, *spec.keys)
            else:
                headers = {"X-Auth-Token": spec.token or ""}
            sent = time.time()
            began = time.perf_counter()
            try:
                response = await client.request(method, path, headers=headers)
                outcome = classify(op, response.status_code, response.content)
            except httpx.TimeoutException:
                outcome = "error:timeout"
            except httpx.HTTPError as exc:
                outcome = f"error:{type(exc).__name__}"
            records.append((op, sent, time.perf_counter() - began, outcome))
            return outcome

        await asyncio.sleep(max(0.0, plan.start_at - time.time()) + rng.random() * 0.05)
        while time.time() < plan.stop_at:
            if spec.role == "ShowJobs":
                await call("ShowJobs", "GET", f"{plan.cdm}/job/all")
                if plan.think:
                    await asyncio.sleep(rng.uniform(0, 2 * plan.think))
            elif spec.role == "ShowJobStatus":
                await call("ShowJobStatus", "GET", f"{plan.cdm}/job/{rng.choice(plan.jobs)}/status")
                if plan.think:
                    await asyncio.sleep(rng.uniform(0, 2 * plan.think))
            else:
                job = rng.choice(plan.jobs)
                await call("StartJob", "PUT", f"{plan.cdm}/job/{job}/start")
                await asyncio.sleep(rng.uniform(0, 2 * plan.churn_hold))
                await call("StopJob", "PUT", f"{plan.cdm}/job/{job}/stop")
                await asyncio.sleep(rng.uniform(0, 2 * plan.churn_pause))


def client_process(specs: list[ClientSpec], plan: LoadPlan) -> dict[str, Any]:
    """One client process: its clients on one asyncio loop; returns the records and its CPU time."""
    records: list[tuple[str, float, float, str]] = []

    async def main() -> None:
        await asyncio.gather(*(run_client(spec, plan, records) for spec in specs))

    before = os.times()
    asyncio.run(main())
    after = os.times()
    return {"records": records, "cpu_s": (after.user - before.user) + (after.system - before.system)}


def _client_entry(specs: list[ClientSpec], plan: LoadPlan, queue: Any) -> None:
    queue.put(client_process(specs, plan))


# --- statistics -----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    if not values:
        return float("nan")
    rank = max(1, min(len(values), math.ceil(q / 100 * len(values))))
    return values[rank - 1]


def summarise(records: list[tuple[str, float, float, str]], window: tuple[float, float]) -> dict[str, Any]:
    start, end = window
    seconds = end - start
    per_op: dict[str, Any] = {}
    errors: dict[str, int] = {}
    for op in OPS:
        mine = [r for r in records if r[0] == op and start <= r[1] < end]
        latencies = sorted(r[2] * 1000 for r in mine)
        outcomes: dict[str, int] = {}
        for r in mine:
            outcomes[r[3]] = outcomes.get(r[3], 0) + 1
            if r[3].startswith("error"):
                errors[f"{op} {r[3]}"] = errors.get(f"{op} {r[3]}", 0) + 1
        per_op[op] = {
            "count": len(mine), "per_s": len(mine) / seconds, "outcomes": outcomes,
            "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99), "max_ms": latencies[-1] if latencies else float("nan"),
        }
    reads = sorted(r[2] * 1000 for r in records if r[0] in READS and start <= r[1] < end)
    per_op["reads"] = {"count": len(reads), "per_s": len(reads) / seconds,
                       "p50_ms": percentile(reads, 50), "p95_ms": percentile(reads, 95),
                       "p99_ms": percentile(reads, 99), "max_ms": reads[-1] if reads else float("nan")}
    # Everything sent outside the window too (errors in the tail count as errors).
    late_errors = sum(1 for r in records if r[3].startswith("error") and not start <= r[1] < end)
    return {"ops": per_op, "errors": errors, "errors_total": sum(errors.values()) + late_errors,
            "errors_outside_window": late_errors,
            "replays": sum(1 for r in records if r[3] == "replay"),
            "refused": sum(1 for r in records if r[3] == "refused")}


def rss_summary(samples: list[dict[str, float]], window: tuple[float, float], edge: float) -> dict[str, Any]:
    inside = [s for s in samples if window[0] <= s["t"] < window[1]]
    first = [s["server_kib"] for s in inside if s["t"] < window[0] + edge]
    last = [s["server_kib"] for s in inside if s["t"] >= window[1] - edge]
    start = statistics.median(first) / 1024 if first else float("nan")
    end = statistics.median(last) / 1024 if last else float("nan")
    return {
        "server_start_mib": start, "server_end_mib": end, "ratio": end / start if start else float("nan"),
        "server_max_mib": max((s["server_kib"] for s in inside), default=0) / 1024,
        "workers_max_mib": max((s["workers_kib"] for s in inside), default=0) / 1024,
        "workers_max_count": max((s["workers"] for s in inside), default=0),
        "workers_median_count": statistics.median([s["workers"] for s in inside]) if inside else 0,
    }


# --- one run --------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    python = args.opencdm_python
    scratch = Path(tempfile.mkdtemp(prefix="opencdm-concbench-"))
    home, data = scratch / "home", scratch / "data"
    home.mkdir()
    data.mkdir()
    server = start_server(home, data, python, args.worker_nice)
    try:
        jobs = setup_jobs(server, data, args.links, args.jobs, args.idle_jobs, args.rows)
        signed_count = len(range(0, args.clients, args.signed_every)) if args.signed_every else 0
        keys = iter(access_keys(server, python, signed_count))
        churn = args.churn_clients
        specs = []
        for i in range(args.clients):
            role = "churn" if i < churn else READS[(i - churn) % 2]
            signed = bool(args.signed_every) and i % args.signed_every == 0
            specs.append(ClientSpec(i, role, None if signed else token(server), next(keys) if signed else None))
        start_at = time.time() + 2.0
        window = (start_at + args.warmup, start_at + args.warmup + args.duration)
        plan = LoadPlan(server.url, server.cdm, server.credentials["project_id"], jobs, start_at, window[1],
                        args.think, args.churn_hold, args.churn_pause, args.timeout, args.seed)
        sampler = Sampler(server.process.pid)
        profiler = None
        if args.py_spy:
            # Samples the server (all its threads, idle ones too) over the whole load.
            profiler = subprocess.Popen(
                [args.py_spy_bin, "record", "--pid", str(server.process.pid), "--output", args.py_spy,
                 "--format", args.py_spy_format, "--rate", "100", "--threads", "--nonblocking",
                 *(["--gil"] if args.py_spy_gil else []),
                 *(["--idle"] if args.py_spy_idle else []),
                 "--duration", str(int(args.warmup + args.duration + 2))],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        server_cpu0 = cpu_seconds(server.process.pid)
        workers_cpu0 = workers_cpu_seconds(server.process.pid)
        machine0 = machine_times()
        if args.procs <= 1:
            sampler.start()
            outputs = [client_process(specs, plan)]
        else:
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            workers = [ctx.Process(target=_client_entry, args=(specs[p::args.procs], plan, queue))
                       for p in range(args.procs)]
            for worker in workers:
                worker.start()
            sampler.start()
            outputs = [queue.get() for _ in workers]
            for worker in workers:
                worker.join()
        load_end = time.time()
        if profiler is not None:
            profiler.wait(timeout=120)
        machine1 = machine_times()
        server_cpu1 = cpu_seconds(server.process.pid)
        records = [tuple(r) for out in outputs for r in out["records"]]
        # Every run must settle: poll the churn jobs' status (bounded), then ask the store itself.
        with httpx.Client(base_url=server.url, headers={"X-Auth-Token": token(server)}, timeout=30) as api:
            settle_s, still = wait_settled(api, server, jobs, args.settle)
        time.sleep(1)  # the reaper collects the last workers
        # Workers that ended during the load, plus (approximately) those still ending after it.
        workers_cpu = workers_cpu_seconds(server.process.pid) - workers_cpu0
        time.sleep(2)  # a few RSS samples after the load
        sampler.stop()
        with sqlite3.connect(f"file:{home / 'opencdm.db'}?mode=ro", uri=True) as conn:
            statuses = dict(conn.execute("SELECT status, count(*) FROM submissions GROUP BY status").fetchall())
        stuck = sum(statuses.get(s, 0) for s in ACTIVE)
        log = server.log_path.read_text(errors="replace")
        summary = summarise(records, window)  # type: ignore[arg-type]
        busy = (machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1]) * 100
        load_seconds = load_end - start_at
        return {
            **summary,
            "rss": rss_summary(sampler.samples, window, args.rss_edge),
            "rss_samples": [{k: round(v, 3) if k == "t" else v for k, v in s.items()} for s in sampler.samples],
            "settle_s": settle_s, "stuck_by_status": still, "stuck": stuck, "submissions": statuses,
            "server_log_tracebacks": log.count("Traceback"),
            "server_log_errors": len(re.findall(r" ERROR ", log)),
            "cpu": {"server_s": server_cpu1[0] - server_cpu0[0], "workers_s": workers_cpu,
                    "client_s": sum(out["cpu_s"] for out in outputs),
                    "load_s": load_seconds, "machine_busy_pct": busy},
        }
    finally:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.process.kill()
        if not args.keep:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"kept {scratch}", file=sys.stderr)


# --- report ---------------------------------------------------------------------------------------


def verdicts(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    reads = result["ops"]["reads"]
    rss = result["rss"]
    return [
        ("0 errors (5xx, timeouts, connection errors, unexpected codes)", f"{result['errors_total']}",
         "PASS" if result["errors_total"] == 0 else "FAIL"),
        ("0 stuck runs (BOOTING/RUNNING after the settle bound)", f"{result['stuck']}",
         "PASS" if result["stuck"] == 0 else "FAIL"),
        (f"reads (ShowJobs + ShowJobStatus) p99 < {P99_TARGET_MS:.0f} ms", f"{reads['p99_ms']:.1f} ms",
         "PASS" if reads["p99_ms"] < P99_TARGET_MS else "FAIL"),
        (f"server RSS flat (end/start within ±{RSS_BAND:.0%})",
         f"{rss['server_start_mib']:.1f} → {rss['server_end_mib']:.1f} MiB ({rss['ratio']:.3f}×)",
         "PASS" if abs(rss["ratio"] - 1) <= RSS_BAND else "FAIL"),
    ]


def op_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for op in (*OPS, "reads"):
        o = result["ops"][op]
        outcomes = o.get("outcomes", {})
        other = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()) if k not in ("ok", "refused"))
        label = "reads (both GETs)" if op == "reads" else op
        rows.append([label, f"{o['count']:,}", f"{o['per_s']:.1f}", f"{o['p50_ms']:.1f}", f"{o['p95_ms']:.1f}",
                     f"{o['p99_ms']:.1f}", f"{o['max_ms']:.1f}",
                     f"{outcomes.get('ok', 0):,}" if op != "reads" else "",
                     f"{outcomes.get('refused', 0):,}" if op in ("StartJob", "StopJob") else "",
                     other])
    return rows


OP_HEADER = ["operation", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "200", "race refusals",
             "other"]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def print_report(result: dict[str, Any], config: dict[str, Any]) -> None:
    print(f"\n{config['clients']} clients, {config['duration']} s measured after {config['warmup']} s warm-up, "
          f"{config['procs']} client process(es)")
    print(markdown_table(OP_HEADER, op_rows(result)))
    cpu = result["cpu"]
    rss = result["rss"]
    print(f"errors: {result['errors_total']} {result['errors'] or ''}; replay refusals: {result['replays']}; "
          f"stuck runs: {result['stuck']} (settled in {result['settle_s']:.1f} s); submissions: "
          f"{result['submissions']}")
    print(f"server RSS: start {rss['server_start_mib']:.1f} MiB, end {rss['server_end_mib']:.1f} MiB, "
          f"max {rss['server_max_mib']:.1f} MiB, ratio {rss['ratio']:.3f}; workers: max {rss['workers_max_mib']:.0f} "
          f"MiB in {rss['workers_max_count']} processes (median {rss['workers_median_count']})")
    print(f"CPU over the load ({cpu['load_s']:.0f} s): server {cpu['server_s']:.1f} s "
          f"({cpu['server_s'] / cpu['load_s'] * 100:.0f} % of a core), job workers {cpu['workers_s']:.1f} s "
          f"({cpu['workers_s'] / cpu['load_s'] * 100:.0f} %), clients {cpu['client_s']:.1f} s "
          f"({cpu['client_s'] / cpu['load_s'] * 100:.0f} % of a core), machine busy {cpu['machine_busy_pct']:.0f} %")
    print(f"server log: {result['server_log_tracebacks']} tracebacks, {result['server_log_errors']} ERROR lines")
    for target, measured, verdict in verdicts(result):
        print(f"  {verdict:4}  {target}: {measured}")


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose reads p99 is the median of the runs' (of two: the worse)."""
    ordered = sorted(runs, key=lambda r: r["ops"]["reads"]["p99_ms"])
    return ordered[len(ordered) // 2]


def render(data: dict[str, Any]) -> list[str]:
    """The docs/performance.md section of the concurrency benchmark (also called by bench/run.py)."""
    lines = ["", SECTION, ""]
    for case in data["cases"]:
        runs = case["runs"]
        chosen = median_run(runs)
        cfg = case["config"]
        lines += [f"### {case['label']}", "",
                  f"Command: `{case['command']}` — {len(runs)} run(s); the table is the run with the median "
                  f"reads p99, of two the worse ({cfg['clients']} clients: {cfg['churn_clients']} StartJob/StopJob "
                  f"churn on "
                  f"{cfg['jobs']} jobs, the others split between ShowJobs and ShowJobStatus; every "
                  f"{cfg['signed_every']}th client signs with its own AK/SK, the others send an X-Auth-Token; "
                  f"read think time {cfg['think']} s; churn pauses {cfg['churn_hold']} s / {cfg['churn_pause']} s "
                  f"on average; OPENCDM_WORKER_NICE {cfg.get('worker_nice') or 0}; {cfg['procs']} client "
                  f"process(es)).", "",
                  markdown_table(OP_HEADER, op_rows(chosen)), ""]
        p99s = ", ".join(f"{r['ops']['reads']['p99_ms']:.0f}" for r in runs)
        rates = ", ".join(f"{r['ops']['reads']['per_s']:.0f}" for r in runs)
        rss = chosen["rss"]
        cpu = chosen["cpu"]
        ratios = ", ".join(f"{r['rss']['ratio']:.3f}×" for r in runs)
        shares = ", ".join(f"{r['cpu']['server_s'] / r['cpu']['load_s'] * 100:.0f} %" for r in runs)
        lines += [
            f"- every run: reads p99 {p99s} ms; reads/s {rates}; server RSS end/start {ratios}; server CPU "
            f"{shares} of a core; errors {', '.join(str(r['errors_total']) for r in runs)}; stuck runs "
            f"{', '.join(str(r['stuck']) for r in runs)}",
            f"- errors: {chosen['errors_total']}; replay refusals: {chosen['replays']}; stuck runs: "
            f"{chosen['stuck']} (settled {chosen['settle_s']:.1f} s after the load); submissions by status: "
            f"{json.dumps(chosen['submissions'])}",
            f"- server RSS: {rss['server_start_mib']:.1f} MiB (median of the first {cfg['rss_edge']} s) → "
            f"{rss['server_end_mib']:.1f} MiB (last {cfg['rss_edge']} s), max {rss['server_max_mib']:.1f} MiB, "
            f"{rss['ratio']:.3f}×; job workers (separately): up to {rss['workers_max_count']} processes, "
            f"{rss['workers_max_mib']:.0f} MiB",
            f"- CPU during the load: server {cpu['server_s'] / cpu['load_s'] * 100:.0f} % of a core, job workers "
            f"{cpu['workers_s'] / cpu['load_s'] * 100:.0f} %, "
            f"client(s) {cpu['client_s'] / cpu['load_s'] * 100:.0f} % of a core, whole machine "
            f"{cpu['machine_busy_pct']:.0f} % busy (2 cores, shared)",
            "", markdown_table(["target", "measured", "verdict"], [list(v) for v in verdicts(chosen)]), ""]
        if case.get("notes"):
            lines += [case["notes"], ""]
    lines += [f"Machine: {data['machine']}", ""]
    if data.get("analysis"):
        lines += [data["analysis"], ""]
    return lines[:-1]


def write_doc(data: dict[str, Any]) -> None:
    write_section(DOC, SECTION, render(data))


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "src"], capture_output=True,
                           text=True).stdout.strip()
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}, opencdm {commit}"
            f"{' + uncommitted src changes' if dirty else ''}, load average at the end "
            f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--duration", type=float, default=60, help="measured seconds (default 60)")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load before the measured window")
    parser.add_argument("--churn-clients", type=int, default=10, help="clients doing StartJob/StopJob (10)")
    parser.add_argument("--jobs", type=int, default=6, help="churn jobs (default 6)")
    parser.add_argument("--idle-jobs", type=int, default=4, help="jobs that never run (default 4)")
    parser.add_argument("--links", type=int, default=3, help="SQLite links (default 3)")
    parser.add_argument("--rows", type=int, default=5, help="rows of each source table (default 5)")
    parser.add_argument("--signed-every", type=int, default=5,
                        help="every Nth client signs with AK/SK (default 5: 10 of 50); 0: none")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean pause of a read client between requests, s (default 0: closed loop)")
    parser.add_argument("--churn-hold", type=float, default=0.25, help="mean pause between start and stop, s")
    parser.add_argument("--churn-pause", type=float, default=0.25, help="mean pause after a stop, s")
    parser.add_argument("--procs", type=int, default=1, help="client processes (default 1)")
    parser.add_argument("--worker-nice", type=int, default=None,
                        help="the server's OPENCDM_WORKER_NICE (default: as in this environment, else 0)")
    parser.add_argument("--timeout", type=float, default=10, help="per-request timeout, s")
    parser.add_argument("--settle", type=float, default=60, help="bound on the wait for runs to settle, s")
    parser.add_argument("--rss-edge", type=float, default=10, help="seconds at each end for the RSS medians")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole benchmark (fresh server each)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--label", default="", help="name of this case in the results (default: from options)")
    parser.add_argument("--save", action="store_true",
                        help="store into bench/results/concurrency.json (replacing a case of the same label) "
                             "and rewrite the section of docs/performance.md")
    parser.add_argument("--py-spy", metavar="OUT", help="profile the server with py-spy during the load into OUT")
    parser.add_argument("--py-spy-gil", action="store_true", help="py-spy: only the thread holding the GIL")
    parser.add_argument("--py-spy-idle", action="store_true", help="py-spy: sample waiting threads too")
    parser.add_argument("--py-spy-format", default="raw", help="py-spy output format (raw: collapsed stacks)")
    parser.add_argument("--py-spy-bin", default=str(Path(sys.executable).parent / "py-spy"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary home (server log, store)")
    parser.add_argument("--opencdm-python", default=sys.executable,
                        help="interpreter that runs `-m opencdm serve` (default: this one)")
    args = parser.parse_args()

    config = {k: getattr(args, k) for k in ("clients", "duration", "warmup", "churn_clients", "jobs", "idle_jobs",
                                             "links", "rows", "signed_every", "think", "churn_hold",
                                             "churn_pause", "procs", "timeout", "settle", "rss_edge",
                                             "worker_nice")}
    runs = []
    for number in range(args.runs):
        print(f"run {number + 1}/{args.runs} …", file=sys.stderr, flush=True)
        result = run(args)
        print_report(result, config)
        runs.append(result)
    if args.runs > 1:
        p99 = [r["ops"]["reads"]["p99_ms"] for r in runs]
        print(f"\nreads p99 over {len(runs)} runs: median {statistics.median(p99):.1f} ms ({p99})")
    if args.save:
        path = RESULTS / "concurrency.json"
        data = json.loads(path.read_text()) if path.exists() else {"cases": []}
        label = args.label or (f"{args.clients} clients, closed loop" if not args.think
                               else f"{args.clients} clients, read think time {args.think} s")
        command = "python bench/concurrency.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        case = {"label": label, "command": command, "config": config, "runs": runs}
        data["cases"] = [c for c in data["cases"] if c["label"] != label] + [case]
        data["machine"] = machine()
        path.write_text(json.dumps(data, indent=1) + "\n")
        write_doc(data)
        print(f"saved {path} and {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()
