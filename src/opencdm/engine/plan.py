"""What a run reads and writes: its plan, read from the store as the run starts (job, links, driver
config, both ends' configs with their macros expanded), and ``open_ends``, the one way a run and
each of its copiers open the job's source and sink."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo

import pyarrow as pa

from opencdm.config_values import flatten, input_value_as_str
from opencdm.connectors import get_connector
from opencdm.connectors.base import CursorRange, NativeFormat, Sink, Source
from opencdm.connectors.inputs import ignored_notes
from opencdm.engine.dirty import DirtyDataPlace, run_stem, server_directory
from opencdm.engine.driver import DRIVER_UNUSED, DriverConfig
from opencdm.engine.macros import expand_all
from opencdm.errors import CdmError
from opencdm.settings import Settings
from opencdm.store.db import Store
from opencdm.store.links import link_values
from opencdm.store.models import Cluster, Job, Link, Submission
from opencdm.store.secrets import SecretBox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ends:
    """Both ends of a job: connector, link inputs (secrets decrypted) and job config, all a process
    needs to open them (picklable)."""

    from_connector: str
    from_link: dict[str, str]
    from_job: dict[str, str]
    to_connector: str
    to_link: dict[str, str]
    to_job: dict[str, str]

    def on_server_disk(self) -> tuple[str, str] | None:
        """The end ("source" or "destination") that is on this server's disk (a SQLite file, a nas
        directory, a local Iceberg warehouse) and where, if one is."""
        for connector, link, end in ((self.from_connector, self.from_link, "source"),
                                     (self.to_connector, self.to_link, "destination")):
            place = get_connector(connector).server_disk_place(link)
            if place is not None:
                return end, place
        return None


@dataclass(frozen=True)
class PartitionJob:
    """What a copier needs to copy partitions of the job with ends of its own (picklable)."""

    ends: Ends
    schema: pa.Schema
    native: NativeFormat | None
    batch_rows: int
    cursor: CursorRange | None = None
    # throttlingConfig.maxErrorRecords (None: the first refused row fails the run), and where the
    # refused rows are recorded (recordDirtyData).
    max_rejected: int | None = None
    dirty_place: DirtyDataPlace | None = None
    dirty_file_stem: str = "dirty"
    # Resumable runs: the id of the partition plan, whose partitions each commit on their own (with
    # a record in the destination: Sink.commit_partition), reported as events.PartitionCommitted.
    resumable_plan: str | None = None


@dataclass(frozen=True)
class Plan:
    """What a run reads and writes, as its job, links and driver config say when it starts."""

    job_id: int
    ends: Ends
    driver: DriverConfig
    driver_values: dict[str, str]
    # The job's incremental cursor when the run starts (engine.incremental).
    stored_cursor: str | None
    dirty_place: DirtyDataPlace | None
    dirty_file_stem: str
    # The executor of the job's cluster (engine.executors).
    cluster_executor: str

    def ignored_inputs(self) -> list[str]:
        """Inputs CDM documents that mean nothing here, given a value that asks for something: one
        note each (both ends on one link say its inputs once)."""
        ends = self.ends
        notes = [
            *ignored_notes({**ends.from_link, **ends.from_job}, get_connector(ends.from_connector).unused_inputs),
            *ignored_notes({**ends.to_link, **ends.to_job}, get_connector(ends.to_connector).unused_inputs),
            *ignored_notes(self.driver_values, DRIVER_UNUSED),
        ]
        return list(dict.fromkeys(notes))


@dataclass(frozen=True)
class OpenRun:
    """A run's plan with both its ends open."""

    plan: Plan
    source: Source
    sink: Sink
    # What copiers need: the ends, the schema the source read, the incremental range, dirty data.
    job: PartitionJob
    # Where parallel partitions run (engine.executors).
    executor: str
    # An incremental run: whether it has rows to read (job.cursor says which).
    incremental: bool


def read_plan(settings: Settings, store: Store, box: SecretBox, submission_id: int) -> Plan:
    with store.session() as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        job = session.get(Job, submission.job_id)
        assert job is not None
        driver = DriverConfig.parse(job.driver_config)
        dirty_link = driver.dirty_data_link if driver.record_dirty_data else None
        names = [name for name in (job.from_link_name, job.to_link_name, dirty_link) if name is not None]
        links = {
            link.name: link
            for link in session.query(Link).filter(Link.cluster_id == job.cluster_id, Link.name.in_(names))
        }
        for name in names:
            if name not in links:
                raise CdmError("Cdm.0101", f"Link [{name}] does not exist.")
        from_link = link_values(box, links[job.from_link_name])
        to_link = link_values(box, links[job.to_link_name])
        cluster = session.get(Cluster, job.cluster_id)
        assert cluster is not None
        dirty_place = None
        if driver.max_error_records is not None and driver.record_dirty_data:
            if dirty_link is None:
                directory = server_directory(settings.home, cluster.project_id, job.name)
                dirty_place = DirtyDataPlace(str(directory))
            else:
                dirty_place = DirtyDataPlace(
                    driver.dirty_data_directory or "/", links[dirty_link].connector_name,
                    link_values(box, links[dirty_link]), driver.dirty_data_bucket,
                )
        # Macros read the clock of the moment the job was started, in the job's time zone.
        started = datetime.fromtimestamp(submission.creation_ms / 1000, driver.time_zone or _local_zone())
        variables = {str(k): input_value_as_str(v) for k, v in (submission.variables or {}).items()}
        return Plan(
            job_id=job.id,
            ends=Ends(
                job.from_connector_name, from_link, expand_all(flatten(job.from_config), started, variables),
                job.to_connector_name, to_link, expand_all(flatten(job.to_config), started, variables),
            ),
            driver=driver,
            driver_values=flatten(job.driver_config),
            stored_cursor=job.incremental_cursor,
            dirty_place=dirty_place,
            dirty_file_stem=run_stem(job.name, submission_id),
            cluster_executor=cluster.executor,
        )


def _local_zone() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def open_ends(
    ends: Ends, skip_rejected_rows: bool, read_range: Callable[[Source], CursorRange | None]
) -> tuple[Source, Sink]:
    """Open the source, restricted to the rows ``read_range`` gives for it (None: all of them), then
    the sink. With ``skip_rejected_rows`` (throttlingConfig.maxErrorRecords) both leave out the rows
    they cannot take instead of failing."""
    source = get_connector(ends.from_connector).open_source(ends.from_link, ends.from_job)
    source.skip_rejected_rows = skip_rejected_rows
    try:
        cursor = read_range(source)
        if cursor is not None:
            source.restrict(cursor)
        sink = get_connector(ends.to_connector).open_sink(ends.to_link, ends.to_job)
    except BaseException:
        source.close()
        raise
    sink.skip_rejected_rows = skip_rejected_rows
    return source, sink
