"""Request authentication: SDK-HMAC-SHA256 signatures (cdm-api.md §4.2) and X-Auth-Token.

``verify_signature`` is pure so it can be checked against the SDK's test vectors; the FastAPI
dependency ``authenticate`` resolves the caller and enforces that it only touches its own project.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote

from fastapi import Request

from opencdm.service import iam

EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()
_AUTHORIZATION = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=([^,]+),\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-fA-F]+)$"
)


class AuthError(Exception):
    """A 401 (authentication) or 403 (authorization) failure, in the API gateway's error shape."""

    def __init__(self, http_status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.error_code = error_code
        self.message = message


def _unauthorized(detail: str) -> AuthError:
    return AuthError(401, "APIGW.0301", f"Incorrect IAM authentication information: {detail}")


def canonical_request(
    method: str, raw_target: str, headers: dict[str, str], signed: list[str], body: bytes
) -> str:
    path, _, query = raw_target.partition("?")
    canonical_uri = "/".join(quote(segment, safe="~") for segment in unquote(path).split("/"))
    if not canonical_uri.endswith("/"):
        canonical_uri += "/"
    canonical_query = "&".join(
        f"{quote(key, safe='~')}={quote(value, safe='~')}"
        for key, value in sorted(parse_qsl(query, keep_blank_values=True))
    )
    payload = headers.get("x-sdk-content-sha256") or (
        hashlib.sha256(body).hexdigest() if body else EMPTY_PAYLOAD_SHA256
    )
    canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in signed)
    return "\n".join([method.upper(), canonical_uri, canonical_query, canonical_headers, ";".join(signed), payload])


def verify_signature(
    method: str,
    raw_target: str,
    header_items: Iterable[tuple[str, str]],
    body: bytes,
    secret_for: Callable[[str], str | None],
    now: datetime,
    max_skew_seconds: int,
) -> str:
    """Check an SDK-HMAC-SHA256 signed request; return its access key or raise AuthError(401)."""
    headers: dict[str, str] = {}
    for name, value in header_items:
        headers.setdefault(name.lower(), value.strip())
    match = _AUTHORIZATION.match(headers.get("authorization", ""))
    if match is None:
        raise _unauthorized("unsupported or malformed Authorization header")
    access_key, signed, signature = match.group(1), match.group(2).split(";"), match.group(3).lower()
    if "host" not in signed or "x-sdk-date" not in signed or not all(name in headers for name in signed):
        raise _unauthorized("signed headers must include host and x-sdk-date, and all must be present")
    try:
        signed_at = datetime.strptime(headers["x-sdk-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise _unauthorized("X-Sdk-Date is not in the form YYYYMMDDTHHMMSSZ") from None
    if abs((now - signed_at).total_seconds()) > max_skew_seconds:
        raise _unauthorized("X-Sdk-Date is more than 15 minutes away from the server's clock")
    secret_key = secret_for(access_key)
    if secret_key is None:
        raise _unauthorized("verify aksk signature fail, unknown access key")
    request_digest = hashlib.sha256(
        canonical_request(method, raw_target, headers, signed, body).encode()
    ).hexdigest()
    string_to_sign = f"SDK-HMAC-SHA256\n{headers['x-sdk-date']}\n{request_digest}"
    expected = hmac.new(secret_key.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise _unauthorized("verify aksk signature fail")
    return access_key


def raw_target(request: Request) -> str:
    path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    target = path.decode("latin-1")
    return f"{target}?{query.decode('latin-1')}" if query else target


async def authenticate(request: Request, project_id: str) -> iam.Principal:
    """The caller of a ``/v1.1/{project_id}/...`` request; 401 if unknown, 403 for another project."""
    from opencdm.api.state import server_state

    state = server_state(request)
    principal: iam.Principal | None = None
    if "authorization" in request.headers:
        body = await request.body()
        found: dict[str, iam.Principal] = {}

        def secret_for(access_key: str) -> str | None:
            with state.store.session() as session:
                result = iam.secret_for_access_key(session, state.box, access_key)
            if result is None:
                return None
            found[access_key] = result[1]
            return result[0]

        access_key = verify_signature(
            request.method,
            raw_target(request),
            request.headers.items(),
            body,
            secret_for,
            datetime.now(UTC),
            state.settings.signature_skew_seconds,
        )
        principal = found[access_key]
    elif token := request.headers.get("x-auth-token"):
        with state.store.session() as session:
            principal = iam.principal_for_token(session, token)
        if principal is None:
            raise _unauthorized("the token is invalid or has expired")
    else:
        raise _unauthorized("no X-Auth-Token or Authorization header")
    header_project = request.headers.get("x-project-id")
    if principal.project_id != project_id or (header_project and header_project != project_id):
        raise AuthError(403, "APIGW.0302", "The credential is not authorized for this project.")
    return principal
