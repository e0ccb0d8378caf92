"""Entire-database migration (issue 22): OpenCDM's BATCH_JOB beside pgloader and pg_dump | pg_restore.

    python bench/entire_database.py [--max-rows 5000000] [--runs 1] [--save]

Builds MariaDB database ``bench_entire`` (on 127.0.0.1:3306, root): 50 tables whose sizes grow
geometrically from 5 rows to ``--max-rows``, in three shapes taken in turn — ``wide`` (every type
both tools carry: signed and unsigned integers, decimal, float, double, boolean, char, varchar,
text, date, datetime, timestamp, time, year, varbinary, blob, JSON, enum), ``orders`` (an INT
auto-increment key, defaults) and ``pairs`` (a two-column primary key, no auto-increment) — each with
a unique key, secondary indexes (their names repeat from table to table, as MySQL allows) and a
foreign key to a smaller table. It is generated once by MariaDB's sequence engine and kept while
every table has its size and the generator's mark (the table comment).

Then, ``--runs`` rounds, each timed from start to end and checked:

1. MariaDB → PostgreSQL: ``pgloader mysql://root@127.0.0.1/bench_entire
   postgresql://postgres@127.0.0.1/bench_entire_pgloader`` (pgloader's defaults: schema, data,
   indexes, foreign keys, sequences; its schema is named after the MySQL database), then OpenCDM: a
   BATCH_JOB of a fresh ``opencdm serve`` over HTTP into database ``bench_entire_opencdm``, schema
   ``bench_entire``, ``tablePreparation=CREATE_WHEN_NOT_EXIST``, other inputs at their defaults;
2. PostgreSQL → PostgreSQL, the schema OpenCDM made in 1 (vacuumed and analysed first, untimed):
   ``pg_dump -Fd --jobs 2 -n bench_entire`` then ``pg_restore --jobs 2`` into database
   ``bench_entire_restore`` (the wall is the sum of both), beside an OpenCDM BATCH_JOB into database
   ``bench_entire_pgpg``.

Every destination database is dropped and made anew before its run, untimed (OpenCDM's also gets
the empty schema, which the job does not make). The checks, per destination: each table's row count
against the source's, and what was made, from pg_catalog: tables, primary keys, unique constraints,
unique and other indexes, foreign keys (and how many are validated), identity or serial columns,
sequences and how many of them would hand out a value past the column's largest. It prints the
table; ``--save`` writes ``bench/results/entire_database.json`` and the "Entire-database migration"
section of docs/performance.md. Run it with the harness's interpreter (bench/.venv-peers, see
README.md) and ``--opencdm-python`` (default as bench/run.py); pgloader from Debian's package
(``apt-get install pgloader``): without it its rows say so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import harness
import psutil
import psycopg
import pymysql
from doc_sections import write_section

SOURCE = "bench_entire"  # the MariaDB database, and the PostgreSQL schema every destination gets
TABLES = 50
MIN_ROWS = 5
DEFAULT_MAX_ROWS = 5_000_000
GENERATOR = "opencdm bench entire_database v1"
CHUNK_ROWS = 1_000_000
SECTION = "## Entire-database migration (issue 22)"
LOGS = harness.RESULTS / "logs"
DESTINATIONS = {
    "pgloader": "bench_entire_pgloader",
    "opencdm:mysql-pg": "bench_entire_opencdm",
    "pg_dump-restore": "bench_entire_restore",
    "opencdm:pg-pg": "bench_entire_pgpg",
}
ROUTES = {"mysql-pg": "MariaDB → PostgreSQL", "pg-pg": "PostgreSQL → PostgreSQL (the schema OpenCDM made)"}
BASELINES = {"mysql-pg": "pgloader", "pg-pg": "pg_dump-restore"}


# --- the source ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    name: str
    shape: str
    rows: int
    parent: Table | None

    @property
    def key_type(self) -> str:
        """The type of the ``id`` a child's foreign key references (InnoDB wants the same type)."""
        return "BIGINT" if self.shape == "wide" else "INT"


def plan(max_rows: int) -> list[Table]:
    """The 50 tables, smallest first; each but the first references the nearest smaller table with an id."""
    shapes = ("wide", "orders", "pairs")
    tables: list[Table] = []
    for number in range(TABLES):
        rows = round(MIN_ROWS * (max_rows / MIN_ROWS) ** (number / (TABLES - 1)))
        shape = shapes[number % len(shapes)]
        parent = next((t for t in reversed(tables) if t.shape != "pairs"), None)
        tables.append(Table(f"t{number + 1:02d}_{shape}", shape, rows, parent))
    return tables


