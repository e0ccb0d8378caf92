"""``opencdm job``: create, run and watch migrations, over the API."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from opencdm.cli.connection import client_app, client_of
from opencdm.cli.inputs import (
    FileOption,
    NameArg,
    OptionalNameArg,
    PageOption,
    body_or_file,
    config_values,
    parse_pairs,
    read_body,
)
from opencdm.cli.output import (
    JsonOption,
    console,
    err_console,
    fail,
    number,
    print_fields,
    print_json,
    show,
    table,
    text,
    when,
)
from opencdm.client import COUNTERS_GROUP, CdmClient
from opencdm.config_values import iter_inputs

POLL_SECONDS = 0.5
TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "FAILURE_ON_SUBMIT")

job_app = client_app("Jobs: create, run and watch migrations.")
PairsOption = list[str] | None
JobType = Literal["NORMAL_JOB", "BATCH_JOB"]
TypeOption = Annotated[
    JobType, typer.Option("--type", help="NORMAL_JOB copies one table or directory; BATCH_JOB a whole database.")
]


@job_app.command("create")
def job_create(
    ctx: typer.Context,
    name: OptionalNameArg = None,
    file: FileOption = None,
    from_link: Annotated[str | None, typer.Option(help="Source link.")] = None,
    to_link: Annotated[str | None, typer.Option(help="Destination link.")] = None,
    from_: Annotated[PairsOption, typer.Option("--from", help="Source input: fromJobConfig.tableName=t.")] = None,
    to: Annotated[PairsOption, typer.Option("--to", help="Destination input: toJobConfig.tableName=t.")] = None,
    driver: Annotated[
        PairsOption, typer.Option(help="Driver input with its config, e.g. throttlingConfig.numExtractors=4.")
    ] = None,
    job_type: TypeOption = "NORMAL_JOB",
    as_json: JsonOption = False,
) -> None:
    """Create a job from --file {"jobs": [...]}, or NAME --from-link --to-link and --from/--to/--driver pairs."""
    client = client_of(ctx)

    def build(job_name: str) -> dict[str, Any]:
        if from_link is None or to_link is None:
            raise typer.BadParameter("--from-link and --to-link are required with NAME.", param_hint="--from-link")
        # CDM repeats each link's connector in the job; the links know theirs.
        connectors = [client.show_link(link)["links"][0]["connector-name"] for link in (from_link, to_link)]
        return {
            "name": job_name, "job_type": job_type,
            "from-connector-name": connectors[0], "from-link-name": from_link,
            "to-connector-name": connectors[1], "to-link-name": to_link,
            "from-config-values": config_values(parse_pairs(from_, "--from"), "fromJobConfig", "--from"),
            "to-config-values": config_values(parse_pairs(to, "--to"), "toJobConfig", "--to"),
            "driver-config-values": config_values(parse_pairs(driver, "--driver"), None, "--driver"),
        }

    answer = client.create_job(body_or_file(file, "jobs", name, build))
    show(answer, as_json, lambda a: console.print(f"Job {a.get('name')} created."))


def print_jobs(answer: dict[str, Any]) -> None:
    grid = table("Name", "From", "To", "Status", "Rows written", "Last run",
                 title=f"{answer.get('total', len(answer['jobs']))} job(s)")
    for job in answer["jobs"]:
        grid.add_row(job["name"], job["from-link-name"], job["to-link-name"], job.get("status", ""),
                     number(job.get("rows_written")), when(job.get("execute_start_date")))
    console.print(grid)


@job_app.command("list")
def job_list(
    ctx: typer.Context,
    name_filter: Annotated[str | None, typer.Option("--filter", help="Only jobs whose name contains this.")] = None,
    page: PageOption = 1,
    page_size: Annotated[int, typer.Option(min=1, max=1000, help="Jobs per page.")] = 100,
    job_type: TypeOption = "NORMAL_JOB",
    as_json: JsonOption = False,
) -> None:
    """List the cluster's jobs of one type (a BATCH_JOB's sub-jobs are shown by name, not listed)."""
    show(client_of(ctx).list_jobs(name_filter, page, page_size, job_type), as_json, print_jobs)


def print_job(answer: dict[str, Any]) -> None:
    for job in answer["jobs"]:
        print_fields(f"Job {job['name']}", {
            "Type": job.get("job_type"),
            "From": f"{job['from-link-name']} ({job['from-connector-name']})",
            "To": f"{job['to-link-name']} ({job['to-connector-name']})",
            "Status": job.get("status"),
            "Created": f"{when(job.get('creation-date'))} by {job.get('creation-user', '')}",
            "Updated": f"{when(job.get('update-date'))} by {job.get('update-user', '')}",
            **({"Sub-jobs": ", ".join(job["sub-jobs"]) or "none yet"} if "sub-jobs" in job else {}),
            **({"Part of": job["parent-job"]} if "parent-job" in job else {}),
        })
        inputs = table("Side", "Input", "Value")
        for side in ("from", "to", "driver"):
            for item in iter_inputs(job.get(f"{side}-config-values") or {}):
                inputs.add_row(side, item["name"], text(item.get("value")))
        console.print(inputs)


@job_app.command("show")
def job_show(ctx: typer.Context, name: NameArg, as_json: JsonOption = False) -> None:
    """Show a job and its configuration."""
    show(client_of(ctx).show_job(name), as_json, print_job)


@job_app.command("update")
def job_update(
    ctx: typer.Context, name: NameArg,
    file: Annotated[Path, typer.Option("--file", "-f", exists=True, dir_okay=False, help='{"jobs": [...]}')],
    as_json: JsonOption = False,
) -> None:
    """Replace a job's definition with --file {"jobs": [...]}."""
    answer = client_of(ctx).update_job(name, read_body(file, "jobs"))
    show(answer, as_json, lambda _: console.print(f"Job {name} updated."))


