"""Jobs: create, list, show, update, delete. Configs are stored as sent and checked per connector."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from opencdm.config_values import flatten
from opencdm.connectors import ConfigGroup, get_connector, known_inputs
from opencdm.connectors.inputs import boolean, names, refuse_unknown, unused_names
from opencdm.engine.batch import DATABASE_DRIVER_INPUTS, DatabaseRunConfig
from opencdm.engine.driver import DRIVER_UNUSED, DriverConfig, time_zone
from opencdm.engine.incremental import INCREMENTAL_INPUTS, IncrementalRead
from opencdm.engine.status import ACTIVE, RunStatus, now_ms
from opencdm.engine.timetable import MINUTE_MS, SCHEDULE_INPUTS, Timetable
from opencdm.errors import CdmError
from opencdm.service.links import check_name, delete_once, find_link, find_named, insert_unique
from opencdm.store.links import link_values
from opencdm.store.models import Cluster, Job, ResumablePartition, Submission
from opencdm.store.secrets import SecretBox

log = logging.getLogger(__name__)

JOB_TYPES = ("NORMAL_JOB", "BATCH_JOB", "SCENARIO_JOB")
RESERVED_JOB_NAMES = ("all",)
DISPOSABLE_TYPES = ("NONE", "DELETE_AFTER_SUCCEED", "DELETE")
# retryJobConfig.retryJobType -> how many more attempts a failed run gets.
RETRY_TYPES = {"NONE": 0, "RETRY_TRIPLE": 3}
# The driver-config-values inputs DriverConfig and RunPolicy read (Timetable's included).
DRIVER_INPUTS = (
    names(
        "throttlingConfig", "numExtractors", "maxErrorRecords", "recordDirtyData", "writeToLink", "obsBucket",
        "dirtyDataDirectory", "resumable",
    )
    | names("groupJobConfig", "groupName")
    | names("verifyConfig", "mode")
    | names("schedulerConfig", "timeZone", "disposableType")
    | names("retryJobConfig", "retryJobType")
    | SCHEDULE_INPUTS
    | DATABASE_DRIVER_INPUTS
)


@dataclass(frozen=True)
class JobDraft:
    name: str
    job_type: str
    from_connector_name: str
    from_link_name: str
    to_connector_name: str
    to_link_name: str
    from_config: dict[str, Any]
    to_config: dict[str, Any]
    driver_config: dict[str, Any]


@dataclass(frozen=True)
class RunPolicy:
    """What happens around a job's runs: its schedule, deleting the job after a run, retries."""

    timetable: Timetable | None
    disposable: str
    retries: int

    @classmethod
    def parse(cls, driver_config: dict[str, Any]) -> RunPolicy:
        values = flatten(driver_config)
        disposable = values.get("schedulerConfig.disposableType") or "NONE"
        if disposable not in DISPOSABLE_TYPES:
            raise CdmError(
                "Cdm.0014",
                f"schedulerConfig.disposableType must be one of {', '.join(DISPOSABLE_TYPES)}, got '{disposable}'.",
            )
        retry_type = values.get("retryJobConfig.retryJobType") or "NONE"
        if retry_type not in RETRY_TYPES:
            raise CdmError(
                "Cdm.0014", f"retryJobConfig.retryJobType must be one of {', '.join(RETRY_TYPES)}, got '{retry_type}'."
            )
        return cls(Timetable.parse(values, time_zone(values)), disposable, RETRY_TYPES[retry_type])

    @classmethod
    def of(cls, job: Job) -> RunPolicy:
        """The job's policy; none at all for a job saved before its inputs were checked (it still runs by hand)."""
        try:
            return cls.parse(job.driver_config)
        except CdmError as exc:
            log.warning("job %s: driver config ignored for schedules, retries and deletion: %s", job.name, exc.message)
            return cls(timetable=None, disposable="NONE", retries=0)

    def deletes_job_after(self, status: str) -> bool:
        return self.disposable == "DELETE" or (
            self.disposable == "DELETE_AFTER_SUCCEED" and status == RunStatus.SUCCEEDED
        )


def first_run(policy: RunPolicy, saved_ms: int, minute_ms: int) -> int | None:
    """When a schedule saved at ``saved_ms`` runs first (runs due before it are not made up for)."""
    if policy.timetable is None:
        return None
    first = policy.timetable.next_after(saved_ms, anchor_ms=saved_ms, minute_ms=minute_ms)
    if first is None:
        raise CdmError("Cdm.0014", "The schedule has no run left: schedulerConfig.stopDate is before its next run.")
    return first


