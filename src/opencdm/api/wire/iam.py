"""``POST /v3/auth/tokens`` (parsed by hand in routes/iam.py, for messages that name the bad part)
and its answer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from opencdm.api.wire.common import Wire


class Domain(Wire):
    name: str = Field(min_length=1, examples=["Default"])


class TokenUser(Wire):
    name: str = Field(min_length=1)
    password: str = Field(min_length=1)
    domain: Domain | None = None


class TokenPassword(Wire):
    user: TokenUser


class TokenIdentity(Wire):
    methods: list[Literal["password"]] = Field(min_length=1)
    password: TokenPassword


class TokenProject(Wire):
    """The project, by ``id`` (or, instead, by ``name``)."""

    id: str = Field(min_length=1)


class TokenScope(Wire):
    project: TokenProject


class TokenAuth(Wire):
    identity: TokenIdentity
    scope: TokenScope


class TokenRequest(Wire):
    """Keystone v3 password authentication, scoped to a project."""

    auth: TokenAuth


class TokenNamed(Wire):
    name: str
    domain: Domain


class TokenNamedWithId(TokenNamed):
    id: str


class TokenRole(Wire):
    name: str


class Token(Wire):
    methods: list[str]
    expires_at: str
    issued_at: str
    user: TokenNamedWithId
    project: TokenNamedWithId
    roles: list[TokenRole]


class TokenResponse(Wire):
    """The token itself is in the X-Subject-Token header."""

    token: Token
