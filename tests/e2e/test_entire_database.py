"""Entire-database jobs (CDM's BATCH_JOB) through the HTTP API: one job copies a schema's tables,
each as the run of its own sub-job ``<job>_<table>``, which ShowJobStatus shows; a run after a
failed one copies only the tables that did not succeed."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pymysql
from pyiceberg.catalog.sql import SqlCatalog

from conftest import RunningServer, S3Server, config_values, create_link, mysql_link, pg_connect, pg_link
from job_support import SLOW_WHERE, driver_values, finished_run, wait_until

MY = {"host": "127.0.0.1", "port": 3306, "user": "root", "autocommit": True}


def _post_batch_job(api: httpx.Client, server: RunningServer, source_link: str, source: dict[str, str],
                    target_link: str, target: dict[str, str], driver: dict[str, str] | None = None,
                    to_connector: str = "generic-jdbc-connector") -> tuple[str, httpx.Response]:
    name = f"db_{uuid.uuid4().hex[:8]}"
    return name, api.post(f"{server.cdm}/job", json={"jobs": [{
        "name": name, "job_type": "BATCH_JOB",
        "from-connector-name": "generic-jdbc-connector", "from-link-name": source_link,
        "to-connector-name": to_connector, "to-link-name": target_link,
        "from-config-values": config_values("fromJobConfig", source),
        "to-config-values": config_values("toJobConfig", target),
        "driver-config-values": driver_values(driver or {"throttlingConfig.concurrentSubJobs": "2"}),
    }]})


def _batch_job(api: httpx.Client, server: RunningServer, source_link: str, source: dict[str, str],
               target_link: str, target: dict[str, str], driver: dict[str, str] | None = None,
               to_connector: str = "generic-jdbc-connector") -> str:
    name, response = _post_batch_job(api, server, source_link, source, target_link, target, driver, to_connector)
    assert response.status_code == 200, response.text
    return name


def _status(api: httpx.Client, server: RunningServer, job: str) -> dict[str, Any]:
    response = api.get(f"{server.cdm}/job/{job}/status")
    assert response.status_code == 200, response.text
    submission: dict[str, Any] = response.json()["submissions"][0]
    return submission


def _written(submission: dict[str, Any]) -> int:
    return int(submission["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]["ROWS_WRITTEN"])


def _metric(api: httpx.Client, name: str) -> float:
    """The value of an unlabelled series of the caller's project in /metrics."""
    answer = api.get("/metrics")
    assert answer.status_code == 200, answer.text
    return sum(float(line.split()[-1]) for line in answer.text.splitlines() if line.startswith(f"{name} "))


def _runs(api: httpx.Client, server: RunningServer, job: str) -> list[dict[str, Any]]:
    response = api.get(f"{server.cdm}/submissions", params={"jname": job, "page_size": 100})
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()["submissions"]
    return runs


