"""Store rows → wire models, and a job from the wire → the service's draft of it."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from opencdm import __version__
from opencdm.api.wire.clusters import ClusterInstance, ClusterOut, Datastore
from opencdm.api.wire.common import Wire
from opencdm.api.wire.jobs import JobIn, JobOut
from opencdm.api.wire.links import LinkConfigOut, LinkConfigValuesOut, LinkInputOut, LinkOut
from opencdm.api.wire.submissions import COUNTERS_GROUP, SubmissionOut
from opencdm.config_values import flatten
from opencdm.engine.status import RunStatus
from opencdm.service.jobs import JobDraft, JobFamily
from opencdm.service.links import described_inputs
from opencdm.store.models import Cluster, Job, Link, Submission
from opencdm.store.secrets import SecretBox
from opencdm.store.statuses import ClusterStatus

CLUSTER_STATUS_DETAIL: dict[str, str] = {
    ClusterStatus.CREATING: "Creating",
    ClusterStatus.NORMAL: "Normal",
    ClusterStatus.FAILED: "Failed",
    ClusterStatus.RESTARTING: "Restarting",
    ClusterStatus.STOPPED: "Stopped",
    ClusterStatus.STOPPING: "Stopping",
    ClusterStatus.STARTING: "Starting",
}


def link_out(box: SecretBox, link: Link) -> LinkOut:
    grouped = described_inputs(box, link)
    return LinkOut(
        id=link.id,
        name=link.name,
        connector_name=link.connector_name,
        enabled=link.enabled,
        link_config_values=LinkConfigValuesOut(
            configs=[
                LinkConfigOut(name=name, inputs=[LinkInputOut(**item) for item in inputs])
                for name, inputs in grouped.items()
            ]
        ),
        creation_user=link.creation_user,
        creation_date=link.creation_ms,
        update_user=link.update_user,
        update_date=link.update_ms,
    )


# A job's definition, as the service takes it (JobDraft) and the store keeps it (Job), by the name of
# each field on the wire (JobIn, JobOut): the same names, but for the config values.
_CONFIG_VALUES = {"from_config": "from_config_values", "to_config": "to_config_values",
                  "driver_config": "driver_config_values"}
_JOB_WIRE_NAMES: dict[str, str] = {field.name: _CONFIG_VALUES.get(field.name, field.name) for field in fields(JobDraft)}


def job_draft(job: JobIn) -> JobDraft:
    """A job as sent, for the service: its config values as plain CDM-shaped dicts."""

    def plain(value: Any) -> Any:
        return value.dump() if isinstance(value, Wire) else value

    return JobDraft(**{name: plain(getattr(job, wire_name)) for name, wire_name in _JOB_WIRE_NAMES.items()})


def job_out(job: Job, last: Submission | None, family: JobFamily | None = None) -> JobOut:
    from_values = flatten(job.from_config)
    out = JobOut(
        **{wire_name: getattr(job, name) for name, wire_name in _JOB_WIRE_NAMES.items()},
        id=job.id,
        creation_user=job.creation_user,
        creation_date=job.creation_ms,
        update_user=job.update_user,
        update_date=job.update_ms,
        enabled=job.enabled,
        group_name=job.group_name,
        is_use_sql=from_values.get("fromJobConfig.useSql", "false").lower() == "true",
        status="NEW",
        flag=int(job.next_run_ms is not None),
        next_run_date=job.next_run_ms,
        skipped_runs=job.skipped_runs,
        is_incre_job=from_values.get("fromJobConfig.incrMigration", "false").lower() == "true",
        incremental_cursor=job.incremental_cursor,
    )
    if family is not None:
        out.sub_jobs = family.sub_jobs.get(job.id) if job.job_type == "BATCH_JOB" else None
        out.parent_job = family.parents.get(job.parent_job_id) if job.parent_job_id is not None else None
    if last is not None:
        shown = (RunStatus.BOOTING, RunStatus.RUNNING, RunStatus.SUCCEEDED)
        out.status = last.status if last.status in shown else RunStatus.FAILED
        out.external_id = external_id(last)
        out.rows_read = last.rows_read
        out.rows_written = last.rows_written
        out.bytes_read = last.bytes_read
        out.bytes_written = last.bytes_written
        out.write_rows = last.rows_written
        out.update_rows = last.update_rows
        out.delete_rows = last.delete_rows
        out.execute_create_date = last.creation_ms
        out.execute_start_date = last.execute_ms
        out.execute_update_date = last.last_update_ms
    return out


def external_id(submission: Submission) -> str:
    return f"job_opencdm_{submission.id:010d}"


def submission_out(submission: Submission, tables: dict[int, dict[str, int]] | None = None) -> SubmissionOut:
    out = SubmissionOut(
        submission_id=submission.id,
        job_name=submission.job_name,
        status=submission.status,
        progress=submission.progress,
        creation_user=submission.creation_user,
        creation_date=submission.creation_ms,
        execute_date=submission.execute_ms,
        last_update_date=submission.last_update_ms,
        last_update_user=submission.last_update_user,
        last_udpate_user=submission.last_update_user,
        external_id=external_id(submission),
        is_incrementing=submission.is_incrementing,
        is_execute_auto=submission.is_execute_auto,
        is_delete_job=submission.is_delete_job,
        write_rows=submission.rows_written,
        update_rows=submission.update_rows,
        delete_rows=submission.delete_rows,
        attempt=submission.attempt,
        retry_date=submission.retry_due_ms,
        verification=submission.verification,
        partitions_skipped=submission.partitions_skipped,
        tables=(tables or {}).get(submission.id),
    )
    if submission.execute_ms is not None:
        out.counters = {
            COUNTERS_GROUP: {
                "ROWS_READ": submission.rows_read,
                "ROWS_WRITTEN": submission.rows_written,
                "ROWS_WRITTEN_SKIPPED": submission.rows_skipped,
                "BYTES_READ": submission.bytes_read,
                "BYTES_WRITTEN": submission.bytes_written,
                "FILES_READ": -1,
                "FILES_WRITTEN": -1,
                "FILES_SKIPPED": -1,
                "TOTAL_FILES": -1,
                "TOTAL_SIZE": -1,
            }
        }
        # Rows only move when the worker records progress, so the rate is measured up to that moment.
        elapsed = (submission.last_update_ms - submission.execute_ms) / 1000
        if elapsed > 0 and submission.rows_written:
            rate = submission.rows_written / elapsed
            out.rows_per_second = round(rate, 1)
            if submission.status == RunStatus.RUNNING and submission.rows_estimate:
                out.eta_seconds = round(max(0, submission.rows_estimate - submission.rows_written) / rate, 1)
    if submission.status in (RunStatus.FAILED, RunStatus.FAILURE_ON_SUBMIT):
        out.error_summary = submission.error_summary or ""
        out.error_details = submission.error_details or ""
    return out


def never_executed(job: Job) -> SubmissionOut:
    return SubmissionOut(
        job_name=job.name,
        status="NEVER_EXECUTED",
        progress=0,
        creation_user=job.creation_user,
        creation_date=job.creation_ms,
        last_update_date=job.update_ms,
        last_update_user=job.update_user,
        last_udpate_user=job.update_user,
        external_id="",
    )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def cluster_out(cluster: Cluster) -> ClusterOut:
    return ClusterOut(
        id=cluster.id,
        name=cluster.name,
        status=cluster.status,
        status_detail=CLUSTER_STATUS_DETAIL.get(cluster.status, "Unknown"),
        created=_iso(cluster.created_ms),
        updated=_iso(cluster.updated_ms),
        datastore=Datastore(version=__version__),
        instances=[ClusterInstance(id=cluster.id, name=cluster.name, status=cluster.status)],
        executor=cluster.executor,
    )
