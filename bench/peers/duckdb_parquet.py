"""DuckDB's postgres scanner writing a PostgreSQL table to one Parquet file (snappy, DuckDB's default).

The scanner comes from the PyPI wheel duckdb-extension-postgres-scanner (``INSTALL postgres``
downloads, which fails offline) and is loaded from the package's directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import duckdb_extension_postgres_scanner


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True, help="libpq connection string")
    parser.add_argument("--table", required=True, help="schema.table")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    extension = next(Path(duckdb_extension_postgres_scanner.__file__).parent.glob("extensions/*/*.duckdb_extension"))
    con = duckdb.connect()
    con.execute(f"LOAD '{extension}'")
    con.execute(f"ATTACH '{args.dsn}' AS pg (TYPE postgres, READ_ONLY)")
    con.execute(f"COPY (SELECT * FROM pg.{args.table}) TO '{args.output}' (FORMAT parquet)")


if __name__ == "__main__":
    main()
