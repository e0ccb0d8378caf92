"""The README's walkthrough, run as a new user would: its source table, then the curl, SDK and CLI
sections one after the other, verbatim, against a fresh server. Each section must work after the
others (they once reused the same names, and the later ones failed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import RunningServer, pg_connect, start_server

README = Path(__file__).resolve().parents[1] / "README.md"
WALKTHROUGH_TABLES = ("table_a", "table_b", "table_sdk", "table_cli")


def section_code(heading: str, language: str) -> str:
    """The first ``language`` code block under the README heading ``heading``."""
    text = README.read_text()
    start = text.index(f"\n{heading}\n")
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, start)
    assert match, f"no {language} block under {heading}"
    return match.group(1)


def drop_walkthrough_tables() -> None:
    with pg_connect() as conn:
        for table in WALKTHROUGH_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS public.{table}")


def row_count(table: str) -> int:
    with pg_connect() as conn:
        row = conn.execute(f"SELECT count(*) FROM public.{table}").fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture
def walkthrough_server(pg_available: None, tmp_path: Path) -> Iterator[RunningServer]:
    drop_walkthrough_tables()
    running = start_server(tmp_path / "home")
    try:
        yield running
    finally:
        running.stop()
        drop_walkthrough_tables()


def run(command: list[str], server: RunningServer, stdin: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ, "OPENCDM_HOME": str(server.home), "OPENCDM_URL": server.url,
        # The CLI section calls `opencdm` as installed beside this Python.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return subprocess.run(command, input=stdin, env=env, capture_output=True, text=True, timeout=240)


def wait_for_end(server: RunningServer, job: str) -> dict[str, object]:
    with server.client() as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            submission = client.get(f"{server.cdm}/job/{job}/status").json()["submissions"][0]
            if submission["status"] not in ("BOOTING", "RUNNING"):
                return dict(submission)
            time.sleep(0.3)
    raise AssertionError(f"{job} did not end")


def test_walkthrough_sections_run_one_after_the_other(walkthrough_server: RunningServer) -> None:
    server = walkthrough_server
    source = run(["bash"], server, section_code("### A source table", "bash"))
    assert source.returncode == 0, source.stderr
    assert row_count("table_a") == 200_000

    with_curl = run(["bash"], server, section_code("### With curl", "bash"))
    assert with_curl.returncode == 0, with_curl.stderr
    assert "errCode" not in with_curl.stdout, with_curl.stdout
    assert wait_for_end(server, "copy_a_to_b")["status"] == "SUCCEEDED"
    assert row_count("table_b") == 200_000

    with_sdk = run([sys.executable, "-"], server, section_code("### With the official SDK", "python"))
    assert with_sdk.returncode == 0, with_sdk.stderr
    assert with_sdk.stdout.startswith("SUCCEEDED"), with_sdk.stdout
    assert row_count("table_sdk") == 200_000

    with_cli = run(["bash", "-e"], server, section_code("### With the CLI", "bash"))
    assert with_cli.returncode == 0, with_cli.stdout + with_cli.stderr
    assert row_count("table_cli") == 200_000

    # Run again, the SDK section's job (UPSERT) still succeeds: only its link and job creation would
    # repeat, so start it on its own.
    again = run(["bash", "-e"], server, "opencdm job start sdk_copy --wait\n")
    assert again.returncode == 0, again.stdout + again.stderr
    assert row_count("table_sdk") == 200_000
