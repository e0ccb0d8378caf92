"""The ``opencdm`` command line.

``serve`` runs the service and ``admin`` works directly on the metadata store of $OPENCDM_HOME; every
other command is a client of the HTTP API (``opencdm.client``), so it behaves exactly like the SDK would.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table
from typer.core import TyperGroup

from opencdm import __version__
from opencdm.client import (
    CLUSTER_ACTIONS,
    COUNTERS_GROUP,
    DEFAULT_DOMAIN,
    DEFAULT_URL,
    CdmClient,
    CdmClientError,
    Credentials,
)
from opencdm.config_values import iter_inputs
from opencdm.errors import CdmError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from opencdm.store.models import Project
    from opencdm.store.secrets import SecretBox

# Markup off: API messages such as "Job[copy_t] doesn't exist." must print verbatim, not as rich tags.
console = Console(markup=False)
# soft_wrap: an error stays one line, however narrow the terminal (scripts grep it).
err_console = Console(stderr=True, markup=False, soft_wrap=True)

POLL_SECONDS = 0.5
TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "FAILURE_ON_SUBMIT")


class _Group(TyperGroup):
    """Turns the expected failures (API errors, store errors) into one line on stderr and exit code 1."""

    # Typer types this with its vendored click Context, which it does not export; typer.Context subclasses it.
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (CdmClientError, CdmError) as exc:
            fail(str(exc))


app = typer.Typer(
    cls=_Group,
    help="OpenCDM: self-hosted data migration, wire-compatible with Huawei Cloud CDM.",
    no_args_is_help=True,
)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"opencdm {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """OpenCDM command line."""


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
) -> None:
    """Start the service (embedded SQLite metadata store in $OPENCDM_HOME by default)."""
    from opencdm.server import serve as run_server

    run_server(host, port)


# --- output helpers ------------------------------------------------------------------------------

JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer as-is.")]


def fail(message: str) -> NoReturn:
    err_console.print(f"Error: {message}", style="red")
    raise typer.Exit(1)


def print_json(data: Any) -> None:
    # Plain echo rather than rich: no wrapping or colouring may alter what scripts parse.
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def show(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        print_json(data)
    else:
        render(data)


def table(*columns: str, title: str | None = None) -> Table:
    grid = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        # The first column names the row (job, link, id): kept on one line while the others can wrap;
        # folded rather than cut with "…" so that ids and paths can still be copied.
        grid.add_column(column, overflow="fold", no_wrap=index == 0)
    return grid


def text(value: Any) -> str:
    return "" if value is None else str(value)


def number(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S") if ms else ""


def print_fields(title: str, fields: dict[str, Any]) -> None:
    grid = table("Field", "Value", title=title)
    for key, value in fields.items():
        if value not in (None, ""):
            grid.add_row(key, text(value))
    console.print(grid)


# --- CDM config values from the command line ------------------------------------------------------


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"'{pair}' is not KEY=VALUE.", param_hint=option)
        values[key] = value
    return values


def config_values(values: Mapping[str, Any], default_config: str | None, option: str) -> dict[str, Any]:
    """CDM's ``{"configs": [{"name", "inputs": [...]}]}``, grouped by the part of each key before the first
    dot; a key without a dot belongs to ``default_config`` (``tableName`` → ``fromJobConfig.tableName``)."""
    configs: dict[str, list[dict[str, Any]]] = {}
    for key, value in values.items():
        if "." not in key:
            if default_config is None:
                raise typer.BadParameter(f"'{key}' needs its config name, as in CONFIG.{key}.", param_hint=option)
            key = f"{default_config}.{key}"
        configs.setdefault(key.split(".", 1)[0], []).append({"name": key, "value": value})
    return {"configs": [{"name": name, "inputs": inputs} for name, inputs in configs.items()]}


def given_inputs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs that carry a value; the API omits the value of sensitive ones, which must stay unsent."""
    return {item["name"]: item["value"] for item in iter_inputs(values) if "value" in item}


def read_body(path: Path, key: str) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}", param_hint="--file") from exc
    if not isinstance(body, dict) or not isinstance(body.get(key), list) or not body[key]:
        raise typer.BadParameter(f'{path} must hold a CDM body {{"{key}": [...]}}.', param_hint="--file")
    return body