def test_a_mariadb_database_is_copied_into_postgresql_table_by_table_with_its_keys(
    api: httpx.Client, server: RunningServer, mysql_database: str, pg_schema: str
) -> None:
    tables = {"plain": 30, "Order": 5, "MixedCase": 7, "skip_me": 3}
    conn = pymysql.connect(database=mysql_database, **MY)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE plain (id INT AUTO_INCREMENT PRIMARY KEY, label VARCHAR(20), KEY by_label (label))")
        cur.execute("CREATE TABLE `Order` (id INT PRIMARY KEY, label VARCHAR(20), plain_id INT, "
                    "CONSTRAINT order_plain FOREIGN KEY (plain_id) REFERENCES plain (id))")
        cur.execute("CREATE TABLE `MixedCase` (id INT PRIMARY KEY, label VARCHAR(20) UNIQUE)")
        cur.execute("CREATE TABLE skip_me (id INT PRIMARY KEY, label VARCHAR(20))")
        for table, rows in tables.items():
            cur.executemany(f"INSERT INTO `{table}` (id, label) VALUES (%s, %s)",
                            [(i + 1, f"{table}-{i + 1}") for i in range(rows)])
        cur.execute("UPDATE `Order` SET plain_id = id")
        cur.execute("CREATE VIEW a_view AS SELECT id FROM plain")
    conn.close()
    job = _batch_job(
        api, server, create_link(api, server, "generic-jdbc-connector", mysql_link(mysql_database)),
        {"fromJobConfig.schemaName": mysql_database, "fromJobConfig.excludedTables": "skip_*"},
        create_link(api, server, "generic-jdbc-connector", pg_link()),
        {"toJobConfig.schemaName": pg_schema, "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"},
    )
    rows_before = _metric(api, "opencdm_rows_written_total")
    assert api.put(f"{server.cdm}/job/{job}/start").status_code == 200
    parent = finished_run(api, server, job)
    assert parent["status"] == "SUCCEEDED", parent
    assert _written(parent) == 30 + 5 + 7
    # /metrics counts the tables' rows once, not again as the job's.
    assert _metric(api, "opencdm_rows_written_total") - rows_before == 30 + 5 + 7
    assert 'opencdm_entire_database_runs{status="SUCCEEDED"}' in api.get("/metrics").text
    for table in ("plain", "Order", "MixedCase"):
        sub = _status(api, server, f"{job}_{table}")
        assert sub["status"] == "SUCCEEDED" and _written(sub) == tables[table], sub
        with pg_connect() as pg:
            copied = pg.execute(f'SELECT id, label FROM "{pg_schema}"."{table}" ORDER BY id').fetchall()
        assert copied == [(i + 1, f"{table}-{i + 1}") for i in range(tables[table])]
    with pg_connect() as pg:
        created = {row[0] for row in pg.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (pg_schema,))}
        indexes = {row[0] for row in pg.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s",
                                                (pg_schema,))}
        keys = pg.execute(
            "SELECT conrelid::regclass::text, contype, confrelid::regclass::text FROM pg_constraint "
            "WHERE connamespace = %s::regnamespace ORDER BY 1, 2", (pg_schema,)).fetchall()
        # The identity goes on past the copied rows.
        next_id = pg.execute(f'INSERT INTO "{pg_schema}".plain (label) VALUES (%s) RETURNING id', ("new",)).fetchone()
    # Neither the excluded table nor the view came along; the tables came with their keys and indexes.
    assert created == {"plain", "Order", "MixedCase"}
    assert any("(label)" in index and "plain" in index for index in indexes), indexes
    assert (f'{pg_schema}."Order"', "f", f"{pg_schema}.plain") in keys
    assert {(table, kind) for table, kind, _ in keys} >= {
        (f"{pg_schema}.plain", "p"), (f'{pg_schema}."Order"', "p"), (f'{pg_schema}."MixedCase"', "u")}
    assert next_id == (31,)
    assert api.get(f"{server.cdm}/job/{job}_skip_me/status").json()["errCode"] == "Cdm.0100"
    # Both levels are shown: the job names its sub-jobs, each sub-job its job.
    shown = api.get(f"{server.cdm}/job/{job}").json()["jobs"][0]
    assert shown["job_type"] == "BATCH_JOB"
    assert sorted(shown["sub-jobs"]) == sorted(f"{job}_{table}" for table in ("plain", "Order", "MixedCase"))
    sub_job = api.get(f"{server.cdm}/job/{job}_Order").json()
    assert "jobs" in sub_job, sub_job
    assert sub_job["jobs"][0]["parent-job"] == job
    log = api.get(f"{server.cdm}/submissions/{parent['submission-id']}/log").json()["lines"]
    assert any("a_view" in line["message"] and "not carried" in line["message"] for line in log), log
    # ShowJobs lists the entire-database job under its type, and never its sub-jobs.
    batch = api.get(f"{server.cdm}/job/all", params={"jobType": "BATCH_JOB", "filter": job}).json()
    assert [found["name"] for found in batch["jobs"]] == [job]
    normal = api.get(f"{server.cdm}/job/all", params={"filter": job}).json()
    assert normal["jobs"] == []


