"""Generate the benchmark's reference table, deterministically, into PostgreSQL, MariaDB and SQLite.

The table (issue 3): ``id`` bigint primary key and nine typed columns, each ~10 % NULL::

    c_int int, c_numeric numeric(12,2), c_double double, c_varchar varchar(64),
    c_text text (~100 chars, some non-ASCII incl. 4-byte UTF-8), c_bool boolean, c_date date,
    c_ts timestamp, c_tstz timestamptz

Rows are generated vectorised in fixed-size chunks, each from its own generator seeded with
``(SEED, chunk number)``: the first N rows are therefore the same whatever ``--rows`` says, so a
500k-row subset (``id <= 500000``) of the 5M table is exactly the 500k-row table.

One tab-separated text rendering serves both PostgreSQL's ``COPY ... FROM STDIN`` (text format)
and MariaDB's ``LOAD DATA LOCAL INFILE`` (its defaults: tab, ``\\N`` for NULL, backslash escapes);
the generated strings contain no tab, newline or backslash, so no escaping is needed. Time-zone
values are written as naive UTC and loaded in UTC sessions. SQLite gets the values the way OpenCDM's
SQLite connector stores them (src/opencdm/connectors/jdbc/sqlite.py): ISO text for dates and
times (``YYYY-MM-DD HH:MM:SS.ffffff``, ``+00:00`` for timestamptz), 0/1 booleans, decimals
through NUMERIC affinity.

A run is skipped for a database whose table already holds the requested row count and carries the
marker of this generator version and seed.
"""

from __future__ import annotations

import argparse
import io
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

SEED = 20240601
VERSION = 1
CHUNK_ROWS = 250_000
NULL_FRACTION = 0.10
DEFAULT_ROWS = 5_000_000
BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
SQLITE_PATH = DATA_DIR / "src.sqlite"

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
MY_PARAMS = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
SCHEMA = "bench"

COLUMNS = ("id", "c_int", "c_numeric", "c_double", "c_varchar", "c_text", "c_bool", "c_date", "c_ts", "c_tstz")
PG_TYPES = (
    "bigint", "integer", "numeric(12,2)", "double precision", "varchar(64)", "text", "boolean", "date",
    "timestamp", "timestamptz",
)
MY_TYPES = (
    "BIGINT", "INT", "DECIMAL(12,2)", "DOUBLE", "VARCHAR(64)", "TEXT", "BOOLEAN", "DATE", "DATETIME(6)",
    "TIMESTAMP(6) NULL",  # NULL: MariaDB would otherwise make the first TIMESTAMP NOT NULL DEFAULT now()
)
SQLITE_TYPES = (
    "BIGINT", "INT", "DECIMAL(12,2)", "DOUBLE", "VARCHAR(64)", "TEXT", "BOOLEAN", "DATE", "TIMESTAMP", "TIMESTAMPTZ",
)

# Word lists for the text columns: mostly ASCII, some Latin-1, Greek, CJK and a 4-byte emoji, so
# that a connection or table silently falling back to latin1/utf8mb3 shows up in the checks.
_WORDS = (
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo",
    "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor",
    "whiskey", "xray", "yankee", "zulu", "data", "migration", "table", "column", "batch", "stream", "commit",
    "partition", "replica", "cluster", "server", "client", "network", "latency", "throughput", "café",
    "naïve", "façade", "Zürich", "São", "Ελλάδα", "мир", "東京", "数据", "🚀",
)
_FIRST = (
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Karl", "Lena", "José",
    "Zoë", "Łukasz", "Søren", "Chloé", "Åsa",
)
_LAST = (
    "Smith", "Müller", "García", "Rossi", "Novak", "Dubois", "Jensen", "Kowalski", "Silva", "Nguyen",
    "Schmidt", "Ødegaard", "Núñez", "Ivanov", "Papadopoulos", "Tanaka", "O'Brien",
)
TEXT_WORDS = 16
EPOCH_US_2000 = 946_684_800_000_000
SPAN_US_30Y = 30 * 365 * 86_400 * 1_000_000
DAYS_1990 = 7305  # 1990-01-01 in days since 1970-01-01


