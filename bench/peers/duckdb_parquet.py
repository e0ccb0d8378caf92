"""DuckDB's postgres scanner writing a PostgreSQL table to one Parquet file (snappy, DuckDB's default),
on local disk or, with --s3-endpoint, on an S3-compatible server (path-style, http) through httpfs.

The extensions come from the PyPI wheels duckdb-extension-postgres-scanner and
duckdb-extension-httpfs (``INSTALL`` downloads, which fails offline) and are loaded from each
package's directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import ModuleType

import duckdb


def _load(con: duckdb.DuckDBPyConnection, package: ModuleType) -> None:
    extension = next(Path(package.__file__ or "").parent.glob("extensions/*/*.duckdb_extension"))
    con.execute(f"LOAD '{extension}'")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True, help="libpq connection string")
    parser.add_argument("--table", required=True, help="schema.table")
    parser.add_argument("--output", required=True, help="a file path, or s3://bucket/key with --s3-endpoint")
    parser.add_argument("--s3-endpoint", help="host:port of an S3-compatible server (http, path-style)")
    parser.add_argument("--s3-key", default="")
    parser.add_argument("--s3-secret", default="")
    args = parser.parse_args()
    con = duckdb.connect()
    import duckdb_extension_postgres_scanner

    _load(con, duckdb_extension_postgres_scanner)
    if args.s3_endpoint:
        import duckdb_extension_httpfs

        _load(con, duckdb_extension_httpfs)
        con.execute(
            f"CREATE SECRET (TYPE s3, KEY_ID '{args.s3_key}', SECRET '{args.s3_secret}', "
            f"ENDPOINT '{args.s3_endpoint}', URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')"
        )
    con.execute(f"ATTACH '{args.dsn}' AS pg (TYPE postgres, READ_ONLY)")
    con.execute(f"COPY (SELECT * FROM pg.{args.table}) TO '{args.output}' (FORMAT parquet)")


if __name__ == "__main__":
    main()
