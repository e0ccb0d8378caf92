"""pandas ``read_sql`` (chunks, server-side cursor) + ``to_sql`` PostgreSQL → PostgreSQL on a subset.

pandas' defaults as a user would write them: 50k-row chunks read with stream_results, written with
``to_sql(chunksize=10_000)`` (one INSERT per row batch via executemany).
"""

from __future__ import annotations

import argparse

import pandas as pd
import sqlalchemy as sa


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="SQLAlchemy URL, e.g. postgresql+psycopg2://...")
    parser.add_argument("--rows", type=int, required=True, help="copy rows with id <= ROWS")
    parser.add_argument("--target-schema", required=True)
    args = parser.parse_args()
    engine = sa.create_engine(args.url)
    query = f"SELECT * FROM bench.src WHERE id <= {args.rows:d}"
    with engine.connect() as reading:
        chunks = pd.read_sql(sa.text(query), reading.execution_options(stream_results=True), chunksize=50_000)
        for frame in chunks:
            frame.to_sql("src", engine, schema=args.target_schema, if_exists="append", index=False, chunksize=10_000)


if __name__ == "__main__":
    main()
