"""``verify_signature`` against the SDK's own test vectors (docs/cdm-api.md §4.3) and the ways a signature
must fail. Pure function tests: no server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from opencdm.api.auth import AuthError, canonical_request, verify_signature

from helpers import SDK_USER_AGENT, authorization, sdk_signature

AK = "TESTAK0000000000EXMP"
SK = "TESTSKtestsktestsktestsktestsktestsk0000"
PROJECT = "0123456789abcdef0123456789abcdef"
CLUSTER = "6ec9a0a4-76be-4262-8697-e7af1fac7920"
JOB = f"/v1.1/{PROJECT}/clusters/{CLUSTER}/cdm/job"
SDK_DATE = "20240101T000000Z"
SIGNED_AT = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_SIGNED = "content-type;host;user-agent;x-project-id;x-sdk-date"
SKEW = 15 * 60


def secrets(access_key: str) -> str | None:
    return SK if access_key == AK else None


def sdk_headers(content_type: str, signature: str, signed: str = DEFAULT_SIGNED,
                date: str = SDK_DATE) -> list[tuple[str, str]]:
    """The headers in the order the SDK sends them (§11), with the vector's fixed values."""
    return [
        ("User-Agent", SDK_USER_AGENT),
        ("Accept-Encoding", "gzip, deflate"),
        ("Accept", "*/*"),
        ("Connection", "keep-alive"),
        ("Content-Type", content_type),
        ("X-Project-Id", PROJECT),
        ("X-Sdk-Date", date),
        ("Host", "127.0.0.1:8080"),
        ("Authorization", authorization(AK, signed, signature)),
    ]


# (method, target, content type, body, signature) — docs/cdm-api.md §4.3 (a), (b), (c).
VECTORS = {
    "show_job_status": ("GET", f"{JOB}/copy_a_to_b/status", "application/json", b"",
                        "c4ff31ac7f945cf94b7df272e31cd136481efc51897641c15c299efe151146eb"),
    "start_job": ("PUT", f"{JOB}/copy_a_to_b/start", "application/json;charset=utf-8", b'{"variables": {}}',
                  "eb9b2b4f53e3192cdc019c8cb77378ac59f1a77219cc36fe1cc5f09668ab50ce"),
    "show_jobs_all": ("GET", f"{JOB}/all?filter=a%20b&jobType=NORMAL_JOB&page_size=10", "application/json", b"",
                      "90720bdf520fee2cda031ba3c082cdf824b97fdb4f394939527b18b176198a33"),
}


def verify(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes,
    secret_for: Callable[[str], str | None] = secrets, now: datetime = SIGNED_AT + timedelta(seconds=30),
) -> str:
    return verify_signature(method, target, headers, body, secret_for, now, SKEW).access_key


def rejected(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes,
    secret_for: Callable[[str], str | None] = secrets, now: datetime = SIGNED_AT + timedelta(seconds=30),
) -> AuthError:
    with pytest.raises(AuthError) as caught:
        verify(method, target, headers, body, secret_for, now)
    assert caught.value.http_status == 401
    assert caught.value.error_code == "APIGW.0301"
    return caught.value


@pytest.mark.parametrize("vector", VECTORS)
def test_sdk_vectors_verify(vector: str) -> None:
    method, target, content_type, body, signature = VECTORS[vector]
    assert verify(method, target, sdk_headers(content_type, signature), body) == AK


@pytest.mark.parametrize("vector", VECTORS)
def test_helper_signer_reproduces_vectors(vector: str) -> None:
    # The other API tests sign with this helper; it must agree with the SDK byte for byte.
    method, target, content_type, body, signature = VECTORS[vector]
    headers = {"Content-Type": content_type, "Host": "127.0.0.1:8080", "User-Agent": SDK_USER_AGENT,
               "X-Project-Id": PROJECT, "X-Sdk-Date": SDK_DATE}
    assert sdk_signature(method, target, headers, body, SK) == (DEFAULT_SIGNED, signature)


def test_canonical_request_of_vector_a_is_byte_exact() -> None:
    method, target, content_type, body, _ = VECTORS["show_job_status"]
    headers = {name.lower(): value for name, value in sdk_headers(content_type, "0")}
    expected = "\n".join([
        "GET",
        f"{JOB}/copy_a_to_b/status/",
        "",
        f"content-type:application/json\nhost:127.0.0.1:8080\nuser-agent:{SDK_USER_AGENT}\n"
        f"x-project-id:{PROJECT}\nx-sdk-date:{SDK_DATE}\n",
        DEFAULT_SIGNED,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ])
    assert canonical_request(method, target, headers, DEFAULT_SIGNED.split(";"), body) == expected


def test_clock_skew_is_allowed_both_ways_within_15_minutes() -> None:
    method, target, content_type, body, signature = VECTORS["show_job_status"]
    headers = sdk_headers(content_type, signature)
    for offset in (-SKEW, SKEW):
        assert verify(method, target, headers, body, now=SIGNED_AT + timedelta(seconds=offset)) == AK


def test_wrong_secret_key() -> None:
    method, target, content_type, body, signature = VECTORS["show_job_status"]
    error = rejected(method, target, sdk_headers(content_type, signature), body,
                     secret_for=lambda _: SK[:-1] + "1")
    assert "signature" in error.message


def test_tampered_body() -> None:
    method, target, content_type, _, signature = VECTORS["start_job"]
    rejected(method, target, sdk_headers(content_type, signature), b'{"variables": {"x": "1"}}')