def find_job(session: Session, cluster: Cluster, name: str) -> Job:
    return find_named(session, Job, cluster, name, _no_such_job(name))


def _no_such_job(name: str) -> CdmError:
    return CdmError("Cdm.0100", f"Job[{name}] doesn't exist.")


def active_submission(session: Session, job: Job) -> Submission | None:
    return session.scalar(
        select(Submission).where(Submission.job_id == job.id, Submission.status.in_(ACTIVE)).limit(1)
    )


def last_submission(session: Session, job: Job) -> Submission | None:
    return last_submissions(session, [job]).get(job.id)


def last_submissions(session: Session, jobs: list[Job]) -> dict[int, Submission]:
    """The newest submission of each of ``jobs``, in one query, by job id (none for a job that never ran)."""
    if not jobs:
        return {}
    newest = (
        select(func.max(Submission.id))
        .where(Submission.job_id.in_([job.id for job in jobs]))
        .group_by(Submission.job_id)
    )
    return {s.job_id: s for s in session.scalars(select(Submission).where(Submission.id.in_(newest)))}


@dataclass(frozen=True)
class JobFamily:
    """Of some jobs, the sub-jobs of those that are entire-database jobs, and the jobs of those that
    are sub-jobs, by name: by the id of the job they belong to."""

    sub_jobs: dict[int, list[str]]
    parents: dict[int, str]


def job_family(session: Session, jobs: list[Job]) -> JobFamily:
    parents = [job.id for job in jobs if job.job_type == "BATCH_JOB"]
    owners = [job.parent_job_id for job in jobs if job.parent_job_id is not None]
    subs = session.scalars(select(Job).where(Job.parent_job_id.in_(parents)).order_by(Job.id)).all() if parents else []
    owning = session.scalars(select(Job).where(Job.id.in_(owners))).all() if owners else []
    return JobFamily(
        sub_jobs={parent: [sub.name for sub in subs if sub.parent_job_id == parent] for parent in parents},
        parents={job.id: job.name for job in owning},
    )


def _check_carried_alike(draft: JobDraft) -> None:
    """Both ends carry rows, or both the same native format (e.g. files copied as they are)."""
    source = get_connector(draft.from_connector_name).carries_as_is(flatten(draft.from_config))
    destination = get_connector(draft.to_connector_name).carries_as_is(flatten(draft.to_config))
    if source != destination:
        raise CdmError(
            "Cdm.0062",
            f"The source ({draft.from_connector_name}) carries {source or 'rows'} and the destination "
            f"({draft.to_connector_name}) {destination or 'rows'}: to copy files as they are, "
            "fromJobConfig.inputFormat and toJobConfig.outputFormat must both be BINARY_FILE, on file links.",
        )