def marker(rows: int) -> str:
    return f"opencdm-bench gen v{VERSION} seed={SEED} rows={rows}"


def _nulls(rng: np.random.Generator, n: int) -> pa.Buffer:
    """A validity bitmap with ~NULL_FRACTION of the bits cleared."""
    return pa.array(rng.random(n) >= NULL_FRACTION).buffers()[1]


def _with_nulls(array: pa.Array, validity: pa.Buffer) -> pa.Array:
    return pa.Array.from_buffers(array.type, len(array), [validity, *array.buffers()[1:]])


def _decimal_cents(cents: np.ndarray, validity: pa.Buffer) -> pa.Array:
    # decimal128 stores the unscaled value as a little-endian 128-bit integer: low word, sign word.
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    return pa.Array.from_buffers(pa.decimal128(12, 2), len(cents), [validity, pa.py_buffer(words.tobytes())])


def _join_words(vocabulary: Sequence[str], indices: np.ndarray) -> pa.Array:
    words = pa.array(vocabulary)
    return pc.binary_join_element_wise(*(words.take(indices[:, i]) for i in range(indices.shape[1])), " ")


def chunk(number: int) -> pa.Table:
    """Rows ``number * CHUNK_ROWS + 1 ...`` of the reference table, always the full chunk."""
    rng = np.random.default_rng([SEED, number])
    n = CHUNK_ROWS
    first_id = number * CHUNK_ROWS + 1
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    ints = rng.integers(-(2**31), 2**31, n, dtype=np.int64).astype(np.int32)
    cents = rng.integers(-(10**11), 10**11, n, dtype=np.int64)
    doubles = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 7, n)
    names = _join_words(_FIRST, rng.integers(0, len(_FIRST), (n, 1)))
    surnames = _join_words(_LAST, rng.integers(0, len(_LAST), (n, 2)))
    varchars = pc.binary_join_element_wise(names, surnames, pa.array(rng.integers(0, 10**6, n)).cast(pa.string()), " ")
    texts = _join_words(_WORDS, rng.integers(0, len(_WORDS), (n, TEXT_WORDS)))
    bools = rng.random(n) < 0.5
    dates = (DAYS_1990 + rng.integers(0, 40 * 365, n)).astype(np.int32)
    stamps = EPOCH_US_2000 - 10 * 365 * 86_400 * 1_000_000 + rng.integers(0, 40 * 365 * 86_400 * 10**6, n)
    zoned = EPOCH_US_2000 + rng.integers(0, SPAN_US_30Y, n)  # inside MariaDB TIMESTAMP's 1970-2038
    columns = [
        pa.array(ids),
        _with_nulls(pa.array(ints), _nulls(rng, n)),
        _decimal_cents(cents, _nulls(rng, n)),
        _with_nulls(pa.array(doubles), _nulls(rng, n)),
        _with_nulls_string(varchars, rng, n),
        _with_nulls_string(texts, rng, n),
        _with_nulls(pa.array(bools), _nulls(rng, n)),
        _with_nulls(pa.array(dates, pa.date32()), _nulls(rng, n)),
        _with_nulls(pa.array(stamps, pa.timestamp("us")), _nulls(rng, n)),
        _with_nulls(pa.array(zoned, pa.timestamp("us", "UTC")), _nulls(rng, n)),
    ]
    return pa.table(columns, names=list(COLUMNS))


def _with_nulls_string(array: pa.Array, rng: np.random.Generator, n: int) -> pa.Array:
    # A string array's buffers are (validity, offsets, data); the joined arrays have no nulls yet.
    return pa.Array.from_buffers(pa.string(), n, [_nulls(rng, n), *array.buffers()[1:]])


