"""The benchmark's comparison tables as PNG bar charts, for docs/performance.md.

    python bench/chart.py                                   # bench/results → docs/img
    python bench/chart.py --results DIR --out DIR

One chart per results file, each bar the wall time against the baseline of its table (1.0 = the
baseline, a vertical line; lower is faster), its ratio written beside it:

- ``main.json`` → ``main.png``: every route and tool of the issue-3 table × the raw ``psql`` binary COPY
  pipe (PostgreSQL → PostgreSQL), the "× raw pipe" column of docs/performance.md;
- ``dask.json`` → ``dask.png``: local executor and Dask workers × the pipe (issue 13), the "× pipe" column;
- ``parquet.json`` → ``parquet.png``: PostgreSQL → Parquet × DuckDB on the same route (issue 5).

A missing results file is skipped with a message. Medians are computed as bench/run.py computes them
(successful runs only, wall × scale), so the figures match the tables. Needs only matplotlib (Agg
backend, no display); bench/run.py and bench/dask_scaling.py call it after writing their results.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
OUT = BENCH.parent / "docs" / "img"

ROUTES = {
    "pg-pg": "PG → PG",
    "mysql-pg": "MariaDB → PG",
    "pg-mysql": "PG → MariaDB",
    "pg-sqlite": "PG → SQLite",
    "sqlite-pg": "SQLite → PG",
    "pg-parquet": "local disk",
    "pg-parquet-s3": "S3 (moto)",
}
COLOURS = {"baseline": "#8c8c8c", "ours": "#1f77b4", "peer": "#ff7f0e"}
LEGEND = {"baseline": "baseline", "ours": "OpenCDM", "peer": "peers"}


@dataclass
class Bar:
    label: str
    ratio: float | None  # None: no successful run
    kind: str  # a key of COLOURS
    missing: str = "failed"


@dataclass
class Chart:
    title: str
    xlabel: str
    bars: list[Bar]
    footer: str


def _median(result: dict[str, Any]) -> float | None:
    """Median wall time of the successful runs, scaled like bench/run.py's Result.median()."""
    walls = [
        run["wall"] * result.get("scale", 1.0)
        for run in result["runs"]
        if run.get("wall") is not None and str(run.get("check", "")).startswith("OK")
    ]
    return statistics.median(walls) if walls else None


def _runs(results: list[dict[str, Any]]) -> str:
    counts = sorted({len(r["runs"]) for r in results if r["runs"]})
    return "/".join(str(c) for c in counts) or "0"


def main_chart(data: dict[str, Any]) -> Chart | None:
    """bench/results/main.json: every tool × the raw pipe's median (PostgreSQL → PostgreSQL)."""
    results = data["results"]
    pipe = next((_median(r) for r in results if r["id"] == "pipe"), None)
    if pipe is None:
        print("main.json: no successful raw pipe run, nothing to compare against; skipped")
        return None
    bars = []
    for r in results:
        tool = r["tool"] + (" (extrapolated)" if r.get("scale", 1.0) != 1.0 else "")
        median = _median(r)
        kind = "baseline" if r["id"] == "pipe" else "ours" if r["id"].startswith("opencdm") else "peer"
        bars.append(
            Bar(
                f"{ROUTES.get(r['route'], r['route'])}:  {tool}",
                median / pipe if median else None,
                kind,
                "not available" if r.get("unavailable") else "failed",
            )
        )
    nproc = data.get("machine", {}).get("nproc", "?")
    return Chart(
        title=f"Copy of {data['rows']:,} rows on {nproc} cores: wall time × the raw pipe, median of {data['runs']} "
        "runs\nbaseline 1.0 = psql binary COPY pipe, PostgreSQL → PostgreSQL (lower is faster)",
        xlabel="wall time ÷ raw pipe's wall time",
        bars=bars,
        footer=f"bench/results/main.json: {data['command']}, {data.get('machine', {}).get('date', '')}",
    )


def dask_chart(data: dict[str, Any]) -> Chart | None:
    """bench/results/dask.json: local executor and Dask workers × the pipe (the table of issue 13)."""
    bars = [
        Bar(
            r["case"].replace("worker(s)", "worker" if r["case"].startswith("Dask, 1 ") else "workers"),
            r.get("vs_pipe"),
            "baseline" if r["case"] == "psql binary COPY pipe" else "ours",
        )
        for r in data["results"]
    ]
    if not any(bar.kind == "baseline" for bar in bars):
        print("dask.json: no pipe case, nothing to compare against; skipped")
        return None
    return Chart(
        title=f"PostgreSQL → PostgreSQL, {data['rows']:,} rows on {data['cpus']} cores: local executor and Dask, "
        f"wall time × the raw pipe\nmedian of {_runs(data['results'])} runs; baseline 1.0 = psql binary COPY pipe "
        "(lower is faster)",
        xlabel="wall time ÷ raw pipe's wall time",
        bars=bars,
        footer="bench/results/dask.json: python bench/dask_scaling.py",
    )


