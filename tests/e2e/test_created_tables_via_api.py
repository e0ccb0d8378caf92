"""The README walkthrough run twice through the HTTP API: the created table keeps the source's primary
key, so the second run fails clearly instead of doubling the rows; a generated column is copied."""

from __future__ import annotations

import httpx

from conftest import RunningServer, create_link, on_each_executor, pg_connect, pg_link
from job_support import finished_run, start_copy_job

server = on_each_executor()


def test_running_a_copy_into_a_created_table_twice_fails_on_the_key_and_keeps_the_rows(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    with pg_connect() as conn:
        conn.execute(f"CREATE TABLE {pg_schema}.table_a (id int PRIMARY KEY, name text, "
                     "shout text GENERATED ALWAYS AS (upper(name)) STORED)")
        conn.execute(f"INSERT INTO {pg_schema}.table_a (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    link = create_link(api, server, "generic-jdbc-connector", pg_link())
    from_job = {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "table_a"}
    to_job = {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "table_b",
              "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}
    job = start_copy_job(api, server, link, from_job, link, to_job)
    assert finished_run(api, server, job)["status"] == "SUCCEEDED"
    assert api.put(f"{server.cdm}/job/{job}/start").status_code == 200
    again = finished_run(api, server, job)
    assert again["status"] == "FAILED"
    assert f"table [{pg_schema}.table_b] already holds" in again["error-summary"]
    assert "writeMode UPSERT or REPLACE" in again["error-summary"]
    with pg_connect() as conn:
        rows = conn.execute(f"SELECT * FROM {pg_schema}.table_b ORDER BY id").fetchall()
    assert rows == [(1, "a", "A"), (2, "b", "B"), (3, "c", "C")]
