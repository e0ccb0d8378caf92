"""CDM v1.1 wire shapes, byte-exact field names as aliases (docs/cdm-api.md Appendix B).

Request models validate what clients send; response models are dumped with ``by_alias=True`` and
``exclude_none=True``. Internal names stay Pythonic.

The OpenAPI document shows some rules the service checks itself (names, connector names, job types)
as schema constraints (``_documented``): they are not enforced here, so that a client breaking them
still gets the service's own error code and message (e.g. Cdm.0317 for a bad link name).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opencdm.service.links import NAME_RULE, NAME_RULE_TEXT

NAME_PATTERN = f"^{NAME_RULE.pattern}$"


def _documented(**constraints: Any) -> dict[str, Any]:
    """Schema constraints shown in the OpenAPI document only (see the module docstring)."""
    return {"json_schema_extra": constraints}


def _connector_names(schema: dict[str, Any]) -> None:
    from opencdm.connectors import connector_names  # imports every connector: only when documenting

    schema["enum"] = connector_names()


def _name(what: str) -> dict[str, Any]:
    return _documented(pattern=NAME_PATTERN, description=f"{what}: {NAME_RULE_TEXT}.")


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
    name: str = Field(**_name("The link's name"))
    connector_name: str = Field(alias="connector-name", json_schema_extra=_connector_names)
    link_config_values: ConfigValues = Field(alias="link-config-values")
    enabled: bool = True


# The examples' SQLite paths stand for a file under one of the server's OPENCDM_FILE_ROOTS.
EXAMPLE_SQLITE_DIR = "/srv/opencdm/files"


def _sqlite_link(name: str) -> dict[str, Any]:
    return {"name": name, "connector-name": "generic-jdbc-connector", "enabled": True,
            "link-config-values": {"configs": [{"name": "linkConfig", "inputs": [
                {"name": "linkConfig.databaseType", "value": "SQLITE"},
                {"name": "linkConfig.database", "value": f"{EXAMPLE_SQLITE_DIR}/{name}.db"}]}]}}


def _sqlite_job(name: str, from_link: str, to_link: str) -> dict[str, Any]:
    def config(name: str, values: dict[str, str]) -> dict[str, Any]:
        return {"configs": [{"name": name, "inputs": [{"name": k, "value": v} for k, v in values.items()]}]}

    return {"name": name, "job_type": "NORMAL_JOB",
            "from-connector-name": "generic-jdbc-connector", "from-link-name": from_link,
            "to-connector-name": "generic-jdbc-connector", "to-link-name": to_link,
            "from-config-values": config("fromJobConfig", {"fromJobConfig.useSql": "false",
                                                          "fromJobConfig.tableName": "t"}),
            "to-config-values": config("toJobConfig", {"toJobConfig.tableName": "t_copy",
                                                      "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}),
            "driver-config-values": config("throttlingConfig", {"throttlingConfig.numExtractors": "1"})}


class LinksRequest(Wire):
    model_config = ConfigDict(json_schema_extra={"examples": [{"links": [_sqlite_link("sqlite_a")]}]})
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
    name: str = Field(**_name("The job's name ('all' is reserved)"))
    job_type: str = Field(default="NORMAL_JOB", alias="job_type", **_documented(enum=["NORMAL_JOB", "BATCH_JOB"]))
    from_connector_name: str = Field(alias="from-connector-name", json_schema_extra=_connector_names)
    from_link_name: str = Field(alias="from-link-name", **_name("An existing link"))
    to_connector_name: str = Field(alias="to-connector-name", json_schema_extra=_connector_names)
    to_link_name: str = Field(alias="to-link-name", **_name("An existing link"))
    from_config_values: ConfigValues = Field(alias="from-config-values")
    to_config_values: ConfigValues = Field(alias="to-config-values")
    driver_config_values: ConfigValues = Field(default_factory=ConfigValues, alias="driver-config-values")


class JobsRequest(Wire):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"jobs": [_sqlite_job("copy_a_to_b", "sqlite_a", "sqlite_b")]}]}
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


class RunLogLineOut(Wire):
    time: int  # ms since the epoch, as the submissions' dates
    level: str  # INFO | WARNING | ERROR
    message: str


class SubmissionLog(Wire):
    """Beyond CDM: a run's own log (``GET …/cdm/submissions/{submission_id}/log``)."""

    submission_id: int = Field(alias="submission-id")
    job_name: str = Field(alias="job-name")
    status: str
    lines: list[RunLogLineOut]


