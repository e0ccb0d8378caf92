"""A PostgreSQL source that is not a plain table (a view, a materialized view, a foreign table, a
partitioned table's parent) is read on every path: one extractor (the binary COPY pass-through into
PostgreSQL, Arrow batches elsewhere, DuckDB's scan into Parquet) and several, as a plain table is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pyarrow.parquet as pq
import pymysql
import pytest

from conftest import (
    MY_HOST,
    MY_PORT,
    MY_USER,
    PG_DATABASE,
    PG_HOST,
    PG_PORT,
    PG_USER,
    RunningServer,
    config_values,
    create_link,
    mysql_link,
    pg_connect,
    pg_link,
)
from job_support import Copy, finished_run, written

ROWS = 60
BASE = """CREATE TABLE "{schema}".base (id int PRIMARY KEY, v text, amount numeric(12,2));
INSERT INTO "{schema}".base SELECT g, 'v' || g, g / 4.0 FROM generate_series(1, {rows}) g"""
KINDS = {
    "view": 'CREATE VIEW "{schema}".src AS SELECT id, v, amount FROM "{schema}".base',
    "materialized-view": 'CREATE MATERIALIZED VIEW "{schema}".src AS SELECT id, v, amount FROM "{schema}".base',
    "partitioned-table": """CREATE TABLE "{schema}".src (id int PRIMARY KEY, v text, amount numeric(12,2))
        PARTITION BY RANGE (id);
CREATE TABLE "{schema}".src_low PARTITION OF "{schema}".src FOR VALUES FROM (MINVALUE) TO (20);
CREATE TABLE "{schema}".src_high PARTITION OF "{schema}".src FOR VALUES FROM (20) TO (MAXVALUE);
INSERT INTO "{schema}".src SELECT * FROM "{schema}".base""",
    "foreign-table": """CREATE SERVER "{schema}" FOREIGN DATA WRAPPER postgres_fdw
        OPTIONS (host '{host}', port '{port}', dbname '{database}');
CREATE USER MAPPING FOR CURRENT_USER SERVER "{schema}" OPTIONS (user '{user}');
CREATE FOREIGN TABLE "{schema}".src (id int, v text, amount numeric(12,2)) SERVER "{schema}"
        OPTIONS (schema_name '{schema}', table_name 'base')""",
}


@pytest.fixture(params=list(KINDS))
def source_kind(request: pytest.FixtureRequest, pg_schema: str) -> Iterator[str]:
    """Relation ``src`` of ``pg_schema``, of the kind named, holding ROWS rows of table ``base``."""
    kind: str = request.param
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, autocommit=True) as conn:
        if kind == "foreign-table":
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
            except psycopg.Error as exc:
                pytest.skip(f"postgres_fdw is not available on this PostgreSQL server: {exc}")
        statements = f"{BASE};\n{KINDS[kind]}".format(
            schema=pg_schema, rows=ROWS, host=PG_HOST, port=PG_PORT, database=PG_DATABASE, user=PG_USER
        )
        for statement in statements.split(";\n"):
            conn.execute(statement)
    yield kind
    if kind == "foreign-table":  # a server belongs to no schema: the schema's drop leaves it
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, autocommit=True) as conn:
            conn.execute(f'DROP SERVER IF EXISTS "{pg_schema}" CASCADE')


def _extractors(count: int) -> tuple[dict[str, str], dict[str, str]]:
    """fromJobConfig and driver inputs reading the source with ``count`` extractors (cut on id)."""
    if count == 1:
        return {}, {}
    return {"fromJobConfig.partitionColumn": "id"}, {"throttlingConfig.numExtractors": str(count)}


@pytest.mark.parametrize("extractors", [1, 2])
def test_every_relation_kind_reaches_postgresql(
    api: httpx.Client, server: RunningServer, pg_schema: str, source_kind: str, extractors: int
) -> None:
    source, driver = _extractors(extractors)
    job = Copy(api, server, pg_link(), pg_schema)
    job.create({"fromJobConfig.schemaName": pg_schema} | source, driver=driver)
    done = job.run()
    assert written(done) == ROWS, done
    with pg_connect() as conn:
        expected = conn.execute(f'SELECT id, v, amount FROM "{pg_schema}".base ORDER BY id').fetchall()
    assert job.target("id, v, amount") == expected


@pytest.mark.parametrize("extractors", [1, 2])
def test_every_relation_kind_reaches_mariadb(
    api: httpx.Client, server: RunningServer, pg_schema: str, mysql_database: str, source_kind: str,
    extractors: int,
) -> None:
    source, driver = _extractors(extractors)
    job = Copy(api, server, pg_link(), mysql_database, target_link=mysql_link(mysql_database))
    job.create({"fromJobConfig.schemaName": pg_schema} | source, driver=driver)
    assert written(job.run()) == ROWS
    conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, database=mysql_database)
    with conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*), SUM(id), MIN(v), SUM(amount) FROM dst")
        assert cursor.fetchone() == (ROWS, ROWS * (ROWS + 1) // 2, "v1", sum(range(1, ROWS + 1)) / 4)
    conn.close()


def test_every_relation_kind_reaches_parquet_through_duckdb(
    file_server: RunningServer, nas: str, area: Path, pg_schema: str, source_kind: str
) -> None:
    with file_server.client() as api:
        scanned_before = file_server.log().count("the destination reads postgresql table")
        response = api.post(f"{file_server.cdm}/job", json={"jobs": [{
            "name": f"parquet_{pg_schema}", "job_type": "NORMAL_JOB",
            "from-connector-name": "generic-jdbc-connector",
            "from-link-name": create_link(api, file_server, "generic-jdbc-connector", pg_link()),
            "to-connector-name": "nas-connector", "to-link-name": nas,
            "from-config-values": config_values(
                "fromJobConfig", {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "src"}),
            "to-config-values": config_values(
                "toJobConfig", {"toJobConfig.outputDirectory": "/out", "toJobConfig.outputFormat": "PARQUET_FILE"}),
            "driver-config-values": {"configs": []},
        }]})
        assert response.status_code == 200, response.text
        assert api.put(f"{file_server.cdm}/job/parquet_{pg_schema}/start").status_code == 200
        assert written(finished_run(api, file_server, f"parquet_{pg_schema}")) == ROWS
    assert file_server.log().count("the destination reads postgresql table") > scanned_before
    table = pq.read_table(area / "out/part-00000.parquet").sort_by("id")
    assert table.column("id").to_pylist() == list(range(1, ROWS + 1))
    assert table.column("v").to_pylist() == [f"v{index}" for index in range(1, ROWS + 1)]
