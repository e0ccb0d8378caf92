"""Schemathesis against a live server: every operation of /openapi.json, generated requests sent over
loopback, each answer checked against the document. Shared by test_openapi_contract.py (small, fixed
seed) and bench/openapi_fuzz.py (the same at size).

The document cannot know what exists on this server, so before a case is sent ``_Context.fill`` puts
in what only the server knows: the project and cluster (most of the time: a generated id tests the
403 / Cdm.0001 paths), names not taken yet, the two SQLite links a job copies between, and a SQLite
path under the server's OPENCDM_FILE_ROOTS. Everything else is as generated.
"""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import RunningServer
from helpers import signed_headers, sqlite_link_body, sqlite_source

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CREATES = ("CreateLink", "CreateJob")
_AUTH_HEADERS = {"authorization", "x-auth-token", "x-sdk-date", "x-project-id"}
# Operations that would take the test's own cluster away: they get a spare one.
_SPARE_CLUSTER_OPS = {"DeleteCluster", "ClusterAction", "ModifyCluster"}


@dataclass
class Report:
    requests: int = 0
    by_operation: Counter[tuple[str, str]] = field(default_factory=Counter)  # (operation, "2xx") -> n
    server_errors: int = 0
    violations: int = 0
    failures: list[str] = field(default_factory=list)  # one line per distinct failure
    refusals: Counter[tuple[str, str]] = field(default_factory=Counter)  # (operation, error code) -> n
    seconds: float = 0.0

    def share_2xx(self, operation: str, mode: str = "positive") -> tuple[int, int]:
        """(2xx answers, requests) of ``operation`` in ``mode``."""
        rows = {key: n for key, n in self.by_operation.items() if key[0] == f"{operation} {mode}"}
        return sum(n for key, n in rows.items() if key[1] == "2xx"), sum(rows.values())

    def table(self) -> str:
        operations = sorted({op for op, _ in self.by_operation})
        classes = ("2xx", "4xx", "5xx")
        lines = [f"{'operation (mode)':<46}" + "".join(f"{c:>7}" for c in classes) + f"{'total':>8}"]
        for op in operations:
            counts = [self.by_operation[(op, c)] for c in classes]
            lines.append(f"{op:<46}" + "".join(f"{n:>7}" for n in counts) + f"{sum(counts):>8}")
        lines.append(f"{'all':<46}" + "".join(
            f"{sum(n for (_, c), n in self.by_operation.items() if c == k):>7}" for k in classes
        ) + f"{self.requests:>8}")
        return "\n".join(lines)

    def summary(self) -> str:
        parts = [f"{self.requests} requests in {self.seconds:.1f} s", f"{self.server_errors} x 5xx",
                 f"{self.violations} schema/contract violations"]
        for op in CREATES:
            ok, total = self.share_2xx(op)
            parts.append(f"{op} 2xx {ok}/{total} ({100 * ok / max(total, 1):.0f} %) of positive cases")
        return "; ".join(parts)


