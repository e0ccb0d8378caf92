"""What dirty rows cost (issue 20): a generated CSV loaded into an existing PostgreSQL table, clean,
then with a share of its rows holding a value the table's columns cannot take (``NA`` in an
integer column, as an R or pandas export writes missing values), with
throttlingConfig.maxErrorRecords. A bad row should cost little more than a good one.

The copy runs in this process, through the engine's own partition copy (``copy_partition``) with
the nas-connector source and the PostgreSQL sink, so the figures are the load's, without the
server around it. Run with OpenCDM's interpreter and the checkout's sources first::

    PYTHONPATH=src python bench/dirty_rows.py [--rows 300000] [--dirty 0.03] [--runs 3]

PostgreSQL on 127.0.0.1:5432 (user postgres, trust, database test), or OPENCDM_BENCH_PG_* to say
otherwise. It prints a table: the load time of the clean file (without and with maxErrorRecords,
which takes a writer whose connection survives a refused statement), of the file with dirty rows,
and their ratios (the best of ``--runs`` runs each).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import psycopg

from opencdm.connectors import get_connector
from opencdm.engine.partitions import Tally, copy_partition

PG = {
    "host": os.environ.get("OPENCDM_BENCH_PG_HOST", "127.0.0.1"),
    "port": os.environ.get("OPENCDM_BENCH_PG_PORT", "5432"),
    "user": os.environ.get("OPENCDM_BENCH_PG_USER", "postgres"),
    "dbname": os.environ.get("OPENCDM_BENCH_PG_DATABASE", "test"),
}
SCHEMA, TABLE = "bench_dirty", "flights"
COLUMNS = "id bigint, dep_delay integer, arr_delay integer, carrier text, distance integer, temp numeric(6,2)"


def write_csv(path: Path, rows: int, dirty_share: float, seed: int = 20) -> int:
    """The CSV, ``dirty_share`` of its rows with NA as a delay; how many such rows it holds."""
    draw = random.Random(seed)
    dirty = 0
    with path.open("w") as out:
        out.write("id,dep_delay,arr_delay,carrier,distance,temp\n")
        for n in range(rows):
            delay: object = draw.randint(-30, 300)
            if draw.random() < dirty_share:
                delay, dirty = "NA", dirty + 1
            carrier = draw.choice(("UA", "AA", "B6", "DL", "EV"))
            out.write(f"{n},{delay},{draw.randint(-60, 400)},{carrier},{draw.randint(80, 4983)},"
                      f"{draw.randint(-100, 1000) / 10:.2f}\n")
    return dirty


def load(root: Path, name: str, skip_dirty: bool = True) -> tuple[float, int, int]:
    """Seconds to load ``root/name`` into an emptied table; rows written, rows left out. With
    ``skip_dirty`` (maxErrorRecords) bad rows are left out; without, the first fails the load."""
    with psycopg.connect(**PG, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {SCHEMA}.{TABLE}")
    source = get_connector("nas-connector").open_source(
        {"linkConfig.rootDirectory": str(root)},
        {"fromJobConfig.inputDirectory": f"/{name}", "fromJobConfig.inputFormat": "CSV_FILE",
         "fromJobConfig.firstRowAsHeader": "true"},
    )
    sink = get_connector("generic-jdbc-connector").open_sink(
        {"linkConfig.databaseType": "POSTGRESQL", "linkConfig.host": PG["host"], "linkConfig.port": PG["port"],
         "linkConfig.username": PG["user"], "linkConfig.password": "", "linkConfig.database": PG["dbname"]},
        {"toJobConfig.schemaName": SCHEMA, "toJobConfig.tableName": TABLE},
    )
    started = time.perf_counter()
    try:
        source.skip_rejected_rows = sink.skip_rejected_rows = skip_dirty
        schema = source.schema()
        sink.prepare(schema)
        tally = Tally()
        for result in copy_partition(source, sink, source.partitions(1)[0], None, 10_000, tally, lambda: None,
                                     max_rejected=10**9 if skip_dirty else None):
            tally.count_written(result)
        sink.commit()
    finally:
        source.close()
        sink.close()
    return time.perf_counter() - started, tally.rows_written, tally.rows_skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--dirty", type=float, default=0.03, help="share of rows with a value that does not fit")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    with psycopg.connect(**PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"CREATE TABLE {SCHEMA}.{TABLE} ({COLUMNS})")
    os.environ.setdefault("OPENCDM_FILE_ROOTS", tempfile.gettempdir())
    try:
        with tempfile.TemporaryDirectory(dir=os.environ["OPENCDM_FILE_ROOTS"].split(os.pathsep)[0]) as directory:
            root = Path(directory)
            write_csv(root / "clean.csv", options.rows, 0.0)
            dirty_rows = write_csv(root / "dirty.csv", options.rows, options.dirty)
            figures = {}
            for label, name, skip_dirty in (
                ("clean", "clean.csv", False),
                ("clean, maxErrorRecords", "clean.csv", True),
                ("dirty, maxErrorRecords", "dirty.csv", True),
            ):
                runs = [load(root, name, skip_dirty) for _ in range(options.runs)]
                written, skipped = runs[0][1], runs[0][2]
                expected_skipped = dirty_rows if name == "dirty.csv" else 0
                assert written + skipped == options.rows and skipped == expected_skipped, (label, written, skipped)
                figures[label] = (min(run[0] for run in runs), written, skipped)
    finally:
        with psycopg.connect(**PG, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    print(f"{options.rows:,} rows, {dirty_rows:,} dirty ({options.dirty:.0%}), best of {options.runs}")
    print(f"{'load':<28}{'seconds':>10}{'written':>10}{'skipped':>10}")
    for label, (seconds, written, skipped) in figures.items():
        print(f"{label:<28}{seconds:>10.2f}{written:>10,}{skipped:>10,}")
    dirty = figures["dirty, maxErrorRecords"][0]
    print(f"{'ratio dirty / clean':<28}{dirty / figures['clean'][0]:>10.2f}")
    print(f"{'ratio dirty / clean, both maxErrorRecords':<28}{dirty / figures['clean, maxErrorRecords'][0]:>10.2f}")


if __name__ == "__main__":
    main()
