"""Jobs: CreateJob, UpdateJob, ShowJobs, StartJob's body, CreateAndStartRandomClusterJob and their answers."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from opencdm.api.wire.common import ConfigValues, Wire, connector_names_enum, documented, named
from opencdm.api.wire.examples import sqlite_job


class JobIn(Wire):
    name: str = Field(**named("The job's name ('all' is reserved)"))
    job_type: str = Field(default="NORMAL_JOB", alias="job_type", **documented(enum=["NORMAL_JOB", "BATCH_JOB"]))
    from_connector_name: str = Field(alias="from-connector-name", json_schema_extra=connector_names_enum)
    from_link_name: str = Field(alias="from-link-name", **named("An existing link"))
    to_connector_name: str = Field(alias="to-connector-name", json_schema_extra=connector_names_enum)
    to_link_name: str = Field(alias="to-link-name", **named("An existing link"))
    from_config_values: ConfigValues = Field(alias="from-config-values")
    to_config_values: ConfigValues = Field(alias="to-config-values")
    driver_config_values: ConfigValues = Field(default_factory=ConfigValues, alias="driver-config-values")


class JobsRequest(Wire):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"jobs": [sqlite_job("copy_a_to_b", "sqlite_a", "sqlite_b")]}]}
    )
    jobs: list[JobIn] = Field(min_length=1)


class RandomClusterJobRequest(Wire):
    jobs: list[JobIn] = Field(min_length=1)
    clusters: list[str] = Field(min_length=1)


class JobOut(Wire):
    id: int
    name: str
    job_type: str = Field(alias="job_type")
    from_connector_name: str = Field(alias="from-connector-name")
    from_link_name: str = Field(alias="from-link-name")
    to_connector_name: str = Field(alias="to-connector-name")
    to_link_name: str = Field(alias="to-link-name")
    from_config_values: dict[str, Any] = Field(alias="from-config-values")
    to_config_values: dict[str, Any] = Field(alias="to-config-values")
    driver_config_values: dict[str, Any] = Field(alias="driver-config-values")
    creation_user: str = Field(alias="creation-user")
    creation_date: int = Field(alias="creation-date")
    update_user: str = Field(alias="update-user")
    update_date: int = Field(alias="update-date")
    enabled: bool
    group_name: str
    is_use_sql: bool
    is_incre_job: bool = False
    is_incrementing: bool = False
    status: str  # last execution: BOOTING | RUNNING | SUCCEEDED | FAILED | NEW
    external_id: str | None = None
    rows_read: int | None = None
    rows_written: int | None = None
    bytes_read: int | None = None
    bytes_written: int | None = None
    write_rows: int | None = None
    update_rows: int | None = None
    delete_rows: int | None = None
    execute_start_date: int | None = None
    execute_update_date: int | None = None
    execute_create_date: int | None = None
    flag: int = 0  # 1: the job is scheduled (it has a next run)
    # Beyond CDM (ignored by the SDK): the schedule's next run, and runs skipped as the job was still running.
    next_run_date: int | None = None
    skipped_runs: int = 0
    # Incremental jobs: where the next run starts (the greatest fromJobConfig.checkColumn value
    # committed so far); null before the first run and after lastValue changes.
    incremental_cursor: str | None = Field(default=None, alias="incremental-cursor")
    # Entire-database jobs (BATCH_JOB): the job's sub-jobs, one per table, by name; a sub-job's job.
    sub_jobs: list[str] | None = Field(default=None, alias="sub-jobs")
    parent_job: str | None = Field(default=None, alias="parent-job")


class JobsPage(Wire):
    total: int
    jobs: list[JobOut]
    page_no: int
    page_size: int


class StartJobRequest(Wire):
    variables: dict[str, Any] = Field(default_factory=dict)


class JobSaved(Wire):
    """CreateJob: the (first) job's name; a refused job is a CDM error instead, so the list is empty."""

    name: str
    validation_result: list[dict[str, Any]] = Field(alias="validation-result", max_length=0)


class ValidationResults(Wire):
    """UpdateJob and StopJob."""

    validation_result: list[dict[str, Any]] = Field(alias="validation-result", max_length=0)
