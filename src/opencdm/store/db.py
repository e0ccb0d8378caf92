"""Engine/session factory and schema migration for the metadata store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any number, the same in every server: the PostgreSQL advisory lock that serialises migrations.
MIGRATION_LOCK_KEY = 0x0CD3_0001


def make_engine(url: str, durable: bool = True) -> Engine:
    """``durable=False``: commits may be lost by a power cut (never by a crash of the process), and
    do not wait for the disk; for writes that the next one supersedes, such as progress."""
    if url.startswith("sqlite"):
        # Connections kept open for as many threads as the API's thread pool has (40): beyond the
        # default 5, every request under load opened and closed its own (connect + the pragmas).
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=40, max_overflow=10
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the API read while workers write progress; foreign keys give cascades.
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            if not durable:
                cursor.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: no fsync at commit
            cursor.close()

        return engine
    engine = create_engine(url, pool_pre_ping=True)
    if not durable:

        @event.listens_for(engine, "connect")
        def _asynchronous_commit(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("SET synchronous_commit = off")
            cursor.close()
            dbapi_conn.commit()

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Servers sharing the store may start together: one migrates, the others wait for it.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Store:
    """The metadata database: one engine, sessions on demand."""

    def __init__(self, url: str, durable: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url, durable)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
