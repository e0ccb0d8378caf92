"""A small typed client for the CDM v1.1 HTTP API as OpenCDM serves it (docs/cdm-api.md §2, §6).

It authenticates once with Keystone-style password authentication (``POST /v3/auth/tokens``) and sends
the token as ``X-Auth-Token``. Bodies are CDM's own JSON shapes, passed through untouched, so what a
caller prints is exactly what the API answered.
"""

from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from opencdm.settings import Settings

DEFAULT_URL = "http://127.0.0.1:8080"
# Keystone's default domain; the server creates its users there unless told otherwise.
DEFAULT_DOMAIN = "Default"
# The group of a submission's counters (as opencdm.api.wire.submissions has it; not imported: the client stays light).
COUNTERS_GROUP = "org.apache.sqoop.submission.counter.SqoopCounters"
# The bodies the Huawei SDK sends for the cluster actions (docs/cdm-api.md §6.16).
CLUSTER_ACTIONS: dict[str, dict[str, Any]] = {
    "start": {"start": {}},
    "stop": {"stop": {"stopMode": "IMMEDIATELY", "delayTime": 0}},
    "restart": {"restart": {"restartDelayTime": 0, "restartMode": "IMMEDIATELY", "restartLevel": "SERVICE",
                            "type": "cdm", "instance": "", "group": ""}},
}


class CdmClientError(Exception):
    """The request could not be made: no credentials, server unreachable, unknown cluster."""