def parquet_chart(data: dict[str, Any]) -> Chart | None:
    """bench/results/parquet.json: each tool × DuckDB on the same route (local disk, S3)."""
    results = data["results"]
    bars = []
    for route in dict.fromkeys(r["route"] for r in results):
        chosen = [r for r in results if r["route"] == route]
        duck = next((_median(r) for r in chosen if r["id"].startswith("duckdb")), None)
        for r in chosen:
            median = _median(r)
            kind = "baseline" if r["id"].startswith("duckdb") else "ours" if r["id"].startswith("opencdm") else "peer"
            bars.append(
                Bar(
                    f"{ROUTES.get(route, route)}:  {r['tool']}",
                    median / duck if median and duck else None,
                    kind,
                    "not available" if r.get("unavailable") else "failed",
                )
            )
    rows = results[0]["rows"] if results else 0
    nproc = data.get("machine", {}).get("nproc", "?")
    return Chart(
        title=f"PostgreSQL → Parquet, {rows:,} rows on {nproc} cores: wall time × DuckDB, median of {data['runs']} "
        "runs\nbaseline 1.0 = DuckDB's postgres scanner on the same route (lower is faster)",
        xlabel="wall time ÷ DuckDB's wall time on the same route",
        bars=bars,
        footer=f"bench/results/parquet.json: {data['command']}, {data.get('machine', {}).get('date', '')}",
    )


CHARTS: dict[str, Callable[[dict[str, Any]], Chart | None]] = {
    "main": main_chart,
    "dask": dask_chart,
    "parquet": parquet_chart,
}


def draw(chart: Chart, path: Path) -> None:
    """Horizontal bars, top to bottom in the table's order, the ratio on each, a line at 1.0."""
    count = len(chart.bars)
    fig = Figure(figsize=(11, 1.9 + 0.42 * count), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ratios = [bar.ratio or 0.0 for bar in chart.bars]
    positions = list(range(count))
    ax.barh(positions, ratios, height=0.65, color=[COLOURS[bar.kind] for bar in chart.bars])
    top = max(ratios + [1.0])
    ax.set_xlim(0, top * 1.13)
    for y, bar in zip(positions, chart.bars, strict=True):
        if bar.ratio is None:  # no bar: say why, clear of the baseline's line
            ax.text(
                1.0 + top * 0.015, y, bar.missing, va="center", ha="left", fontsize=10, style="italic", color="#555555"
            )
            continue
        ax.text(
            bar.ratio + top * 0.008,
            y,
            f"{bar.ratio:.2f}×",
            va="center",
            ha="left",
            fontsize=10,
            fontweight="bold" if bar.kind == "ours" else "normal",
        )
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_yticks(positions, [bar.label for bar in chart.bars], fontsize=10)
    ax.set_ylim(count - 0.5, -0.5)  # the table's first row on top
    ax.set_xlabel(chart.xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    kinds = [kind for kind in COLOURS if any(bar.kind == kind for bar in chart.bars)]
    handles: list[Artist] = [Patch(color=COLOURS[k], label=LEGEND[k]) for k in kinds]
    handles.append(Line2D([], [], color="black", linestyle="--", linewidth=1, label="1.0 = baseline"))
    fig.legend(handles=handles, loc="outside lower right", ncols=len(handles), fontsize=9, frameon=False)
    fig.suptitle(chart.title, x=0.01, ha="left", fontsize=11)
    fig.text(0.005, 0.01, chart.footer, fontsize=7.5, color="#555555", ha="left", va="bottom")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def render_all(results: Path = RESULTS, out: Path = OUT, only: tuple[str, ...] | None = None) -> list[Path]:
    """Draw the chart of every results file there is (or of ``only``); returns the PNGs written."""
    written = []
    for name, build in CHARTS.items():
        if only is not None and name not in only:
            continue
        source = results / f"{name}.json"
        if not source.exists():
            print(f"{source}: not found; {name}.png skipped")
            continue
        chart = build(json.loads(source.read_text()))
        if chart is None:
            continue
        target = out / f"{name}.png"
        draw(chart, target)
        print(f"written: {target}")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"results directory (default {RESULTS})")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the PNGs go (default {OUT})")
    args = parser.parse_args(argv)
    render_all(args.results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