def _create(table: Table) -> str:
    parent = table.parent
    fk = (f", CONSTRAINT `{table.name}_parent` FOREIGN KEY (parent_id) REFERENCES `{parent.name}` (id)"
          if parent else "")
    parent_type = parent.key_type if parent else "BIGINT"
    options = f"ENGINE=InnoDB CHARACTER SET utf8mb4 COMMENT='{GENERATOR} rows={table.rows}'"
    if table.shape == "wide":
        return f"""CREATE TABLE `{table.name}` (
            id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, parent_id {parent_type} NULL, code VARCHAR(32) NOT NULL,
            c_tinyint TINYINT, c_smallint SMALLINT, c_mediumint MEDIUMINT, c_int INT, c_int_unsigned INT UNSIGNED,
            c_bigint BIGINT, c_bigint_unsigned BIGINT UNSIGNED, c_decimal DECIMAL(18,4), c_float FLOAT,
            c_double DOUBLE, c_bool BOOLEAN, c_char CHAR(10), c_varchar VARCHAR(100), c_text TEXT, c_date DATE,
            c_datetime DATETIME(6), c_timestamp TIMESTAMP(6) NULL, c_time TIME(6), c_year YEAR,
            c_varbinary VARBINARY(16), c_blob BLOB, c_json JSON, c_enum ENUM('new','paid','shipped','returned'),
            UNIQUE KEY uq_code (code), KEY by_int (c_int), KEY by_date_varchar (c_date, c_varchar){fk}
        ) {options}"""
    if table.shape == "orders":
        return f"""CREATE TABLE `{table.name}` (
            id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, parent_id {parent_type} NULL, code VARCHAR(32) NOT NULL,
            amount DECIMAL(14,4) NOT NULL DEFAULT 0, status ENUM('new','paid','shipped','returned') NOT NULL
            DEFAULT 'new', created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, note VARCHAR(255),
            UNIQUE KEY uq_code (code), KEY by_created (created_at), KEY by_status_created (status, created_at){fk}
        ) {options}"""
    return f"""CREATE TABLE `{table.name}` (
        a BIGINT NOT NULL, b SMALLINT NOT NULL, parent_id {parent_type} NULL, weight DOUBLE,
        label VARCHAR(40) NOT NULL, seen DATE, PRIMARY KEY (a, b), UNIQUE KEY uq_b_a (b, a),
        KEY by_label (label){fk}
    ) {options}"""


def _fill(table: Table, first: int, last: int) -> str:
    """Rows first..last, deterministic in ``seq``; about one value in ten is NULL in nullable columns."""
    parent = f"IF(seq % 10 = 0, NULL, seq % {table.parent.rows} + 1)" if table.parent else "NULL"
    if table.shape == "wide":
        values = f"""seq, {parent}, CONCAT('{table.name}-', seq),
            IF(seq % 10 = 1, NULL, CAST(seq % 256 AS SIGNED) - 128), CAST(seq % 65536 AS SIGNED) - 32768,
            CAST(seq * 7 % 16777216 AS SIGNED) - 8388608,
            IF(seq % 10 = 2, NULL, CAST(seq * 7919 % 2000000000 AS SIGNED) - 1000000000),
            seq * 2654435761 % 4294967296, IF(seq % 10 = 3, NULL, CAST(seq AS SIGNED) * 1000003 - 4611686018427387904),
            18446744073709551615 - seq,
            IF(seq % 10 = 4, NULL, CAST(seq * 104729 % 2000000000 AS SIGNED) / 10000 - 100000),
            SIN(seq) * 1000, IF(seq % 10 = 5, NULL, COS(seq) * 1e9), seq % 2, CONCAT('c', seq % 1000),
            CONCAT('name ', seq, ' é'),
            IF(seq % 10 = 6, NULL, RPAD(CONCAT('text ', seq, ' ü 世界 🎉 "quoted" '), 40 + seq % 80, 'lorem ipsum ')),
            '2000-01-01' + INTERVAL seq % 9000 DAY, '2000-01-01' + INTERVAL seq * 1234567 MICROSECOND,
            IF(seq % 10 = 7, NULL, '2001-01-01' + INTERVAL seq * 7654321 MICROSECOND),
            SEC_TO_TIME(seq % 86400 + seq % 1000000 / 1000000), 1901 + seq % 254, UNHEX(MD5(seq)),
            IF(seq % 10 = 8, NULL, REPEAT(UNHEX(MD5(seq)), 1 + seq % 4)),
            IF(seq % 10 = 9, NULL, JSON_OBJECT('id', seq, 'tags', JSON_ARRAY('a', seq % 7))),
            ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'returned')"""
    elif table.shape == "orders":
        values = f"""seq, {parent}, CONCAT('{table.name}-', seq), CAST(seq * 7919 % 100000000 AS SIGNED) / 10000,
            ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'returned'), '2020-01-01' + INTERVAL seq * 37 SECOND,
            IF(seq % 10 = 1, NULL, CONCAT('order ', seq, ' — ', REPEAT('x', seq % 50)))"""
    else:
        values = f"""seq DIV 8, seq % 8, {parent}, IF(seq % 10 = 1, NULL, seq / 7), CONCAT('label ', seq),
            IF(seq % 10 = 2, NULL, '2010-01-01' + INTERVAL seq % 5000 DAY)"""
    return f"INSERT INTO `{table.name}` SELECT {values} FROM seq_{first}_to_{last}"