class SubmissionDirtyData(Wire):
    """Beyond CDM: the dirty-data records a run left on the server
    (``GET …/cdm/submissions/{submission_id}/dirty``), ``{"row": {...}, "reason": "...", …}`` each."""

    submission_id: int = Field(alias="submission-id")
    job_name: str = Field(alias="job-name")
    status: str
    total: int
    page_no: int
    page_size: int
    records: list[dict[str, Any]]
    # The job's dirty data goes to a link: {"link", "bucket", "directory"}, read there.
    written_to: dict[str, str] | None = Field(default=None, alias="written-to")


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
    name: str = Field(**_name("The cluster's name"))
    model_config = ConfigDict(populate_by_name=True, extra="allow")


class CreateClusterRequest(Wire):
    cluster: ClusterIn


class ClusterActionRequest(Wire):
    """Exactly one of the three (the route checks it itself, for its own Cdm.0014 message)."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": [action]} for action in ("start", "stop", "restart")]}
    )
    start: dict[str, Any] | None = None
    stop: dict[str, Any] | None = None
    restart: dict[str, Any] | None = None


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


# --- answers built from the models above (documented in the OpenAPI document) -------------------


class Empty(Wire):
    """``{}``: DeleteLink, DeleteJob, DeleteGroup, ModifyCluster."""

    model_config = ConfigDict(extra="forbid")


class LinksResponse(Wire):
    links: list[LinkOut]


class LinkSaved(Wire):
    """CreateLink and UpdateLink, and a link ``?validate=true`` found working: the list is empty."""

    name: str
    validation_result: list[LinkValidationResult] = Field(alias="validation-result", max_length=0)


class LinkValidationFailed(Wire):
    """HTTP 500 of CreateLink ``?validate=true`` when the link does not work, as CDM answers it
    (docs/decisions/0007-link-validation-answer.md): the problems, and no name."""

    model_config = ConfigDict(extra="forbid")

    validation_result: list[LinkValidationResult] = Field(alias="validation-result", min_length=1)


class JobSaved(Wire):
    """CreateJob: the (first) job's name; a refused job is a CDM error instead, so the list is empty."""

    name: str
    validation_result: list[dict[str, Any]] = Field(alias="validation-result", max_length=0)


class ValidationResults(Wire):
    """UpdateJob and StopJob."""

    validation_result: list[dict[str, Any]] = Field(alias="validation-result", max_length=0)


class ClusterCreated(Wire):
    name: str
    id: str
    datastore: Datastore
    instances: list[ClusterInstance]


class ClusterJobId(Wire):
    """DeleteCluster; ClusterAction ("restart" answers one id, "start" and "stop" a list of one)."""

    job_id: str | list[str] = Field(alias="jobId")


class FlavorRef(Wire):
    id: str


class InstanceOut(Wire):
    id: str
    name: str
    type: str
    role: str
    status: str
    cluster_id: str
    flavor: FlavorRef
    datastore: Datastore


class InstanceResponse(Wire):
    instance: InstanceOut


class DatastoreVersion(Wire):
    id: str
    name: str
    active: str
    image: str
    packages: str
    datastore: str
    links: list[Any]


class DatastoreOut(Wire):
    id: str
    name: str
    bigcluster_enable: bool = Field(alias="bigclusterEnable")
    default_version: str = Field(alias="defaultVersion")
    versions: list[DatastoreVersion]


