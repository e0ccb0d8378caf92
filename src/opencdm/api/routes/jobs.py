"""Jobs and their runs: ``…/cdm/job``, ``…/cdm/job/{name}[/start|/stop|/status]``, ``…/cdm/submissions``,
job groups ``…/cdm/group/{group}[/start]`` (ours), and ``/v1.1/{project_id}/clusters/job`` (create and
start on a running cluster)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from opencdm.api.errors import V11_ERROR_RESPONSES
from opencdm.api.present import job_draft, job_out, never_executed, submission_out
from opencdm.api.routes.common import Caller, PageNo, PageSize, State, check_cluster, cluster_session
from opencdm.api.state import ServerState
from opencdm.api.wire.common import Empty
from opencdm.api.wire.jobs import (
    JobSaved,
    JobsPage,
    JobsRequest,
    RandomClusterJobRequest,
    StartJobRequest,
    ValidationResults,
)
from opencdm.api.wire.submissions import (
    GroupStartResponse,
    JobRefusal,
    RunLogLineOut,
    SubmissionDirtyData,
    SubmissionLog,
    SubmissionsPage,
    SubmissionsResponse,
)
from opencdm.service import clusters as cluster_service
from opencdm.service import jobs as job_service
from opencdm.service import runs

router = APIRouter(prefix="/v1.1/{project_id}", tags=["jobs"], responses=V11_ERROR_RESPONSES)
CDM = "/clusters/{cluster_id}/cdm"


def _minute_ms(state: ServerState) -> int:
    return round(state.settings.scheduler_minute_seconds * 1000)


@router.post(CDM + "/job", operation_id="CreateJob", response_model=None,
             responses={200: {"model": JobSaved}})
def create_job(project_id: str, cluster_id: str, body: JobsRequest, caller: Caller,
               state: State) -> dict[str, Any]:
    names = [job.name for job in body.jobs]
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        for job in body.jobs:
            job_service.create_job(session, state.box, cluster, job_draft(job), caller.user_name, _minute_ms(state))
    return {"name": names[0], "validation-result": []}


# Names never contain '/', but the SDK sends unknown ones percent-encoded (%2F): the :path routes
# answer them with Cdm.0100 instead of a 404. Suffixed routes come first so they win.
@router.put(CDM + "/job/{job_name:path}/start", operation_id="StartJob", response_model=None,
            responses={200: {"model": SubmissionsResponse}})
def start_job(
    project_id: str, cluster_id: str, job_name: str, caller: Caller, state: State,
    body: Annotated[StartJobRequest | None, Body()] = None,
) -> dict[str, Any]:
    check_cluster(state, caller, cluster_id)
    variables = body.variables if body else {}
    submission = runs.start_job(state.store, state.supervisor, cluster_id, job_name, caller.user_name, variables)
    return {"submissions": [submission_out(submission).dump()]}


@router.put(CDM + "/job/{job_name:path}/stop", operation_id="StopJob", response_model=None,
            responses={200: {"model": ValidationResults}})
def stop_job(project_id: str, cluster_id: str, job_name: str, caller: Caller, state: State) -> dict[str, Any]:
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        job = job_service.find_job(session, cluster, job_name)
    runs.stop_job(state.store, state.supervisor, cluster, job, caller.user_name)
    return {"validation-result": []}


@router.get(CDM + "/job/{job_name:path}/status", operation_id="ShowJobStatus", response_model=None,
            responses={200: {"model": SubmissionsResponse}})
def show_job_status(project_id: str, cluster_id: str, job_name: str, caller: Caller,
                    state: State) -> dict[str, Any]:
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        job = job_service.find_job(session, cluster, job_name)
        last = job_service.last_submission(session, job)
        shown = submission_out(last, runs.table_runs(session, [last])) if last is not None else never_executed(job)
    return {"submissions": [shown.dump()]}


@router.get(CDM + "/job/{job_name:path}", operation_id="ShowJobs", response_model=None,
            responses={200: {"model": JobsPage}})
def show_jobs(
    project_id: str, cluster_id: str, job_name: str, caller: Caller, state: State,
    filter: str | None = None,
    page_no: PageNo = 1,
    page_size: PageSize = 10,
    job_type: Annotated[str, Query(alias="jobType")] = "NORMAL_JOB",
    group_name: str | None = None,
) -> dict[str, Any]:
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        if job_name == "all":
            total, found = job_service.list_jobs(session, cluster, filter, job_type, page_no, page_size, group_name)
        else:
            total, found = 0, [job_service.find_job(session, cluster, job_name)]
        latest = job_service.last_submissions(session, found)  # one query for the page, not one per job
        family = job_service.job_family(session, found)
        jobs = [job_out(job, latest.get(job.id), family) for job in found]
    return JobsPage(total=total, jobs=jobs, page_no=page_no, page_size=page_size).dump()


@router.put(CDM + "/job/{job_name:path}", operation_id="UpdateJob", response_model=None,
            responses={200: {"model": ValidationResults}})
def update_job(project_id: str, cluster_id: str, job_name: str, body: JobsRequest, caller: Caller,
               state: State) -> dict[str, Any]:
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        job_service.update_job(
            session, state.box, cluster, job_name, job_draft(body.jobs[0]), caller.user_name, _minute_ms(state)
        )
    return {"validation-result": []}


@router.delete(CDM + "/job/{job_name:path}", operation_id="DeleteJob", response_model=None,
               responses={200: {"model": Empty}})
def delete_job(project_id: str, cluster_id: str, job_name: str, caller: Caller, state: State) -> dict[str, Any]:
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        job_service.delete_job(session, cluster, job_name)
    return {}


# Job groups (groupJobConfig.groupName) are ours: CDM's API has no group operations.
@router.put(CDM + "/group/{group_name:path}/start", operation_id="StartGroup", response_model=None,
            responses={200: {"model": GroupStartResponse}})
def start_group(project_id: str, cluster_id: str, group_name: str, caller: Caller, state: State) -> dict[str, Any]:
    """Start every job of the group that can start; the others are listed with the reason."""
    check_cluster(state, caller, cluster_id)
    started, refused = runs.start_group(state.store, state.supervisor, cluster_id, group_name, caller.user_name)
    return GroupStartResponse(
        submissions=[submission_out(s) for s in started],
        validation_result=[JobRefusal(name=name, err_code=exc.code, message=exc.message) for name, exc in refused],
    ).dump()


@router.delete(CDM + "/group/{group_name:path}", operation_id="DeleteGroup", response_model=None,
               responses={200: {"model": Empty}})
def delete_group(project_id: str, cluster_id: str, group_name: str, caller: Caller, state: State) -> dict[str, Any]:
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        job_service.delete_group(session, cluster, group_name)
    return {}


@router.get(CDM + "/submissions", operation_id="ShowSubmissions", response_model=None,
            responses={200: {"model": SubmissionsPage}})
def show_submissions(
    project_id: str, cluster_id: str, caller: Caller, state: State,
    jname: Annotated[str, Query(min_length=1)],
    page_no: PageNo = 1,
    page_size: PageSize = 10,
) -> dict[str, Any]:
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        total, found = runs.history(session, job_service.find_job(session, cluster, jname), page_no, page_size)
        tables = runs.table_runs(session, found)
    return SubmissionsPage(
        submissions=[submission_out(s, tables) for s in found], total=total, page_no=page_no, page_size=page_size
    ).dump()


@router.get(CDM + "/submissions/{submission_id}/log", operation_id="ShowSubmissionLog", response_model=None,
            responses={200: {"model": SubmissionLog}})
def show_submission_log(
    project_id: str, cluster_id: str, submission_id: Annotated[int, Path(ge=1, le=2**31 - 1)], caller: Caller,
    state: State,
) -> dict[str, Any]:
    """Beyond CDM: what the run's server and worker wrote about it, oldest first."""
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        run, found = runs.log_of(session, cluster, submission_id)
        return SubmissionLog(
            submission_id=run.id, job_name=run.job_name, status=run.status,
            lines=[RunLogLineOut(time=line.time_ms, level=line.level, message=line.message) for line in found],
        ).dump()