def _mysql(database: str | None = None) -> pymysql.Connection:
    conn = pymysql.connect(host=harness.HOST, port=harness.MY_PORT, user="root", password="", database=database,
                           charset="utf8mb4", autocommit=True)
    with conn.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
    return conn


def _source_is_current(tables: list[Table]) -> bool:
    conn = _mysql()
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT TABLE_NAME, TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                           (SOURCE,))
            comments = dict(cursor.fetchall())
            if comments != {t.name: f"{GENERATOR} rows={t.rows}" for t in tables}:
                return False
            return source_rows(tables) == {t.name: t.rows for t in tables}
    finally:
        conn.close()


def ensure_source(tables: list[Table]) -> None:
    if _source_is_current(tables):
        return
    total = sum(t.rows for t in tables)
    print(f"generating MariaDB {SOURCE}: {len(tables)} tables, {total:,} rows ...", flush=True)
    started = time.monotonic()
    conn = _mysql()
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {SOURCE}")
            cursor.execute(f"CREATE DATABASE {SOURCE} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            cursor.execute(f"USE {SOURCE}")
            # Every row's parent exists; not checking it while loading saves a lookup per row.
            cursor.execute("SET foreign_key_checks = 0, unique_checks = 0")
            for table in tables:
                cursor.execute(_create(table))
                for first in range(1, table.rows + 1, CHUNK_ROWS):
                    cursor.execute(_fill(table, first, min(first + CHUNK_ROWS - 1, table.rows)))
            for table in tables:
                cursor.execute(f"ANALYZE TABLE `{table.name}`")
                cursor.fetchall()
    finally:
        conn.close()
    print(f"  generated in {time.monotonic() - started:.0f} s", flush=True)


def source_rows(tables: list[Table]) -> dict[str, int]:
    """Every table's row count, read by a full scan (which also warms MariaDB's cache alike for every tool)."""
    conn = _mysql(SOURCE)
    try:
        with conn.cursor() as cursor:
            counts = {}
            for table in tables:
                cursor.execute(f"SELECT COUNT(*) FROM `{table.name}`")
                counts[table.name] = int(cursor.fetchone()[0])
            return counts
    finally:
        conn.close()


def source_objects() -> dict[str, Any]:
    """What the MariaDB database holds, counted as the destinations are."""
    conn = _mysql()
    try:
        with conn.cursor() as cursor:
            def one(sql: str) -> int:
                cursor.execute(sql, (SOURCE,))
                return int(cursor.fetchone()[0])

            indexes = ("SELECT COUNT(DISTINCT TABLE_NAME, INDEX_NAME) FROM information_schema.STATISTICS "
                       "WHERE TABLE_SCHEMA = %s AND INDEX_NAME <> 'PRIMARY' AND NON_UNIQUE = {}")
            return {
                "tables": one("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"),
                "primary_keys": one("SELECT COUNT(DISTINCT TABLE_NAME) FROM information_schema.STATISTICS "
                                    "WHERE TABLE_SCHEMA = %s AND INDEX_NAME = 'PRIMARY'"),
                "unique_constraints": one(indexes.format(0)),
                "unique_indexes": 0,
                "indexes": one(indexes.format(1)),
                "foreign_keys": one("SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS "
                                    "WHERE CONSTRAINT_SCHEMA = %s"),
                "foreign_keys_valid": None,
                "identities": one("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                                  "AND EXTRA LIKE '%%auto_increment%%'"),
                "sequences": None,
                "sequences_past_max": None,
                "bytes": one("SELECT SUM(DATA_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"),
            }
    finally:
        conn.close()


# --- PostgreSQL destinations ---------------------------------------------------------------------


def _pg(database: str) -> psycopg.Connection[Any]:
    return psycopg.connect(host=harness.HOST, port=harness.PG_PORT, user="postgres", dbname=database, autocommit=True)


def fresh_database(database: str, schema: str | None) -> None:
    """Drop and make a destination database (untimed), with an empty schema if given."""
    with _pg("postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    if schema:
        with _pg(database) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')


CATALOG = """
SELECT
  (SELECT COUNT(*) FROM pg_class WHERE relnamespace = n.oid AND relkind IN ('r', 'p')),
  (SELECT COUNT(*) FROM pg_constraint WHERE connamespace = n.oid AND contype = 'p'),
  (SELECT COUNT(*) FROM pg_constraint WHERE connamespace = n.oid AND contype = 'u'),
  (SELECT COUNT(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = n.oid
     AND i.indisunique AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid)),
  (SELECT COUNT(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = n.oid
     AND NOT i.indisunique AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid)),
  (SELECT COUNT(*) FROM pg_constraint WHERE connamespace = n.oid AND contype = 'f'),
  (SELECT COUNT(*) FROM pg_constraint WHERE connamespace = n.oid AND contype = 'f' AND convalidated),
  (SELECT COUNT(*) FROM pg_class WHERE relnamespace = n.oid AND relkind = 'S')
FROM pg_namespace n WHERE n.nspname = %s
"""
# Columns fed by a sequence: identity columns and serial ones (a nextval default).
SEQUENCED = """
SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  AND (a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%%')
"""


def check_destination(database: str, schema: str, expected: dict[str, int]) -> dict[str, Any]:
    """Row counts against the source's, and what the destination made (pg_catalog)."""
    with _pg(database) as conn:
        row = conn.execute(CATALOG, (schema,)).fetchone()
        if row is None:
            return {"rows_ok": 0, "rows": 0, "missing": sorted(expected), "check": f"FAILED: no schema {schema}"}
        keys = ("tables", "primary_keys", "unique_constraints", "unique_indexes", "indexes", "foreign_keys",
                "foreign_keys_valid", "sequences")
        found: dict[str, Any] = dict(zip(keys, (int(v) for v in row), strict=True))
        present = {name for (name,) in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = %s::regnamespace AND relkind IN ('r', 'p')",
            (schema,))}
        wrong, missing, rows = [], [], 0
        for table, count in expected.items():
            if table not in present:
                missing.append(table)
                continue
            copied = int(conn.execute(f'SELECT COUNT(*) FROM "{schema}"."{table}"').fetchone()[0])  # type: ignore[index]
            rows += copied
            if copied != count:
                wrong.append(f"{table} {copied:,}/{count:,}")
        sequenced = conn.execute(SEQUENCED, (schema,)).fetchall()
        past = 0
        for table, column in sequenced:
            last, called, largest = _sequence_state(conn, f'"{schema}"."{table}"', column)
            following = last + 1 if called else last
            if largest is None or following > largest:
                past += 1
    found.update(identities=len(sequenced), sequences_past_max=past, rows=rows,
                 rows_ok=len(expected) - len(missing) - len(wrong), missing=missing, wrong=wrong)
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"rows {', '.join(wrong)}"] if wrong else [])
    found["check"] = "FAILED: " + "; ".join(problems)[:300] if problems else f"OK ({len(expected)} tables)"
    return found