class DatastoresResponse(Wire):
    datastores: list[DatastoreOut]


class Flavor(Wire):
    str_id: str
    name: str
    cpu: int
    ram: int
    typename: str
    region: str
    cluster_mode: str = Field(alias="clusterMode")
    status: str


class FlavorsVersion(Wire):
    id: str
    name: str
    flavors: list[Flavor]


class FlavorsResponse(Wire):
    id: str
    dbname: str
    versions: list[FlavorsVersion]


class NameValue(Wire):
    name: str
    value: str


class FlavorDetailResponse(Wire):
    name: str
    str_id: str
    flavor_detail: list[NameValue]


class AvailabilityZone(Wire):
    available_zone_id: str = Field(alias="availableZoneId")
    available_zone_name: str = Field(alias="availableZoneName")
    available_zone_code: str = Field(alias="availableZoneCode")
    az_status: str = Field(alias="azStatus")
    type: str
    tags: dict[str, Any]


class AvailabilityZonesResponse(Wire):
    region_id: str = Field(alias="regionId")
    default_az: str = Field(alias="defaultAZ")
    available_zones: list[AvailabilityZone] = Field(alias="availableZones")


class SysTag(Wire):
    key: str
    value: str


class ClusterSysTags(Wire):
    sys_tags: list[SysTag]


class ClusterTags(Wire):
    cluster_id: str
    sys_tags: list[SysTag]


class EnterpriseProjectsResponse(Wire):
    resources: list[ClusterTags]


# --- POST /v3/auth/tokens (parsed by hand in routes/iam.py, for messages that name the bad part) ----


class Domain(Wire):
    name: str = Field(min_length=1, examples=["Default"])


class TokenUser(Wire):
    name: str = Field(min_length=1)
    password: str = Field(min_length=1)
    domain: Domain | None = None


class TokenPassword(Wire):
    user: TokenUser


class TokenIdentity(Wire):
    methods: list[Literal["password"]] = Field(min_length=1)
    password: TokenPassword


class TokenProject(Wire):
    """The project, by ``id`` (or, instead, by ``name``)."""

    id: str = Field(min_length=1)


class TokenScope(Wire):
    project: TokenProject


class TokenAuth(Wire):
    identity: TokenIdentity
    scope: TokenScope


class TokenRequest(Wire):
    """Keystone v3 password authentication, scoped to a project."""

    auth: TokenAuth


class TokenNamed(Wire):
    name: str
    domain: Domain


class TokenNamedWithId(TokenNamed):
    id: str


class TokenRole(Wire):
    name: str


class Token(Wire):
    methods: list[str]
    expires_at: str
    issued_at: str
    user: TokenNamedWithId
    project: TokenNamedWithId
    roles: list[TokenRole]


class TokenResponse(Wire):
    """The token itself is in the X-Subject-Token header."""

    token: Token


# --- the commonest valid bodies, as exact shapes -------------------------------------------------
# The general shapes above accept every connector's inputs, so nothing in them says which inputs a
# link or job needs. The OpenAPI document offers these besides them (anyOf, see api/openapi.py): a
# generic-jdbc-connector link and a table-to-table job, with every input a valid one needs.

_EXACT = ConfigDict(populate_by_name=True, extra="forbid")
_TABLE = Annotated[str, Field(pattern="^[A-Za-z][A-Za-z0-9_]{0,29}$")]
_EXTRACTORS = Annotated[str, Field(pattern="^([1-9]|[1-9][0-9]|[12][0-9]{2}|300)$")]  # 1-300


def _input(name: str, value: Any) -> type[BaseModel]:
    """A model of one ``{"name", "value"}`` input with a fixed name."""
    fields: dict[str, Any] = {"name": Literal[name], "value": value}
    return type("Input_" + name.replace(".", "_"), (Wire,), {"__annotations__": fields, "model_config": _EXACT})


