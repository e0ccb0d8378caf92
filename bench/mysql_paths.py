"""Rows/s of the MySQL/MariaDB reader and writer: the generic DB-API paths against the fast paths.

    python bench/mysql_paths.py [--rows 500000] [--runs 3] [--batch-rows 50000]

Builds ``opencdm_bench_mysql.src`` on the MariaDB of the tests (127.0.0.1:3306, root, or the
``OPENCDM_TEST_MYSQL_*`` variables) in the reference shape of issue 3 — bigint primary key, int,
decimal(12,2), double, varchar(64), ~100-character text with non-ASCII, boolean, date,
datetime(6), timestamp(6), every non-key column 10 % NULL — deterministically from MariaDB's
sequence engine, and reuses it while its row count matches. Then, alternating the paths in each
run, it times through the connector interface (as a worker runs it):

* read: every batch of ``src`` out of ``JdbcSource.read``;
* write: ``JdbcSink`` prepare + write + commit of those batches (held in memory, read once) into
  ``dst``, a copy of ``src``'s definition with its primary key, emptied before each run.

It prints the median wall time and rows/s of each path and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import pyarrow as pa
import pymysql

from opencdm.connectors.jdbc import JdbcConnector
from opencdm.connectors.jdbc.mysql import MySqlDialect

DATABASE = "opencdm_bench_mysql"
HOST = os.environ.get("OPENCDM_TEST_MYSQL_HOST", "127.0.0.1")
PORT = int(os.environ.get("OPENCDM_TEST_MYSQL_PORT", "3306"))
USER = os.environ.get("OPENCDM_TEST_MYSQL_USER", "root")
PASSWORD = os.environ.get("OPENCDM_TEST_MYSQL_PASSWORD", "")

CREATE = """CREATE TABLE src (
    id BIGINT PRIMARY KEY, c_int INT, c_numeric DECIMAL(12,2), c_double DOUBLE, c_varchar VARCHAR(64),
    c_text TEXT, c_bool BOOLEAN, c_date DATE, c_ts DATETIME(6), c_tstz TIMESTAMP(6) NULL
) CHARACTER SET utf8mb4"""
# Column k (1..9) is NULL where seq % 10 = k - 1: 10 % each, on different rows. seq is unsigned,
# hence the CASTs before subtracting.
FILL = """INSERT INTO src SELECT seq,
    IF(seq % 10 = 0, NULL, CAST((seq * 7919) % 2000000000 AS SIGNED) - 1000000000),
    IF(seq % 10 = 1, NULL, CAST((seq * 104729) % 200000000 AS SIGNED) / 100 - 1000000),
    IF(seq % 10 = 2, NULL, SIN(seq) * 1e6),
    IF(seq % 10 = 3, NULL, CONCAT('name ', seq, ' é')),
    IF(seq % 10 = 4, NULL, RPAD(CONCAT('text ', seq, ' ü 世界 🎉 "quoted", back\\\\slash '), 100, 'lorem ipsum ')),
    IF(seq % 10 = 5, NULL, seq % 2),
    IF(seq % 10 = 6, NULL, '2000-01-01' + INTERVAL seq % 9000 DAY),
    IF(seq % 10 = 7, NULL, '2000-01-01' + INTERVAL seq * 1234567 MICROSECOND),
    IF(seq % 10 = 8, NULL, '2001-01-01' + INTERVAL seq * 7654321 MICROSECOND)
FROM seq_1_to_{rows}"""


def _connect(database: str | None = None) -> pymysql.Connection:
    conn = pymysql.connect(
        host=HOST, port=PORT, user=USER, password=PASSWORD, database=database, charset="utf8mb4", autocommit=True
    )
    with conn.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
    return conn


def prepare(rows: int) -> None:
    conn = _connect()
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        cursor.execute(f"USE {DATABASE}")
        cursor.execute("SHOW TABLES LIKE 'src'")
        if cursor.fetchone():
            cursor.execute("SELECT COUNT(*) FROM src")
            if cursor.fetchone()[0] == rows:
                cursor.execute("DROP TABLE IF EXISTS dst")
                cursor.execute("CREATE TABLE dst LIKE src")
                return
        print(f"generating {rows:,} rows in {DATABASE}.src ...", flush=True)
        cursor.execute("DROP TABLE IF EXISTS src, dst")
        cursor.execute(CREATE)
        cursor.execute(FILL.format(rows=rows))
        cursor.execute("CREATE TABLE dst LIKE src")
    conn.close()


def _link() -> dict[str, str]:
    return {
        "linkConfig.databaseType": "MYSQL",
        "linkConfig.host": HOST,
        "linkConfig.port": str(PORT),
        "linkConfig.database": DATABASE,
        "linkConfig.username": USER,
        "linkConfig.password": PASSWORD,
    }


def read(batch_rows: int) -> list[pa.RecordBatch]:
    source = JdbcConnector().open_source(_link(), {"fromJobConfig.tableName": "src"})
    try:
        return [batch for part in source.partitions(1) for batch in source.read(part, batch_rows)]
    finally:
        source.close()


def write(batches: list[pa.RecordBatch]) -> None:
    sink = JdbcConnector().open_sink(_link(), {"toJobConfig.tableName": "dst"})
    try:
        sink.prepare(batches[0].schema)
        for _ in sink.write(iter(batches)):
            pass
        sink.commit()
    finally:
        sink.close()


def _empty_dst() -> None:
    conn = _connect(DATABASE)
    with conn.cursor() as cursor:
        cursor.execute("TRUNCATE TABLE dst")
    conn.close()


def _timed(fast: bool, action: Callable[[], object]) -> float:
    MySqlDialect.fast_paths = fast
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-rows", type=int, default=50_000)
    args = parser.parse_args()
    prepare(args.rows)
    MySqlDialect.fast_paths = True
    batches = read(args.batch_rows)
    assert sum(batch.num_rows for batch in batches) == args.rows
    walls: dict[tuple[str, bool], list[float]] = {}
    for _ in range(args.runs):
        for fast in (False, True):
            walls.setdefault(("read", fast), []).append(_timed(fast, lambda: read(args.batch_rows)))
            _empty_dst()
            walls.setdefault(("write", fast), []).append(_timed(fast, lambda: write(batches)))
    print(f"{args.rows:,} rows, batches of {args.batch_rows:,}, median of {args.runs} runs")
    print(f"{'path':<7}{'implementation':<52}{'wall s':>8}{'rows/s':>12}")
    names = {
        ("read", False): "PyMySQL SSCursor + per-row conversion (generic)",
        ("read", True): "connectorx arrow_stream + Arrow casts (fast)",
        ("write", False): "PyMySQL executemany multi-row INSERT (generic)",
        ("write", True): "Arrow CSV + LOAD DATA LOCAL INFILE (fast)",
    }
    for path in ("read", "write"):
        medians = {fast: statistics.median(walls[(path, fast)]) for fast in (False, True)}
        for fast in (False, True):
            print(f"{path:<7}{names[(path, fast)]:<52}{medians[fast]:>8.2f}{args.rows / medians[fast]:>12,.0f}")
        print(f"{path:<7}{'speed-up':<52}{medians[False] / medians[True]:>7.1f}x")


if __name__ == "__main__":
    main()