def _check(session: Session, box: SecretBox, cluster: Cluster, draft: JobDraft) -> tuple[DriverConfig, RunPolicy]:
    check_name("Job", draft.name, "Cdm.0320")
    if draft.name in RESERVED_JOB_NAMES:
        raise CdmError("Cdm.0320", f"Job name '{draft.name}' is reserved.")
    if draft.job_type not in JOB_TYPES:
        raise CdmError("Cdm.0014", f"job_type must be one of {', '.join(JOB_TYPES)}, got '{draft.job_type}'.")
    if draft.job_type == "SCENARIO_JOB":
        raise CdmError("Cdm.0014", "job_type SCENARIO_JOB is not supported; use NORMAL_JOB or BATCH_JOB.")
    entire_database = draft.job_type == "BATCH_JOB"
    sides: tuple[tuple[str, str, str, dict[str, Any], ConfigGroup, frozenset[str], str], ...] = (
        ("from", draft.from_link_name, draft.from_connector_name, draft.from_config, "fromJobConfig",
         INCREMENTAL_INPUTS, "check_from_job"),
        ("to", draft.to_link_name, draft.to_connector_name, draft.to_config, "toJobConfig",
         frozenset(), "check_to_job"),
    )
    for side, link_name, connector_name, config, group, engine_inputs, check in sides:
        link = find_link(session, cluster, link_name)
        if link.connector_name != connector_name:
            raise CdmError(
                "Cdm.0327",
                f"{side}-connector-name {connector_name} does not match link {link_name}, "
                f"which uses {link.connector_name}.",
            )
        inputs = flatten(config)
        refuse_unknown(inputs, known_inputs(connector_name, group) | engine_inputs, f"the {connector_name}")
        if entire_database:
            inputs = _table_job(connector_name, group, inputs)
        elif TABLE_CHOICE in inputs:
            raise CdmError("Cdm.0014", f"{TABLE_CHOICE} chooses tables of an entire-database job (BATCH_JOB); "
                                       "a NORMAL_JOB copies the one table fromJobConfig.tableName names.")
        getattr(get_connector(connector_name), check)(link_values(box, link), inputs)
    _check_carried_alike(draft)
    incremental = IncrementalRead.parse(flatten(draft.from_config), flatten(draft.to_config))
    refuse_unknown(flatten(draft.driver_config), DRIVER_INPUTS | unused_names(DRIVER_UNUSED), "driver-config-values")
    driver = DriverConfig.parse(draft.driver_config)
    if entire_database:
        DatabaseRunConfig.parse(flatten(draft.driver_config))
        if incremental:
            raise CdmError("Cdm.0014", "An entire-database job (BATCH_JOB) copies whole tables: "
                                       "fromJobConfig.incrMigration is for a NORMAL_JOB.")
    if driver.resumable and (incremental or boolean(flatten(draft.to_config), "toJobConfig.useStageTable")):
        raise CdmError(
            "Cdm.0014",
            "The parameter is invalid: throttlingConfig.resumable commits partitions one by one, which neither "
            "an incremental cursor (fromJobConfig.incrMigration) nor toJobConfig.useStageTable allows.",
        )
    if driver.resumable and not get_connector(draft.to_connector_name).commits_partitions_alone:
        raise CdmError(
            "Cdm.0014",
            f"The parameter is invalid: throttlingConfig.resumable commits partitions one by one, which "
            f"{draft.to_connector_name} destinations do not allow.",
        )
    if driver.record_dirty_data and driver.dirty_data_link is not None:
        dirty_link = find_link(session, cluster, driver.dirty_data_link)
        if driver.dirty_data_directory is None:
            raise CdmError("Cdm.0238", "throttlingConfig.dirtyDataDirectory cannot be empty with a writeToLink.")
        get_connector(dirty_link.connector_name).check_output(
            link_values(box, dirty_link), driver.dirty_data_bucket, driver.dirty_data_directory
        )
    return driver, RunPolicy.parse(draft.driver_config)


# The source input that only entire-database jobs read (connectors.jdbc.tables).
TABLE_CHOICE = "fromJobConfig.excludedTables"


def _table_job(connector_name: str, group: ConfigGroup, inputs: dict[str, str]) -> dict[str, str]:
    """The inputs of the sub-jobs an entire-database job makes, for a check as the job is saved:
    each one names its own table, which the job itself must leave to them."""
    if group == "toJobConfig" and "toJobConfig.tableName" in inputs:
        raise CdmError("Cdm.0014", "An entire-database job (BATCH_JOB) writes each table under its own name: "
                                   "leave toJobConfig.tableName out.")
    if group == "fromJobConfig" and boolean(inputs, "fromJobConfig.useSql"):
        raise CdmError("Cdm.0014", "An entire-database job (BATCH_JOB) copies tables: fromJobConfig.useSql "
                                   "must be false.")
    return get_connector(connector_name).table_job(group, inputs, "table", prepared=False)


def _cursor_start(job_config: dict[str, Any]) -> tuple[str, str | None] | None:
    """Where an incremental job's cursor starts: its check column and lastValue."""
    incremental = IncrementalRead.parse(flatten(job_config), {})
    return (incremental.check_column, incremental.last_value) if incremental else None