@job_app.command("delete")
def job_delete(ctx: typer.Context, name: NameArg) -> None:
    """Delete a job that is not running."""
    client_of(ctx).delete_job(name)
    console.print(f"Job {name} deleted.")


def rows_written(submission: dict[str, Any]) -> int:
    counters = (submission.get("counters") or {}).get(COUNTERS_GROUP) or {}
    return int(counters.get("ROWS_WRITTEN", submission.get("write_rows") or 0))


def rows_per_second(submission: dict[str, Any]) -> float | None:
    """The server's live figure, else rows over the run's duration as the server's clock measured it."""
    if submission.get("rows-per-second") is not None:
        return float(submission["rows-per-second"])
    start, end, rows = submission.get("execute-date"), submission.get("last-update-date"), rows_written(submission)
    if start and end and end > start and rows:
        return rows * 1000 / (end - start)
    return None


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def percent(submission: dict[str, Any]) -> str:
    progress = float(submission.get("progress") or 0)
    return "-" if progress < 0 else f"{progress:g}%"  # CDM reports -1 for a failed run


def print_submission(submission: dict[str, Any]) -> None:
    rate = rows_per_second(submission)
    print_fields(f"Job {submission['job-name']}", {
        "Status": submission["status"],
        "Progress": percent(submission),
        "Submission": submission.get("submission-id"),
        "Started": when(submission.get("execute-date")),
        "Updated": when(submission.get("last-update-date")),
        "Rows/s": f"{rate:,.1f}" if rate is not None else None,
        "ETA": duration(submission.get("eta-seconds")),
        "Tables": ", ".join(f"{count} {standing}" for standing, count in submission["tables"].items())
        if "tables" in submission else None,
        "Error": submission.get("error-summary"),
    })
    counters = (submission.get("counters") or {}).get(COUNTERS_GROUP)
    if counters:
        grid = table("Counter", "Value")
        for counter, value in counters.items():
            grid.add_row(counter, "n/a" if value == -1 else number(value))  # CDM's -1: not applicable
        console.print(grid)


def print_status(answer: dict[str, Any]) -> None:
    for submission in answer["submissions"]:
        print_submission(submission)


@job_app.command("status")
def job_status(ctx: typer.Context, name: NameArg, as_json: JsonOption = False) -> None:
    """The job's last run (NEVER_EXECUTED before the first one), with its counters."""
    show(client_of(ctx).job_status(name), as_json, print_status)


def watch(client: CdmClient, name: str, quiet: bool) -> dict[str, Any]:
    """Poll the status until the run ends, drawing a progress bar; the final submission."""
    columns = (
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rows]} rows"), TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[eta]}"),
    )
    with Progress(*columns, console=console, disable=quiet) as bar:
        task = bar.add_task(name, total=100, rows="0", rate="", eta="")
        while True:
            submission = client.job_status(name)["submissions"][0]
            rate = rows_per_second(submission)
            eta = submission.get("eta-seconds")
            bar.update(
                task,
                description=f"{name} {submission['status']}",
                completed=max(0.0, float(submission.get("progress") or 0)),  # -1 means failed
                rows=number(rows_written(submission)),
                rate=f"{rate:,.0f} rows/s" if rate is not None else "",
                eta=f"ETA {duration(eta)}" if eta is not None else "",
            )
            if submission["status"] in TERMINAL_STATUSES:
                return submission
            time.sleep(POLL_SECONDS)


