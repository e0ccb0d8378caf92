"""No link reaches the server's own data directory ($OPENCDM_HOME: the metadata store with every
project's users, password hashes and access keys, the encryption key, the bootstrap credentials),
whatever OPENCDM_FILE_ROOTS allows; SQLite database files are confined like nas roots."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from files_support import create_job, failed, postgres_link, start_and_wait

from conftest import RunningServer, create_link, pg_link, post_link, sqlite_link, start_server


@pytest.fixture(scope="module")
def wide_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose operator allowed every directory ("/"), its own home included."""
    running = start_server(tmp_path_factory.mktemp("wide-home"), env={"OPENCDM_FILE_ROOTS": "/"})
    yield running
    running.stop()


@pytest.fixture
def wide_api(wide_server: RunningServer) -> Iterator[httpx.Client]:
    with wide_server.client() as client:
        yield client


def _refused(response: httpx.Response, code: str = "Cdm.0250") -> str:
    assert response.status_code == 400, response.text
    assert response.json()["errCode"] == code, response.text
    message = str(response.json()["externalMessage"])
    return message


def test_a_sqlite_link_cannot_name_the_metadata_store(
    api: httpx.Client, server: RunningServer, tmp_path: Path
) -> None:
    """The attack of the issue: a SQLite link on the server's own opencdm.db (the tests' root holds
    the server's home), by its path, through "..", or through a symlink in an allowed directory."""
    home = server.home
    (tmp_path / "alias.db").symlink_to(home / "opencdm.db")
    (tmp_path / "home-alias").symlink_to(home)
    for path in (
        home / "opencdm.db",
        f"{home}/../{home.name}/opencdm.db",
        tmp_path / "alias.db",
        tmp_path / "home-alias" / "opencdm.db",
        home / "secret.key",
        home / "new.db",
    ):
        for validate in ("", "?validate=true"):
            response = api.post(f"{server.cdm}/link{validate}", json={"links": [{
                "name": "store", "connector-name": "generic-jdbc-connector", "enabled": True,
                "link-config-values": {"configs": [{"name": "linkConfig", "inputs": [
                    {"name": k, "value": v} for k, v in sqlite_link(str(path)).items()]}]}}]})
            assert "server's own data directory" in _refused(response), path
    assert api.get(f"{server.cdm}/link/store").json()["errCode"] == "Cdm.0101"

    # A SQLite file outside OPENCDM_FILE_ROOTS is refused like a nas root there.
    message = _refused(post_link(api, server, "generic-jdbc-connector", sqlite_link("/etc/opencdm.db")), "Cdm.0014")
    assert "outside the directories this server allows" in message
    # Relative paths would depend on the server's working directory.
    message = _refused(post_link(api, server, "generic-jdbc-connector", sqlite_link("x.db")), "Cdm.0014")
    assert "absolute path" in message


def test_a_server_without_roots_refuses_sqlite_links(rootless_server: RunningServer, tmp_path: Path) -> None:
    with rootless_server.client() as api:
        response = post_link(api, rootless_server, "generic-jdbc-connector", sqlite_link(str(tmp_path / "x.db")))
    assert "OPENCDM_FILE_ROOTS" in _refused(response, "Cdm.0014")