# --- client commands: shared connection options ---------------------------------------------------


@dataclass(frozen=True)
class Connection:
    url: str
    cluster: str | None


def connect(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(envvar="OPENCDM_URL", help="OpenCDM API endpoint.")] = DEFAULT_URL,
    cluster: Annotated[
        str | None,
        typer.Option(help="Cluster id or name (default: $OPENCDM_CLUSTER_ID, credentials.json, the only one)."),
    ] = None,
) -> None:
    """Credentials come from OPENCDM_USER / OPENCDM_PASSWORD / OPENCDM_PROJECT_ID (and OPENCDM_DOMAIN),
    else from $OPENCDM_HOME/credentials.json."""
    # Only remembered: the group callback also runs for "opencdm job create --help", which needs no credentials.
    ctx.obj = Connection(url, cluster)


def client_of(ctx: typer.Context) -> CdmClient:
    assert isinstance(ctx.obj, Connection)
    return ctx.with_resource(CdmClient(ctx.obj.url, Credentials.from_env(), ctx.obj.cluster))


class _ClientGroup(TyperGroup):
    """Takes the group's connection options after the command too (``opencdm job list --url …``)."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        names = {name for param in self.params for name in param.opts}
        hoisted: list[str] = []
        rest: list[str] = []
        position = 0
        while position < len(args):
            arg = args[position]
            if arg == "--":  # what follows is an argument, whatever it looks like
                rest += args[position:]
                break
            if arg.partition("=")[0] in names and rest:  # before the command it is parsed as usual
                take = 1 if "=" in arg else 2
                hoisted += args[position:position + take]
                position += take
                continue
            rest.append(arg)
            position += 1
        return super().parse_args(ctx, hoisted + rest)


def client_app(name: str, help_text: str) -> typer.Typer:
    """A command group of API clients, all taking the connection options of ``connect``."""
    sub = typer.Typer(cls=_ClientGroup, help=help_text, no_args_is_help=True, callback=connect)
    app.add_typer(sub, name=name)
    return sub


def body_or_file(
    file: Path | None, key: str, name: str | None, build: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    """The request body from --file, or one entity built from NAME and the options."""
    if file is not None:
        if name is not None:
            raise typer.BadParameter("give NAME with options or --file, not both.", param_hint="NAME")
        return read_body(file, key)
    if name is None:
        raise typer.BadParameter("NAME (or --file) is required.", param_hint="NAME")
    return {key: [build(name)]}


NameArg = Annotated[str, typer.Argument(help="Name of the resource.")]
OptionalNameArg = Annotated[str | None, typer.Argument(help="Name (omit it with --file).")]
FileOption = Annotated[
    Path | None, typer.Option("--file", "-f", exists=True, dir_okay=False, help="A CDM-shaped JSON request body.")
]
PageOption = Annotated[int, typer.Option(min=1, help="Page number.")]


# --- link -----------------------------------------------------------------------------------------

link_app = client_app("link", "Links: connections to data sources.")
InputOption = Annotated[
    list[str] | None, typer.Option("--input", "-i", help="KEY=VALUE link input, repeatable (linkConfig.host=…).")
]


def link_entity(name: str, connector: str, inputs: dict[str, Any], enabled: bool = True) -> dict[str, Any]:
    return {"name": name, "connector-name": connector, "enabled": enabled,
            "link-config-values": config_values(inputs, "linkConfig", "--input")}


def validation_messages(answer: dict[str, Any]) -> list[str]:
    """Messages of a ``validation-result``: a list of {config name: [{message, status}]}."""
    return [
        f"{item.get('status', 'ERROR')}: {item.get('message', '')}"
        for result in answer.get("validation-result") or []
        for items in result.values()
        if isinstance(items, list)
        for item in items
    ]


@link_app.command("create")
def link_create(
    ctx: typer.Context,
    name: OptionalNameArg = None,
    connector: Annotated[str, typer.Option(help="CDM connector name.")] = "generic-jdbc-connector",
    inputs: InputOption = None,
    file: FileOption = None,
    validate: Annotated[bool, typer.Option(help="Only test the link (the server connects); save nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a link from --input pairs, or from --file {"links": [...]}."""
    body = body_or_file(file, "links", name,
                        lambda link_name: link_entity(link_name, connector, parse_pairs(inputs, "--input")))
    answer = client_of(ctx).create_link(body, validate)
    problems = validation_messages(answer)
    if as_json:
        print_json(answer)
    elif validate:
        for problem in problems:
            err_console.print(problem, style="red")
        if not problems:
            console.print(f"Link {answer.get('name')} is valid.")
    else:
        console.print(f"Link {answer.get('name')} created.")
    if problems:
        raise typer.Exit(1)


