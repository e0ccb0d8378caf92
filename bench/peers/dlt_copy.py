"""dlt ``sql_table`` PostgreSQL → PostgreSQL, one backend per run (run by bench/run.py in .venv-peers).

The caller sets DATA_WRITER__DISABLE_COMPRESSION=true: dlt's documented way to skip gzip of the
staged files, its fastest setting in the baseline measurements (113 s → 61 s / 96 s → 40 s).
"""

from __future__ import annotations

import argparse

import dlt
from dlt.sources.sql_database import sql_table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of source and destination")
    parser.add_argument("--backend", choices=("pyarrow", "connectorx"), required=True)
    parser.add_argument("--schema", default="bench")
    parser.add_argument("--table", default="src")
    parser.add_argument("--dataset", required=True, help="destination schema (dlt dataset)")
    parser.add_argument("--pipelines-dir", required=True, help="dlt's working directory, fresh per run")
    args = parser.parse_args()
    source = sql_table(credentials=args.url, schema=args.schema, table=args.table, backend=args.backend)
    pipeline = dlt.pipeline(
        pipeline_name=args.dataset,
        destination=dlt.destinations.postgres(credentials=args.url),
        dataset_name=args.dataset,
        pipelines_dir=args.pipelines_dir,
    )
    info = pipeline.run(source)
    info.raise_on_failed_jobs()


if __name__ == "__main__":
    main()
