"""The web console (/console) end to end, in Debian's headless Chromium driven by Playwright, against a
real server on loopback: sign in, a PostgreSQL link made with the form, a job run to SUCCEEDED with its
live progress, a long job stopped from the jobs list, its run log, and another project's user who sees
none of it.

The tests of this module run in order and share one server, one browser and what they create (``World``).
A screenshot of each page is written under the module's temporary directory (printed with -s).
Without /usr/bin/chromium or the playwright package they are skipped, and fail under CI=true.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from conftest import PG_PORT, RunningServer, config_values, pg_connect, pg_link, start_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SMALL_ROWS = 5000
# About 1 ms per row on the database side: a run that is still going when the test stops it.
SLOW_WHERE = "(SELECT true FROM pg_sleep(0.001 + 0 * id))"
SLOW_ROWS = 20000


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium (Debian's) for the console tests")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing: pip install -e '.[test]' for the console tests")
    expect.set_options(timeout=10_000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # Small batches and frequent progress records: a run's rows move visibly while the test watches.
    running = start_server(tmp_path_factory.mktemp("console-home"),
                           env={"OPENCDM_BATCH_ROWS": "100", "OPENCDM_PROGRESS_INTERVAL": "0.2"})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def schema(pg_available: None) -> Iterator[str]:
    """A PostgreSQL schema with the two source tables: ``small`` and ``slow`` (padded rows)."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with pg_connect() as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
        conn.execute(f'CREATE TABLE "{name}".small (id int PRIMARY KEY, label text)')
        conn.execute(f"""INSERT INTO "{name}".small SELECT g, 'row ' || g FROM generate_series(1, {SMALL_ROWS}) g""")
        conn.execute(f'CREATE TABLE "{name}".slow (id int PRIMARY KEY, pad text)')
        conn.execute(f"""INSERT INTO "{name}".slow SELECT g, repeat('x', 200) FROM generate_series(1, {SLOW_ROWS}) g""")
    yield name
    with pg_connect() as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@dataclass
class World:
    """What the tests of the module share, in the order they make it."""

    server: RunningServer
    schema: str
    shots: Path
    page: Any
    link: str = "pg_console"
    job: str = "copy_small"
    slow_job: str = "copy_slow"
    runs: dict[str, int] = field(default_factory=dict)  # job -> its last submission id
    # What the browser reported the console's Content-Security-Policy refused, and the page's errors.
    refusals: list[str] = field(default_factory=list)

    def shot(self, name: str, page: Any = None) -> None:
        (page or self.page).screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def goto(self, hash_route: str, page: Any = None) -> None:
        (page or self.page).goto(f"{self.server.url}/console/{hash_route}")