@job_app.command("start")
def job_start(
    ctx: typer.Context,
    name: NameArg,
    wait: Annotated[bool, typer.Option(help="Follow the run with a progress bar; exit 1 unless it succeeds.")] = False,
    variables: Annotated[PairsOption, typer.Option("--var", help="KEY=VALUE job variable (${KEY}).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Start a run of the job."""
    client = client_of(ctx)
    started = client.start_job(name, parse_pairs(variables, "--var"))
    if not wait:
        show(started, as_json, lambda a: console.print(f"Job {name} started: {a['submissions'][0]['status']}."))
        return
    try:
        final = watch(client, name, quiet=as_json)
    except KeyboardInterrupt:
        err_console.print(f"Stopped watching; job {name} keeps running (opencdm job stop {name} stops it).")
        raise typer.Exit(130) from None
    if as_json:
        print_json({"submissions": [final]})
    else:
        print_submission(final)
    if final["status"] != "SUCCEEDED":
        fail(f"Job {name} {final['status']}: {final.get('error-summary') or 'no error summary'}")
    console.print(f"Job {name} SUCCEEDED.", style="green")


@job_app.command("stop")
def job_stop(ctx: typer.Context, name: NameArg) -> None:
    """Stop the job's running run."""
    client_of(ctx).stop_job(name)
    console.print(f"Job {name}: stop requested.")


def print_history(answer: dict[str, Any]) -> None:
    grid = table("Submission", "Status", "Progress", "Created", "Rows written", "Error",
                 title=f"{answer.get('total', len(answer['submissions']))} run(s)")
    for submission in answer["submissions"]:
        grid.add_row(text(submission.get("submission-id")), submission["status"],
                     percent(submission), when(submission.get("creation-date")),
                     number(rows_written(submission)), text(submission.get("error-summary")))
    console.print(grid)


@job_app.command("history")
def job_history(
    ctx: typer.Context, name: NameArg, page: PageOption = 1,
    page_size: Annotated[int, typer.Option(min=1, max=1000, help="Runs per page.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """The job's runs, newest first."""
    show(client_of(ctx).job_history(name, page, page_size), as_json, print_history)


RunOption = Annotated[int | None, typer.Option(min=1, help="Submission id of the run (default: the last run).")]


def last_run(client: CdmClient, job: str) -> int:
    """The submission id of the job's last run."""
    last = client.job_status(job)["submissions"][0]
    if last.get("submission-id") is None:
        fail(f"Job {job} has never run.")
    return int(last["submission-id"])


@job_app.command("log")
def job_log(
    ctx: typer.Context, name: NameArg,
    run: RunOption = None,
    as_json: JsonOption = False,
) -> None:
    """A run's own log: what its server and worker wrote about it, oldest first."""
    client = client_of(ctx)
    run = run or last_run(client, name)

    def render(answer: dict[str, Any]) -> None:
        console.print(f"Run {answer['submission-id']} of {answer['job-name']}: {answer['status']}")
        for line in answer["lines"]:
            console.print(f"{when(line['time'])} {line['level']:<7} {line['message']}", markup=False, highlight=False)

    show(client.run_log(run), as_json, render)


# The page size the CLI fetches dirty data with (the API's largest).
DIRTY_PAGE_SIZE = 1000


@job_app.command("dirty")
def job_dirty(
    ctx: typer.Context, name: NameArg,
    run: RunOption = None,
    as_json: JsonOption = False,
) -> None:
    """The rows a run left out as dirty data (throttlingConfig.recordDirtyData), one JSON line each."""
    client = client_of(ctx)
    run = run or last_run(client, name)
    answer = client.run_dirty_data(run, 1, DIRTY_PAGE_SIZE)
    records = answer["records"]
    while len(records) < answer["total"] and answer["records"]:
        answer = client.run_dirty_data(run, answer["page_no"] + 1, DIRTY_PAGE_SIZE)
        records += answer["records"]
    answer = {**answer, "records": records}
    answer.pop("page_no")
    answer.pop("page_size")

    def render(answer: dict[str, Any]) -> None:
        err_console.print(f"Run {answer['submission-id']} of {answer['job-name']}: {answer['status']}, "
                          f"{answer['total']} dirty rows")
        if "written-to" in answer:
            place = answer["written-to"]
            bucket = f", bucket {place['bucket']}" if "bucket" in place else ""
            err_console.print(f"The job writes its dirty data to link {place['link']}{bucket}, directory "
                              f"{place['directory']}: read it there.")
        for record in answer["records"]:
            print(json.dumps(record, ensure_ascii=False))

    show(answer, as_json, render)