class CdmApiError(CdmClientError):
    """The server answered with an error: a CDM ``errCode`` or an API-gateway ``error_code``."""

    def __init__(self, status_code: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.body = body  # the answer's JSON, when it has any

    @classmethod
    def from_response(cls, response: httpx.Response) -> CdmApiError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "errCode" in body:
            return cls(response.status_code, str(body["errCode"]), str(body.get("externalMessage", "")), body)
        if isinstance(body, dict) and "error_code" in body:
            return cls(response.status_code, str(body["error_code"]), str(body.get("error_msg", "")), body)
        return cls(response.status_code, str(response.status_code), response.text or response.reason_phrase, body)


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str
    project: str  # id or name: the token endpoint accepts either
    domain: str = DEFAULT_DOMAIN
    cluster: str | None = None  # the cluster used when none is named

    @classmethod
    def from_env(cls) -> Credentials:
        """OPENCDM_USER / _PASSWORD / _PROJECT_ID / _CLUSTER_ID / _DOMAIN, each falling back to the
        ``$OPENCDM_HOME/credentials.json`` the server writes on its first start (so that on the server
        host everything works without configuration)."""
        path = Settings.from_env().home / "credentials.json"
        stored = _read_credentials_file(path)
        values = {
            "user": os.environ.get("OPENCDM_USER") or stored.get("user"),
            "password": os.environ.get("OPENCDM_PASSWORD") or stored.get("password"),
            "project": os.environ.get("OPENCDM_PROJECT_ID") or stored.get("project_id"),
        }
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise CdmClientError(
                f"No {', '.join(missing)} to authenticate with: set OPENCDM_USER, OPENCDM_PASSWORD and "
                f"OPENCDM_PROJECT_ID, or point OPENCDM_HOME at the server's data directory ({path} was not usable)."
            )
        # The file's cluster belongs to the file's project; another project falls back to its only cluster.
        stored_cluster = stored.get("cluster_id") if values["project"] == stored.get("project_id") else None
        return cls(
            user=str(values["user"]),
            password=str(values["password"]),
            project=str(values["project"]),
            domain=os.environ.get("OPENCDM_DOMAIN") or DEFAULT_DOMAIN,
            cluster=os.environ.get("OPENCDM_CLUSTER_ID") or stored_cluster,
        )


def _read_credentials_file(path: Path) -> dict[str, str]:
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def trusting(ca_file: Path | None) -> ssl.SSLContext:
    """The TLS context that verifies a server against ``ca_file``, or the system's CAs without one.

    Not httpx's default, which trusts certifi's bundle only: a CA an operator added to the system (or
    named with ``SSL_CERT_FILE``) would not count."""
    if ca_file is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError: not a PEM file
        raise CdmClientError(f"Cannot use the CA file {ca_file}: {exc}") from exc


def _certificate_refusal(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check that failed somewhere down the chain of causes, if that is what happened."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
        cause = cause.__cause__ or cause.__context__
    return cause


def _segment(value: str) -> str:
    # As the SDK does: names may hold '/' or spaces, which must stay inside one path segment.
    return quote(value, safe="")


class CdmClient:
    """One authenticated session against one project; CDM resources go to one cluster."""

    def __init__(self, url: str, credentials: Credentials, cluster: str | None = None,
                 timeout: float = 30.0, transport: httpx.BaseTransport | None = None,
                 ca_file: Path | None = None) -> None:
        """Over HTTPS the server's certificate is verified against ``ca_file`` when given, else against
        the system's CAs (which ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` replace, as OpenSSL reads them)."""
        self.url = url.rstrip("/")
        self.credentials = credentials
        self._cluster_ref = cluster or credentials.cluster
        self._cluster_id: str | None = None
        self._project_id: str | None = None
        self._ca_file = ca_file
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport,
                                  verify=trusting(ca_file))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CdmClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- plumbing ------------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            refused = _certificate_refusal(exc)
            if refused is not None:
                trusted = f"the CA in {self._ca_file}" if self._ca_file else "the system's CAs"
                raise CdmClientError(
                    f"OpenCDM at {self.url} failed the certificate check against {trusted} "
                    f"({refused.verify_message}): give the CA that signed its certificate with --ca-file "
                    f"or OPENCDM_CA_FILE.") from exc
            hint = ""
            if isinstance(exc, httpx.RemoteProtocolError) and self.url.startswith("http://"):
                hint = " (an HTTPS port hangs up on plain HTTP like this: is the URL https://?)"
            raise CdmClientError(f"Cannot reach OpenCDM at {self.url}: {exc}{hint}") from exc
        if response.is_error:
            raise CdmApiError.from_response(response)
        return response

    def _authenticate(self) -> None:
        creds = self.credentials
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": creds.user, "password": creds.password, "domain": {"name": creds.domain}}}},
            "scope": {"project": {"id": creds.project}},
        }}
        response = self._send("POST", "/v3/auth/tokens", json=body)
        self._http.headers["X-Auth-Token"] = response.headers["X-Subject-Token"]
        # The credential may name the project; paths need its id, which the token carries.
        self._project_id = response.json()["token"]["project"]["id"]

    @property
    def project_id(self) -> str:
        if self._project_id is None:
            self._authenticate()
        assert self._project_id is not None
        return self._project_id

    def _call(self, method: str, path: str, *, body: dict[str, Any] | None = None,
              params: dict[str, Any] | None = None) -> dict[str, Any]:
        """``path`` is relative to ``/v1.1/{project_id}``; the answer's JSON object ({} when empty)."""
        response = self._send(method, f"/v1.1/{self.project_id}{path}", json=body, params=params)
        return response.json() if response.content else {}

    def _cdm(self, method: str, path: str, *, body: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._call(method, f"/clusters/{self.cluster_id}/cdm{path}", body=body, params=params)

    # --- clusters ------------------------------------------------------------------------------

    def list_clusters(self) -> dict[str, Any]:
        return self._call("GET", "/clusters")

    def find_cluster(self, ref: str | None) -> dict[str, Any]:
        """The cluster with this id or name; with no ref, the project's only cluster."""
        clusters: list[dict[str, Any]] = self.list_clusters()["clusters"]
        if ref is None:
            if len(clusters) == 1:
                return clusters[0]
            raise CdmClientError(
                f"The project has {len(clusters)} clusters; pick one with --cluster or OPENCDM_CLUSTER_ID."
            )
        for cluster in clusters:
            if ref in (cluster["id"], cluster["name"]):
                return cluster
        raise CdmClientError(f"Cluster {ref} does not exist in project {self.project_id}.")

    @property
    def cluster_id(self) -> str:
        if self._cluster_id is None:
            self._cluster_id = str(self.find_cluster(self._cluster_ref)["id"])
        return self._cluster_id

    def show_cluster(self, cluster_id: str) -> dict[str, Any]:
        return self._call("GET", f"/clusters/{_segment(cluster_id)}")

    def cluster_action(self, cluster_id: str, action: str) -> dict[str, Any]:
        return self._call("POST", f"/clusters/{_segment(cluster_id)}/action", body=CLUSTER_ACTIONS[action])

    # --- links ---------------------------------------------------------------------------------

    def create_link(self, body: dict[str, Any], validate: bool = False) -> dict[str, Any]:
        """The answer; with ``validate``, ``{"validation-result": [...]}`` lists what does not work."""
        try:
            return self._cdm("POST", "/link", body=body, params={"validate": "true"} if validate else None)
        except CdmApiError as exc:
            # CDM answers a link that does not work with HTTP 500 and its validation result.
            if validate and isinstance(exc.body, dict) and "validation-result" in exc.body:
                return exc.body
            raise

    def list_links(self) -> dict[str, Any]:
        """Every link of the cluster, by name (OpenCDM's extension route; sensitive inputs without value)."""
        return self._cdm("GET", "/links")

    def show_link(self, name: str) -> dict[str, Any]:
        return self._cdm("GET", f"/link/{_segment(name)}")

    def update_link(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._cdm("PUT", f"/link/{_segment(name)}", body=body)

    def delete_link(self, name: str) -> dict[str, Any]:
        return self._cdm("DELETE", f"/link/{_segment(name)}")

    # --- jobs ----------------------------------------------------------------------------------

    def create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._cdm("POST", "/job", body=body)

    def list_jobs(
        self, name_filter: str | None = None, page_no: int = 1, page_size: int = 100, job_type: str = "NORMAL_JOB"
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"page_no": page_no, "page_size": page_size, "jobType": job_type}
        if name_filter:
            params["filter"] = name_filter
        return self._cdm("GET", "/job/all", params=params)

    def show_job(self, name: str) -> dict[str, Any]:
        return self._cdm("GET", f"/job/{_segment(name)}")

    def update_job(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._cdm("PUT", f"/job/{_segment(name)}", body=body)

    def delete_job(self, name: str) -> dict[str, Any]:
        return self._cdm("DELETE", f"/job/{_segment(name)}")

    def start_job(self, name: str, variables: dict[str, str] | None = None) -> dict[str, Any]:
        return self._cdm("PUT", f"/job/{_segment(name)}/start", body={"variables": variables or {}})

    def stop_job(self, name: str) -> dict[str, Any]:
        return self._cdm("PUT", f"/job/{_segment(name)}/stop")

    def job_status(self, name: str) -> dict[str, Any]:
        return self._cdm("GET", f"/job/{_segment(name)}/status")

    def job_history(self, name: str, page_no: int = 1, page_size: int = 10) -> dict[str, Any]:
        return self._cdm("GET", "/submissions", params={"jname": name, "page_no": page_no, "page_size": page_size})

    def run_log(self, submission_id: int) -> dict[str, Any]:
        return self._cdm("GET", f"/submissions/{submission_id}/log")

    def run_dirty_data(self, submission_id: int, page_no: int = 1, page_size: int = 100) -> dict[str, Any]:
        return self._cdm("GET", f"/submissions/{submission_id}/dirty",
                         params={"page_no": page_no, "page_size": page_size})
