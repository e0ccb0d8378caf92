"""Identity: projects, users, AK/SK pairs, tokens, and the first-start bootstrap."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import secrets
import string
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opencdm.engine.status import now_ms
from opencdm.errors import CdmError
from opencdm.store.db import Store
from opencdm.store.models import AccessKey, Cluster, Project, ProjectMember, Token, UsedSignature, User
from opencdm.store.secrets import SecretBox, hash_password, verify_password
from opencdm.store.statuses import ClusterStatus

DEFAULT_DOMAIN = "Default"


@dataclass(frozen=True)
class Principal:
    """Who is calling, and the one project the credential is scoped to."""

    user_id: str
    user_name: str
    project_id: str


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_ms: int
    issued_ms: int
    user: User
    project: Project


def _generate_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20))


def create_project(session: Session, name: str, domain: str = DEFAULT_DOMAIN) -> Project:
    if session.scalar(select(Project).where(Project.name == name)) is not None:
        raise CdmError("Cdm.0014", f"Project {name} already exists.")
    project = Project(id=uuid.uuid4().hex, name=name, domain=domain, created_ms=now_ms())
    session.add(project)
    session.flush()
    return project


def find_project(session: Session, id_or_name: str) -> Project | None:
    return session.get(Project, id_or_name) or session.scalar(select(Project).where(Project.name == id_or_name))


def create_user(
    session: Session, name: str, password: str, projects: list[Project], domain: str = DEFAULT_DOMAIN
) -> User:
    if session.scalar(select(User).where(User.name == name, User.domain == domain)) is not None:
        raise CdmError("Cdm.0014", f"User {name} already exists in domain {domain}.")
    user = User(
        id=uuid.uuid4().hex, name=name, domain=domain, password_hash=hash_password(password), created_ms=now_ms()
    )
    session.add(user)
    session.flush()
    for project in projects:
        session.add(ProjectMember(user_id=user.id, project_id=project.id))
    return user


def create_access_key(session: Session, box: SecretBox, user: User, project: Project) -> tuple[str, str]:
    """A new AK/SK pair in Huawei's shapes (20-char AK, 40-char SK); the SK is stored encrypted."""
    access_key = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(20))
    secret_key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    session.add(
        AccessKey(
            access_key=access_key,
            secret_key_encrypted=box.encrypt(secret_key),
            user_id=user.id,
            project_id=project.id,
            created_ms=now_ms(),
        )
    )
    return access_key, secret_key


def create_cluster(
    session: Session, project: Project, name: str, properties: dict | None = None, executor: str = "local"
) -> Cluster:
    stamp = now_ms()
    cluster = Cluster(
        id=str(uuid.uuid4()),
        project_id=project.id,
        name=name,
        status=ClusterStatus.NORMAL,
        executor=executor,
        created_ms=stamp,
        updated_ms=stamp,
        properties=properties or {},
    )
    session.add(cluster)
    session.flush()
    return cluster


def is_member(session: Session, user: User, project: Project) -> bool:
    return session.get(ProjectMember, (user.id, project.id)) is not None


def issue_token(
    session: Session, user_name: str, domain: str, password: str, project_ref: str, ttl_seconds: int
) -> IssuedToken:
    """Keystone v3 password authentication scoped to a project (by id or name).

    Raises PermissionError with a message safe to show (it never says which part was wrong).
    """
    user = session.scalar(select(User).where(User.name == user_name, User.domain == domain))
    # An unknown user costs one scrypt too, so the response time does not tell which names exist.
    stored_hash = user.password_hash if user is not None else _unknown_user_hash()
    if not verify_password(password, stored_hash) or user is None:
        raise PermissionError("The username or password is wrong.")
    project = find_project(session, project_ref)
    if project is None or not is_member(session, user, project):
        raise PermissionError("The user has no access to the requested project.")
    token = secrets.token_urlsafe(48)
    issued = now_ms()
    expires = issued + ttl_seconds * 1000
    session.execute(delete(Token).where(Token.expires_ms < issued))
    session.add(
        Token(token_sha256=_token_digest(token), user_id=user.id, project_id=project.id, expires_ms=expires)
    )
    return IssuedToken(token=token, expires_ms=expires, issued_ms=issued, user=user, project=project)


@functools.cache
def _unknown_user_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def principal_for_token(session: Session, token: str) -> Principal | None:
    # One query on every authenticated request: columns, not ORM objects.
    row = session.execute(
        select(Token.user_id, User.name, Token.project_id)
        .join(User, User.id == Token.user_id)
        .where(Token.token_sha256 == _token_digest(token), Token.expires_ms >= now_ms())
    ).first()
    return None if row is None else Principal(user_id=row[0], user_name=row[1], project_id=row[2])


def secret_for_access_key(session: Session, box: SecretBox, access_key: str) -> tuple[str, Principal] | None:
    row = session.get(AccessKey, access_key)
    if row is None:
        return None
    user = session.get(User, row.user_id)
    principal = Principal(user_id=row.user_id, user_name=user.name if user else "", project_id=row.project_id)
    return box.decrypt(row.secret_key_encrypted), principal


def accept_signature_once(session: Session, signature: str, expires_ms: int) -> bool:
    """Record a state-changing request's signature; False if it was accepted before (a replay)."""
    session.execute(delete(UsedSignature).where(UsedSignature.expires_ms < now_ms()))
    try:
        with session.begin_nested():
            session.add(UsedSignature(signature=signature, expires_ms=expires_ms))
    except IntegrityError:
        return False
    return True


def bootstrap(store: Store, box: SecretBox, home: Path, admin_password: str | None) -> dict[str, str] | None:
    """On the very first start: one project, an admin, an AK/SK pair and the local cluster.

    Returns the credentials (also written to ``<home>/credentials.json``, mode 0600), or None when
    the store was already bootstrapped.
    """
    with store.session() as session:
        if session.scalar(select(Project).limit(1)) is not None:
            return None
        project = create_project(session, "opencdm")
        password = admin_password or _generate_password()
        admin = create_user(session, "admin", password, [project])
        access_key, secret_key = create_access_key(session, box, admin, project)
        cluster = create_cluster(session, project, "local")
        credentials = {
            "project_id": project.id,
            "cluster_id": cluster.id,
            "user": admin.name,
            "password": password,
            "access_key": access_key,
            "secret_key": secret_key,
        }
    write_private_json(home / "credentials.json", credentials)
    return credentials


def write_private_json(path: Path, payload: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(payload, out, indent=2)
        out.write("\n")