def _sequence_state(conn: psycopg.Connection[Any], ref: str, column: str) -> tuple[int, bool, int | None]:
    """The sequence of a column: its last value, whether it was handed out, and the column's largest value."""
    (sequence,) = conn.execute("SELECT pg_get_serial_sequence(%s, %s)", (ref, column)).fetchone()  # type: ignore[misc]
    last, called = conn.execute(f"SELECT last_value, is_called FROM {sequence}").fetchone()  # type: ignore[misc]
    (largest,) = conn.execute(f'SELECT MAX("{column}") FROM {ref}').fetchone()  # type: ignore[misc]
    return int(last), bool(called), None if largest is None else int(largest)


# --- the tools -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One run of one tool: wall seconds, peak RSS of its process tree, what its destination holds."""

    wall: float | None
    peak_rss_mib: float | None
    found: dict[str, Any]
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.wall is not None and str(self.found.get("check", "")).startswith("OK")


@dataclass
class ToolResult:
    id: str
    route: str
    tool: str
    command: str
    runs: list[Outcome] = field(default_factory=list)
    unavailable: str | None = None

    def walls(self) -> list[float]:
        return [run.wall for run in self.runs if run.ok and run.wall is not None]

    def median(self) -> float | None:
        walls = self.walls()
        return statistics.median(walls) if walls else None

    @classmethod
    def load(cls, data: dict[str, Any]) -> ToolResult:
        runs = [Outcome(**run) for run in data.pop("runs")]
        return cls(**data, runs=runs)


def _pg_uri(database: str) -> str:
    return f"postgresql://postgres@{harness.HOST}:{harness.PG_PORT}/{database}"


# pgloader's one change from its defaults: with its default prefetch of 100,000 rows per reader,
# Debian's build (a 1 GiB Lisp heap) dies of "Heap exhausted, game over" on this data from a 1M-row
# biggest table on; 10,000 is the usual remedy (pgloader issue #962).
PGLOADER_WITH = "prefetch rows = 10000"


def pgloader_argv(with_options: str) -> list[str]:
    options = ["--with", with_options] if with_options else []
    return ["pgloader", *options, f"mysql://root@{harness.HOST}:{harness.MY_PORT}/{SOURCE}",
            _pg_uri(DESTINATIONS["pgloader"])]


