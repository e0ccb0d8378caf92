"""The metadata store: Alembic migrations and bootstrap on SQLite (default) and PostgreSQL."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import inspect, select

from opencdm.engine.supervisor import Supervisor
from opencdm.errors import CdmError
from opencdm.service import clusters, runs
from opencdm.service.iam import accept_signature_once, bootstrap, now_ms
from opencdm.settings import Settings
from opencdm.store.db import Store, migrate
from opencdm.store.models import AccessKey, Base, Project, UsedSignature
from opencdm.store.secrets import SecretBox, hash_password, verify_password

from conftest import PG_DATABASE, PG_HOST, PG_PORT, PG_USER


@pytest.fixture
def pg_url(pg_available: None) -> Iterator[str]:
    name = f"opencdm_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DATABASE, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_create_the_schema_and_bootstrap_runs_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url)
    migrate(store.engine)
    migrate(store.engine)  # idempotent: a second start finds the schema current
    assert set(Base.metadata.tables) <= set(inspect(store.engine).get_table_names())

    box = SecretBox.load(tmp_path, None)
    credentials = bootstrap(store, box, tmp_path, admin_password="chosen-password")
    assert credentials is not None and credentials["password"] == "chosen-password"
    assert len(credentials["project_id"]) == 32 and int(credentials["project_id"], 16) >= 0
    assert bootstrap(store, box, tmp_path, admin_password=None) is None

    written = tmp_path / "credentials.json"
    assert json.loads(written.read_text()) == credentials
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600
    with store.session() as session:
        (key,) = session.scalars(select(AccessKey)).all()
        assert credentials["secret_key"] not in key.secret_key_encrypted
        assert box.decrypt(key.secret_key_encrypted) == credentials["secret_key"]
        assert session.scalar(select(Project.id)) == credentials["project_id"]
    store.dispose()


def test_secret_box_from_passphrase_and_password_hashes(tmp_path: Path) -> None:
    box = SecretBox.load(tmp_path, "a passphrase")
    token = box.encrypt("s3cret")
    assert "s3cret" not in token
    assert SecretBox.load(tmp_path / "other", "a passphrase").decrypt(token) == "s3cret"
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox.load(tmp_path, "another passphrase").decrypt(token)
    stored = hash_password("pw")
    assert "pw" not in stored.split("$", 1)[1]
    assert verify_password("pw", stored) and not verify_password("PW", stored)


def test_server_on_a_postgresql_metadata_store(pg_url: str, tmp_path: Path) -> None:
    from test_smoke_flow import copy_sqlite_table

    from conftest import start_server

    server = start_server(tmp_path / "home", env={"OPENCDM_DATABASE_URL": pg_url})
    try:
        assert not (tmp_path / "home" / "opencdm.db").exists()
        with server.client() as api:
            copy_sqlite_table(server, api, tmp_path)
    finally:
        server.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_signature_is_accepted_once_across_servers_sharing_the_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    first, second = Store(url), Store(url)  # two servers on one store
    migrate(first.engine)
    later = now_ms() + 60_000
    with first.session() as session:
        assert accept_signature_once(session, "a" * 64, later)
    with second.session() as session:
        assert not accept_signature_once(session, "a" * 64, later)
        assert accept_signature_once(session, "b" * 64, later)
    with first.session() as session:
        assert accept_signature_once(session, "c" * 64, now_ms() - 1)  # already out of the window
    with second.session() as session:
        # Signatures past their window are forgotten (the date check refuses them), so the table stays small.
        assert accept_signature_once(session, "d" * 64, later)
        assert set(session.scalars(select(UsedSignature.signature))) == {"a" * 64, "b" * 64, "d" * 64}
    first.dispose()
    second.dispose()


@pytest.mark.parametrize("action", ["start", "stop", "restart", "StartJob"])
def test_a_cluster_deleted_after_the_route_found_it_is_reported_missing(tmp_path: Path, action: str) -> None:
    """ClusterAction or StartJob racing DeleteCluster: Cdm.0001 (a 400), not an assertion (a 500)."""
    store = Store(f"sqlite:///{tmp_path / 'meta.db'}")
    migrate(store.engine)
    supervisor = Supervisor(Settings.from_env(tmp_path), store)  # not started: nothing runs
    with pytest.raises(CdmError) as missing:
        if action == "StartJob":
            runs.start_job(store, supervisor, "gone-cluster-id", "some_job", "admin", {})
        else:
            clusters.act(store, supervisor, "gone-cluster-id", action)
    assert missing.value.code == "Cdm.0001" and "gone-cluster-id" in missing.value.message
    store.dispose()