def print_links(answer: dict[str, Any]) -> None:
    grid = table("Name", "Connector", "Enabled", "Created", "Updated", title=f"{len(answer['links'])} link(s)")
    for link in answer["links"]:
        grid.add_row(link["name"], link["connector-name"], text(link["enabled"]),
                     f"{when(link.get('creation-date'))} by {link.get('creation-user', '')}",
                     f"{when(link.get('update-date'))} by {link.get('update-user', '')}")
    console.print(grid)


@link_app.command("list")
def link_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the cluster's links (no input values: see link show)."""
    show(client_of(ctx).list_links(), as_json, print_links)


def print_link(answer: dict[str, Any]) -> None:
    for link in answer["links"]:
        print_fields(f"Link {link['name']}", {
            "Connector": link["connector-name"],
            "Enabled": link["enabled"],
            "Created": f"{when(link.get('creation-date'))} by {link.get('creation-user', '')}",
            "Updated": f"{when(link.get('update-date'))} by {link.get('update-user', '')}",
        })
        inputs = table("Input", "Value")
        for item in iter_inputs(link["link-config-values"]):
            inputs.add_row(item["name"], text(item["value"]) if "value" in item else "(hidden)")
        console.print(inputs)


@link_app.command("show")
def link_show(ctx: typer.Context, name: NameArg, as_json: JsonOption = False) -> None:
    """Show a link; sensitive inputs (passwords) are never returned by the API."""
    show(client_of(ctx).show_link(name), as_json, print_link)