def chunks(rows: int) -> Iterator[pa.Table]:
    for number in range((rows + CHUNK_ROWS - 1) // CHUNK_ROWS):
        table = chunk(number)
        yield table.slice(0, min(CHUNK_ROWS, rows - number * CHUNK_ROWS))


def to_tsv(table: pa.Table) -> bytes:
    """Tab-separated text with ``\\N`` for NULL: PostgreSQL COPY text format and LOAD DATA's default."""
    rendered = []
    for column in table.columns:
        if pa.types.is_boolean(column.type):
            column = column.cast(pa.int8())
        elif pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("us"))  # naive UTC; the loading sessions run in UTC
        rendered.append(pc.fill_null(column.cast(pa.string()), "\\N"))
    out = io.BytesIO()
    options = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    pacsv.write_csv(pa.table(rendered, names=table.column_names), out, options)
    return out.getvalue()


def _iso_text(column: pa.ChunkedArray, suffix: str = "") -> pa.ChunkedArray:
    # Arrow renders timestamp(us) as "YYYY-MM-DD HH:MM:SS.ffffff", exactly what OpenCDM writes.
    text = column.cast(pa.timestamp("us")).cast(pa.string())
    return pc.binary_join_element_wise(text, pa.scalar(suffix), "") if suffix else text


def to_sqlite_rows(table: pa.Table) -> Iterator[tuple[object, ...]]:
    columns = {name: table.column(name) for name in table.column_names}
    columns["c_numeric"] = columns["c_numeric"].cast(pa.string())  # NUMERIC affinity stores it as REAL
    columns["c_bool"] = columns["c_bool"].cast(pa.int8())
    columns["c_date"] = columns["c_date"].cast(pa.string())
    columns["c_ts"] = _iso_text(columns["c_ts"])
    columns["c_tstz"] = _iso_text(columns["c_tstz"], "+00:00")
    return zip(*(columns[name].to_pylist() for name in COLUMNS), strict=True)


# --- PostgreSQL ----------------------------------------------------------------------------------


def pg_ready(table: str, rows: int) -> bool:
    import psycopg

    with psycopg.connect(PG_DSN) as conn:
        found = conn.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (f"{SCHEMA}.{table}",)).fetchone()
        if not found or found[0] != marker(rows):
            return False
        return conn.execute(f"SELECT count(*) FROM {SCHEMA}.{table}").fetchone()[0] == rows


def load_pg(rows: int, table: str = "src") -> None:
    import psycopg

    ddl = ", ".join(f"{name} {type_}" for name, type_ in zip(COLUMNS, PG_TYPES, strict=True))
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{table}")
        conn.execute(f"CREATE TABLE {SCHEMA}.{table} ({ddl})")
        conn.execute("SET TimeZone = 'UTC'")
        with conn.transaction(), conn.cursor().copy(f"COPY {SCHEMA}.{table} FROM STDIN") as copy:
            for part in chunks(rows):
                copy.write(to_tsv(part))
        # The key after the load (faster than maintaining it row by row); VACUUM sets hint bits and
        # statistics now, so neither autovacuum nor first readers pay for them during a timed run.
        conn.execute(f"ALTER TABLE {SCHEMA}.{table} ADD PRIMARY KEY (id)")
        conn.execute(f"VACUUM (FREEZE, ANALYZE) {SCHEMA}.{table}")
        conn.execute(f"COMMENT ON TABLE {SCHEMA}.{table} IS '{marker(rows)}'")


# --- MariaDB -------------------------------------------------------------------------------------


def _my_connect(**extra: object):  # noqa: ANN202 - pymysql's Connection type is not worth importing here
    import pymysql

    return pymysql.connect(**MY_PARAMS, charset="utf8mb4", autocommit=True, **extra)


def mysql_ready(rows: int) -> bool:
    conn = _my_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME='src'",
                (SCHEMA,),
            )
            found = cur.fetchone()
            if not found or found[0] != marker(rows):
                return False
            cur.execute(f"SELECT COUNT(*) FROM {SCHEMA}.src")
            return cur.fetchone()[0] == rows
    finally:
        conn.close()