class _Context:
    """What the server holds: its project, cluster, the links a job copies between, names taken."""

    def __init__(self, server: RunningServer, file_root: Path) -> None:
        self.server = server
        self.file_root = file_root
        self.serial = itertools.count()
        self.token = server.token()
        area = file_root / f"contract-{uuid.uuid4().hex[:8]}"
        area.mkdir(parents=True, exist_ok=True)
        self.area = area
        self.links = (f"src_{uuid.uuid4().hex[:8]}", f"dst_{uuid.uuid4().hex[:8]}")
        with server.client() as api:
            for name, path in zip(self.links, (sqlite_source(area / "src.db"), area / "dst.db"), strict=True):
                response = api.post(f"{server.cdm}/link", json=sqlite_link_body(name, path))
                assert response.status_code == 200, response.text
        self.spare_cluster = self._new_cluster()
        self.created: dict[str, list[str]] = {"link": [], "job": []}

    def _new_cluster(self) -> str:
        with self.server.client() as api:
            response = api.post(f"/v1.1/{self.server.project_id}/clusters",
                                json={"cluster": {"name": f"spare_{uuid.uuid4().hex[:8]}"}})
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def unique(self, name: Any) -> Any:
        if not isinstance(name, str) or not name:
            return name
        return f"{name[:200]}_{next(self.serial)}"

    def fill(self, case: schemathesis.Case, keep_generated: bool, pick: int) -> None:
        operation = case.operation.definition.raw.get("operationId", "")
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in _AUTH_HEADERS}
        params = case.path_parameters or {}
        if not keep_generated:
            if "project_id" in params:
                params["project_id"] = self.server.project_id
            for key in ("cluster_id", "instance_id"):
                if key in params:
                    spare = operation in _SPARE_CLUSTER_OPS
                    params[key] = self.spare_cluster if spare else self.server.cluster_id
            for kind in ("link", "job"):
                key = f"{kind}_name"
                if key in params and self.created[kind]:
                    params[key] = self.created[kind][pick % len(self.created[kind])]
        body = case.body
        if case.meta is not None and case.meta.generation.mode is GenerationMode.NEGATIVE:
            return
        if not isinstance(body, dict):
            return
        if operation == "KeystoneCreateUserTokenByPassword" and not keep_generated:
            self._fill_token(body)
        if operation in ("CreateLink", "UpdateLink"):
            for link in body.get("links") or []:
                self._fill_link(link, params.get("link_name"))
        if operation in ("CreateJob", "UpdateJob", "CreateAndStartRandomClusterJob"):
            for job in body.get("jobs") or []:
                self._fill_job(job, params.get("job_name"))
            if operation == "CreateAndStartRandomClusterJob" and not keep_generated:
                body["clusters"] = [self.server.cluster_id]

    def _fill_token(self, body: dict[str, Any]) -> None:
        try:
            user = body["auth"]["identity"]["password"]["user"]
            user["name"], user["password"] = self.server.credentials["user"], self.server.credentials["password"]
            body["auth"]["scope"]["project"]["id"] = self.server.project_id
        except (KeyError, TypeError):
            pass

    def _fill_link(self, link: Any, existing: str | None) -> None:
        if not isinstance(link, dict):
            return
        link["name"] = existing or self.unique(link.get("name"))
        for config in (link.get("link-config-values") or {}).get("configs") or []:
            inputs = config.get("inputs") if isinstance(config, dict) else None
            values = {i.get("name"): i for i in inputs or [] if isinstance(i, dict)}
            database_type = values.get("linkConfig.databaseType", {}).get("value")
            if database_type == "SQLITE" and "linkConfig.database" in values:
                values["linkConfig.database"]["value"] = str(self.area / f"{link['name']}.db")

    def _fill_job(self, job: Any, existing: str | None) -> None:
        if not isinstance(job, dict):
            return
        job["name"] = existing or self.unique(job.get("name"))
        if job.get("from-connector-name") == job.get("to-connector-name") == "generic-jdbc-connector":
            job["from-link-name"], job["to-link-name"] = self.links

    def remember(self, case: schemathesis.Case, response: requests.Response) -> None:
        operation = case.operation.definition.raw.get("operationId", "")
        if response.status_code // 100 == 2 and operation == "DeleteCluster":
            self.spare_cluster = self._new_cluster()
        if response.status_code // 100 == 2 and operation in ("CreateLink", "CreateJob"):
            kind = "link" if operation == "CreateLink" else "job"
            self.created[kind].append(response.json()["name"])


