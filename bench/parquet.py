"""Issue 5's file benchmark: PostgreSQL → Parquet, OpenCDM (through its HTTP API) beside DuckDB's
postgres scanner (``COPY (SELECT * FROM pg.bench.src) TO 'f.parquet'``), interleaved round by
round like bench/run.py; both write one snappy Parquet file. Two routes:

- ``pg-parquet``: local disk (an OpenCDM nas-connector link);
- ``pg-parquet-s3``: an S3-compatible server the benchmark starts on loopback (moto's server, from
  bench/.venv-peers; an OpenCDM obs-connector link, DuckDB through httpfs).

Run with ``bench/run.sh --parquet`` (see bench/README.md); the results go to
bench/results/parquet.json and their own section of docs/performance.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import gen_data
import harness
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from opencdm.child_server import free_port  # on the path through harness

OUTPUT = gen_data.DATA_DIR / "parquet"
TARGET_RATIO = 1.3
BUCKET = "bench"
# moto accepts any key; these only have to agree between the tools.
S3_KEY, S3_SECRET = "bench-key", "bench-secret"
ROUTES = {"pg-parquet": "local disk", "pg-parquet-s3": "S3 (moto server on loopback)"}


def _expected() -> tuple[int, int]:
    rows, id_sum = harness.pg("SELECT count(*), sum(id) FROM bench.src", fetch=True)[0]
    return int(rows), int(id_sum)


def _check(dataset: ds.Dataset, expected: tuple[int, int]) -> str:
    ids = dataset.to_table(columns=["id"])["id"]
    found = (len(ids), int(pc.sum(ids).as_py() or 0))
    return "OK (count, sum of id)" if found == expected else f"MISMATCH: {found} vs {expected}"


class S3Server:
    """moto's S3 server on loopback, in its own process, with one bucket."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.endpoint = f"{harness.HOST}:{self.port}"
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(harness.PEERS_PYTHON), "-m", "moto.server", "-H", harness.HOST, "-p", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.filesystem = pafs.S3FileSystem(access_key=S3_KEY, secret_key=S3_SECRET, endpoint_override=self.endpoint,
                                            scheme="http", region="us-east-1", allow_bucket_creation=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.filesystem.create_dir(BUCKET)
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


class ParquetTool:
    route = "pg-parquet"
    id: str
    family: str
    name: str

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def prepare(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)

    def dataset(self) -> ds.Dataset:
        return ds.dataset(self.directory, format="parquet")

    def run(self, log: Path, timeout: float) -> tuple[float, float]:
        raise NotImplementedError


class S3Tool(ParquetTool):
    """Writes under ``s3://bench/<directory name>/`` of the benchmark's S3 server."""

    route = "pg-parquet-s3"

    def __init__(self, directory: Path, s3: S3Server) -> None:
        super().__init__(directory)
        self.s3 = s3
        self.prefix = f"{BUCKET}/{directory.name}"

    def prepare(self) -> None:
        self.s3.filesystem.delete_dir_contents(self.prefix, missing_dir_ok=True)

    def dataset(self) -> ds.Dataset:
        return ds.dataset(self.prefix, format="parquet", filesystem=self.s3.filesystem)


def _duckdb_argv(output: str) -> list[str]:
    return [str(harness.PEERS_PYTHON), str(harness.BENCH / "peers" / "duckdb_parquet.py"),
            "--dsn", f"host={harness.HOST} port={harness.PG_PORT} user=postgres dbname=test",
            "--table", "bench.src", "--output", output]


class DuckDb(ParquetTool):
    id = family = "duckdb"
    name = "DuckDB postgres scanner COPY … TO parquet"

    def run(self, log: Path, timeout: float) -> tuple[float, float]:
        return harness.run_process(_duckdb_argv(str(self.directory / "src.parquet")), dict(os.environ), log, timeout)


class DuckDbS3(S3Tool):
    id = "duckdb-s3"
    family = "duckdb"
    name = "DuckDB postgres scanner COPY … TO 's3://…' (httpfs)"

    def run(self, log: Path, timeout: float) -> tuple[float, float]:
        argv = [*_duckdb_argv(f"s3://{self.prefix}/src.parquet"),
                "--s3-endpoint", self.s3.endpoint, "--s3-key", S3_KEY, "--s3-secret", S3_SECRET]
        return harness.run_process(argv, dict(os.environ), log, timeout)


class OpenCdmJob:
    """OpenCDM's run of one bench job, timed from StartJob to SUCCEEDED, with the server's peak RSS."""

    server: harness.OpenCdmServer
    job: str

    def run(self, log: Path, timeout: float) -> tuple[float, float]:
        with harness.TreeSampler(self.server.process.pid) as sampler:
            wall, outcome = self.server.run_job(self.job, timeout)
        log.write_text(json.dumps(outcome, indent=2))
        return wall, sampler.peak_mib


class OpenCdm(OpenCdmJob, ParquetTool):
    id = "opencdm:pg-parquet"
    family = "opencdm"
    name = "OpenCDM (nas-connector, PARQUET_FILE)"
    job = "bench-pg-parquet"

    def __init__(self, directory: Path, server: harness.OpenCdmServer) -> None:
        ParquetTool.__init__(self, directory)
        self.server = server
        server._call("POST", "/link", {"links": [{
            "name": "bench-files", "connector-name": "nas-connector", "enabled": True,
            "link-config-values": harness._configs("linkConfig", {"linkConfig.rootDirectory": str(OUTPUT)})}]})
        server.create_job(
            self.job, from_link=server.link_for("pg"), to_link="bench-files",
            from_inputs={"fromJobConfig.schemaName": gen_data.SCHEMA, "fromJobConfig.tableName": "src"},
            to_inputs={"toJobConfig.outputDirectory": f"/{directory.name}", "toJobConfig.outputFormat": "PARQUET_FILE",
                       "toJobConfig.duplicateFileOpType": "REPLACE"},
            extractors=1, to_connector="nas-connector",
        )


class OpenCdmS3(OpenCdmJob, S3Tool):
    id = "opencdm:pg-parquet-s3"
    family = "opencdm"
    name = "OpenCDM (obs-connector, PARQUET_FILE)"
    job = "bench-pg-parquet-s3"

    def __init__(self, directory: Path, s3: S3Server, server: harness.OpenCdmServer) -> None:
        S3Tool.__init__(self, directory, s3)
        self.server = server
        host, port = s3.endpoint.split(":")
        server._call("POST", "/link", {"links": [{
            "name": "bench-s3", "connector-name": "obs-connector", "enabled": True,
            "link-config-values": harness._configs("linkConfig", {
                "linkConfig.storageType": "S3", "linkConfig.server": host, "linkConfig.port": port,
                "linkConfig.protocol": "http", "linkConfig.accessKey": S3_KEY, "linkConfig.securityKey": S3_SECRET,
                "linkConfig.region": "us-east-1"})}]})
        server.create_job(
            self.job, from_link=server.link_for("pg"), to_link="bench-s3",
            from_inputs={"fromJobConfig.schemaName": gen_data.SCHEMA, "fromJobConfig.tableName": "src"},
            to_inputs={"toJobConfig.bucketName": BUCKET, "toJobConfig.outputDirectory": f"/{directory.name}",
                       "toJobConfig.outputFormat": "PARQUET_FILE", "toJobConfig.duplicateFileOpType": "REPLACE"},
            extractors=1, to_connector="obs-connector",
        )


def run_parquet(opencdm_python: str, runs: int, timeout: float, logs: Path, command: str) -> None:
    gen_data.ensure(gen_data.DEFAULT_ROWS, ("pg",))
    expected = _expected()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    source_bytes = harness.source_bytes("pg")
    s3 = S3Server(logs / "moto-server.log")
    with tempfile.TemporaryDirectory(prefix="opencdm-bench-home-") as home:
        server = harness.OpenCdmServer(opencdm_python, Path(home), {"OPENCDM_FILE_ROOTS": str(OUTPUT)})
        try:
            tools: list[ParquetTool] = [
                DuckDb(OUTPUT / "duckdb"), OpenCdm(OUTPUT / "opencdm", server),
                DuckDbS3(OUTPUT / "duckdb", s3), OpenCdmS3(OUTPUT / "opencdm", s3, server),
            ]
            results = {tool.id: harness.Result(tool.id, tool.route, tool.name, "", expected[0], expected[0], 1.0,
                                             source_bytes) for tool in tools}
            for round_no in range(1, runs + 1):
                for tool in tools:
                    tool.prepare()
                    harness.wait_until_quiet()
                    try:
                        wall, peak = tool.run(logs / f"{tool.id.replace(':', '_')}-parquet-{round_no}.log", timeout)
                        check = _check(tool.dataset(), expected)
                    except Exception as exc:  # noqa: BLE001 - a failed run is a result too
                        wall, peak, check = None, None, f"FAILED: {exc}"[:400]
                    results[tool.id].runs.append(harness.Run(wall, peak, check))
                    shown = f"{wall:8.2f} s  peak {peak:7.1f} MiB" if wall is not None and peak is not None else ""
                    print(f"  round {round_no}/{runs}  {tool.id:<22} {shown}  {check}", flush=True)
        finally:
            server.stop()
            s3.stop()
    harness._save("parquet", {"command": command, "runs": runs, "machine": harness.machine(),
                            "results": [asdict(result) for result in results.values()]})


def render(data: dict[str, object]) -> list[str]:
    """The docs/performance.md section of a --parquet run: one table per route."""
    results = [harness.Result.load(dict(r)) for r in data["results"]]  # type: ignore[attr-defined]
    parts = ["", f"## PostgreSQL → Parquet (issue 5): {results[0].rows:,} rows, {data['runs']} run(s) each", "",
             f"Command: `{data['command']}`. Every tool writes one snappy-compressed file; each run is checked by "
             "row count and the sum of `id` read back from the Parquet files. On S3 the server is moto's, started "
             "by the benchmark on loopback (it keeps objects in memory; its own CPU time is part of every S3 "
             "run). OpenCDM chooses its DuckDB fast path (duckdb_parquet.py) on both routes. OpenCDM's peak RSS is "
             "its whole process tree (API server, fork server, the run's worker), DuckDB's its one process."]
    if (harness.IMG / "parquet.png").exists():
        parts += ["", "![Wall time of OpenCDM × DuckDB on each route (bench/chart.py)](img/parquet.png)"]
    for route, label in ROUTES.items():
        chosen = [result for result in results if result.route == route]
        if not chosen:
            continue
        duck = next((r.median() for r in chosen if r.id.startswith("duckdb")), None)
        ours = next((r.median() for r in chosen if r.id.startswith("opencdm")), None)
        rows = []
        for result in chosen:
            median = result.median()
            walls = result.walls()
            wall = f"{median:.2f} ({min(walls):.2f}–{max(walls):.2f}), {len(walls)}/{len(result.runs)} ok" if median \
                else ""
            rows.append([result.tool, wall or "failed", f"{result.rows / median:,.0f}" if median else "",
                         f"{result.peak():.0f}" if result.peak() else "",
                         f"{median / duck:.2f}×" if median and duck else ""])
        ratio = ours / duck if ours and duck else None
        header = ["tool", "wall s median (min–max)", "rows/s", "peak RSS MiB", "× DuckDB"]
        parts += ["", f"### {label}", "", harness.markdown_table(header, rows)]
        if route == "pg-parquet":
            verdict = "PASS" if ratio is not None and ratio <= TARGET_RATIO else "FAIL"
            parts += ["", f"Target: OpenCDM ≤ {TARGET_RATIO} × DuckDB: {f'{ratio:.2f}×' if ratio else '–'} — {verdict}"]
    return parts