def load_mysql(rows: int) -> None:
    DATA_DIR.mkdir(exist_ok=True)
    tsv = DATA_DIR / "src.tsv"
    with open(tsv, "wb") as out:
        for part in chunks(rows):
            out.write(to_tsv(part))
    ddl = ", ".join(f"{name} {type_}" for name, type_ in zip(COLUMNS, MY_TYPES, strict=True))
    conn = _my_connect(local_infile=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {SCHEMA} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            cur.execute(f"DROP TABLE IF EXISTS {SCHEMA}.src")
            cur.execute(f"CREATE TABLE {SCHEMA}.src ({ddl}, PRIMARY KEY (id)) ENGINE=InnoDB CHARACTER SET utf8mb4")
            cur.execute("SET time_zone = '+00:00'")
            cur.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {SCHEMA}.src CHARACTER SET utf8mb4 ({', '.join(COLUMNS)})",
                (str(tsv),),
            )
            cur.execute("SHOW WARNINGS LIMIT 5")
            warnings = cur.fetchall()
            if warnings:
                raise RuntimeError(f"LOAD DATA warnings (data would differ from PostgreSQL's): {warnings}")
            cur.execute(f"ANALYZE TABLE {SCHEMA}.src")
            cur.fetchall()
            cur.execute(f"ALTER TABLE {SCHEMA}.src COMMENT = %s", (marker(rows),))
    finally:
        conn.close()
        tsv.unlink(missing_ok=True)


# --- SQLite --------------------------------------------------------------------------------------


def sqlite_ready(rows: int) -> bool:
    if not SQLITE_PATH.exists():
        return False
    conn = sqlite3.connect(SQLITE_PATH)
    try:
        found = conn.execute("SELECT value FROM bench_meta WHERE key = 'marker'").fetchone()
        if not found or found[0] != marker(rows):
            return False
        return conn.execute("SELECT count(*) FROM src").fetchone()[0] == rows
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def load_sqlite(rows: int) -> None:
    DATA_DIR.mkdir(exist_ok=True)
    SQLITE_PATH.unlink(missing_ok=True)
    ddl = ", ".join(f"{name} {type_}" for name, type_ in zip(COLUMNS, SQLITE_TYPES, strict=True))
    conn = sqlite3.connect(SQLITE_PATH, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # a scratch file: rebuilt from scratch if interrupted
        conn.execute("BEGIN")
        conn.execute(f"CREATE TABLE src ({ddl.replace('id BIGINT', 'id BIGINT PRIMARY KEY')})")
        placeholders = ", ".join("?" * len(COLUMNS))
        for part in chunks(rows):
            conn.executemany(f"INSERT INTO src VALUES ({placeholders})", to_sqlite_rows(part))
        conn.execute("CREATE TABLE bench_meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO bench_meta VALUES ('marker', ?)", (marker(rows),))
        conn.execute("COMMIT")
    finally:
        conn.close()


# --- entry point ---------------------------------------------------------------------------------

TARGETS = ("pg", "mysql", "sqlite")


def ensure(rows: int, targets: tuple[str, ...] = TARGETS, pg_table: str = "src", force: bool = False) -> None:
    """Generate the table into each target that does not hold it already (with this seed and size)."""
    steps = {
        "pg": (lambda: pg_ready(pg_table, rows), lambda: load_pg(rows, pg_table), f"PostgreSQL {SCHEMA}.{pg_table}"),
        "mysql": (lambda: mysql_ready(rows), lambda: load_mysql(rows), f"MariaDB {SCHEMA}.src"),
        "sqlite": (lambda: sqlite_ready(rows), lambda: load_sqlite(rows), f"SQLite {SQLITE_PATH}"),
    }
    for target in targets:
        ready, load, what = steps[target]
        if not force and ready():
            print(f"gen_data: {what} already has {rows:,} rows (seed {SEED}, v{VERSION}), kept", flush=True)
            continue
        started = time.monotonic()
        load()
        print(f"gen_data: {what}: {rows:,} rows generated in {time.monotonic() - started:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows to generate (default 5,000,000)")
    parser.add_argument("--only", default=",".join(TARGETS), help="comma-separated subset of pg,mysql,sqlite")
    parser.add_argument("--pg-table", default="src", help="PostgreSQL table name in schema bench (default src)")
    parser.add_argument("--force", action="store_true", help="regenerate even when the marker matches")
    args = parser.parse_args(argv)
    targets = tuple(part.strip() for part in args.only.split(",") if part.strip())
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    ensure(args.rows, targets, args.pg_table, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