class JdbcLinkConfig(Wire):
    """linkConfig of a generic-jdbc-connector link. For SQLITE, ``database`` is the file's path
    (under OPENCDM_FILE_ROOTS) and host and username are ignored."""

    model_config = _EXACT
    name: Literal["linkConfig"]
    inputs: tuple[
        _input("linkConfig.databaseType", Literal["POSTGRESQL", "MYSQL", "SQLITE"]),  # type: ignore[valid-type]
        _input("linkConfig.database", Annotated[str, Field(pattern="^[A-Za-z0-9_./-]{1,200}$")]),  # type: ignore[valid-type]
        _input("linkConfig.host", Annotated[str, Field(pattern="^[a-z0-9][a-z0-9.-]{0,62}$")]),  # type: ignore[valid-type]
        _input("linkConfig.port", Annotated[str, Field(pattern="^[1-9][0-9]{0,3}$")]),  # type: ignore[valid-type]
        _input("linkConfig.username", _TABLE),  # type: ignore[valid-type]
    ]


class JdbcLinkConfigValues(Wire):
    model_config = _EXACT
    configs: tuple[JdbcLinkConfig]


class JdbcLinkIn(Wire):
    """A generic-jdbc-connector link (PostgreSQL, MySQL/MariaDB or a SQLite file)."""

    model_config = _EXACT
    name: str = Field(**_name("The link's name"))
    connector_name: Literal["generic-jdbc-connector"] = Field(alias="connector-name")
    link_config_values: JdbcLinkConfigValues = Field(alias="link-config-values")
    enabled: bool = True


class JdbcFromConfig(Wire):
    model_config = _EXACT
    name: Literal["fromJobConfig"]
    inputs: tuple[
        _input("fromJobConfig.useSql", Literal["false"]),  # type: ignore[valid-type]
        _input("fromJobConfig.tableName", _TABLE),  # type: ignore[valid-type]
    ]


class JdbcToConfig(Wire):
    model_config = _EXACT
    name: Literal["toJobConfig"]
    inputs: tuple[
        _input("toJobConfig.tableName", _TABLE),  # type: ignore[valid-type]
        _input(  # type: ignore[valid-type]
            "toJobConfig.tablePreparation", Literal["DO_NOTHING", "CREATE_WHEN_NOT_EXIST", "DROP_AND_CREATE"]
        ),
    ]


class ThrottlingConfig(Wire):
    model_config = _EXACT
    name: Literal["throttlingConfig"]
    inputs: tuple[_input("throttlingConfig.numExtractors", _EXTRACTORS)]  # type: ignore[valid-type]


class JdbcFromConfigValues(Wire):
    model_config = _EXACT
    configs: tuple[JdbcFromConfig]


class JdbcToConfigValues(Wire):
    model_config = _EXACT
    configs: tuple[JdbcToConfig]


class DriverConfigValues(Wire):
    model_config = _EXACT
    configs: tuple[ThrottlingConfig]


class JdbcTableJobIn(Wire):
    """A NORMAL_JOB copying a table between two generic-jdbc-connector links."""

    model_config = _EXACT
    name: str = Field(**_name("The job's name ('all' is reserved)"))
    job_type: Literal["NORMAL_JOB"] = Field(alias="job_type")
    from_connector_name: Literal["generic-jdbc-connector"] = Field(alias="from-connector-name")
    from_link_name: str = Field(alias="from-link-name", **_name("An existing link"))
    to_connector_name: Literal["generic-jdbc-connector"] = Field(alias="to-connector-name")
    to_link_name: str = Field(alias="to-link-name", **_name("An existing link"))
    from_config_values: JdbcFromConfigValues = Field(alias="from-config-values")
    to_config_values: JdbcToConfigValues = Field(alias="to-config-values")
    driver_config_values: DriverConfigValues = Field(alias="driver-config-values")
