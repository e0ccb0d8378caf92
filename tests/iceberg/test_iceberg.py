"""iceberg-connector end to end through the HTTP API: PostgreSQL -> Iceberg -> PostgreSQL with every
type kept, APPEND and OVERWRITE, identity partitioning, atomic runs (a failed or stopped run changes
no table), a warehouse on S3 (moto), a catalog in PostgreSQL, and clear errors for bad input."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e.job_support import SLOW_WHERE, driver_values, wait_until
from files.files_support import (
    create_job,
    failed,
    make_source_table,
    pg_table_source,
    postgres_link,
    rows,
    run,
    start_and_wait,
    succeeded,
)
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform

from opencdm.child_server import free_port

from conftest import (
    PG_DATABASE,
    PG_HOST,
    PG_PORT,
    PG_USER,
    RunningServer,
    S3Server,
    config_values,
    create_link,
    pg_column_types,
    pg_connect,
    post_link,
)

PG_CATALOG_URI = f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}"


@pytest.fixture
def api(file_server: RunningServer) -> Iterator[httpx.Client]:
    with file_server.client() as client:
        yield client


def link_inputs(area: Path, **overrides: str) -> dict[str, str]:
    return {
        "linkConfig.catalogType": "sql",
        "linkConfig.catalogUri": f"sqlite:///{area}/catalog.db",
        "linkConfig.warehouse": str(area / "warehouse"),
        **overrides,
    }


@pytest.fixture
def lake(api: httpx.Client, file_server: RunningServer, area: Path) -> str:
    return create_link(api, file_server, "iceberg-connector", link_inputs(area))


def catalog(area: Path) -> SqlCatalog:
    """The link's catalog, opened by the test as any other Iceberg reader would."""
    return SqlCatalog("opencdm", uri=f"sqlite:///{area}/catalog.db", warehouse=f"file://{area}/warehouse")


def load(area: Path, table: str = "orders") -> Table:
    return catalog(area).load_table(("sales", table))


def snapshot_ids(table: Table) -> list[int]:
    return [snapshot.snapshot_id for snapshot in table.snapshots()]


def data_files(area: Path) -> list[str]:
    return sorted(str(path) for path in (area / "warehouse").rglob("*.parquet"))


def from_pg(api: httpx.Client, server: RunningServer, schema: str, **inputs: str) -> tuple[str, str, dict[str, str]]:
    return pg_table_source(api, server, schema, "src", **inputs)


def to_lake(link: str, table: str = "orders", **inputs: str) -> tuple[str, str, dict[str, str]]:
    return ("iceberg-connector", link, {"toJobConfig.namespace": "sales", "toJobConfig.tableName": table, **inputs})


def from_lake(link: str, table: str = "orders", **inputs: str) -> tuple[str, str, dict[str, str]]:
    return ("iceberg-connector", link, {"fromJobConfig.namespace": "sales", "fromJobConfig.tableName": table, **inputs})


def to_pg(api: httpx.Client, server: RunningServer, schema: str) -> tuple[str, str, dict[str, str]]:
    return (
        "generic-jdbc-connector",
        postgres_link(api, server),
        {
            "toJobConfig.schemaName": schema,
            "toJobConfig.tableName": "back",
            "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST",
        },
    )


def round_trip(api: httpx.Client, server: RunningServer, schema: str, link: str) -> None:
    """src -> Iceberg sales.orders -> back: every value and every column type comes back."""
    assert succeeded(run(api, server, from_pg(api, server, schema), to_lake(link)))["write_rows"] == 4
    back = succeeded(run(api, server, from_lake(link), to_pg(api, server, schema), extractors=2))
    assert back["write_rows"] == 4
    assert rows(schema, "back") == rows(schema, "src")
    assert pg_column_types(schema, "back") == pg_column_types(schema, "src")


def test_postgresql_to_iceberg_and_back_keeps_values_and_types(
    api: httpx.Client, file_server: RunningServer, pg_schema: str, area: Path, lake: str
) -> None:
    make_source_table(pg_schema)
    round_trip(api, file_server, pg_schema, lake)

    # Any Iceberg reader sees the source's types: exact decimals, both kinds of timestamps.
    table = load(area)
    types = {field.name: str(field.field_type) for field in table.schema().fields}
    assert types | {"c_varchar": "string"} == {
        "id": "long",
        "c_int": "int",
        "c_num": "decimal(12, 2)",
        "c_num_wide": "decimal(38, 10)",
        "c_double": "double",
        "c_real": "float",
        "c_varchar": "string",
        "c_text": "string",
        "c_bool": "boolean",
        "c_date": "date",
        "c_time": "time",
        "c_ts": "timestamp",
        "c_tstz": "timestamptz",
    }
    assert len(table.snapshots()) == 1 and table.scan().to_arrow().num_rows == 4
    assert table.spec().is_unpartitioned()