def test_a_postgresql_schema_is_copied_into_mariadb_with_composite_keys_foreign_keys_and_identities(
    api: httpx.Client, server: RunningServer, pg_schema: str, mysql_database: str
) -> None:
    with pg_connect() as pg:
        pg.execute(f'SET search_path TO "{pg_schema}"')
        pg.execute('CREATE TABLE "Order" (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text)')
        pg.execute('CREATE TABLE "select" (order_id int REFERENCES "Order" (id) ON DELETE CASCADE, line int, '
                   '"from" varchar(10), PRIMARY KEY (order_id, line))')
        pg.execute('CREATE INDEX by_from ON "select" ("from", line)')
        pg.execute('INSERT INTO "Order" (id, note) VALUES (0, \'zero\'), (1, \'one\'), (7, \'seven\')')
        pg.execute('INSERT INTO "select" VALUES (0, 1, \'a\'), (7, 1, \'b\'), (7, 2, \'c\')')
    job = _batch_job(
        api, server, create_link(api, server, "generic-jdbc-connector", pg_link()),
        {"fromJobConfig.schemaName": pg_schema},
        create_link(api, server, "generic-jdbc-connector", mysql_link(mysql_database)),
        {"toJobConfig.schemaName": mysql_database, "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"},
    )
    assert api.put(f"{server.cdm}/job/{job}/start").status_code == 200
    parent = finished_run(api, server, job)
    assert parent["status"] == "SUCCEEDED", parent
    conn = pymysql.connect(database=mysql_database, **MY)
    with conn.cursor() as cur:
        cur.execute("SELECT id, note FROM `Order` ORDER BY id")
        assert cur.fetchall() == ((0, "zero"), (1, "one"), (7, "seven"))  # 0 stays 0
        cur.execute("SELECT order_id, line, `from` FROM `select` ORDER BY order_id, line")
        assert cur.fetchall() == ((0, 1, "a"), (7, 1, "b"), (7, 2, "c"))
        cur.execute("SELECT table_name, column_name FROM information_schema.key_column_usage "
                    "WHERE table_schema = %s AND constraint_name = 'PRIMARY' ORDER BY table_name, ordinal_position",
                    (mysql_database,))
        assert cur.fetchall() == (("Order", "id"), ("select", "order_id"), ("select", "line"))
        cur.execute("SELECT table_name, referenced_table_name FROM information_schema.referential_constraints "
                    "WHERE constraint_schema = %s", (mysql_database,))
        assert cur.fetchall() == (("select", "Order"),)
        cur.execute("SELECT index_name FROM information_schema.statistics WHERE table_schema = %s "
                    "AND table_name = 'select' AND column_name = 'from'", (mysql_database,))
        assert cur.fetchall() == (("by_from",),)
        cur.execute("INSERT INTO `Order` (note) VALUES ('next')")
        assert cur.lastrowid == 8  # the counter goes on past the copied rows
    conn.close()


