"""Issue 5's file benchmark: PostgreSQL → Parquet on local disk, OpenCDM (a nas-connector link,
through its HTTP API) beside DuckDB's postgres scanner (``COPY (SELECT * FROM pg.bench.src) TO
'f.parquet'``), interleaved round by round like bench/run.py; both write snappy Parquet.

Run with ``bench/run.sh --parquet`` (see bench/README.md); the results go to
bench/results/parquet.json and their own section of docs/performance.md.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import gen_data
import pyarrow.compute as pc
import pyarrow.dataset as ds
import run as bench

OUTPUT = gen_data.DATA_DIR / "parquet"
TARGET_RATIO = 1.3


def _expected() -> tuple[int, int]:
    rows, id_sum = bench.pg("SELECT count(*), sum(id) FROM bench.src", fetch=True)[0]
    return int(rows), int(id_sum)


def _check(directory: Path, expected: tuple[int, int]) -> str:
    dataset = ds.dataset(directory, format="parquet")
    ids = dataset.to_table(columns=["id"])["id"]
    found = (len(ids), int(pc.sum(ids).as_py() or 0))
    return "OK (count, sum of id)" if found == expected else f"MISMATCH: {found} vs {expected}"


class ParquetTool:
    route = "pg-parquet"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def prepare(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)


class DuckDb(ParquetTool):
    id = family = "duckdb"
    name = "DuckDB postgres scanner COPY … TO parquet"

    def run(self, log: Path, timeout: float) -> tuple[float, float]:
        argv = [str(bench.PEERS_PYTHON), str(bench.BENCH / "peers" / "duckdb_parquet.py"),
                "--dsn", f"host={bench.HOST} port={bench.PG_PORT} user=postgres dbname=test",
                "--table", "bench.src", "--output", str(self.directory / "src.parquet")]
        return bench.run_process(argv, dict(os.environ), log, timeout)


class OpenCdm(ParquetTool):
    id = "opencdm:pg-parquet"
    family = "opencdm"
    name = "OpenCDM (nas-connector, PARQUET_FILE)"

    def __init__(self, directory: Path, server: bench.OpenCdmServer) -> None:
        super().__init__(directory)
        self.server = server
        server._call("POST", "/link", {"links": [{
            "name": "bench-files", "connector-name": "nas-connector", "enabled": True,
            "link-config-values": bench._configs("linkConfig", {"linkConfig.rootDirectory": str(OUTPUT)})}]})
        server.create_job(
            "bench-pg-parquet", from_link=server.link_for("pg"), to_link="bench-files",
            from_inputs={"fromJobConfig.schemaName": gen_data.SCHEMA, "fromJobConfig.tableName": "src"},
            to_inputs={"toJobConfig.outputDirectory": f"/{directory.name}", "toJobConfig.outputFormat": "PARQUET_FILE",
                       "toJobConfig.duplicateFileOpType": "REPLACE"},
            extractors=1, to_connector="nas-connector",
        )

    def run(self, log: Path, timeout: float) -> tuple[float, float]:
        with bench.TreeSampler(self.server.process.pid) as sampler:
            wall, outcome = self.server.run_job("bench-pg-parquet", timeout)
        log.write_text(json.dumps(outcome, indent=2))
        return wall, sampler.peak_mib


def run_parquet(opencdm_python: str, runs: int, timeout: float, logs: Path, command: str) -> None:
    gen_data.ensure(gen_data.DEFAULT_ROWS, ("pg",))
    expected = _expected()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    source_bytes = bench.source_bytes("pg")
    with tempfile.TemporaryDirectory(prefix="opencdm-bench-home-") as home:
        server = bench.OpenCdmServer(opencdm_python, Path(home), {"OPENCDM_FILE_ROOTS": str(OUTPUT)})
        try:
            tools: list[DuckDb | OpenCdm] = [DuckDb(OUTPUT / "duckdb"), OpenCdm(OUTPUT / "opencdm", server)]
            results = {tool.id: bench.Result(tool.id, tool.route, tool.name, "", expected[0], expected[0], 1.0,
                                             source_bytes) for tool in tools}
            for round_no in range(1, runs + 1):
                for tool in tools:
                    tool.prepare()
                    bench.wait_until_quiet()
                    try:
                        wall, peak = tool.run(logs / f"{tool.family}-parquet-{round_no}.log", timeout)
                        check = _check(tool.directory, expected)
                    except Exception as exc:  # noqa: BLE001 - a failed run is a result too
                        wall, peak, check = None, None, f"FAILED: {exc}"[:400]
                    results[tool.id].runs.append(bench.Run(wall, peak, check))
                    shown = f"{wall:8.2f} s  peak {peak:7.1f} MiB" if wall is not None and peak is not None else ""
                    print(f"  round {round_no}/{runs}  {tool.id:<20} {shown}  {check}", flush=True)
        finally:
            server.stop()
    bench._save("parquet", {"command": command, "runs": runs, "machine": bench.machine(),
                            "results": [asdict(result) for result in results.values()]})


def render(data: dict[str, object]) -> list[str]:
    """The docs/performance.md section of a --parquet run."""
    results = [bench.Result.load(dict(r)) for r in data["results"]]  # type: ignore[attr-defined]
    by_id = {r.id: r for r in results}
    duck, ours = by_id["duckdb"].median(), by_id["opencdm:pg-parquet"].median()
    rows = []
    for result in results:
        median = result.median()
        walls = result.walls()
        wall = f"{median:.2f} ({min(walls):.2f}–{max(walls):.2f}), {len(walls)}/{len(result.runs)} ok" if median else ""
        rows.append([result.tool, wall or "failed", f"{result.rows / median:,.0f}" if median else "",
                     f"{result.peak():.0f}" if result.peak() else "",
                     f"{median / duck:.2f}×" if median and duck else ""])
    ratio = ours / duck if ours and duck else None
    verdict = "PASS" if ratio is not None and ratio <= TARGET_RATIO else "FAIL"
    return [
        "", f"## PostgreSQL → Parquet on local disk (issue 5): {results[0].rows:,} rows, {data['runs']} run(s) each",
        "", f"Command: `{data['command']}`. Both write one snappy-compressed file; each run is checked by row "
        "count and the sum of `id` read back from the Parquet files.", "",
        bench.markdown_table(["tool", "wall s median (min–max)", "rows/s", "peak RSS MiB", "× DuckDB"], rows),
        "", f"Target: OpenCDM ≤ {TARGET_RATIO} × DuckDB: {f'{ratio:.2f}×' if ratio else '–'} — {verdict}",
    ]