@router.get(CDM + "/submissions/{submission_id}/dirty", operation_id="ShowSubmissionDirtyData", response_model=None,
            responses={200: {"model": SubmissionDirtyData}})
def show_submission_dirty_data(
    project_id: str, cluster_id: str, submission_id: Annotated[int, Path(ge=1, le=2**31 - 1)], caller: Caller,
    state: State, page_no: PageNo = 1, page_size: PageSize = 100,
) -> dict[str, Any]:
    """Beyond CDM: the rows the run left out as dirty data (throttlingConfig.recordDirtyData), as the
    server keeps them, in pages."""
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        page = runs.dirty_of(session, cluster, submission_id, state.settings.home, page_no, page_size)
        return SubmissionDirtyData(
            submission_id=page.run.id, job_name=page.run.job_name, status=page.run.status, total=page.total,
            page_no=page_no, page_size=page_size, records=page.records, written_to=page.written_to,
        ).dump()


@router.post("/clusters/job", operation_id="CreateAndStartRandomClusterJob", response_model=None,
             responses={200: {"model": SubmissionsResponse}})
def create_and_start_random_cluster_job(project_id: str, body: RandomClusterJobRequest, caller: Caller,
                                        state: State) -> dict[str, Any]:
    with state.store.session() as session:
        cluster = cluster_service.first_running(session, caller.project_id, body.clusters)
        for job in body.jobs:
            job_service.create_job(session, state.box, cluster, job_draft(job), caller.user_name, _minute_ms(state))
    submissions = [
        runs.start_job(state.store, state.supervisor, cluster.id, job.name, caller.user_name, {})
        for job in body.jobs
    ]
    return {"submissions": [submission_out(s).dump() for s in submissions]}