def dump_argv(directory: Path) -> list[list[str]]:
    pg = ["-h", harness.HOST, "-p", str(harness.PG_PORT), "-U", "postgres"]
    return [
        ["pg_dump", *pg, "-Fd", "--jobs", "2", "-n", SOURCE, "-f", str(directory), DESTINATIONS["opencdm:mysql-pg"]],
        ["pg_restore", *pg, "--jobs", "2", "-d", DESTINATIONS["pg_dump-restore"], str(directory)],
    ]


def settle(wait: bool) -> None:
    """Before a timed run: let the machine calm down (autovacuum, InnoDB flushing), unless told not to
    (on a machine busy with other work it never does, and each wait costs two minutes)."""
    if wait:
        harness.wait_until_quiet()


def run_pgloader(logs: Path, round_no: int, timeout: float, wait: bool, with_options: str) -> tuple[float, float, str]:
    fresh_database(DESTINATIONS["pgloader"], None)
    settle(wait)
    wall, peak = harness.run_process(pgloader_argv(with_options), dict(os.environ), logs / f"pgloader-{round_no}.log",
                                     timeout)
    return wall, peak, ""


def run_dump_restore(logs: Path, round_no: int, timeout: float, wait: bool) -> tuple[float, float, str]:
    fresh_database(DESTINATIONS["pg_dump-restore"], None)
    with tempfile.TemporaryDirectory(prefix="bench-entire-dump-") as parent:
        dump, restore = dump_argv(Path(parent) / "dump")
        settle(wait)
        dumped, dump_peak = harness.run_process(dump, dict(os.environ), logs / f"pg_dump-{round_no}.log", timeout)
        restored, restore_peak = harness.run_process(restore, dict(os.environ), logs / f"pg_restore-{round_no}.log",
                                                     timeout)
    return dumped + restored, max(dump_peak, restore_peak), f"pg_dump {dumped:.1f} s + pg_restore {restored:.1f} s"