@link_app.command("update")
def link_update(
    ctx: typer.Context, name: NameArg, inputs: InputOption = None, file: FileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change some inputs of a link (the others, and stored passwords, are kept), or replace it with --file."""
    client = client_of(ctx)
    if file is not None:
        body = read_body(file, "links")
    else:
        changes = parse_pairs(inputs, "--input")
        if not changes:
            raise typer.BadParameter("give --input KEY=VALUE or --file.", param_hint="--input")
        current = client.show_link(name)["links"][0]
        merged = {**given_inputs(current["link-config-values"]), **changes}
        body = {"links": [link_entity(name, current["connector-name"], merged, current["enabled"])]}
    show(client.update_link(name, body), as_json, lambda _: console.print(f"Link {name} updated."))


@link_app.command("delete")
def link_delete(ctx: typer.Context, name: NameArg) -> None:
    """Delete a link that no job uses."""
    client_of(ctx).delete_link(name)
    console.print(f"Link {name} deleted.")


# --- job ------------------------------------------------------------------------------------------

job_app = client_app("job", "Jobs: create, run and watch migrations.")
PairsOption = list[str] | None


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
            "name": job_name, "job_type": "NORMAL_JOB",
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
    as_json: JsonOption = False,
) -> None:
    """List the cluster's jobs."""
    show(client_of(ctx).list_jobs(name_filter, page, page_size), as_json, print_jobs)


def print_job(answer: dict[str, Any]) -> None:
    for job in answer["jobs"]:
        print_fields(f"Job {job['name']}", {
            "Type": job.get("job_type"),
            "From": f"{job['from-link-name']} ({job['from-connector-name']})",
            "To": f"{job['to-link-name']} ({job['to-connector-name']})",
            "Status": job.get("status"),
            "Created": f"{when(job.get('creation-date'))} by {job.get('creation-user', '')}",
            "Updated": f"{when(job.get('update-date'))} by {job.get('update-user', '')}",
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


# --- cluster --------------------------------------------------------------------------------------

cluster_app = client_app("cluster", "Clusters: the execution pools of the project.")
ClusterArg = Annotated[str, typer.Argument(help="Cluster id or name.")]


def cluster_fields(cluster: dict[str, Any]) -> dict[str, str]:
    return {"ID": cluster["id"], "Name": cluster["name"],
            "Status": f"{cluster['status']} {cluster.get('statusDetail', '')}".strip(),
            "Created": cluster.get("created", "")}


@cluster_app.command("list")
def cluster_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the project's clusters."""

    def render(answer: dict[str, Any]) -> None:
        grid = table("ID", "Name", "Status", "Created")
        for cluster in answer["clusters"]:
            grid.add_row(*cluster_fields(cluster).values())
        console.print(grid)

    show(client_of(ctx).list_clusters(), as_json, render)


@cluster_app.command("show")
def cluster_show(ctx: typer.Context, cluster: ClusterArg, as_json: JsonOption = False) -> None:
    """Show a cluster."""
    client = client_of(ctx)
    detail = client.show_cluster(client.find_cluster(cluster)["id"])
    show(detail, as_json, lambda c: print_fields(f"Cluster {c['name']}", {
        **cluster_fields(c), "Updated": c.get("updated"), "Executor": c.get("executor"),
        "Version": (c.get("datastore") or {}).get("version"),
    }))


def add_cluster_action(action: str) -> None:
    def command(ctx: typer.Context, cluster: ClusterArg, as_json: JsonOption = False) -> None:
        client = client_of(ctx)
        target = client.find_cluster(cluster)
        answer = client.cluster_action(target["id"], action)
        show(answer, as_json, lambda _: console.print(f"Cluster {target['name']}: {action} requested."))

    command.__doc__ = f"{action.capitalize()} a cluster (stop and restart also stop its running jobs)."
    cluster_app.command(action)(command)


for _action in CLUSTER_ACTIONS:
    add_cluster_action(_action)


# --- admin: directly on the metadata store --------------------------------------------------------

admin_app = typer.Typer(
    help="Administration on the metadata store of $OPENCDM_HOME (OPENCDM_DATABASE_URL), on the server host.",
    no_args_is_help=True,
)
app.add_typer(admin_app, name="admin")
project_app = typer.Typer(help="Projects (IAM tenants).", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
ak_app = typer.Typer(help="AK/SK pairs for SDK request signing.", no_args_is_help=True)
admin_cluster_app = typer.Typer(help="Clusters.", no_args_is_help=True)
admin_app.add_typer(project_app, name="project")
admin_app.add_typer(user_app, name="user")
admin_app.add_typer(ak_app, name="ak")
admin_app.add_typer(admin_cluster_app, name="cluster")
DomainOption = Annotated[str, typer.Option(help="IAM domain of the user.")]


@contextmanager
def store_session() -> Iterator[tuple[Session, SecretBox]]:
    """One transaction on the (migrated) store: committed when the block succeeds."""
    # Imported here so that the client commands do not load the server stack.
    from opencdm.server import open_bootstrapped_state
    from opencdm.settings import Settings

    # The bootstrap banner goes to stderr: stdout may be a --json answer.
    state = open_bootstrapped_state(Settings.from_env(), announce_to=sys.stderr)
    try:
        with state.store.session() as session:
            yield session, state.box
    finally:
        state.store.dispose()


def project_of(session: Session, ref: str) -> Project:
    from opencdm.service.iam import find_project

    project = find_project(session, ref)
    if project is None:
        fail(f"Project {ref} does not exist.")
    return project


def print_created(kind: str, created: dict[str, Any], as_json: bool) -> None:
    show(created, as_json, lambda c: print_fields(f"{kind} created", c))


@project_app.command("create")
def project_create(
    name: NameArg, domain: Annotated[str, typer.Option(help="IAM domain.")] = DEFAULT_DOMAIN,
    as_json: JsonOption = False,
) -> None:
    """Create a project."""
    from opencdm.service.iam import create_project

    with store_session() as (session, _):
        project = create_project(session, name, domain)
        created = {"id": project.id, "name": project.name, "domain": project.domain}
    print_created("Project", created, as_json)


@project_app.command("list")
def project_list(as_json: JsonOption = False) -> None:
    """List the projects."""
    from sqlalchemy import select

    from opencdm.store.models import Project

    with store_session() as (session, _):
        projects = [{"id": p.id, "name": p.name, "domain": p.domain, "created_ms": p.created_ms}
                    for p in session.scalars(select(Project).order_by(Project.created_ms))]

    def render(rows: dict[str, Any]) -> None:
        grid = table("ID", "Name", "Domain", "Created")
        for row in rows["projects"]:
            grid.add_row(row["id"], row["name"], row["domain"], when(row["created_ms"]))
        console.print(grid)

    show({"projects": projects}, as_json, render)


@user_app.command("create")
def user_create(
    name: NameArg,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    projects: Annotated[list[str], typer.Option("--project", help="Project id or name, repeatable.")],
    domain: DomainOption = DEFAULT_DOMAIN,
    as_json: JsonOption = False,
) -> None:
    """Create a user, member of the given projects."""
    from opencdm.service.iam import create_user

    with store_session() as (session, _):
        members = [project_of(session, ref) for ref in projects]
        user = create_user(session, name, password, members, domain)
        created = {"id": user.id, "name": user.name, "domain": user.domain, "projects": [p.id for p in members]}
    print_created("User", created, as_json)


@ak_app.command("create")
def ak_create(
    user: Annotated[str, typer.Option(help="User name.")],
    project: Annotated[str, typer.Option(help="Project id or name the pair is scoped to.")],
    domain: DomainOption = DEFAULT_DOMAIN,
    as_json: JsonOption = False,
) -> None:
    """Create an AK/SK pair; the secret key is shown only this once."""
    from sqlalchemy import select

    from opencdm.service.iam import create_access_key, is_member
    from opencdm.store.models import User

    with store_session() as (session, box):
        owner = session.scalar(select(User).where(User.name == user, User.domain == domain))
        if owner is None:
            fail(f"User {user} does not exist in domain {domain}.")
        scope = project_of(session, project)
        if not is_member(session, owner, scope):
            fail(f"User {user} is not a member of project {scope.name}.")
        access_key, secret_key = create_access_key(session, box, owner, scope)
        created = {"access_key": access_key, "secret_key": secret_key, "user": owner.name, "project_id": scope.id}
    print_created("AK/SK pair (the secret key is not shown again)", created, as_json)


EXECUTOR_HELP = (
    "Where the cluster's jobs run their partitions: local (processes of the server's machine) or the "
    "address of a Dask scheduler (tcp://host:8786) whose workers have OpenCDM installed."
)
ExecutorOption = Annotated[str, typer.Option(help=EXECUTOR_HELP)]


def checked_executor(executor: str) -> str:
    from opencdm.engine.executors import is_executor

    if not is_executor(executor):
        fail(f"Executor {executor!r} is neither 'local' nor a Dask scheduler address (tcp://host:port).")
    return executor


@admin_cluster_app.command("create")
def admin_cluster_create(
    name: NameArg,
    project: Annotated[str, typer.Option(help="Project id or name.")],
    executor: ExecutorOption = "local",
    as_json: JsonOption = False,
) -> None:
    """Create a cluster in a project."""
    from opencdm.service.clusters import check_new_name
    from opencdm.service.iam import create_cluster

    with store_session() as (session, _):
        owner = project_of(session, project)
        check_new_name(session, owner.id, name)
        cluster = create_cluster(session, owner, name, executor=checked_executor(executor))
        created = {"id": cluster.id, "name": cluster.name, "project_id": owner.id, "executor": cluster.executor}
    print_created("Cluster", created, as_json)


@admin_cluster_app.command("set-executor")
def admin_cluster_set_executor(
    cluster: Annotated[str, typer.Argument(help="Cluster id.")],
    executor: Annotated[str, typer.Argument(help=EXECUTOR_HELP)],
) -> None:
    """Set where a cluster's jobs run their partitions, from their next run on. Only here, not over
    the API: the server connects to that address and sends it the jobs' link secrets."""
    from opencdm.store.models import Cluster

    with store_session() as (session, _):
        found = session.get(Cluster, cluster)
        if found is None:
            fail(f"Cluster {cluster} does not exist.")
        found.executor = checked_executor(executor)
    console.print(f"Cluster {cluster} runs its partitions on: {executor}")


if __name__ == "__main__":
    app()
