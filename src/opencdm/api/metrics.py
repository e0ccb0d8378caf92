"""``/metrics`` in Prometheus's text format, and the one log line per request.

Run figures come from the store at scrape time (every server sharing it answers the same): rows
and bytes moved, runs by status, running and queued runs, run durations. Request latency is this
server's own, by route template (never by raw path, which a client chooses) and by the project of
the caller's credential: a tenant sees its own project's requests only.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Iterable, Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opencdm.api.auth import identify
from opencdm.api.state import ServerState, server_state
from opencdm.engine.status import ACTIVE
from opencdm.store.models import Cluster, Job, Submission

disable_created_metrics()  # the *_created series double every family for nothing a scraper uses
request_log = logging.getLogger("opencdm.requests")
REQUEST_SECONDS = Histogram(
    "opencdm_api_request_duration_seconds", "Time to answer an API request, by route template and status.",
    ["project", "method", "route", "status"], registry=None,
)
# The project label of a request whose caller was not authenticated (a login, a refused credential,
# the console's files): only the metrics token shows these.
NO_PROJECT = ""
# Upper bounds of the run duration buckets, in seconds: from a small table to a day-long one.
RUN_DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)

def _committed(written: InstrumentedAttribute[int], committed: InstrumentedAttribute[int]) -> ColumnElement[int]:
    """Written counts as committed: a run still going counts what it committed so far, not what it
    may yet roll back (and the sum never goes down when it does)."""
    return case((Submission.status.in_(ACTIVE), committed), else_=written)


MOVED = (
    ("rows_read", Submission.rows_read, "Rows read from sources"),
    ("rows_written", _committed(Submission.rows_written, Submission.committed_rows),
     "Rows written to destinations and committed"),
    ("bytes_read", Submission.bytes_read, "Bytes read from sources"),
    ("bytes_written", _committed(Submission.bytes_written, Submission.committed_bytes),
     "Bytes written to destinations and committed"),
)

router = APIRouter(tags=["metrics"])


class RequestLog:
    """Every answer carries an X-Request-Id, as the real service's gateway does (docs/cdm-api.md
    §3.2); every request gets one structured log line with that id, and its latency in
    REQUEST_SECONDS. Plain ASGI: Starlette's BaseHTTPMiddleware cost about a tenth of a small
    request's CPU."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        answer: dict[str, str | int] = {"status": 500, "request_id": ""}

        async def noting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "x-request-id" not in headers:  # the error handlers set it already (errors.py)
                    headers["X-Request-Id"] = uuid.uuid4().hex
                answer["status"], answer["request_id"] = message["status"], headers["x-request-id"]
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            seconds = time.perf_counter() - began
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            # authenticate() keeps the caller on the request's state (scope["state"]).
            caller = scope.get("state", {}).get("principal")
            project = caller.project_id if caller is not None else NO_PROJECT
            REQUEST_SECONDS.labels(project, scope["method"], route, str(answer["status"])).observe(seconds)
            client = scope.get("client")
            request_log.info("request", extra={"fields": {
                "method": scope["method"], "path": scope["path"], "route": route, "status": answer["status"],
                "duration_ms": round(seconds * 1000, 2), "request_id": answer["request_id"],
                "client": client[0] if client else None,
            }})