def test_the_home_is_out_of_reach_even_when_every_directory_is_allowed(
    wide_api: httpx.Client, wide_server: RunningServer, pg_schema: str
) -> None:
    home = wide_server.home
    # Links naming the home or a file in it.
    for connector, inputs in (
        ("generic-jdbc-connector", sqlite_link(str(home / "opencdm.db"))),
        ("nas-connector", {"linkConfig.rootDirectory": str(home)}),
        ("nas-connector", {"linkConfig.rootDirectory": str(home / "dirty-data")}),
        ("iceberg-connector", {"linkConfig.catalogType": "sql", "linkConfig.catalogUri": f"sqlite:///{home}/opencdm.db",
                               "linkConfig.warehouse": str(home.parent)}),
        ("iceberg-connector", {"linkConfig.catalogType": "sql",
                               "linkConfig.catalogUri": f"sqlite:///{home.parent}/catalog.db",
                               "linkConfig.warehouse": str(home)}),
    ):
        message = _refused(post_link(wide_api, wide_server, connector, inputs))
        assert "server's own data directory" in message, (connector, inputs)

    # A nas link on the home's parent is fine, but no job path may lead into the home: read,
    # written, or as the directory of dirty data.
    parent = create_link(wide_api, wide_server, "nas-connector", {"linkConfig.rootDirectory": str(home.parent)})
    pg = postgres_link(wide_api, wide_server)
    inside = f"/{home.name}"
    table = ("generic-jdbc-connector", pg, {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "t"})
    source = ("generic-jdbc-connector", pg, {"fromJobConfig.schemaName": pg_schema, "fromJobConfig.tableName": "t"})
    for path in (f"{inside}/opencdm.db", f"{inside}/credentials.json", inside, f"/x/../{home.name}/secret.key"):
        response = create_job(wide_api, wide_server, ("nas-connector", parent, {
            "fromJobConfig.inputDirectory": path, "fromJobConfig.inputFormat": "BINARY_FILE"}),
            ("nas-connector", parent, {"toJobConfig.outputDirectory": "/elsewhere",
                                       "toJobConfig.outputFormat": "BINARY_FILE"}))
        assert "server's own data directory" in _refused(response), path
    response = create_job(wide_api, wide_server, source, ("nas-connector", parent, {
        "toJobConfig.outputDirectory": f"{inside}/out", "toJobConfig.outputFormat": "CSV_FILE"}))
    assert "server's own data directory" in _refused(response)
    response = create_job(wide_api, wide_server, source, table, throttling={
        "throttlingConfig.maxErrorRecords": "10", "throttlingConfig.recordDirtyData": "true",
        "throttlingConfig.writeToLink": parent, "throttlingConfig.dirtyDataDirectory": inside})
    assert "server's own data directory" in _refused(response)
    assert (home / "opencdm.db").stat().st_size > 0  # untouched, still the store


def test_paths_that_turn_into_the_home_after_the_checks_are_refused_by_the_run(
    wide_api: httpx.Client, wide_server: RunningServer, tmp_path: Path, pg_schema: str
) -> None:
    """Defence in depth: what was fine when the link and the job were made is checked again by the
    run, e.g. a file or a directory replaced by a symlink into the home."""
    home = wide_server.home
    database = tmp_path / "source.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    lite = create_link(wide_api, wide_server, "generic-jdbc-connector", sqlite_link(str(database)))
    pg = postgres_link(wide_api, wide_server)
    destination = ("generic-jdbc-connector", pg, {
        "toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": "stolen",
        "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"})
    job = create_job(wide_api, wide_server, ("generic-jdbc-connector", lite, {"fromJobConfig.tableName": "users"}),
                     destination)
    assert job.status_code == 200, job.text
    database.unlink()
    database.symlink_to(home / "opencdm.db")
    summary = failed(start_and_wait(wide_api, wide_server, job.json()["name"]))
    assert "server's own data directory" in summary

    # A nas link whose root holds the home (the tests' temporary directory holds both).
    root = home.parent
    files = f"/{tmp_path.relative_to(root)}/files"
    (tmp_path / "files" / "in").mkdir(parents=True)
    (tmp_path / "files" / "in" / "a.csv").write_text("1,a\n")
    nas = create_link(wide_api, wide_server, "nas-connector", {"linkConfig.rootDirectory": str(root)})
    job = create_job(wide_api, wide_server, ("nas-connector", nas, {
        "fromJobConfig.inputDirectory": f"{files}/in", "fromJobConfig.inputFormat": "BINARY_FILE"}),
        ("nas-connector", nas, {"toJobConfig.outputDirectory": f"{files}/out",
                                "toJobConfig.outputFormat": "BINARY_FILE"}))
    assert job.status_code == 200, job.text
    (tmp_path / "files" / "in" / "a.csv").unlink()
    (tmp_path / "files" / "in").rmdir()
    (tmp_path / "files" / "in").symlink_to(home)
    summary = failed(start_and_wait(wide_api, wide_server, job.json()["name"]))
    assert "server's own data directory" in summary
    assert not (tmp_path / "files" / "out").exists()


def test_the_server_keeps_its_home_private(tmp_path: Path) -> None:
    """Every path the server makes under a fresh $OPENCDM_HOME is its owner's only (0700/0600),
    whatever the umask; the home too, even when it existed before."""
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    previous = os.umask(0o002)  # a permissive umask, inherited by the server
    try:
        running = start_server(home, log_dir=tmp_path)
    finally:
        os.umask(previous)
    try:
        with running.client() as api:  # a few writes to the store (WAL and shared memory files)
            create_link(api, running, "generic-jdbc-connector", pg_link())
        found = {path: stat.S_IMODE(path.stat().st_mode) for path in [home, *home.rglob("*")]}
    finally:
        running.stop()
    assert {home / name for name in ("opencdm.db", "secret.key", "credentials.json")} <= set(found), found
    assert {str(path): oct(mode) for path, mode in found.items()} == {
        str(path): oct(0o700 if path.is_dir() else 0o600) for path in found
    }