def test_append_twice_doubles_the_rows_and_overwrite_replaces_them(
    api: httpx.Client, file_server: RunningServer, pg_schema: str, area: Path, lake: str
) -> None:
    make_source_table(pg_schema)
    response = create_job(api, file_server, from_pg(api, file_server, pg_schema), to_lake(lake))
    assert response.status_code == 200, response.text
    appending = response.json()["name"]
    for _ in range(2):
        assert succeeded(start_and_wait(api, file_server, appending))["write_rows"] == 4
    table = load(area)
    assert table.scan().to_arrow().num_rows == 8
    assert [snapshot.summary.operation.value for snapshot in table.snapshots()] == ["append", "append"]

    succeeded(
        run(
            api,
            file_server,
            from_pg(api, file_server, pg_schema),
            to_lake(lake, **{"toJobConfig.writeMode": "OVERWRITE"}),
        )
    )
    table = load(area)
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == [1, 2, 3, 4]
    assert table.snapshots()[-1].summary.operation.value == "overwrite"
    assert len(table.snapshots()) == 3  # one commit per run

    # A source reads any snapshot: the one of the second append holds both runs' rows.
    second = str(table.snapshots()[1].snapshot_id)
    back = run(
        api, file_server, from_lake(lake, **{"fromJobConfig.snapshotId": second}), to_pg(api, file_server, pg_schema)
    )
    assert succeeded(back)["write_rows"] == 8
    assert rows(pg_schema, "back") == sorted(rows(pg_schema, "src") * 2, key=lambda row: row[0])
    summary = failed(
        run(api, file_server, from_lake(lake, **{"fromJobConfig.snapshotId": "42"}), to_pg(api, file_server, pg_schema))
    )
    assert (
        summary == "The parameter is invalid: fromJobConfig.snapshotId [42] is not a snapshot of table [sales.orders]."
    )


def test_partition_by_makes_an_identity_partitioned_table(
    api: httpx.Client, file_server: RunningServer, pg_schema: str, area: Path, lake: str
) -> None:
    make_source_table(pg_schema)
    succeeded(
        run(
            api,
            file_server,
            from_pg(api, file_server, pg_schema),
            to_lake(lake, **{"toJobConfig.partitionBy": "c_bool&c_date"}),
        )
    )
    table = load(area)
    spec = table.spec()
    assert [(field.name, table.schema().find_column_name(field.source_id)) for field in spec.fields] == [
        ("c_bool", "c_bool"),
        ("c_date", "c_date"),
    ]
    assert all(isinstance(field.transform, IdentityTransform) for field in spec.fields)
    # One data file per (c_bool, c_date) value: every source row has its own here, NULLs included.
    assert len(list(table.scan().plan_files())) == 4
    assert len(list(table.scan(row_filter="c_bool == true").plan_files())) == 2

    succeeded(run(api, file_server, from_lake(lake), to_pg(api, file_server, pg_schema)))
    assert rows(pg_schema, "back") == rows(pg_schema, "src")

    # An existing table keeps its partitioning: another one is refused, not silently ignored.
    summary = failed(
        run(
            api,
            file_server,
            from_pg(api, file_server, pg_schema),
            to_lake(lake, **{"toJobConfig.partitionBy": "c_int"}),
        )
    )
    assert "differs from the partitioning of the existing table [sales.orders] (c_bool&c_date)" in summary


def big_source(schema: str, count: int) -> None:
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}".src (id int PRIMARY KEY, pad text)')
        conn.execute(f"""INSERT INTO "{schema}".src SELECT g, repeat('x', 50) FROM generate_series(1, {count}) g""")


