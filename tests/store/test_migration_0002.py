"""Migration 0002 (schedules, retries) on a store that an 0001 server filled, SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from test_metadata_store import pg_url  # noqa: F401 - the fixture, looked up by name below

from opencdm.store.db import MIGRATIONS_DIR, Store, migrate
from opencdm.store.models import Base

ROWS_OF_0001 = [
    "INSERT INTO projects VALUES ('p', 'p', 'Default', 1)",
    "INSERT INTO clusters VALUES ('c', 'p', 'c', '200', 'local', 1, 1, '{}')",
    """INSERT INTO jobs VALUES (7, 'c', 'copy', 'NORMAL_JOB', 'generic-jdbc-connector', 'l',
       'generic-jdbc-connector', 'l', '{}', '{}', '{}', 'DEFAULT', true, 'u', 1, 'u', 1)""",
    # A run that ended, and one that a server stopped in the middle of (it stays RUNNING until restart).
    """INSERT INTO submissions (id, job_id, cluster_id, job_name, status, progress, creation_user, creation_ms,
       last_update_user, last_update_ms, rows_read, rows_written, rows_skipped, bytes_read, bytes_written,
       update_rows, delete_rows, stop_requested, is_execute_auto, is_incrementing, is_delete_job, variables)
       VALUES (1, 7, 'c', 'copy', 'FAILED', -1, 'u', 10, 'u', 20, 0, 0, 0, 0, 0, 0, 0, false, false, false, false,
               '{}'),
              (2, 7, 'c', 'copy', 'RUNNING', 5, 'u', 30, 'u', 40, 0, 0, 0, 0, 0, 0, 0, false, false, false, false,
               '{}')""",
]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_0001_store_gains_the_schedule_and_retry_state_and_its_history_stays_settled(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        for statement in ROWS_OF_0001:
            connection.execute(text(statement))

    migrate(store.engine)

    schema = inspect(store.engine)
    for table in ("jobs", "submissions"):
        columns = {column["name"] for column in schema.get_columns(table)}
        assert columns == set(Base.metadata.tables[table].columns.keys())
    with store.engine.connect() as connection:
        job = connection.execute(text("SELECT next_run_ms, skipped_runs FROM jobs")).one()
        runs = connection.execute(text("SELECT id, attempt, settled_ms, retry_due_ms FROM submissions ORDER BY id"))
        assert tuple(job) == (None, 0)
        # The run that ended is history; the other is followed up once the server has failed it.
        assert [tuple(run) for run in runs] == [(1, 1, 20, None), (2, 1, None, None)]
    store.dispose()