def create_job(
    session: Session, box: SecretBox, cluster: Cluster, draft: JobDraft, user: str, minute_ms: int = MINUTE_MS
) -> Job:
    driver, policy = _check(session, box, cluster, draft)
    if session.scalar(select(Job.id).where(Job.cluster_id == cluster.id, Job.name == draft.name)):
        raise CdmError("Cdm.0104", f"The job name {draft.name} already exists.")
    stamp = now_ms()
    job = Job(
        cluster_id=cluster.id,
        name=draft.name,
        job_type=draft.job_type,
        from_connector_name=draft.from_connector_name,
        from_link_name=draft.from_link_name,
        to_connector_name=draft.to_connector_name,
        to_link_name=draft.to_link_name,
        from_config=draft.from_config,
        to_config=draft.to_config,
        driver_config=draft.driver_config,
        group_name=driver.group_name,
        enabled=True,
        creation_user=user,
        creation_ms=stamp,
        update_user=user,
        update_ms=stamp,
        next_run_ms=first_run(policy, stamp, minute_ms),
    )
    insert_unique(session, job, CdmError("Cdm.0104", f"The job name {draft.name} already exists."))
    return job


def update_job(
    session: Session, box: SecretBox, cluster: Cluster, name: str, draft: JobDraft, user: str,
    minute_ms: int = MINUTE_MS,
) -> Job:
    job = session.scalar(select(Job).where(Job.cluster_id == cluster.id, Job.name == name))
    if job is None:
        raise CdmError("Cdm.0100", f"Job[{name}] doesn't exist.")
    if draft.name != name:
        raise CdmError("Cdm.0014", f"The job name in the body ({draft.name}) must be {name}.")
    if active_submission(session, job) is not None:
        raise CdmError("Cdm.0052", f"Job {name} is running.")
    driver, policy = _check(session, box, cluster, draft)
    # An unchanged schedule keeps its next run, even one already due that the scheduler has yet to start.
    if policy.timetable != RunPolicy.of(job).timetable:
        job.next_run_ms = first_run(policy, now_ms(), minute_ms)
    # A new lastValue (or check column) is where the next run starts: the stored cursor goes.
    if _cursor_start(draft.from_config) != _cursor_start(job.from_config):
        job.incremental_cursor = None
    # A changed job does not resume the partition plan of an earlier failed run.
    session.execute(delete(ResumablePartition).where(ResumablePartition.job_id == job.id))
    job.job_type = draft.job_type
    job.from_connector_name = draft.from_connector_name
    job.from_link_name = draft.from_link_name
    job.to_connector_name = draft.to_connector_name
    job.to_link_name = draft.to_link_name
    job.from_config = draft.from_config
    job.to_config = draft.to_config
    job.driver_config = draft.driver_config
    job.group_name = driver.group_name
    job.update_user = user
    job.update_ms = now_ms()
    return job


def delete_job(session: Session, cluster: Cluster, name: str) -> None:
    job = find_job(session, cluster, name)
    if active_submission(session, job) is not None:
        raise CdmError("Cdm.0052", f"Job {name} is running; stop it before deleting it.")
    delete_once(session, job, _no_such_job(name))


def list_jobs(
    session: Session, cluster: Cluster, name_filter: str | None, job_type: str, page_no: int, page_size: int,
    group_name: str | None = None,
) -> tuple[int, list[Job]]:
    # The sub-jobs of entire-database jobs are found by name, not listed.
    query = select(Job).where(Job.cluster_id == cluster.id, Job.job_type == job_type, Job.parent_job_id.is_(None))
    if name_filter:
        query = query.where(Job.name.contains(name_filter, autoescape=True))
    if group_name:
        query = query.where(Job.group_name == group_name)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    jobs = session.scalars(query.order_by(Job.id).offset((page_no - 1) * page_size).limit(page_size)).all()
    return total, list(jobs)


def group_jobs(session: Session, cluster: Cluster, group_name: str) -> list[Job]:
    """The jobs of a group (groupJobConfig.groupName), by name; an empty group does not exist."""
    jobs = session.scalars(
        select(Job).where(Job.cluster_id == cluster.id, Job.group_name == group_name, Job.parent_job_id.is_(None))
        .order_by(Job.name)
    ).all()
    if not jobs:
        raise CdmError("Cdm.0001", f"Group [{group_name}] has no jobs.")
    return list(jobs)


def delete_group(session: Session, cluster: Cluster, group_name: str) -> None:
    """Delete every job of the group, or none of them if one is running."""
    jobs = group_jobs(session, cluster, group_name)
    for job in jobs:
        if active_submission(session, job) is not None:
            raise CdmError("Cdm.0052", f"Job {job.name} is running; stop it before deleting group {group_name}.")
    for job in jobs:
        delete_once(session, job, _no_such_job(job.name))