class _Scrape(Collector):
    def __init__(self, families: Iterable[object]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[object]:  # type: ignore[override]
        yield from self.families


def run_families(session: Session, project_id: str | None) -> list[object]:
    """The store's figures: of one project, or of all of them (labelled by project)."""
    duration_s = (Submission.last_update_ms - func.coalesce(Submission.execute_ms, Submission.creation_ms)) / 1000.0
    # An entire-database job's run counts the rows of its tables' runs, which are counted themselves.
    entire_database = Job.job_type == "BATCH_JOB"
    by_status = (
        select(
            Cluster.project_id, Submission.status, func.count(),
            func.coalesce(func.sum(case((entire_database, 1), else_=0)), 0),
            *(func.coalesce(func.sum(case((entire_database, 0), else_=column)), 0) for _, column, _ in MOVED),
            *(func.coalesce(func.sum(case((duration_s <= bound, 1), else_=0)), 0) for bound in RUN_DURATION_BUCKETS),
            func.coalesce(func.sum(duration_s), 0),
        )
        .join(Cluster, Cluster.id == Submission.cluster_id)
        .join(Job, Job.id == Submission.job_id)
        .group_by(Cluster.project_id, Submission.status)
    )
    if project_id is not None:
        by_status = by_status.where(Cluster.project_id == project_id)
    labels = ["project"] if project_id is None else []

    def of(project: str) -> list[str]:
        return [project] if project_id is None else []

    moved = {name: CounterMetricFamily(f"opencdm_{name}", help_text, labels=labels) for name, _, help_text in MOVED}
    runs = GaugeMetricFamily("opencdm_runs", "Runs kept in the store, by status.", labels=[*labels, "status"])
    database_runs = GaugeMetricFamily(
        "opencdm_entire_database_runs", "Runs of entire-database jobs (BATCH_JOB) kept in the store, by status; "
        "each of their tables' runs is one of opencdm_runs too.", labels=[*labels, "status"],
    )
    running = GaugeMetricFamily("opencdm_runs_running", "Runs copying now.", labels=labels)
    queued = GaugeMetricFamily("opencdm_runs_queued", "Runs admitted and waiting for their worker.", labels=labels)
    durations = HistogramMetricFamily("opencdm_run_duration_seconds", "Duration of ended runs.", labels=labels)
    # Per project: the MOVED sums, runs RUNNING and BOOTING, and of the ended runs their count
    # ("ended"), summed duration ("sum") and count within each bucket bound.
    per_project: dict[str, dict[str, float]] = {}
    for row in session.execute(by_status):
        project, status, count, database_count = row[0], row[1], row[2], row[3]
        sums, buckets, duration_sum = row[4:4 + len(MOVED)], row[4 + len(MOVED):-1], row[-1]
        runs.add_metric([*of(project), status], count)
        if database_count:
            database_runs.add_metric([*of(project), status], database_count)
        figures = per_project.setdefault(project, dict.fromkeys(
            [*(name for name, _, _ in MOVED), *ACTIVE, "ended", "sum", *map(str, RUN_DURATION_BUCKETS)], 0.0
        ))
        for (name, _, _), value in zip(MOVED, sums, strict=True):
            figures[name] += float(value)
        if status in ACTIVE:
            figures[status] += count
            continue
        figures["ended"] += count
        figures["sum"] += float(duration_sum)
        for bound, within in zip(RUN_DURATION_BUCKETS, buckets, strict=True):
            figures[str(bound)] += float(within)
    for project, figures in per_project.items():
        for name, _, _ in MOVED:
            moved[name].add_metric(of(project), figures[name])
        running.add_metric(of(project), figures["RUNNING"])
        queued.add_metric(of(project), figures["BOOTING"])
        cumulative = [(str(bound), figures[str(bound)]) for bound in RUN_DURATION_BUCKETS]
        durations.add_metric(of(project), [*cumulative, ("+Inf", figures["ended"])], figures["sum"])
    return [*moved.values(), runs, database_runs, running, queued, durations]


def request_families(project_id: str | None) -> list[Metric]:
    """This server's request latencies: of one project (without the project label), or of all."""
    families = list(REQUEST_SECONDS.collect())
    if project_id is None:
        return families
    scoped = []
    for family in families:
        own = Metric(family.name, family.documentation, family.type, family.unit)
        own.samples = [
            sample._replace(labels={key: value for key, value in sample.labels.items() if key != "project"})
            for sample in family.samples if sample.labels.get("project") == project_id
        ]
        scoped.append(own)
    return scoped


def _scrape(state: ServerState, project_id: str | None) -> bytes:
    with state.store.session() as session:
        families = run_families(session, project_id)
    return generate_latest(_Scrape([*families, *request_families(project_id)]))  # type: ignore[arg-type]


# Not in /openapi.json, which describes the JSON API: docs/observability.md documents it.
@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Beyond CDM: Prometheus metrics. With ``Authorization: Bearer $OPENCDM_METRICS_TOKEN``, every
    project's; with the API's own authentication (X-Auth-Token, or an AK/SK signature), the
    caller's project only."""
    state = server_state(request)
    expected = state.settings.metrics_token
    given = request.headers.get("authorization", "")
    if expected and hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        project_id = None
    else:
        project_id = (await identify(request)).project_id
    body = await run_in_threadpool(_scrape, state, project_id)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
