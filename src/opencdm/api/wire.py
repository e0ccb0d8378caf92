"""CDM v1.1 wire shapes, byte-exact field names as aliases (cdm-api.md Appendix B).

Request models validate what clients send; response models are dumped with ``by_alias=True`` and
``exclude_none=True``. Internal names stay Pythonic.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


# --- config values -----------------------------------------------------------------------------


class Input(Wire):
    name: str = Field(min_length=1)
    value: Any = None
    type: str | None = None


class Config(Wire):
    name: str = Field(min_length=1)
    inputs: list[Input] = Field(default_factory=list)
    id: int | None = None
    type: str | None = None

    @field_validator("inputs", mode="before")
    @classmethod
    def _empty_object_is_empty_list(cls, value: Any) -> Any:
        # CDM's own samples send "inputs": {} for empty configs.
        if isinstance(value, dict):
            return [value] if value else []
        return value


class ExtendedConfigs(Wire):
    name: str | None = None
    value: str | None = None


class ConfigValues(Wire):
    configs: list[Config] = Field(default_factory=list)
    extended_configs: ExtendedConfigs | None = Field(default=None, alias="extended-configs")
    validators: list[str] | None = None

    @field_validator("configs", mode="before")
    @classmethod
    def _object_is_list(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [value] if value else []
        return value


# --- links -------------------------------------------------------------------------------------


class LinkIn(Wire):
    name: str
    connector_name: str = Field(alias="connector-name")
    link_config_values: ConfigValues = Field(alias="link-config-values")
    enabled: bool = True


class LinksRequest(Wire):
    links: list[LinkIn] = Field(min_length=1)


class LinkInputOut(Wire):
    name: str
    type: str
    mandatory: bool
    sensitive: bool | None = None
    size: int | None = None
    default_value: str | None = Field(default=None, alias="defaultValue")
    value: Any = None


class LinkConfigOut(Wire):
    name: str
    inputs: list[LinkInputOut]


class LinkConfigValuesOut(Wire):
    configs: list[LinkConfigOut]


class LinkOut(Wire):
    id: int
    name: str
    connector_name: str = Field(alias="connector-name")
    enabled: bool
    link_config_values: LinkConfigValuesOut = Field(alias="link-config-values")
    creation_user: str = Field(alias="creation-user")
    creation_date: int = Field(alias="creation-date")
    update_user: str = Field(alias="update-user")
    update_date: int = Field(alias="update-date")


class ValidationMessage(Wire):
    message: str
    status: str = "ERROR"


class LinkValidationResult(Wire):
    link_config: list[ValidationMessage] = Field(alias="linkConfig")


# --- jobs --------------------------------------------------------------------------------------


class JobIn(Wire):
    name: str
    job_type: str = Field(default="NORMAL_JOB", alias="job_type")
    from_connector_name: str = Field(alias="from-connector-name")
    from_link_name: str = Field(alias="from-link-name")
    to_connector_name: str = Field(alias="to-connector-name")
    to_link_name: str = Field(alias="to-link-name")
    from_config_values: ConfigValues = Field(alias="from-config-values")
    to_config_values: ConfigValues = Field(alias="to-config-values")
    driver_config_values: ConfigValues = Field(default_factory=ConfigValues, alias="driver-config-values")


class JobsRequest(Wire):
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


class JobsPage(Wire):
    total: int
    jobs: list[JobOut]
    page_no: int
    page_size: int


class StartJobRequest(Wire):
    variables: dict[str, Any] = Field(default_factory=dict)


# --- submissions -------------------------------------------------------------------------------

COUNTERS_GROUP = "org.apache.sqoop.submission.counter.SqoopCounters"


class SubmissionOut(Wire):
    """The Submission model; StartJob answers with the same keys (StartJobSubmission is a subset)."""

    submission_id: int | None = Field(default=None, alias="submission-id")
    job_name: str = Field(alias="job-name")
    status: str
    progress: float
    creation_user: str = Field(alias="creation-user")
    creation_date: int = Field(alias="creation-date")
    execute_date: int | None = Field(default=None, alias="execute-date")
    last_update_date: int | None = Field(default=None, alias="last-update-date")
    last_update_user: str | None = Field(default=None, alias="last-update-user")
    # The historic typo of Sqoop 2 and the real service; emitted beside the corrected key.
    last_udpate_user: str | None = Field(default=None, alias="last-udpate-user")
    external_id: str | None = Field(default=None, alias="external-id")
    is_incrementing: bool = Field(default=False, alias="isIncrementing")
    is_stoping_increment: str = Field(default="", alias="isStopingIncrement")
    is_execute_auto: bool = Field(default=False, alias="is-execute-auto")
    is_delete_job: bool = Field(default=False, alias="isDeleteJob")
    write_rows: int | None = None
    update_rows: int | None = None
    delete_rows: int | None = None
    counters: dict[str, dict[str, int]] | None = None
    # Beyond CDM (ignored by the SDK): 1 for a run, 2-4 for the retries of a failed one (RETRY_TRIPLE),
    # and when this failed run is retried, while that retry waits.
    attempt: int | None = None
    retry_date: int | None = Field(default=None, alias="retry-date")
    # verifyConfig.mode (beyond CDM): what the run compared and found; null with mode NONE.
    verification: dict[str, Any] | None = None
    # throttlingConfig.resumable (beyond CDM): partitions a failed run had committed, not copied again.
    partitions_skipped: int = Field(default=0, alias="partitions-skipped")
    error_summary: str | None = Field(default=None, alias="error-summary")
    error_details: str | None = Field(default=None, alias="error-details")
    # Beyond CDM (ignored by the SDK): live throughput and ETA.
    rows_per_second: float | None = Field(default=None, alias="rows-per-second")
    eta_seconds: float | None = Field(default=None, alias="eta-seconds")


class SubmissionsResponse(Wire):
    submissions: list[SubmissionOut]


class SubmissionsPage(Wire):
    submissions: list[SubmissionOut]
    total: int
    page_no: int
    page_size: int


class JobRefusal(Wire):
    """Why one job of a group did not start (a JobValidationResult with the job and error code)."""

    name: str
    err_code: str = Field(alias="errCode")
    message: str
    status: str = "ERROR"


class GroupStartResponse(Wire):
    submissions: list[SubmissionOut]
    validation_result: list[JobRefusal] = Field(alias="validation-result")


# --- clusters ----------------------------------------------------------------------------------


class ClusterIn(Wire):
    name: str
    model_config = ConfigDict(populate_by_name=True, extra="allow")


class CreateClusterRequest(Wire):
    cluster: ClusterIn


class Datastore(Wire):
    type: str = "cdm"
    version: str


class ClusterInstance(Wire):
    id: str
    name: str
    type: str = "cdm"
    status: str
    role: str = "cdm"
    is_frozen: str = Field(default="0", alias="isFrozen")


class ClusterOut(Wire):
    id: str
    name: str
    status: str
    status_detail: str = Field(alias="statusDetail")
    is_frozen: str = Field(default="0", alias="isFrozen")
    created: str
    updated: str
    datastore: Datastore
    instances: list[ClusterInstance]
    action_progress: dict[str, str] = Field(default_factory=dict, alias="actionProgress")
    actions: list[str] = Field(default_factory=list)
    flavor_name: str = Field(default="local", alias="flavorName")
    az_name: str = Field(default="local", alias="azName")
    public_endpoint: str | None = Field(default=None, alias="publicEndpoint")
    config_status: str = "In-Sync"
    is_auto_off: bool = Field(default=False, alias="isAutoOff")
    executor: str


class ClustersResponse(Wire):
    clusters: list[ClusterOut]
