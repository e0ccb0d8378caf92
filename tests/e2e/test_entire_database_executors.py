"""An entire-database job on each executor: its tables' runs are runs like any other, so on a Dask
cluster their partitions are tasks of its workers (one table at a time there: see engine.batch)."""

from __future__ import annotations

import httpx

from conftest import RunningServer, config_values, create_link, on_each_executor, pg_connect, pg_link
from job_support import driver_values, finished_run

server = on_each_executor()


def test_the_tables_of_an_entire_database_job_are_copied_in_partitions_on_each_executor(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    target = f"{pg_schema}_to"
    with pg_connect() as pg:
        for table, rows in (("a", 3000), ("b", 2000), ("c", 10)):
            pg.execute(f'CREATE TABLE "{pg_schema}".{table} (id int PRIMARY KEY, v text)')
            pg.execute(f"INSERT INTO \"{pg_schema}\".{table} SELECT g, md5(g::text) FROM generate_series(1, {rows}) g")
        pg.execute(f'CREATE SCHEMA "{target}"')
    link = create_link(api, server, "generic-jdbc-connector", pg_link())
    job = f"db_{'local' if server.executor == 'local' else 'dask'}_{pg_schema[-6:]}"
    try:
        response = api.post(f"{server.cdm}/job", json={"jobs": [{
            "name": job, "job_type": "BATCH_JOB",
            "from-connector-name": "generic-jdbc-connector", "from-link-name": link,
            "to-connector-name": "generic-jdbc-connector", "to-link-name": link,
            "from-config-values": config_values("fromJobConfig", {"fromJobConfig.schemaName": pg_schema}),
            "to-config-values": config_values("toJobConfig", {
                "toJobConfig.schemaName": target, "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}),
            "driver-config-values": driver_values({"throttlingConfig.concurrentSubJobs": "2",
                                                   "throttlingConfig.numExtractors": "2"}),
        }]})
        assert response.status_code == 200, response.text
        assert api.put(f"{server.cdm}/job/{job}/start").status_code == 200
        parent = finished_run(api, server, job)
        assert parent["status"] == "SUCCEEDED", parent
        with pg_connect() as pg:
            for table in "abc":
                assert pg.execute(f'SELECT count(*), bool_and(v = md5(id::text))::text FROM "{target}".{table}'
                                  ).fetchone() == ({"a": 3000, "b": 2000, "c": 10}[table], "true")
        log = api.get(f"{server.cdm}/submissions/{finished_run(api, server, f'{job}_a')['submission-id']}/log")
        assert any("partition" in line["message"] for line in log.json()["lines"]), [
            line["message"] for line in log.json()["lines"]]
        # On Dask, one table at a time: copiers of two tables could hold every worker thread, each
        # waiting for a sibling that never gets one.
        parent_log = [line["message"] for line in
                      api.get(f"{server.cdm}/submissions/{parent['submission-id']}/log").json()["lines"]]
        one_at_a_time = any("copied one at a time" in line for line in parent_log)
        assert one_at_a_time == (server.executor != "local"), parent_log
    finally:
        with pg_connect() as pg:
            pg.execute(f'DROP SCHEMA "{target}" CASCADE')