def test_tampered_query() -> None:
    method, target, content_type, body, signature = VECTORS["show_jobs_all"]
    rejected(method, target.replace("page_size=10", "page_size=100"), sdk_headers(content_type, signature), body)


def test_tampered_path() -> None:
    method, target, content_type, body, signature = VECTORS["show_job_status"]
    rejected(method, target.replace("copy_a_to_b", "copy_a_to_c"), sdk_headers(content_type, signature), body)


def test_tampered_signed_header_value() -> None:
    method, target, content_type, body, signature = VECTORS["show_job_status"]
    headers = [(n, "other-project" if n == "X-Project-Id" else v) for n, v in sdk_headers(content_type, signature)]
    rejected(method, target, headers, body)


def test_stale_sdk_date() -> None:
    # A correct signature replayed more than 15 minutes later (or signed by a clock that far ahead).
    method, target, content_type, body, signature = VECTORS["show_job_status"]
    headers = sdk_headers(content_type, signature)
    for offset in (SKEW + 1, -(SKEW + 1), 24 * 3600):
        error = rejected(method, target, headers, body, now=SIGNED_AT + timedelta(seconds=offset))
        assert "X-Sdk-Date" in error.message


def test_unparsable_sdk_date() -> None:
    method, target, content_type, body, signature = VECTORS["show_job_status"]
    rejected(method, target, sdk_headers(content_type, signature, date="2024-01-01T00:00:00Z"), body)


@pytest.mark.parametrize("signed", [
    "content-type;user-agent;x-project-id;x-sdk-date",   # host not signed: a request could be re-aimed
    "content-type;host;user-agent;x-project-id",          # date not signed: replayable forever
    "content-type;host;user-agent;x-project-id;x-sdk-date;x-auth-token",  # signs a header not sent
])
def test_required_signed_headers(signed: str) -> None:
    method, target, content_type, body, signature = VECTORS["show_job_status"]
    rejected(method, target, sdk_headers(content_type, signature, signed=signed), body)


@pytest.mark.parametrize("value", [
    "",
    "Bearer abc",
    "SDK-HMAC-SM3 Access=TESTAK0000000000EXMP, SignedHeaders=host;x-sdk-date, Signature=00",
    "SDK-HMAC-SHA256 Access=TESTAK0000000000EXMP, SignedHeaders=host;x-sdk-date",
    "SDK-HMAC-SHA256 Access=TESTAK0000000000EXMP, Signature=c4ff31ac",
    "SDK-HMAC-SHA256 Access=TESTAK0000000000EXMP, SignedHeaders=host;x-sdk-date, Signature=not-hex",
    "SDK-HMAC-SHA256 SignedHeaders=host;x-sdk-date, Signature=c4ff31ac",
])
def test_malformed_authorization(value: str) -> None:
    method, target, content_type, body, signature = VECTORS["show_job_status"]
    headers = [(n, value if n == "Authorization" else v) for n, v in sdk_headers(content_type, signature)]
    rejected(method, target, headers, body)


def test_missing_authorization() -> None:
    method, target, content_type, body, signature = VECTORS["show_job_status"]
    headers = [(n, v) for n, v in sdk_headers(content_type, signature) if n != "Authorization"]
    rejected(method, target, headers, body)


def test_unknown_access_key() -> None:
    method, target, content_type, body, signature = VECTORS["show_job_status"]
    error = rejected(method, target, sdk_headers(content_type, signature), body, secret_for=lambda _: None)
    assert "access key" in error.message


def test_canonical_uri_of_a_name_with_space_and_encoded_slash() -> None:
    # §4.2: the RAW target is unquoted, split on "/", and each segment re-quoted: the SDK sends
    # "no%20such%20job%2Fx" and signs ".../no%20such%20job/x/status/".
    target = f"{JOB}/no%20such%20job%2Fx/status"
    headers = {"Content-Type": "application/json", "Host": "127.0.0.1:8080", "User-Agent": SDK_USER_AGENT,
               "X-Project-Id": PROJECT, "X-Sdk-Date": SDK_DATE}
    lowered = {name.lower(): value for name, value in headers.items()}
    canonical = canonical_request("GET", target, lowered, DEFAULT_SIGNED.split(";"), b"")
    assert canonical.split("\n")[1] == f"{JOB}/no%20such%20job/x/status/"

    signed, signature = sdk_signature("GET", target, headers, b"", SK)
    wire_headers = [*headers.items(), ("Authorization", authorization(AK, signed, signature))]
    assert verify("GET", target, wire_headers, b"") == AK
    # A decoded or differently-encoded target is a different request.
    rejected("GET", f"{JOB}/no+such+job%2Fx/status", wire_headers, b"")
    rejected("GET", f"{JOB}/no%20such%20job%252Fx/status", wire_headers, b"")


def test_query_order_does_not_matter_but_values_do() -> None:
    # The SDK pre-sorts, other clients may not: the server re-canonicalises the query.
    method, target, content_type, body, signature = VECTORS["show_jobs_all"]
    path = target.partition("?")[0]
    headers = sdk_headers(content_type, signature)
    assert verify(method, f"{path}?page_size=10&jobType=NORMAL_JOB&filter=a%20b", headers, body) == AK
    rejected(method, f"{path}?page_size=10&jobType=NORMAL_JOB", headers, body)
