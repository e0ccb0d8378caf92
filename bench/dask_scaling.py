"""PostgreSQL → PostgreSQL on the local executor and on a Dask cluster of 1, 2 and 4 workers (issue 13).

The 5M-row table of ``gen_data.py`` (``bench.src``) is copied into a fresh ``bench.dst`` of the same
types by an OpenCDM job started over HTTP, beside the raw ``psql`` binary COPY pipe measured in the
same session. Cases, interleaved ``--runs`` times (median wall time, and the ratio to the pipe's):

- the pipe;
- the local executor with numExtractors 1, 2 and 4 (processes of the server's machine);
- a Dask scheduler with 1, 2 and 4 workers of one thread each (``dask worker --nworkers N
  --nthreads 1``), numExtractors 4: as many copiers as worker threads, up to 4.

``--local-only`` leaves the Dask cases out. Every run is checked: row count and an order-independent
checksum of the destination equal the source's. Needs OpenCDM with its ``dask`` extra in
``$OPENCDM_PYTHON`` (the ``dask`` command beside it) and the harness environment of bench/README.md.
Writes bench/results/dask.json and its chart docs/img/dask.png (bench/chart.py), and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parent.parent / "src")]
from concurrency import inputs, markdown_table, start_server, token  # noqa: E402

from opencdm.child_server import ChildServer, free_port  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "dask.json"
PG = "host=127.0.0.1 port=5432 user=postgres dbname=test"
PSQL = "psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres -d test"
CHECKSUM = "SELECT count(*), sum(hashtext(t::text)::bigint) FROM bench.{table} t"
WORKER_COUNTS = (1, 2, 4)
LOCAL_EXTRACTORS = (1, 2, 4)


def pg(sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(PG, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def fresh_destination() -> None:
    pg("DROP TABLE IF EXISTS bench.dst")
    pg("CREATE TABLE bench.dst (LIKE bench.src)")
    pg("CHECKPOINT")


def pipe() -> float:
    began = time.monotonic()
    subprocess.run(
        f'{PSQL} -c "COPY bench.src TO STDOUT (FORMAT binary)" | {PSQL} -c "COPY bench.dst FROM STDIN (FORMAT binary)"',
        shell=True, check=True,
    )
    return time.monotonic() - began


@contextmanager
def dask_cluster(python: str, workers: int, log: Path) -> Iterator[str]:
    """A scheduler and ``workers`` one-thread workers, all on loopback; yields the address."""
    dask = str(Path(python).parent / "dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    with open(log, "ab") as out:
        scheduler = subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
            stdout=out, stderr=subprocess.STDOUT,
        )
        pool = subprocess.Popen(
            [dask, "worker", address, "--nworkers", str(workers), "--nthreads", "1", "--no-dashboard"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        check = f"from distributed import Client; Client('{address}', timeout=30).wait_for_workers({workers}, 60)"
        subprocess.run([python, "-c", check], check=True)
        yield address
    finally:
        for process in (pool, scheduler):
            process.terminate()
            process.wait(timeout=30)


def set_executor(server: ChildServer, python: str, executor: str) -> None:
    env = {**os.environ, "OPENCDM_HOME": str(server.home)}
    env.pop("OPENCDM_DATABASE_URL", None)
    subprocess.run(
        [python, "-m", "opencdm", "admin", "cluster", "set-executor", server.credentials["cluster_id"], executor],
        env=env, check=True, capture_output=True,
    )


def config(name: str, values: dict[str, str]) -> dict[str, Any]:
    return {"configs": [inputs(name, values)]}


def copy_once(api: httpx.Client, server: ChildServer, extractors: int) -> float:
    """One OpenCDM run of a new job; its wall time from start to the final status."""
    job = f"dask_{extractors}_{time.monotonic_ns()}"
    response = api.post(f"{server.cdm}/job", json={"jobs": [{
        "name": job, "job_type": "NORMAL_JOB",
        "from-connector-name": "generic-jdbc-connector", "from-link-name": "pg",
        "to-connector-name": "generic-jdbc-connector", "to-link-name": "pg",
        "from-config-values": config("fromJobConfig", {
            "fromJobConfig.schemaName": "bench", "fromJobConfig.tableName": "src"}),
        "to-config-values": config("toJobConfig", {
            "toJobConfig.schemaName": "bench", "toJobConfig.tableName": "dst",
            "toJobConfig.tablePreparation": "DO_NOTHING"}),
        "driver-config-values": config("throttlingConfig", {"throttlingConfig.numExtractors": str(extractors)}),
    }]})
    response.raise_for_status()
    began = time.monotonic()
    api.put(f"{server.cdm}/job/{job}/start").raise_for_status()
    while True:
        run = api.get(f"{server.cdm}/job/{job}/status").json()["submissions"][0]
        if run["status"] in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.1)
    elapsed = time.monotonic() - began
    if run["status"] != "SUCCEEDED":
        raise RuntimeError(f"{job}: {run.get('error-summary')}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs of every case (default 3)")
    parser.add_argument("--local-only", action="store_true", help="the pipe and the local executor only")
    args = parser.parse_args()
    python = os.environ.get("OPENCDM_PYTHON", sys.executable)
    source = pg(CHECKSUM.format(table="src"))[0]
    work = Path(tempfile.mkdtemp(prefix="opencdm-dask-bench-"))
    (work / "home").mkdir()
    server = start_server(work / "home", work, python)
    times: dict[str, list[float]] = {}
    try:
        with httpx.Client(base_url=server.url, headers={"X-Auth-Token": token(server)}, timeout=60) as api:
            api.post(f"{server.cdm}/link", json={"links": [{
                "name": "pg", "connector-name": "generic-jdbc-connector",
                "link-config-values": config("linkConfig", {
                    "linkConfig.databaseType": "POSTGRESQL", "linkConfig.host": "127.0.0.1",
                    "linkConfig.port": "5432", "linkConfig.database": "test",
                    "linkConfig.username": "postgres", "linkConfig.password": "unused"})}]}).raise_for_status()

            def measured(case: str, run: Any) -> None:
                fresh_destination()
                seconds = run()
                if pg(CHECKSUM.format(table="dst"))[0] != source:
                    raise RuntimeError(f"{case}: the destination differs from the source")
                times.setdefault(case, []).append(seconds)
                print(f"{case}: {seconds:.2f} s", flush=True)

            for _ in range(args.runs):
                measured("psql binary COPY pipe", pipe)
                set_executor(server, python, "local")
                for extractors in LOCAL_EXTRACTORS:
                    measured(f"local, numExtractors {extractors}", lambda e=extractors: copy_once(api, server, e))
                for workers in () if args.local_only else WORKER_COUNTS:
                    with dask_cluster(python, workers, work / "dask.log") as address:
                        set_executor(server, python, address)
                        measured(f"Dask, {workers} worker(s), numExtractors 4", lambda: copy_once(api, server, 4))
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)
    baseline = statistics.median(times["psql binary COPY pipe"])
    rows = [
        {"case": case, "runs": runs, "median_s": statistics.median(runs),
         "vs_pipe": statistics.median(runs) / baseline}
        for case, runs in times.items()
    ]
    RESULTS.write_text(json.dumps({"rows": source[0], "cpus": os.cpu_count(), "results": rows}, indent=2) + "\n")
    try:  # the chart beside the table of docs/performance.md (bench/chart.py), if matplotlib is installed
        import chart
    except ImportError as exc:
        print(f"chart not rendered ({exc}): pip install matplotlib, then python bench/chart.py")
    else:
        chart.render_all(RESULTS.parent, only=("dask",))
    print(f"\n{source[0]:,} rows, {os.cpu_count()} CPUs; median of {args.runs} interleaved runs")
    print(markdown_table(
        ["case", "median s", "× pipe"],
        [[row["case"], f"{row['median_s']:.2f}", f"{row['vs_pipe']:.2f}"] for row in rows],
    ))


if __name__ == "__main__":
    main()