class _Signer(requests.auth.AuthBase):
    """SDK-HMAC-SHA256 over the bytes requests is about to send (helpers.signed_headers)."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        creds = self.server.credentials
        headers = signed_headers(self.server.url, request.method or "GET", request.path_url, creds["access_key"],
                                 creds["secret_key"], self.server.project_id, body)
        for name in ("Authorization", "X-Auth-Token", "Content-Type", "content-type"):
            request.headers.pop(name, None)
        request.headers.update(headers)
        return request


def _failed_validation(operation: str, response: requests.Response) -> bool:
    """CreateLink ?validate=true answers a link that does not work with HTTP 500 and its validation
    result, as CDM does (docs/decisions/0007-link-validation-answer.md)."""
    if operation != "CreateLink" or response.status_code != 500:
        return False
    try:
        return set(response.json()) == {"validation-result"}
    except ValueError:
        return False


def _describe(exc: BaseException) -> list[str]:
    failures: list[BaseException] = list(exc.exceptions) if isinstance(exc, FailureGroup) else [exc]
    return [f"{type(f).__name__}: {getattr(f, 'title', '')}: {str(f).splitlines()[0] if str(f) else ''}"
            for f in failures]


def fuzz(
    server: RunningServer,
    file_root: Path,
    *,
    examples: int,
    seed: int,
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    weights: dict[str, int] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """``examples`` generated cases per operation and mode (× ``weights[operationId]``), plus the
    document's own examples; token and signature authentication alternate."""
    context = _Context(server, file_root)
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    report = Report()
    token_session = requests.Session()
    signed_session = requests.Session()
    signed_session.auth = _Signer(server)
    seen: set[str] = set()
    sent = itertools.count()
    started = time.monotonic()

    def send(case: schemathesis.Case, mode: str, keep_generated: bool, pick: int, signed: bool) -> None:
        context.fill(case, keep_generated, pick)
        operation = case.operation.definition.raw.get("operationId", case.operation.label)
        headers = {} if signed else {"X-Auth-Token": context.token}
        response = case.call(session=signed_session if signed else token_session, headers=headers, timeout=60)
        report.requests += 1
        report.by_operation[(f"{operation} {mode}", f"{response.status_code // 100}xx")] += 1
        failed_validation = _failed_validation(operation, response)
        if response.status_code >= 500 and not failed_validation:
            report.server_errors += 1
        elif response.status_code >= 400 and mode == "positive":
            try:
                answer = response.json()
                code = answer.get("errCode") or answer.get("error_code")
                detail = str(answer.get("externalMessage") or answer.get("error_msg"))[:80]
            except ValueError:
                code, detail = str(response.status_code), ""
            report.refusals[(operation, f"{response.status_code} {code} {detail}")] += 1
        context.remember(case, response)  # type: ignore[arg-type]
        try:
            # A documented 500 is checked like any answer, but not as a server error.
            checks = [check for check in CHECKS if check is not not_a_server_error] if failed_validation else CHECKS
            case.validate_response(response, checks=checks)
        except (Failure, FailureGroup) as exc:
            report.violations += 0 if response.status_code >= 500 else 1
            for line in _describe(exc):
                key = f"{operation} {response.status_code}: {line}"
                if key not in seen:
                    seen.add(key)
                    report.failures.append(f"{key}\n    {case.as_curl_command()}\n    -> {response.text[:300]}")

    def run(strategy: st.SearchStrategy[schemathesis.Case], label: str, n: int) -> None:
        @hypothesis.given(case=strategy, pick=st.integers(0, 10**6))
        @hypothesis.settings(max_examples=n, database=None, deadline=None, suppress_health_check=list(HealthCheck),
                             phases=[hypothesis.Phase.generate])
        @hypothesis.seed(seed)
        def cases(case: schemathesis.Case, pick: int) -> None:
            # Every 10th request keeps its generated project and cluster; every other one is signed.
            serial = next(sent)
            send(case, label, serial % 10 == 9, pick, serial % 2 == 1)

        # E.g. no negative case of an operation whose only parameter is any string.
        with contextlib.suppress(hypothesis.errors.Unsatisfiable):
            cases()

    for result in schema.get_all_operations():
        operation = result.ok()
        raw = operation.definition.raw
        name = raw.get("operationId", operation.label)
        # Negative cases of an operation with only path parameters are 404s or unsatisfiable: skipped.
        has_input = "requestBody" in raw or any(p.get("in") == "query" for p in raw.get("parameters", []))
        # The document's own examples, once each with either authentication.
        for strategy in schema.get_strategies_from_examples(operation):
            run(strategy, "positive", 2)
        for mode in modes if has_input else [m for m in modes if m is GenerationMode.POSITIVE]:
            label = "positive" if mode is GenerationMode.POSITIVE else "negative"
            weight = (weights or {}).get(name, 1) if mode is GenerationMode.POSITIVE else 1
            run(operation.as_strategy(generation_mode=mode), label, examples * weight)
            if progress:
                progress(f"{time.monotonic() - started:6.1f} s {name} {label}: {report.requests} requests so far")
    report.seconds = time.monotonic() - started
    return report
