"""Request authentication: SDK-HMAC-SHA256 signatures (docs/cdm-api.md §4.2) and X-Auth-Token.

``verify_signature`` is pure so it can be checked against the SDK's test vectors; the FastAPI
dependency ``authenticate`` resolves the caller and enforces that it only touches its own project.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from opencdm.service import iam

if TYPE_CHECKING:
    from opencdm.api.state import ServerState

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
    # Always the body as received. The SDK would sign an X-Sdk-Content-Sha256 value instead (only
    # UNSIGNED-PAYLOAD, for non-JSON content types, which no CDM request has): taking that header at
    # face value would let one captured signature carry any other body.
    payload = hashlib.sha256(body).hexdigest() if body else EMPTY_PAYLOAD_SHA256
    canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in signed)
    return "\n".join([method.upper(), canonical_uri, canonical_query, canonical_headers, ";".join(signed), payload])


@dataclass(frozen=True)
class SignedRequest:
    access_key: str
    signature: str  # lower-case hex
    signed_at: datetime


def verify_signature(
    method: str,
    raw_target: str,
    header_items: Iterable[tuple[str, str]],
    body: bytes,
    secret_for: Callable[[str], str | None],
    now: datetime,
    max_skew_seconds: int,
) -> SignedRequest:
    """Check an SDK-HMAC-SHA256 signed request, or raise AuthError(401)."""
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
    return SignedRequest(access_key, signature, signed_at)


def raw_target(request: Request) -> str:
    path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    target = path.decode("latin-1")
    return f"{target}?{query.decode('latin-1')}" if query else target


# With OPENCDM_REFUSE_REPLAYS, a request that changes something is accepted once; a GET may come
# twice within the SDK's one-second date resolution from any polling loop, and repeating it changes
# nothing.
_REPLAYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def authenticate(request: Request, project_id: str) -> iam.Principal:
    """The caller of a ``/v1.1/{project_id}/...`` request; 401 if unknown, 403 for another project."""
    known = await identify(request)
    header_project = request.headers.get("x-project-id")
    if known.project_id != project_id or (header_project and header_project != project_id):
        raise AuthError(403, "APIGW.0302", "The credential is not authorized for this project.")
    return known


async def identify(request: Request) -> iam.Principal:
    """The caller, by token or AK/SK signature; 401 if unknown.

    The store lookups and the signature check run in the thread pool: the event loop never waits
    for a store connection, which only the pool's threads give back.
    """
    from opencdm.api.state import server_state

    known: iam.Principal | None = getattr(request.state, "principal", None)
    if known is None:
        state = server_state(request)
        body = await request.body() if "authorization" in request.headers else b""
        known = await run_in_threadpool(
            _principal, state, request.method, raw_target(request), list(request.headers.items()), body
        )
        # An error handler may ask again for the same request (errors.py): a signature must not
        # then count as replayed.
        request.state.principal = known
    return known


def _principal(
    state: ServerState, method: str, target: str, headers: list[tuple[str, str]], body: bytes
) -> iam.Principal:
    if any(name.lower() == "authorization" for name, _ in headers):
        return _signer(state, method, target, headers, body)
    token = next((value for name, value in headers if name.lower() == "x-auth-token"), "")
    if not token:
        raise _unauthorized("no X-Auth-Token or Authorization header")
    with state.store.session() as session:
        principal = iam.principal_for_token(session, token)
    if principal is None:
        raise _unauthorized("the token is invalid or has expired")
    return principal


def _signer(
    state: ServerState, method: str, target: str, headers: list[tuple[str, str]], body: bytes
) -> iam.Principal:
    window = state.settings.signature_skew_seconds
    with state.store.session() as session:
        found: dict[str, iam.Principal] = {}

        def secret_for(access_key: str) -> str | None:
            result = iam.secret_for_access_key(session, state.box, access_key)
            if result is None:
                return None
            found[access_key] = result[1]
            return result[0]

        signed = verify_signature(method, target, headers, body, secret_for, datetime.now(UTC), window)
        # By default a re-sent signed request is served inside the date window, as CDM's gateway
        # (and AWS SigV4) serve it: the SDK's dates have one-second steps, so a client's second
        # identical call is legitimate (docs/decisions/0015-replays-and-login-throttle.md).
        if state.settings.refuse_replays and method.upper() not in _REPLAYABLE_METHODS:
            expires_ms = int((signed.signed_at + timedelta(seconds=window)).timestamp() * 1000)
            if not iam.accept_signature_once(session, signed.signature, expires_ms):
                raise _unauthorized("this signed request was already accepted once (replay refused); sign it anew")
        return found[signed.access_key]