@pytest.fixture(scope="module")
def world(browser: Any, console_server: RunningServer, schema: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    shots = tmp_path_factory.mktemp("console-screenshots")
    print(f"\nconsole screenshots: {shots}")
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    world = World(console_server, schema, shots, context.new_page())
    world.page.on("console", lambda message: world.refusals.append(message.text)
                  if "Content Security Policy" in message.text else None)
    world.page.on("pageerror", lambda error: world.refusals.append(f"{error}: {error.stack}"))
    yield world
    context.close()


def sign_in(page: Any, url: str, user: str, password: str, project: str) -> None:
    page.goto(f"{url}/console/")
    page.fill("#sign-in-form [name=user]", user)
    page.fill("#sign-in-form [name=password]", password)
    page.fill("#sign-in-form [name=project]", project)
    page.click("#sign-in-form button[type=submit]")


def api_status(server: RunningServer, job: str) -> dict[str, Any]:
    with server.client() as api:
        response = api.get(f"{server.cdm}/job/{job}/status")
    assert response.status_code == 200, response.text
    submission: dict[str, Any] = response.json()["submissions"][0]
    return submission


def count_rows(schema: str, table: str) -> int:
    with pg_connect() as conn:
        row = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()
    return int(row[0]) if row else 0


def test_sign_in_link_job_and_progress_to_succeeded(world: World) -> None:
    from playwright.sync_api import expect

    page, credentials = world.page, world.server.credentials
    sign_in(page, world.server.url, credentials["user"], "wrong password", credentials["project_id"])
    expect(page.locator("#sign-in-error")).to_contain_text("Sign-in failed")
    world.shot("01-sign-in-refused")
    sign_in(page, world.server.url, credentials["user"], credentials["password"], credentials["project_id"])
    expect(page.locator("#who")).to_contain_text(credentials["user"])
    expect(page.locator("#jobs-table")).to_contain_text("No job matches.")
    assert page.evaluate("Object.keys(sessionStorage)") == ["opencdm.console.session"]
    world.shot("02-jobs-empty")

    # A PostgreSQL link through the form drawn from the connector's input specs.
    page.click("text=Links")
    page.click("text=New link")
    form = page.locator("#link-form")
    expect(form.locator("[name='linkConfig.password']")).to_have_attribute("type", "password")
    form.locator("[name=name]").fill(world.link)
    for name, value in pg_link().items():
        control = form.locator(f"[name='{name}']")
        if control.evaluate("node => node.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    form.get_by_role("button", name="Test connection").click()
    expect(page.locator("#link-result")).to_have_text("Connection works.")
    world.shot("03-link-form-tested")
    form.locator("[name='linkConfig.port']").fill("1")  # nothing listens there
    form.get_by_role("button", name="Test connection").click()
    expect(page.locator("#link-result")).to_contain_text("Connection failed")
    # What the server says back about user input is shown as text, never run as HTML.
    form.locator("[name='linkConfig.host']").fill("<b id=injected>x</b>")
    form.get_by_role("button", name="Test connection").click()
    expect(page.locator("#link-result")).to_contain_text("<b id=injected>")
    assert page.locator("#injected").count() == 0
    form.locator("[name='linkConfig.host']").fill(pg_link()["linkConfig.host"])
    form.locator("[name='linkConfig.port']").fill(str(PG_PORT))
    form.get_by_role("button", name="Create").click()
    expect(page.locator("#links-table tr[data-link='pg_console']")).to_contain_text("POSTGRESQL")
    world.shot("04-links")
    # Edit: the stored password is not sent back; left empty, the server keeps it.
    page.get_by_role("link", name=world.link).click()
    expect(form.locator("[name='linkConfig.password']")).to_have_value("")
    expect(form.locator("[name='linkConfig.host']")).to_have_value(pg_link()["linkConfig.host"])
    form.locator("[name='linkConfig.fetchSize']").fill("500")
    form.get_by_role("button", name="Save").click()
    expect(page.locator("#notice")).to_have_text(f"Link {world.link} saved.")

    # A job through the form: copy the small table to a new one.
    page.click("text=Jobs")
    page.click("text=New job")
    job_form = page.locator("#job-form")
    job_form.locator("[name=jobName]").fill(world.job)
    job_form.locator("[name=fromLink]").select_option(world.link)
    job_form.locator("[name=toLink]").select_option(world.link)
    job_form.get_by_label("fromJobConfig.schemaName", exact=True).fill(world.schema)
    job_form.get_by_label("fromJobConfig.tableName", exact=True).fill("small")
    job_form.get_by_label("toJobConfig.schemaName", exact=True).fill(world.schema)
    job_form.get_by_label("toJobConfig.tableName", exact=True).fill("small_copy")
    expect(job_form.get_by_label("toJobConfig.tablePreparation", exact=True)).to_have_value("CREATE_WHEN_NOT_EXIST")
    job_form.locator("[name=group]").fill("nightly")
    world.shot("05-job-form")
    job_form.get_by_role("button", name="Create").click()
    expect(page.locator("#view h1")).to_have_text(f"Job {world.job}")
    expect(page.locator("#job-status")).to_have_text("NEVER_EXECUTED")

    page.click("#job-start")
    expect(page.locator("#job-status")).to_have_text("SUCCEEDED", timeout=30_000)
    expect(page.locator("#job-progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#job-progress")).to_contain_text("100%")
    expect(page.locator("#job-rows")).to_have_text(f"{SMALL_ROWS:,}")
    expect(page.locator("#job-rate")).to_contain_text("rows/s")
    expect(page.locator("#runs-table tbody tr")).to_have_count(1)
    world.shot("06-job-succeeded")
    assert count_rows(world.schema, "small_copy") == SMALL_ROWS
    final = api_status(world.server, world.job)
    assert final["status"] == "SUCCEEDED"
    world.runs[world.job] = final["submission-id"]


def test_jobs_list_filters_and_history(world: World) -> None:
    from playwright.sync_api import expect

    page = world.page
    world.goto("#/jobs")
    row = page.locator(f"#jobs-table tr[data-job='{world.job}']")
    expect(row).to_contain_text("SUCCEEDED")
    expect(row).to_contain_text("nightly")
    page.fill("#job-search", "no_such_job")
    expect(page.locator("#jobs-table")).to_contain_text("No job matches.")
    page.fill("#job-search", "copy")
    expect(row).to_be_visible()
    page.select_option("#job-status-filter", "FAILED")
    expect(page.locator("#jobs-table")).to_contain_text("No job matches.")
    page.select_option("#job-status-filter", "SUCCEEDED")
    page.select_option("#job-group", "nightly")
    expect(row).to_be_visible()
    world.shot("07-jobs-filtered")
    page.select_option("#job-status-filter", "")
    page.select_option("#job-group", "")
    page.fill("#job-search", "")

    world.goto("#/history")
    history = page.locator(f"#runs-table tr[data-submission='{world.runs[world.job]}']")
    expect(history).to_contain_text("SUCCEEDED")
    expect(history).to_contain_text(f"{SMALL_ROWS:,}")
    world.shot("08-history")


def test_stop_a_long_job_from_the_console(world: World) -> None:
    from playwright.sync_api import expect

    page = world.page
    # This one through the CDM JSON tab, as a user pastes it.
    world.goto("#/jobs/new")
    page.click("#tab-json")
    job = {"name": world.slow_job, "job_type": "NORMAL_JOB",
           "from-connector-name": "generic-jdbc-connector", "from-link-name": world.link,
           "to-connector-name": "generic-jdbc-connector", "to-link-name": world.link,
           "from-config-values": {"configs": [{"name": "fromJobConfig", "inputs": [
               {"name": "fromJobConfig.schemaName", "value": world.schema},
               {"name": "fromJobConfig.tableName", "value": "slow"},
               {"name": "fromJobConfig.whereClause", "value": SLOW_WHERE}]}]},
           "to-config-values": {"configs": [{"name": "toJobConfig", "inputs": [
               {"name": "toJobConfig.schemaName", "value": world.schema},
               {"name": "toJobConfig.tableName", "value": "slow_copy"},
               {"name": "toJobConfig.tablePreparation", "value": "CREATE_WHEN_NOT_EXIST"}]}]},
           "driver-config-values": {"configs": []}}
    page.fill("#job-json", json.dumps({"jobs": [job]}, indent=2))
    world.shot("09-job-json")
    page.click("#tab-form")  # the form shows what the JSON says
    expect(page.get_by_label("fromJobConfig.whereClause", exact=True)).to_have_value(SLOW_WHERE)
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#view h1")).to_have_text(f"Job {world.slow_job}")

    # Live progress on the job's page, without reloading.
    page.click("#job-start")
    expect(page.locator("#job-status")).to_have_text("RUNNING", timeout=20_000)
    expect(page.locator("#job-rows")).to_have_text(re.compile(r"^[1-9][\d,]*$"), timeout=20_000)
    first = int(page.locator("#job-rows").inner_text().replace(",", ""))
    expect(page.locator("#job-rows")).not_to_have_text(f"{first:,}")  # it moves
    expect(page.locator("#job-rate")).to_have_text(re.compile(r"^[\d,]+ rows/s$"))
    expect(page.locator("#job-eta")).to_have_text(re.compile(r"^\d+(\.\d)?[hms]"))
    world.shot("10-job-running")

    # The jobs list follows it too; stop it from there (bulk stop of the selected jobs).
    page.click("text=Jobs")
    row = page.locator(f"#jobs-table tr[data-job='{world.slow_job}']")
    expect(row.locator(".rate-cell")).to_contain_text("rows/s")
    expect(row.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", re.compile(r"^\d+$"))
    world.shot("11-jobs-running")
    row.locator("input.pick").check()
    page.click("#bulk-stop")
    expect(page.locator("#notice")).to_contain_text("Stop requested for 1 of 1 jobs.")
    expect(row.locator(".status-cell")).to_have_text("FAILED", timeout=20_000)
    world.shot("12-jobs-stopped")
    stopped = api_status(world.server, world.slow_job)
    assert stopped["status"] == "FAILED" and "stopped by user" in stopped["error-summary"].lower()
    world.runs[world.slow_job] = stopped["submission-id"]
    row.get_by_role("link", name=world.slow_job).click()
    expect(page.locator("#job-status")).to_have_text("FAILED")
    expect(page.locator("#job-error")).to_contain_text(stopped["error-summary"])
    world.shot("13-job-stopped")


def admin(server: RunningServer, *args: str) -> dict[str, Any]:
    """``opencdm admin …`` on the server's store, its --json answer."""
    done = subprocess.run([sys.executable, "-m", "opencdm", "admin", *args, "--json"], capture_output=True,
                          text=True, env={**os.environ, "OPENCDM_HOME": str(server.home)}, check=False)
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_another_project_sees_none_of_it(world: World, browser: Any) -> None:
    from playwright.sync_api import expect

    project = admin(world.server, "project", "create", "other_project")
    admin(world.server, "user", "create", "other_user", "--password", "other-secret", "--project", project["id"])
    cluster = admin(world.server, "cluster", "create", "other_cluster", "--project", project["id"])
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, world.server.url, "other_user", "other-secret", "other_project")
        expect(page.locator("#who")).to_contain_text("other_user · project other_project")
        expect(page.locator("#jobs-table")).to_contain_text("No job matches.")
        assert page.evaluate("JSON.parse(sessionStorage.getItem('opencdm.console.session')).clusterId") == cluster["id"]
        world.shot("14-other-jobs", page)
        world.goto("#/links", page)
        expect(page.locator("#links-table")).to_contain_text("No link yet.")
        world.shot("15-other-links", page)
        world.goto("#/history", page)
        expect(page.locator("#runs-table")).to_contain_text("No run yet.")
        world.shot("16-other-history", page)
        for text in (world.link, world.job, world.slow_job):
            assert text not in page.content()
        # Nor through the API with the console's own token.
        token = page.evaluate("JSON.parse(sessionStorage.getItem('opencdm.console.session')).token")
        refused = httpx.get(f"{world.server.url}{world.server.cdm}/links", headers={"X-Auth-Token": token})
        assert refused.status_code == 403, refused.text
    finally:
        context.close()


def test_run_log(world: World) -> None:
    from playwright.sync_api import expect

    page = world.page
    world.goto(f"#/history?job={world.job}")
    run = world.runs[world.job]
    page.locator(f"#runs-table tr[data-submission='{run}']").get_by_role("link", name="Log").click()
    expect(page.locator("#view h1")).to_have_text(f"Log of run #{run}")
    expect(page.locator("#log-status")).to_have_text("SUCCEEDED")
    expect(page.locator("#log-table tbody tr").nth(1)).to_be_visible()  # at least its start and its end
    world.shot("17-run-log")
    world.goto(f"#/log/{world.runs[world.slow_job]}?job={world.slow_job}")
    expect(page.locator("#log-status")).to_have_text("FAILED")
    expect(page.locator("#log-table")).to_contain_text(re.compile("stopped", re.IGNORECASE))
    world.shot("18-run-log-stopped")


def test_an_entire_database_job_is_listed_and_shows_its_tables(world: World) -> None:
    from playwright.sync_api import expect

    target, job = f"{world.schema}_whole", "whole_db"
    with pg_connect() as conn:
        conn.execute(f'CREATE SCHEMA "{target}"')
    try:
        with world.server.client() as api:
            response = api.post(f"{world.server.cdm}/job", json={"jobs": [{
                "name": job, "job_type": "BATCH_JOB",
                "from-connector-name": "generic-jdbc-connector", "from-link-name": world.link,
                "to-connector-name": "generic-jdbc-connector", "to-link-name": world.link,
                "from-config-values": config_values("fromJobConfig", {
                    "fromJobConfig.schemaName": world.schema, "fromJobConfig.tableName": "small"}),
                "to-config-values": config_values("toJobConfig", {
                    "toJobConfig.schemaName": target, "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}),
            }]})
            assert response.status_code == 200, response.text
        page = world.page
        world.goto("#/jobs")
        row = page.locator(f"#jobs-table tr[data-job='{job}']")
        expect(row).to_contain_text("whole database")
        row.get_by_role("button", name="Start").click()
        world.goto(f"#/jobs/show/{job}")
        expect(page.locator("#job-status")).to_have_text("SUCCEEDED", timeout=60_000)
        page.locator("#job-family").get_by_role("link", name=f"{job}_small").click()
        expect(page.locator("#job-family")).to_contain_text(f"One table of the entire-database job {job}")
        expect(page.locator("#job-status")).to_have_text("SUCCEEDED")
        world.shot("12-entire-database-table")
        assert count_rows(target, "small") == SMALL_ROWS
    finally:
        with pg_connect() as conn:
            conn.execute(f'DROP SCHEMA "{target}" CASCADE')


def test_every_page_ran_under_the_consoles_content_security_policy(world: World) -> None:
    """The pages of the tests above (sign-in, links, jobs with their progress bars, history, run logs)
    ran with the CSP in force and nothing of theirs was refused: no inline script, style or handler."""
    assert "Content-Security-Policy" in world.page.evaluate(
        "fetch(location.pathname).then(r => r.headers.get('content-security-policy') && 'Content-Security-Policy')")
    assert world.refusals == []


def test_the_console_is_served_with_headers_that_keep_it_from_being_framed_or_sniffed(
    console_server: RunningServer,
) -> None:
    for path in ("/console/", "/console/index.html", "/console/app.js", "/console/style.css"):
        response = httpx.get(console_server.url + path)
        assert response.status_code == 200, (path, response.status_code)
        policy = response.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, (path, policy)
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert response.headers.get("X-Frame-Options") == "DENY", path
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