def test_a_run_after_a_failed_one_copies_only_the_tables_that_failed(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    with pg_connect() as pg:
        for table in ("a", "b", "c"):
            pg.execute(f'CREATE TABLE "{pg_schema}".src_{table} (id int PRIMARY KEY, v int)')
            pg.execute(f'INSERT INTO "{pg_schema}".src_{table} SELECT g, g FROM generate_series(1, 20) g')
        pg.execute(f'CREATE SCHEMA "{pg_schema}_to"')
        # The destination of b refuses its rows until the check goes.
        pg.execute(f'CREATE TABLE "{pg_schema}_to".src_b (id int PRIMARY KEY, v int CHECK (v < 0))')
    link = create_link(api, server, "generic-jdbc-connector", pg_link())
    try:
        job = _batch_job(api, server, link, {"fromJobConfig.schemaName": pg_schema},
                         link, {"toJobConfig.schemaName": f"{pg_schema}_to",
                                "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"})
        assert api.put(f"{server.cdm}/job/{job}/start").status_code == 200
        first = finished_run(api, server, job)
        assert first["status"] == "FAILED"
        assert "1 of 3 tables failed: src_b" in first["error-summary"]
        assert first["tables"] == {"running": 0, "succeeded": 2, "failed": 1}
        assert _status(api, server, f"{job}_src_b")["status"] == "FAILED"
        with pg_connect() as pg:
            pg.execute(f'ALTER TABLE "{pg_schema}_to".src_b DROP CONSTRAINT src_b_v_check')
        assert api.put(f"{server.cdm}/job/{job}/start").status_code == 200
        second = finished_run(api, server, job)
        assert second["status"] == "SUCCEEDED", second
        assert second["tables"] == {"running": 0, "succeeded": 1, "failed": 0}
        assert [run["tables"] for run in _runs(api, server, job)] == [second["tables"], first["tables"]]
        assert _written(second) == 20
        assert [len(_runs(api, server, f"{job}_src_{table}")) for table in ("a", "b", "c")] == [1, 2, 1]
        with pg_connect() as pg:
            for table in ("a", "b", "c"):
                assert pg.execute(f'SELECT count(*) FROM "{pg_schema}_to".src_{table}').fetchone() == (20,)
        log = api.get(f"{server.cdm}/submissions/{second['submission-id']}/log").json()["lines"]
        assert any("its 2 tables that succeeded are not copied again: src_a, src_c" in line["message"]
                   for line in log), [line["message"] for line in log]
    finally:
        with pg_connect() as pg:
            pg.execute(f'DROP SCHEMA "{pg_schema}_to" CASCADE')


def test_stopping_an_entire_database_job_stops_its_tables(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    with pg_connect() as pg:
        for table in ("a", "b", "c"):
            pg.execute(f'CREATE TABLE "{pg_schema}".{table} (id int PRIMARY KEY)')
            pg.execute(f'INSERT INTO "{pg_schema}".{table} SELECT g FROM generate_series(1, 5000) g')
        pg.execute(f'CREATE SCHEMA "{pg_schema}_to"')
    link = create_link(api, server, "generic-jdbc-connector", pg_link())
    try:
        job = _batch_job(api, server, link, {"fromJobConfig.schemaName": pg_schema,
                                             "fromJobConfig.whereClause": SLOW_WHERE},
                         link, {"toJobConfig.schemaName": f"{pg_schema}_to",
                                "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"},
                         {"throttlingConfig.concurrentSubJobs": "1"})
        assert api.put(f"{server.cdm}/job/{job}/start").status_code == 200
        wait_until("the first table's run", lambda: _status(api, server, f"{job}_a")["status"] == "RUNNING"
                   if api.get(f"{server.cdm}/job/{job}_a/status").status_code == 200 else None)
        assert api.put(f"{server.cdm}/job/{job}/stop").status_code == 200
        parent = finished_run(api, server, job)
        assert parent["status"] == "FAILED" and parent["error-summary"] == "Job stopped by user."
        first = finished_run(api, server, f"{job}_a")
        assert first["status"] == "FAILED"
        # The tables after it never started.
        assert _runs(api, server, f"{job}_c") == []
        with pg_connect() as pg:
            # The tables were made before their rows; the stopped table's rows were rolled back.
            left = [pg.execute(f'SELECT count(*) FROM "{pg_schema}_to".{table}').fetchone() for table in "abc"]
        assert left == [(0,)] * 3
    finally:
        with pg_connect() as pg:
            pg.execute(f'DROP SCHEMA "{pg_schema}_to" CASCADE')


def _pg_tables(schema: str, tables: dict[str, int]) -> None:
    """Tables ``name: rows`` of an id, a text and a decimal."""
    with pg_connect() as pg:
        for table, count in tables.items():
            pg.execute(f'CREATE TABLE "{schema}"."{table}" (id int PRIMARY KEY, label text, amount numeric(10,2))')
            quoted = table.replace("%", "%%")  # psycopg's placeholders
            pg.execute(f'INSERT INTO "{schema}"."{quoted}" SELECT g, %s || g, g * 1.5 FROM generate_series(1, %s) g',
                       (table, count))


def _pg_rows(schema: str, table: str) -> list[dict[str, Any]]:
    with pg_connect() as pg:
        found = pg.execute(f'SELECT id, label, amount FROM "{schema}"."{table}" ORDER BY id').fetchall()
    return [{"id": id_, "label": label, "amount": amount} for id_, label, amount in found]


def test_a_postgresql_schema_is_written_as_parquet_files_one_directory_per_table(
    file_server: RunningServer, pg_schema: str, area: Path, nas: str
) -> None:
    tables = {"plain": 30, "a/b%{c}": 4, ".dot": 2}
    # Each table's directory is its name, what a path cannot hold written as %XX.
    directories = {"plain": "plain", "a/b%{c}": "a%2Fb%25%7Bc%7D", ".dot": "%2Edot"}
    _pg_tables(pg_schema, tables)
    with file_server.client() as api:
        source = create_link(api, file_server, "generic-jdbc-connector", pg_link())
        job = _batch_job(api, file_server, source, {"fromJobConfig.schemaName": pg_schema},
                         nas, {"toJobConfig.outputDirectory": "/export/"}, to_connector="nas-connector")
        assert api.put(f"{file_server.cdm}/job/{job}/start").status_code == 200
        parent = finished_run(api, file_server, job)
        assert parent["status"] == "SUCCEEDED", parent
        assert _written(parent) == 36
        # A format the job names is kept.
        as_csv = _batch_job(api, file_server, source, {"fromJobConfig.schemaName": pg_schema,
                                                       "fromJobConfig.tableName": "plain"},
                            nas, {"toJobConfig.outputDirectory": "/csv", "toJobConfig.outputFormat": "CSV_FILE"},
                            to_connector="nas-connector")
        assert api.put(f"{file_server.cdm}/job/{as_csv}/start").status_code == 200
        assert finished_run(api, file_server, as_csv)["status"] == "SUCCEEDED"
    assert sorted(path.name for path in (area / "export").iterdir()) == sorted(directories.values())
    for table, directory in directories.items():
        files = list((area / "export" / directory).iterdir())
        assert files and all(path.suffix == ".parquet" for path in files), files
        read = pq.read_table(area / "export" / directory).sort_by("id").to_pylist()
        assert read == _pg_rows(pg_schema, table)
    csv_files = list((area / "csv" / "plain").iterdir())
    assert csv_files and all(path.suffix != ".parquet" for path in csv_files), csv_files
    assert "plain30" in "".join(path.read_text() for path in csv_files)


def test_an_entire_database_job_into_files_is_checked_as_it_is_saved(
    file_server: RunningServer, pg_schema: str, nas: str
) -> None:
    with file_server.client() as api:
        source = create_link(api, file_server, "generic-jdbc-connector", pg_link())

        def refusal(target: dict[str, str]) -> dict[str, Any]:
            _, response = _post_batch_job(api, file_server, source, {"fromJobConfig.schemaName": pg_schema},
                                          nas, target, to_connector="nas-connector")
            assert response.status_code == 400, response.text
            refused: dict[str, Any] = response.json()
            return refused

        missing = refusal({"toJobConfig.outputFormat": "PARQUET_FILE"})
        assert (missing["errCode"], missing["externalMessage"]) == (
            "Cdm.0238", "toJobConfig.outputDirectory cannot be empty.")
        assert refusal({"toJobConfig.outputDirectory": "/x", "toJobConfig.outputFormat": "BINARY_FILE"})[
            "errCode"] == "Cdm.0062"
        assert "outside the link's root directory" in refusal({"toJobConfig.outputDirectory": "/../x"})[
            "externalMessage"]
        assert refusal({"toJobConfig.outputDirectory": "/x", "toJobConfig.tableName": "t"})["errCode"] == "Cdm.0014"


def test_a_postgresql_schema_becomes_iceberg_tables_of_the_same_names(
    file_server: RunningServer, pg_schema: str, area: Path
) -> None:
    tables = {"orders": 25, "MixedCase": 3}
    _pg_tables(pg_schema, tables)
    with file_server.client() as api:
        lake = create_link(api, file_server, "iceberg-connector", {
            "linkConfig.catalogType": "sql", "linkConfig.catalogUri": f"sqlite:///{area}/catalog.db",
            "linkConfig.warehouse": str(area / "warehouse")})
        source = create_link(api, file_server, "generic-jdbc-connector", pg_link())
        _, missing = _post_batch_job(api, file_server, source, {"fromJobConfig.schemaName": pg_schema}, lake, {},
                                     to_connector="iceberg-connector")
        assert (missing.status_code, missing.json()["externalMessage"]) == (
            400, "toJobConfig.namespace cannot be empty."), missing.text
        job = _batch_job(api, file_server, source, {"fromJobConfig.schemaName": pg_schema},
                         lake, {"toJobConfig.namespace": "sales"}, to_connector="iceberg-connector")
        assert api.put(f"{file_server.cdm}/job/{job}/start").status_code == 200
        parent = finished_run(api, file_server, job)
    assert parent["status"] == "SUCCEEDED", parent
    catalog = SqlCatalog("opencdm", uri=f"sqlite:///{area}/catalog.db", warehouse=f"file://{area}/warehouse")
    assert sorted(catalog.list_tables("sales")) == [("sales", "MixedCase"), ("sales", "orders")]
    for table in tables:
        read = catalog.load_table(("sales", table)).scan().to_arrow().sort_by("id").to_pylist()
        assert read == _pg_rows(pg_schema, table)


def test_the_run_of_an_entire_database_job_ends_with_each_tables_verification(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    _pg_tables(pg_schema, {"same": 20, "fewer": 20, "changed": 20})
    target = f"{pg_schema}_to"
    with pg_connect() as pg:
        pg.execute(f'CREATE SCHEMA "{target}"')
        # Real destinations that do not keep what they are given: one drops a row in four, one
        # changes every amount.
        for table, body in (("fewer", "IF NEW.id % 4 = 0 THEN RETURN NULL; END IF; RETURN NEW;"),
                            ("changed", "NEW.amount := NEW.amount + 1; RETURN NEW;")):
            pg.execute(f'CREATE TABLE "{target}".{table} (id int PRIMARY KEY, label text, amount numeric(10,2))')
            pg.execute(f'CREATE FUNCTION "{target}".{table}_trigger() RETURNS trigger LANGUAGE plpgsql '
                       f"AS $$ BEGIN {body} END $$")
            pg.execute(f'CREATE TRIGGER {table}_trigger BEFORE INSERT ON "{target}".{table} '
                       f'FOR EACH ROW EXECUTE FUNCTION "{target}".{table}_trigger()')
    link = create_link(api, server, "generic-jdbc-connector", pg_link())
    try:
        job = _batch_job(api, server, link, {"fromJobConfig.schemaName": pg_schema},
                         link, {"toJobConfig.schemaName": target,
                                "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST",
                                "toJobConfig.beforeImportType": "shouldClearTable"},
                         {"throttlingConfig.concurrentSubJobs": "3", "verifyConfig.mode": "CHECKSUM"})
        assert api.put(f"{server.cdm}/job/{job}/start").status_code == 200
        parent = finished_run(api, server, job)
    finally:
        with pg_connect() as pg:
            pg.execute(f'DROP SCHEMA "{target}" CASCADE')
    assert parent["status"] == "FAILED" and "2 of 3 tables failed: changed, fewer" in parent["error-summary"]
    messages = [line["message"] for line in
                api.get(f"{server.cdm}/submissions/{parent['submission-id']}/log").json()["lines"]]
    assert any("verification (CHECKSUM) of 3 tables: 1 of 3 tables match; 2 differ: changed, fewer" in message
               for message in messages), messages
    assert any("tables that match: same (20 rows)" in message for message in messages), messages
    assert any("table fewer differs by 5 rows (20 in the source, 15 in the destination)" in message
               for message in messages), messages
    assert any("table changed differs in its values (20 rows on each side): checksum mismatch" in message
               for message in messages), messages
    report = parent["verification"]
    assert (report["mode"], report["passed"]) == ("CHECKSUM", False)
    assert [(table["table"], table["outcome"], table["source_rows"], table["destination_rows"])
            for table in report["tables"]] == [
        ("changed", "DIFFERS", 20, 20), ("fewer", "DIFFERS", 20, 15), ("same", "MATCH", 20, 20)]


def test_on_object_storage_each_table_is_a_prefix_of_the_bucket(
    file_server: RunningServer, s3_server: S3Server, pg_schema: str
) -> None:
    _pg_tables(pg_schema, {"orders": 12, "Line Items": 3})
    bucket = s3_server.create_bucket()
    with file_server.client() as api:
        job = _batch_job(api, file_server, create_link(api, file_server, "generic-jdbc-connector", pg_link()),
                         {"fromJobConfig.schemaName": pg_schema},
                         create_link(api, file_server, "obs-connector", s3_server.link_inputs()),
                         {"toJobConfig.bucketName": bucket, "toJobConfig.outputDirectory": "dump"},
                         to_connector="obs-connector")
        assert api.put(f"{file_server.cdm}/job/{job}/start").status_code == 200
        parent = finished_run(api, file_server, job)
    assert parent["status"] == "SUCCEEDED", parent
    client = s3_server.client()
    keys = sorted(found["Key"] for found in client.list_objects_v2(Bucket=bucket).get("Contents", [])
                  if not found["Key"].endswith("/"))  # pyarrow's directory markers
    assert keys == ["dump/Line Items/part-00000.parquet", "dump/orders/part-00000.parquet"], keys
    for table in ("orders", "Line Items"):
        body = client.get_object(Bucket=bucket, Key=f"dump/{table}/part-00000.parquet")["Body"].read()
        assert pq.read_table(pa.BufferReader(body)).sort_by("id").to_pylist() == _pg_rows(pg_schema, table)