def test_a_run_failing_midway_leaves_the_table_as_it_was(
    api: httpx.Client, file_server: RunningServer, pg_schema: str, area: Path, lake: str
) -> None:
    big_source(pg_schema, 4000)
    succeeded(run(api, file_server, from_pg(api, file_server, pg_schema), to_lake(lake)))
    before, files_before = snapshot_ids(load(area)), data_files(area)
    # A view that fails only when its rows are read, at id 3000 (planning reads only ids).
    with pg_connect() as conn:
        conn.execute(
            f'CREATE VIEW "{pg_schema}".failing AS SELECT id, (1 / (id - 3000))::text AS pad FROM "{pg_schema}".src'
        )

    # Two extractors copy two id ranges one after the other: the first range is written as data
    # files, then the source fails in the second one.
    for mode in ("APPEND", "OVERWRITE"):
        submission = run(
            api,
            file_server,
            from_pg(
                api,
                file_server,
                pg_schema,
                **{"fromJobConfig.tableName": "failing", "fromJobConfig.partitionColumn": "id"},
            ),
            to_lake(lake, **{"toJobConfig.writeMode": mode}),
            extractors=2,
        )
        assert "division by zero" in failed(submission)
        # The first range was written before the failure, then rolled back: written means kept.
        assert submission["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]["ROWS_READ"] >= 1000
        assert submission["write_rows"] == 0
        assert snapshot_ids(load(area)) == before
        assert data_files(area) == files_before  # the run's own files were deleted
    assert load(area).scan().to_arrow().num_rows == 4000


def test_a_stopped_run_creates_no_table(
    api: httpx.Client, file_server: RunningServer, pg_schema: str, area: Path, lake: str
) -> None:
    big_source(pg_schema, 3000)
    response = create_job(
        api,
        file_server,
        from_pg(api, file_server, pg_schema, **{"fromJobConfig.whereClause": SLOW_WHERE}),
        to_lake(lake),
    )
    assert response.status_code == 200, response.text
    job = response.json()["name"]
    assert api.put(f"{file_server.cdm}/job/{job}/start").status_code == 200

    def writing() -> dict[str, Any] | None:
        submission: dict[str, Any] = api.get(f"{file_server.cdm}/job/{job}/status").json()["submissions"][0]
        return submission if submission["status"] == "RUNNING" and submission.get("write_rows", 0) > 0 else None

    wait_until("the run to write rows", writing)
    assert api.put(f"{file_server.cdm}/job/{job}/stop").status_code == 200
    ended = wait_until(
        "the stopped run",
        lambda: (
            (s := api.get(f"{file_server.cdm}/job/{job}/status").json()["submissions"][0])["status"]
            in ("FAILED", "SUCCEEDED")
            and s
        ),
    )
    assert ended["status"] == "FAILED"
    assert catalog(area).list_tables("sales") == []
    assert data_files(area) == []


def test_warehouse_on_s3(
    api: httpx.Client, file_server: RunningServer, s3_server: S3Server, pg_schema: str, area: Path
) -> None:
    make_source_table(pg_schema)
    bucket = s3_server.create_bucket()
    # The obs link's inputs but its storageType, which an iceberg link does not have.
    obs = s3_server.link_inputs()
    del obs["linkConfig.storageType"]
    link = create_link(
        api,
        file_server,
        "iceberg-connector",
        link_inputs(area, **{"linkConfig.warehouse": f"s3://{bucket}/lake"}) | obs,
    )
    round_trip(api, file_server, pg_schema, link)
    keys = [item["Key"] for item in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(key.startswith("lake/sales/orders/data/") and key.endswith(".parquet") for key in keys)
    assert any(key.startswith("lake/sales/orders/metadata/") and key.endswith(".metadata.json") for key in keys)

    # The secret key is never shown back, nor in the message of a run it does not open.
    wrong = create_link(
        api,
        file_server,
        "iceberg-connector",
        link_inputs(area, **{"linkConfig.warehouse": f"s3://{bucket}/lake"})
        | obs
        | {"linkConfig.securityKey": "not-the-key"},
    )
    shown = api.get(f"{file_server.cdm}/link/{wrong}").text
    assert "not-the-key" not in shown
    submission = run(api, file_server, from_pg(api, file_server, pg_schema), to_lake(wrong, "refused"))
    assert submission["status"] == "FAILED"
    assert "not-the-key" not in str(submission)


def test_catalog_in_postgresql(api: httpx.Client, file_server: RunningServer, pg_schema: str, area: Path) -> None:
    make_source_table(pg_schema)
    name = f"cat_{uuid.uuid4().hex[:10]}"
    link = create_link(
        api,
        file_server,
        "iceberg-connector",
        link_inputs(
            area,
            **{
                # Plain postgresql:// means psycopg 3, the driver OpenCDM ships.
                "linkConfig.catalogUri": f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}",
                "linkConfig.catalogName": name,
            },
        ),
    )
    # The URI may carry the catalog database's password: like one, it is never shown back.
    shown = api.get(f"{file_server.cdm}/link/{link}").text
    assert "postgresql://" not in shown
    try:
        round_trip(api, file_server, pg_schema, link)
        table = SqlCatalog(name, uri=PG_CATALOG_URI, warehouse=f"file://{area}/warehouse").load_table(
            ("sales", "orders")
        )
        assert table.scan().to_arrow().num_rows == 4
    finally:
        with pg_connect() as conn:
            conn.execute("DELETE FROM iceberg_tables WHERE catalog_name = %s", (name,))
            conn.execute("DELETE FROM iceberg_namespace_properties WHERE catalog_name = %s", (name,))


def test_bad_input_fails_clearly(
    api: httpx.Client, file_server: RunningServer, pg_schema: str, area: Path, lake: str
) -> None:
    unknown = post_link(api, file_server, "iceberg-connector", link_inputs(area, **{"linkConfig.catalogType": "hive"}))
    assert unknown.status_code == 400 and unknown.json()["errCode"] == "Cdm.0014", unknown.text
    assert "linkConfig.catalogType [hive] must be sql or rest" in unknown.json()["externalMessage"]

    outside = post_link(
        api, file_server, "iceberg-connector", link_inputs(area, **{"linkConfig.warehouse": "/etc/lake"})
    )
    assert outside.status_code == 400 and "is outside the directories this server allows" in outside.text

    # The secret key of an S3 warehouse is checked like an obs link's, and never echoed.
    no_server = post_link(
        api,
        file_server,
        "iceberg-connector",
        link_inputs(
            area,
            **{
                "linkConfig.warehouse": "s3://bucket/lake",
                "linkConfig.accessKey": "ak",
                "linkConfig.securityKey": "top-secret-value",
            },
        ),
    )
    assert no_server.status_code == 400 and no_server.json()["errCode"] == "Cdm.0238", no_server.text
    assert "linkConfig.server cannot be empty" in no_server.text and "top-secret-value" not in no_server.text

    make_source_table(pg_schema)
    for missing in ("toJobConfig.namespace", "toJobConfig.tableName"):
        destination = to_lake(lake)
        del destination[2][missing]
        response = create_job(api, file_server, from_pg(api, file_server, pg_schema), destination)
        assert response.status_code == 400 and response.json()["errCode"] == "Cdm.0238", response.text
        assert f"{missing} cannot be empty" in response.json()["externalMessage"]

    summary = failed(run(api, file_server, from_lake(lake, "nothing_here"), to_pg(api, file_server, pg_schema)))
    assert summary == "Table [sales.nothing_here] does not exist."

    # A REST catalog is reached only when a job runs: one nobody answers at fails the run, saying so.
    rest = create_link(
        api,
        file_server,
        "iceberg-connector",
        link_inputs(
            area, **{"linkConfig.catalogType": "rest", "linkConfig.catalogUri": f"http://127.0.0.1:{free_port()}"}
        ),
    )
    summary = failed(run(api, file_server, from_lake(rest), to_pg(api, file_server, pg_schema)))
    assert summary.startswith("Cannot connect to the Iceberg catalog. Cause:") and "Connection refused" in summary


def test_checksum_verification_and_resumable_runs(
    api: httpx.Client, file_server: RunningServer, pg_schema: str, area: Path, lake: str
) -> None:
    big_source(pg_schema, 2000)
    (from_connector, from_link, from_job), (to_connector, to_link, to_job) = (
        from_pg(api, file_server, pg_schema),
        to_lake(lake),
    )
    job = f"j_{uuid.uuid4().hex[:10]}"
    response = api.post(
        f"{file_server.cdm}/job",
        json={
            "jobs": [
                {
                    "name": job,
                    "job_type": "NORMAL_JOB",
                    "from-connector-name": from_connector,
                    "from-link-name": from_link,
                    "to-connector-name": to_connector,
                    "to-link-name": to_link,
                    "from-config-values": config_values("fromJobConfig", from_job),
                    "to-config-values": config_values("toJobConfig", to_job),
                    "driver-config-values": driver_values(
                        {"verifyConfig.mode": "CHECKSUM", "throttlingConfig.resumable": "true"}
                    ),
                }
            ]
        },
    )
    assert response.status_code == 200, response.text
    submission = succeeded(start_and_wait(api, file_server, job))
    # Read back from the table, the copy's checksum is the source's.
    verification = submission["verification"]
    assert verification["passed"] and verification["destination_checksum"] == verification["source_checksum"]
    assert verification["destination_rows"] == 2000
    # A resumable run commits each of its (at least 8) partitions on its own.
    table = load(area)
    assert len(table.snapshots()) >= 8 and table.scan().to_arrow().num_rows == 2000
