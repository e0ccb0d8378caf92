"""Runs: StartJob, ShowJobStatus and ShowSubmissions answers, a run's log and dirty data (ours),
and the start of a job group (ours)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from opencdm.api.wire.common import Wire

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
    # Beyond CDM: of a run of an entire-database job, its tables' runs so far by how they stand
    # ({"running": 2, "succeeded": 10, "failed": 1}: admitted or started, ended well, ended otherwise).
    tables: dict[str, int] | None = None
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