class OpenCdm:
    """A fresh ``opencdm serve`` with the links and the two BATCH_JOBs of the benchmark."""

    JOBS = {"opencdm:mysql-pg": "entire-mysql-pg", "opencdm:pg-pg": "entire-pg-pg"}

    def __init__(self, python: str, home: Path, concurrent_sub_jobs: int | None) -> None:
        self.server = harness.OpenCdmServer(python, home)
        self._link("entire-mariadb", "MYSQL", harness.MY_PORT, SOURCE, "root")
        for tool in self.JOBS:
            self._link(f"entire-{DESTINATIONS[tool]}", "POSTGRESQL", harness.PG_PORT, DESTINATIONS[tool], "postgres")
        driver = {"throttlingConfig.concurrentSubJobs": str(concurrent_sub_jobs)} if concurrent_sub_jobs else {}
        for tool, source_link in (("opencdm:mysql-pg", "entire-mariadb"),
                                  ("opencdm:pg-pg", f"entire-{DESTINATIONS['opencdm:mysql-pg']}")):
            self.server._call("POST", "/job", {"jobs": [{
                "name": self.JOBS[tool], "job_type": "BATCH_JOB",
                "from-connector-name": "generic-jdbc-connector", "from-link-name": source_link,
                "to-connector-name": "generic-jdbc-connector", "to-link-name": f"entire-{DESTINATIONS[tool]}",
                "from-config-values": harness._configs("fromJobConfig", {"fromJobConfig.schemaName": SOURCE}),
                "to-config-values": harness._configs("toJobConfig", {
                    "toJobConfig.schemaName": SOURCE, "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}),
                "driver-config-values": harness._configs("throttlingConfig", driver),
            }]})

    def _link(self, name: str, kind: str, port: int, database: str, user: str) -> None:
        self.server._call("POST", "/link", {"links": [{
            "name": name, "connector-name": "generic-jdbc-connector", "enabled": True,
            "link-config-values": harness._configs("linkConfig", {
                "linkConfig.databaseType": kind, "linkConfig.host": harness.HOST, "linkConfig.port": str(port),
                "linkConfig.database": database, "linkConfig.username": user, "linkConfig.password": ""}),
        }]})

    def run(self, tool: str, logs: Path, round_no: int, timeout: float, wait: bool) -> tuple[float, float, str]:
        fresh_database(DESTINATIONS[tool], SOURCE)
        settle(wait)
        with harness.TreeSampler(self.server.process.pid) as sampler:
            wall, submission = self.server.run_job(self.JOBS[tool], timeout)
        lines = self.server._call("GET", f"/submissions/{submission['submission-id']}/log").get("lines", [])
        log = logs / f"{tool.replace(':', '_')}-entire-{round_no}.log"
        started = lines[0]["time"] if lines else 0
        log.write_text("".join(f"{(line['time'] - started) / 1000:9.3f} {line['message']}\n" for line in lines))
        # What was not carried, once per kind: the table names of the benchmark's tables left out.
        kinds: dict[str, int] = {}
        for line in lines:
            if "not carried" in line["message"]:
                kind = re.sub(r"^submission \d+: |\bt\d\d_[a-z]+\b", "", line["message"]).replace("..", ".")
                kinds[kind] = kinds.get(kind, 0) + 1
        return wall, sampler.peak_mib, "; ".join(f"{count} × \"{kind}\"" for kind, count in kinds.items())

    def stop(self) -> None:
        self.server.stop()


# --- the session ---------------------------------------------------------------------------------


def _version(argv: list[str]) -> str:
    if not shutil.which(argv[0]):
        return "not installed"
    out = subprocess.run(argv, capture_output=True, text=True)
    return (out.stdout or out.stderr).strip().splitlines()[0]


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    with _pg("postgres") as conn:
        pg_version, buffers, wal = conn.execute(
            "SELECT version(), current_setting('shared_buffers'), current_setting('max_wal_size')").fetchone()  # type: ignore[misc]
    conn_my = _mysql()
    try:
        with conn_my.cursor() as cursor:
            cursor.execute("SELECT VERSION(), @@innodb_buffer_pool_size, @@innodb_flush_log_at_trx_commit")
            my_version, pool, flush = cursor.fetchone()
    finally:
        conn_my.close()
    commit = subprocess.run(["git", "-C", str(harness.REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{os.cpu_count()} × {cpu}",
        "ram": f"{psutil.virtual_memory().total / 1024**3:.1f} GiB",
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "postgresql": f"{pg_version.split(' on ')[0]} (shared_buffers {buffers}, max_wal_size {wal})",
        "mariadb": f"{my_version} (innodb_buffer_pool_size {int(pool) // harness.MIB} MiB, "
                   f"innodb_flush_log_at_trx_commit {flush})",
        "pgloader": _version(["pgloader", "--version"]),
        "pg_dump": _version(["pg_dump", "--version"]),
        "opencdm": commit,
    }


def _job_description(kind: str, database: str, tool: str, sub_jobs: int | None) -> str:
    return (f"BATCH_JOB over HTTP from a {kind} link (database {database}, fromJobConfig.schemaName {SOURCE}) to a "
            f"POSTGRESQL link (database {DESTINATIONS[tool]}, toJobConfig.schemaName {SOURCE}), "
            f"tablePreparation=CREATE_WHEN_NOT_EXIST, concurrentSubJobs={sub_jobs or 'default (4)'}")


def run_session(options: argparse.Namespace, command: str) -> dict[str, Any]:
    tables = plan(options.max_rows)
    ensure_source(tables)
    expected = source_rows(tables)
    objects = source_objects()
    described = machine()
    LOGS.mkdir(parents=True, exist_ok=True)
    sub_jobs = options.concurrent_sub_jobs
    results = {
        "pgloader": ToolResult("pgloader", "mysql-pg", f"pgloader ({options.pgloader_with or 'defaults'})",
                               shlex.join(pgloader_argv(options.pgloader_with))),
        "opencdm:mysql-pg": ToolResult("opencdm:mysql-pg", "mysql-pg", "OpenCDM BATCH_JOB",
                                       _job_description("MYSQL", SOURCE, "opencdm:mysql-pg", sub_jobs)),
        "pg_dump-restore": ToolResult("pg_dump-restore", "pg-pg", "pg_dump -Fd -j2 + pg_restore -j2",
                                      " && ".join(shlex.join(a) for a in dump_argv(Path("DIR")))),
        "opencdm:pg-pg": ToolResult("opencdm:pg-pg", "pg-pg", "OpenCDM BATCH_JOB",
                                    _job_description("POSTGRESQL", DESTINATIONS["opencdm:mysql-pg"], "opencdm:pg-pg",
                                                     sub_jobs)),
    }
    if not shutil.which("pgloader"):
        results["pgloader"].unavailable = "pgloader is not installed (apt-get install pgloader)"
    pg_source: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="opencdm-bench-home-") as home:
        opencdm = OpenCdm(options.opencdm_python, Path(home), options.concurrent_sub_jobs)
        try:
            for round_no in range(1, options.runs + 1):
                for tool, result in results.items():
                    if result.unavailable:
                        continue
                    if result.route == "pg-pg":
                        if not results["opencdm:mysql-pg"].runs[-1].ok:
                            result.runs.append(Outcome(None, None, {"check": "SKIPPED: no PostgreSQL source"}))
                            continue
                        if not pg_source:
                            with _pg(DESTINATIONS["opencdm:mysql-pg"]) as conn:
                                conn.execute("VACUUM (FREEZE, ANALYZE)")
                            pg_source = check_destination(DESTINATIONS["opencdm:mysql-pg"], SOURCE, expected)
                    try:
                        if tool == "pgloader":
                            wall, peak, note = run_pgloader(LOGS, round_no, options.timeout, options.quiet_wait,
                                                          options.pgloader_with)
                        elif tool == "pg_dump-restore":
                            wall, peak, note = run_dump_restore(LOGS, round_no, options.timeout, options.quiet_wait)
                        else:
                            wall, peak, note = opencdm.run(tool, LOGS, round_no, options.timeout, options.quiet_wait)
                        found = check_destination(DESTINATIONS[tool], SOURCE, expected)
                    except Exception as exc:  # noqa: BLE001 - a failed run is a result too
                        wall, peak, note, found = None, None, "", {"check": f"FAILED: {exc}"[:400]}
                    result.runs.append(Outcome(wall, peak, found, note))
                    if tool == "opencdm:mysql-pg":
                        pg_source = {}  # a new copy: vacuum it before the PostgreSQL → PostgreSQL runs
                    shown = f"{wall:8.1f} s  peak {peak:7.0f} MiB" if wall is not None and peak is not None else ""
                    print(f"  round {round_no}/{options.runs}  {tool:<18} {shown}  {found['check']}  {note}",
                          flush=True)
        finally:
            opencdm.stop()
    described["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "command": command, "max_rows": options.max_rows, "runs": options.runs, "machine": described,
        "tables": [{"name": t.name, "shape": t.shape, "rows": t.rows} for t in tables],
        "source": objects, "pg_source": pg_source, "results": [asdict(r) for r in results.values()],
    }


# --- the table -----------------------------------------------------------------------------------

HEADER = ["tool", "wall s", "× baseline", "rows/s", "peak RSS MiB", "tables with every row", "tables", "primary keys",
          "unique constraints", "unique indexes", "other indexes", "foreign keys (validated)",
          "identity/serial columns", "sequences (past max)"]


def _made(found: dict[str, Any]) -> list[str]:
    def shown(key: str) -> str:
        value = found.get(key)
        return "–" if value is None else str(value)

    foreign = shown("foreign_keys") + (f" ({found['foreign_keys_valid']})" if found.get("foreign_keys_valid")
                                       is not None else "")
    sequences = shown("sequences") + (f" ({found['sequences_past_max']})" if found.get("sequences_past_max")
                                      is not None else "")
    return [shown("tables"), shown("primary_keys"), shown("unique_constraints"), shown("unique_indexes"),
            shown("indexes"), foreign, shown("identities"), sequences]


def table(data: dict[str, Any], route: str) -> str:
    results = [ToolResult.load(dict(r)) for r in data["results"] if r["route"] == route]
    total = sum(t["rows"] for t in data["tables"])
    baseline = next((r.median() for r in results if r.id == BASELINES[route]), None)
    source = data["source"] if route == "mysql-pg" else data.get("pg_source") or {}
    rows = [["source" + (" (MariaDB; auto-increment columns)" if route == "mysql-pg" else " (schema bench_entire)"),
             "", "", "", "", "", *_made(source)]]
    for result in results:
        if result.unavailable:
            rows.append([result.tool, result.unavailable, *[""] * (len(HEADER) - 2)])
            continue
        median = result.median()
        walls = result.walls()
        wall = (f"{median:.1f}" + (f" ({min(walls):.1f}–{max(walls):.1f})" if len(walls) > 1 else "")
                + (f", {len(walls)}/{len(result.runs)} ok" if len(walls) != len(result.runs) else "")) if median \
            else "failed: " + str(result.runs[-1].found.get("check", ""))[:120] if result.runs else "not run"
        last = next((run for run in reversed(result.runs) if run.ok), result.runs[-1] if result.runs else None)
        found = last.found if last else {}
        peaks = [run.peak_rss_mib for run in result.runs if run.ok and run.peak_rss_mib]
        rows.append([
            result.tool, wall, f"{median / baseline:.2f}×" if median and baseline else "",
            f"{total / median:,.0f}" if median else "", f"{max(peaks):.0f}" if peaks else "",
            f"{found.get('rows_ok', '–')}/{len(data['tables'])}", *_made(found),
        ])
    return harness.markdown_table(HEADER, rows)


# What "as complete a schema" compares: a unique key counts whether made a constraint or an index.
COMPLETENESS = {
    "tables": ("tables",), "primary keys": ("primary_keys",), "unique keys": ("unique_constraints", "unique_indexes"),
    "indexes": ("indexes",), "foreign keys": ("foreign_keys_valid",), "sequences past max": ("sequences_past_max",),
}


def verdict(data: dict[str, Any]) -> str:
    """Issue 22's target on MariaDB → PostgreSQL: OpenCDM's wall ≤ pgloader's, its schema as complete."""
    results = {r["id"]: ToolResult.load(dict(r)) for r in data["results"]}
    ours, theirs = results["opencdm:mysql-pg"], results["pgloader"]
    wall, baseline = ours.median(), theirs.median()
    if wall is None or baseline is None:
        return "Target (issue 22), OpenCDM's wall ≤ pgloader's with a schema as complete: NOT MEASURED."

    def made(result: ToolResult) -> dict[str, int]:
        found = next(run.found for run in reversed(result.runs) if run.ok)
        return {kind: sum(int(found.get(key) or 0) for key in keys) for kind, keys in COMPLETENESS.items()}

    mine, pgloader = made(ours), made(theirs)
    short = [f"{kind} {mine[kind]} < {pgloader[kind]}" for kind in COMPLETENESS if mine[kind] < pgloader[kind]]
    return (f"Target (issue 22): OpenCDM's wall ≤ pgloader's: {wall / baseline:.2f}× — "
            f"{'PASS' if wall <= baseline else 'FAIL'}; a schema as complete as pgloader's (tables, primary keys, "
            f"unique keys, indexes, validated foreign keys, sequences past the largest value): "
            f"{'PASS' if not short else 'FAIL (' + ', '.join(short) + ')'}. Not counted above: pgloader makes a "
            "PostgreSQL enum type of each ENUM column, OpenCDM a text column (its run log says so).")


def render(data: dict[str, Any]) -> list[str]:
    """The docs/performance.md section of this benchmark (also used by bench/run.py)."""
    total = sum(t["rows"] for t in data["tables"])
    sizes = sorted(t["rows"] for t in data["tables"])
    machine_lines = [f"- {key}: {value}" for key, value in data["machine"].items()]
    results = {r["id"]: r for r in data["results"]}
    notes = sorted({run["note"] for r in results.values() for run in r["runs"] if run.get("note")})
    parts = [
        "", SECTION, "",
        f"Command: `{data['command']}` ([bench/README.md](../bench/README.md)). {len(sizes)} MariaDB tables, "
        f"{sizes[0]:,} to {sizes[-1]:,} rows ({total:,} in all, {data['source']['bytes'] / 1e6:,.0f} MB of InnoDB "
        f"data), in three shapes (every type both tools carry; an INT auto-increment key with defaults; a "
        "two-column key), each with a unique key, secondary indexes and a foreign key; "
        f"{data['runs']} run(s) of each tool, median wall. Each run writes into a database made anew; the check "
        "compares every table's row count with the source's and counts what the destination holds in "
        "pg_catalog. \"unique indexes\" and \"other indexes\" are those that back no constraint; \"past max\": "
        "sequences whose next value is above their column's largest.",
    ]
    for route, label in ROUTES.items():
        parts += ["", f"### {label}", "", table(data, route)]
        if route == "mysql-pg":
            parts += ["", verdict(data)]
        else:
            parts += ["", "pg_dump's directory format compresses its files (gzip, its default): part of its time "
                      "is that compression, on the same two cores."]
    parts += ["", "Commands:", "",
              *(f"- {r['tool']}: `{r['command']}`" for r in results.values())]
    if notes:
        parts += ["", "Notes of the runs: " + "; ".join(notes) + "."]
    parts += ["", "Machine (2 cores shared with other work while it ran: the load average says how much; the "
              "figures are noisy, compare the ratios of one session):", "", *machine_lines]
    return parts


def write_doc(data: dict[str, Any]) -> None:
    write_section(harness.DOC, SECTION, render(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS, help="rows of the biggest table")
    parser.add_argument("--runs", type=int, default=1, help="rounds of every tool (default 1)")
    parser.add_argument("--concurrent-sub-jobs", type=int, default=None,
                        help="OpenCDM throttlingConfig.concurrentSubJobs (default: the job's default, 4)")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds before a run is abandoned")
    parser.add_argument("--opencdm-python", default=os.environ.get("OPENCDM_PYTHON") or sys.executable)
    parser.add_argument("--pgloader-with", default=PGLOADER_WITH,
                        help=f"pgloader's --with options (default {PGLOADER_WITH!r}; '' for its defaults)")
    parser.add_argument("--no-quiet-wait", dest="quiet_wait", action="store_false",
                        help="start each run at once instead of waiting (up to 120 s) for the machine to be idle")
    parser.add_argument("--save", action="store_true",
                        help="write bench/results/entire_database.json and the section of docs/performance.md")
    parser.add_argument("--render", action="store_true",
                        help="only re-render the section of docs/performance.md from the saved results")
    options = parser.parse_args()
    if options.render:
        data = json.loads((harness.RESULTS / "entire_database.json").read_text())
        print("\n".join(render(data)))
        write_doc(data)
        return
    command = "python bench/entire_database.py " + shlex.join(sys.argv[1:])
    data = run_session(options, command.strip())
    print("\n".join(render(data)))
    if options.save:
        harness._save("entire_database", data)
        write_doc(data)


if __name__ == "__main__":
    main()
