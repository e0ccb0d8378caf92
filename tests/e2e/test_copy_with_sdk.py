"""End to end with the official huaweicloudsdkcdm SDK: create links and jobs, start, poll to
SUCCEEDED, and compare the copied rows with the source, for every database pair.

Each route is checked as a round trip that starts and ends in PostgreSQL (PG → X → PG), so the
comparison uses one driver on both ends: every value of every type must come back unchanged,
and the final table must have the source's column types.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    pg_column_types,
    pg_connect,
)

COLUMNS = """
    id bigint PRIMARY KEY,
    c_small smallint,
    c_int integer,
    c_big bigint,
    c_num numeric(12,2),
    c_num_wide numeric(38,10),
    c_real real,
    c_double double precision,
    c_varchar varchar(64),
    c_text text,
    c_bool boolean,
    c_date date,
    c_time time,
    c_ts timestamp,
    c_tstz timestamptz,
    c_bin bytea,
    c_json json
"""

ROWS = [
    "(1, 1, 2, 3, 1234.56, 12345678901234567890.0123456789, 0.5, 3.141592653589793, 'plain', 'text', true,"
    " '2024-02-29', '13:14:15.123456', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.123456+02',"
    " '\\x00ff10', '{\"a\": [1, 2, {\"b\": null}]}')",
    "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "(3, -32768, -2147483648, -9223372036854775808, -9999999999.99, -9999999999999999999999999999.9999999999,"
    " -3.4e38, -1.7976931348623157e308, '', '', false, '1000-01-01', '00:00:00', '1000-01-01 00:00:00',"
    " '1970-01-01 00:00:00.000001+00', '\\x', '[]')",
    "(4, 32767, 2147483647, 9223372036854775807, 9999999999.99, 9999999999999999999999999999.9999999999,"
    " 3.4e38, 1.7976931348623157e308, 'unicode 漢字 😀 Ω ñ', repeat('长文本 ', 500), true, '9999-12-31',"
    " '23:59:59.999999', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:08.999999+00',"
    " decode(repeat('ab', 1000), 'hex'), '{\"emoji\": \"😀\", \"quote\": \"\\\"\"}')",
]



@pytest.fixture
def source_table(pg_schema: str) -> str:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src ({COLUMNS})')
        conn.execute(f'INSERT INTO "{pg_schema}".src VALUES {", ".join(ROWS)}')
    return pg_schema


def _rows(schema: str, table: str) -> list[tuple[Any, ...]]:
    with pg_connect() as conn:
        # json has no equality operator: compare its text.
        return conn.execute(
            f'SELECT *, c_json::text FROM "{schema}"."{table}" ORDER BY id'
        ).fetchall()


# --- the SDK -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sdk(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        # The SDK writes ~/.huaweicloud/application_id when it is used; keep it out of the user's home.
        patch.setenv("HOME", str(tmp_path_factory.mktemp("sdk-home")))
        yield _sdk_client(server)


def _sdk_client(server: RunningServer) -> Any:
    from huaweicloudsdkcdm.v1 import CdmClient
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig

    config = HttpConfig.get_default_config()
    config.timeout = (10, 60)
    credentials = BasicCredentials(
        server.credentials["access_key"], server.credentials["secret_key"], server.project_id
    )
    return (
        CdmClient.new_builder()
        .with_http_config(config)
        .with_credentials(credentials)
        .with_endpoint(server.url)
        .build()
    )


def _config(name: str, values: dict[str, str]) -> Any:
    from huaweicloudsdkcdm.v1 import Configs, Input

    return Configs(name=name, inputs=[Input(name=key, value=value) for key, value in values.items()])


def create_link(sdk: Any, server: RunningServer, name: str, inputs: dict[str, str]) -> None:
    from huaweicloudsdkcdm.v1 import (
        CdmCreateAndUpdateLinkReq,
        CreateLinkRequest,
        Links,
        LinksLinkconfigvalues,
    )

    link = Links(
        name=name,
        connector_name="generic-jdbc-connector",
        enabled=True,
        link_config_values=LinksLinkconfigvalues(configs=[_config("linkConfig", inputs)]),
    )
    sdk.create_link(CreateLinkRequest(cluster_id=server.cluster_id, body=CdmCreateAndUpdateLinkReq(links=[link])))


def create_job(
    sdk: Any, server: RunningServer, name: str, from_link: str, from_job: dict[str, str], to_link: str,
    to_job: dict[str, str], job_type: str = "NORMAL_JOB",
) -> None:
    from huaweicloudsdkcdm.v1 import CdmCreateJobJsonReq, ConfigValues, CreateJobRequest, Job

    job = Job(
        name=name,
        job_type=job_type,
        from_connector_name="generic-jdbc-connector",
        from_link_name=from_link,
        from_config_values=ConfigValues(configs=[_config("fromJobConfig", from_job)]),
        to_connector_name="generic-jdbc-connector",
        to_link_name=to_link,
        to_config_values=ConfigValues(configs=[_config("toJobConfig", to_job)]),
        driver_config_values=ConfigValues(
            configs=[_config("throttlingConfig", {"throttlingConfig.numExtractors": "1"})]
        ),
    )
    sdk.create_job(CreateJobRequest(cluster_id=server.cluster_id, body=CdmCreateJobJsonReq(jobs=[job])))


def run_to_end(sdk: Any, server: RunningServer, job_name: str, timeout: float = 120) -> Any:
    from huaweicloudsdkcdm.v1 import CdmStartJobReq, ShowJobStatusRequest, StartJobRequest

    started = sdk.start_job(
        StartJobRequest(cluster_id=server.cluster_id, job_name=job_name, body=CdmStartJobReq(variables={}))
    )
    assert started.submissions[0].status == "BOOTING"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = sdk.show_job_status(ShowJobStatusRequest(cluster_id=server.cluster_id, job_name=job_name))
        submission = status.submissions[0]
        if submission.status not in ("BOOTING", "RUNNING"):
            return submission
        time.sleep(0.3)
    raise AssertionError(f"{job_name} did not finish in {timeout} s")


def copy(sdk: Any, server: RunningServer, from_link: str, from_job: dict[str, str], to_link: str,
         to_job: dict[str, str], expected_rows: int) -> None:
    job_name = f"j_{uuid.uuid4().hex[:10]}"
    create_job(sdk, server, job_name, from_link, from_job,
               to_link, {**to_job, "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"})
    submission = run_to_end(sdk, server, job_name)
    assert submission.status == "SUCCEEDED", (submission.error_summary, submission.error_details)
    assert submission.progress == 100
    counters = submission.counters.org_apache_sqoop_submission_counter_sqoop_counters
    assert counters.rows_read == counters.rows_written == expected_rows
    assert submission.write_rows == expected_rows
    assert counters.bytes_read > 0


@pytest.fixture
def pg_link(sdk: Any, server: RunningServer) -> str:
    name = f"pg_{uuid.uuid4().hex[:8]}"
    create_link(sdk, server, name, {
        "linkConfig.databaseType": "POSTGRESQL", "linkConfig.host": PG_HOST, "linkConfig.port": str(PG_PORT),
        "linkConfig.database": PG_DATABASE, "linkConfig.username": PG_USER, "linkConfig.password": "unused",
    })
    return name


def _round_trip(sdk: Any, server: RunningServer, schema: str, pg_link: str, middle_link: str,
                middle_to: dict[str, str], middle_from: dict[str, str]) -> None:
    copy(sdk, server, pg_link, {"fromJobConfig.schemaName": schema, "fromJobConfig.tableName": "src"},
         middle_link, middle_to, len(ROWS))
    copy(sdk, server, middle_link, middle_from, pg_link,
         {"toJobConfig.schemaName": schema, "toJobConfig.tableName": "back"}, len(ROWS))
    assert _rows(schema, "back") == _rows(schema, "src")
    assert pg_column_types(schema, "back") == pg_column_types(schema, "src")


def test_postgresql_to_postgresql(sdk: Any, server: RunningServer, source_table: str, pg_link: str) -> None:
    copy(sdk, server, pg_link, {"fromJobConfig.schemaName": source_table, "fromJobConfig.tableName": "src"},
         pg_link, {"toJobConfig.schemaName": source_table, "toJobConfig.tableName": "dst"}, len(ROWS))
    assert _rows(source_table, "dst") == _rows(source_table, "src")
    assert pg_column_types(source_table, "dst") == pg_column_types(source_table, "src")
    # Same types on both ends: the worker passed PostgreSQL's binary COPY through undecoded.
    assert "passing postgresql-binary-copy through" in server.log()


def test_postgresql_to_mariadb_and_back(
    sdk: Any, server: RunningServer, source_table: str, pg_link: str, mysql_database: str
) -> None:
    middle = f"my_{uuid.uuid4().hex[:8]}"
    create_link(sdk, server, middle, {
        "linkConfig.databaseType": "MYSQL", "linkConfig.host": MY_HOST, "linkConfig.port": str(MY_PORT),
        "linkConfig.database": mysql_database, "linkConfig.username": MY_USER, "linkConfig.password": "",
    })
    _round_trip(sdk, server, source_table, pg_link, middle,
                {"toJobConfig.schemaName": mysql_database, "toJobConfig.tableName": "mid"},
                {"fromJobConfig.schemaName": mysql_database, "fromJobConfig.tableName": "mid"})


def test_postgresql_to_sqlite_and_back(
    sdk: Any, server: RunningServer, source_table: str, pg_link: str, tmp_path: Path
) -> None:
    middle = f"lite_{uuid.uuid4().hex[:8]}"
    create_link(sdk, server, middle, {
        "linkConfig.databaseType": "SQLITE", "linkConfig.database": str(tmp_path / "mid.db"),
    })
    _round_trip(sdk, server, source_table, pg_link, middle,
                {"toJobConfig.tableName": "mid"}, {"fromJobConfig.tableName": "mid"})


@pytest.fixture
def history_job(sdk: Any, server: RunningServer, source_table: str, pg_link: str) -> Iterator[str]:
    name = f"h_{uuid.uuid4().hex[:8]}"
    create_job(sdk, server, name, pg_link,
               {"fromJobConfig.schemaName": source_table, "fromJobConfig.tableName": "src"},
               pg_link, {"toJobConfig.schemaName": source_table, "toJobConfig.tableName": "hist",
                         "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST",
                         "toJobConfig.beforeImportType": "shouldClearTable"})
    yield name


def test_history_is_newest_first_and_paged(
    sdk: Any, server: RunningServer, history_job: str, source_table: str
) -> None:
    from huaweicloudsdkcdm.v1 import ShowSubmissionsRequest

    first = run_to_end(sdk, server, history_job)
    second = run_to_end(sdk, server, history_job)
    assert first.status == second.status == "SUCCEEDED"
    history = sdk.show_submissions(ShowSubmissionsRequest(cluster_id=server.cluster_id, jname=history_job))
    assert history.total == 2
    ids = [s.submission_id for s in history.submissions]
    assert len(ids) == 2 and ids[0] > ids[1]
    # shouldClearTable: the second run replaced the rows instead of adding to them.
    assert len(_rows(source_table, "hist")) == len(ROWS)


def test_an_entire_database_job_is_listed_started_and_polled_with_its_sub_jobs_through_the_sdk(
    sdk: Any, server: RunningServer, pg_schema: str, pg_link: str
) -> None:
    from huaweicloudsdkcdm.v1 import ShowJobsRequest, ShowJobStatusRequest

    with pg_connect() as conn:
        for table, rows in (("alpha", 3), ("beta", 4)):
            conn.execute(f'CREATE TABLE "{pg_schema}".{table} (id int PRIMARY KEY)')
            conn.execute(f'INSERT INTO "{pg_schema}".{table} SELECT generate_series(1, {rows})')
        conn.execute(f'CREATE SCHEMA "{pg_schema}_copy"')
    try:
        job_name = f"db_{uuid.uuid4().hex[:10]}"
        create_job(sdk, server, job_name, pg_link, {"fromJobConfig.schemaName": pg_schema}, pg_link,
                   {"toJobConfig.schemaName": f"{pg_schema}_copy",
                    "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}, job_type="BATCH_JOB")
        listed = sdk.show_jobs(ShowJobsRequest(cluster_id=server.cluster_id, job_name="all", job_type="BATCH_JOB",
                                               filter=job_name))
        assert [(job.name, job.job_type) for job in listed.jobs] == [(job_name, "BATCH_JOB")]
        parent = run_to_end(sdk, server, job_name)
        assert parent.status == "SUCCEEDED", (parent.error_summary, parent.error_details)
        assert parent.counters.org_apache_sqoop_submission_counter_sqoop_counters.rows_written == 7
        for table, rows in (("alpha", 3), ("beta", 4)):
            status = sdk.show_job_status(ShowJobStatusRequest(cluster_id=server.cluster_id,
                                                              job_name=f"{job_name}_{table}"))
            sub = status.submissions[0]
            assert sub.status == "SUCCEEDED" and sub.write_rows == rows
    finally:
        with pg_connect() as conn:
            conn.execute(f'DROP SCHEMA "{pg_schema}_copy" CASCADE')
