"""Entire-database jobs (CDM's BATCH_JOB): one run copies many tables, each as the run of a
sub-job of its own.

A run of the entire-database job (the parent run) lists the source's tables, makes or updates one
sub-job per table, named ``<job>_<table>`` as CDM names them, and admits their runs (child runs),
at most ``throttlingConfig.concurrentSubJobs`` at a time. Its server's supervisor starts each child
run in a worker of its own, like any other run: each one plans, partitions, commits, resumes and
stops on its own, and the cluster's executor (local or Dask) spreads its partitions. The parent
run waits for them, adds their counters up, and ends SUCCEEDED when every table did. A parent run
that follows a failed one runs only the tables that did not succeed then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from opencdm.config_values import flatten, iter_inputs
from opencdm.connectors import get_connector
from opencdm.connectors.base import DatabaseDescription, SchemaTarget
from opencdm.connectors.inputs import boolean, names
from opencdm.engine import status
from opencdm.engine.driver import DriverConfig
from opencdm.engine.executors import LOCAL
from opencdm.engine.status import ACTIVE, RunStatus, now_ms
from opencdm.engine.verify import VerifyMode
from opencdm.errors import CdmError, JobStopped
from opencdm.settings import Settings
from opencdm.store.db import Store
from opencdm.store.links import link_values
from opencdm.store.models import Cluster, Job, Link, Submission
from opencdm.store.secrets import SecretBox

log = logging.getLogger(__name__)

# The driver inputs of an entire-database job: CDM's concurrentSubJobs (in the driver config of
# the jobs CDM exports), and ours, to stop every table at the first that fails.
DATABASE_DRIVER_INPUTS = names("throttlingConfig", "concurrentSubJobs", "stopOnSubJobFailure")
# What a sub-job does not take from its entire-database job's driver config: the tables' bound, and
# what belongs to the parent's own runs (its schedule, retries, group).
_PARENT_ONLY_PREFIXES = ("schedulerConfig.", "retryJobConfig.", "groupJobConfig.")
DEFAULT_CONCURRENT_SUB_JOBS = 4
MAX_CONCURRENT_SUB_JOBS = 64
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class DatabaseRunConfig:
    """How an entire-database job runs its tables."""

    concurrent_sub_jobs: int
    stop_on_failure: bool

    @classmethod
    def parse(cls, driver_values: Mapping[str, str]) -> DatabaseRunConfig:
        raw = driver_values.get("throttlingConfig.concurrentSubJobs") or str(DEFAULT_CONCURRENT_SUB_JOBS)
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_CONCURRENT_SUB_JOBS:
            raise CdmError("Cdm.0024", f"[throttlingConfig.concurrentSubJobs] must be within the range "
                                       f"[1, {MAX_CONCURRENT_SUB_JOBS}], got '{raw}'.")
        return cls(int(raw), boolean(driver_values, "throttlingConfig.stopOnSubJobFailure"))


class Outcome(Enum):
    """What a table's verification found."""

    MATCH = "MATCH"
    DIFFERS = "DIFFERS"
    NOT_VERIFIED = "NOT_VERIFIED"  # its run failed before its check


@dataclass(frozen=True)
class TableVerification:
    """How one table's run compared its copy with its source (its submission's ``verification``)."""

    table: str
    outcome: Outcome
    source_rows: int | None
    destination_rows: int | None
    line: str  # for the parent run's log

    @classmethod
    def of(cls, table: str, run_status: str, error: str | None,
           checked: Mapping[str, Any] | None) -> TableVerification:
        if not checked:
            why = f"its run {run_status} before its check ({error})" if error else f"its run is {run_status}"
            return cls(table, Outcome.NOT_VERIFIED, None, None, f"table {table} not verified: {why}")
        source = int(checked["rows_read"])
        # The rows the destination holds of this run where it can tell them, else those it took.
        held = checked.get("destination_rows")
        destination = int(held if held is not None else checked["rows_written"])
        if checked.get("passed"):
            return cls(table, Outcome.MATCH, source, destination, f"table {table} matches: {source} rows")
        difference = source - destination
        what = (f"differs by {abs(difference)} rows ({source} in the source, {destination} in the destination)"
                if difference else f"differs in its values ({source} rows on each side)")
        return cls(table, Outcome.DIFFERS, source, destination, f"table {table} {what}: {checked.get('summary')}")

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "outcome": self.outcome.value, "source_rows": self.source_rows,
                "destination_rows": self.destination_rows, "summary": self.line}


def sub_job_name(job_name: str, table: str) -> str:
    return f"{job_name}_{table}"


def _config(group: str, values: Mapping[str, str]) -> dict[str, Any]:
    """Flat inputs as CDM-shaped config values of one config group."""
    return {"configs": [{"name": group, "inputs": [{"name": n, "value": v} for n, v in values.items()]}]}


def _sub_job_driver(parent_driver: Mapping[str, Any]) -> dict[str, Any]:
    """The parent's driver config values, less what is the parent's own."""
    configs = []
    for config in parent_driver.get("configs") or []:
        inputs = [item for item in iter_inputs({"configs": [config]})
                  if item["name"] not in DATABASE_DRIVER_INPUTS and not item["name"].startswith(_PARENT_ONLY_PREFIXES)]
        if inputs:
            configs.append({"name": config.get("name"), "inputs": inputs})
    return {"configs": configs}


class DatabaseRunner:
    """Runs one run of an entire-database job: see the module's docstring."""

    def __init__(self, settings: Settings, store: Store, box: SecretBox, submission_id: int, fence: int) -> None:
        self.settings = settings
        self.store = store
        self.box = box
        self.submission_id = submission_id
        self.fence = fence
        self.stop_signalled = False

    def cancel_statements(self) -> None:
        """Nothing to cancel here: the tables' own runs are stopped through the store."""

    def run(self) -> None:
        if not status.mark_running(self.store, self.submission_id, self.fence):
            return
        target: SchemaTarget | None = None
        try:
            description, target = self._plan()
            sub_jobs = self._sub_jobs(description.tables, prepared=target is not None)
            if target is not None:
                made = target.create_tables([table for table, _ in sub_jobs])
                self._set_keys_pending(made, True)
                log.info("submission %s: %d tables made with their primary keys: %s", self.submission_id,
                         len(made), ", ".join(made))
            failed = self._run(sub_jobs)
            problems = [] if failed or target is None else self._finish(target)
            totals = {**self._totals(self._children()), **self._verification_report()}
            if failed:
                summary = (f"{len(failed)} of {len(sub_jobs)} tables failed: {', '.join(failed)}. Start the job "
                           "again to copy only the tables that did not succeed.")
                status.fail_if_active(self.store, self.submission_id, summary, summary, self.fence, **totals)
            elif problems:
                summary = (f"Every table was copied, but {len(problems)} of their indexes, foreign keys or identity "
                           f"counters could not be made: {'; '.join(problems)}")
                status.fail_if_active(self.store, self.submission_id, summary, "\n".join(problems), self.fence,
                                      **totals)
            elif not status.succeed(self.store, self.submission_id, self.fence, **totals):
                log.warning("submission %s ended meanwhile (stopped or taken over)", self.submission_id)
        except JobStopped:
            self._stop_children()
            status.fail_if_active(self.store, self.submission_id, "Job stopped by user.",
                                  "The run and the runs of its tables were stopped.", self.fence)
        except CdmError as exc:
            self._stop_children()
            status.fail_if_active(self.store, self.submission_id, exc.message, f"{exc.code}: {exc.message}",
                                  self.fence)
        except Exception as exc:
            self._stop_children()
            log.exception("submission %s failed", self.submission_id)
            status.fail_if_active(self.store, self.submission_id, f"{type(exc).__name__}: {exc}",
                                  "See the run's log.", self.fence)
        finally:
            if target is not None:
                target.close()

    # --- planning -----------------------------------------------------------------------------
    def _job(self, session: Session) -> tuple[Submission, Job]:
        run = session.get(Submission, self.submission_id)
        assert run is not None
        job = session.get(Job, run.job_id)
        assert job is not None
        return run, job

    def _plan(self) -> tuple[DatabaseDescription, SchemaTarget | None]:
        """The tables the job copies, and what makes them in the destination, if the destination does."""
        with self.store.session() as session:
            _, job = self._job(session)
            links = {link.name: link_values(self.box, link) for link in session.scalars(select(Link).where(
                Link.cluster_id == job.cluster_id, Link.name.in_([job.from_link_name, job.to_link_name])))}
            for name in (job.from_link_name, job.to_link_name):
                if name not in links:
                    raise CdmError("Cdm.0101", f"Link [{name}] does not exist.")
            ends = ((job.from_connector_name, links[job.from_link_name], flatten(job.from_config)),
                    (job.to_connector_name, links[job.to_link_name], flatten(job.to_config)))
        (source, from_link, from_job), (destination, to_link, to_job) = ends
        description = get_connector(source).describe_database(from_link, from_job)
        if not description.tables:
            raise CdmError("Cdm.0940", "No table of the source schema is chosen by fromJobConfig.tableName and "
                                       "fromJobConfig.excludedTables.")
        log.info("submission %s: %d tables chosen: %s", self.submission_id, len(description.tables),
                 ", ".join(description.tables))
        target = get_connector(destination).open_schema_target(to_link, to_job, description)
        # What does not come along is said, never dropped in silence.
        for line in (*description.not_carried, *(target.notes if target is not None else ())):
            log.warning("submission %s: %s", self.submission_id, line)
        return description, target

    def _sub_jobs(self, tables: Sequence[str], prepared: bool) -> list[tuple[str, int]]:
        """Make or update each table's sub-job; the (table, sub-job id) pairs of the tables this run
        copies: all of them, or, after a failed run, those that did not succeed then."""
        with self.store.session() as session:
            run, job = self._job(session)
            from_job, to_job = flatten(job.from_config), flatten(job.to_config)
            source, destination = get_connector(job.from_connector_name), get_connector(job.to_connector_name)
            existing = {sub.name: sub for sub in session.scalars(select(Job).where(Job.cluster_id == job.cluster_id,
                        Job.name.in_([sub_job_name(job.name, table) for table in tables])))}
            chosen: list[tuple[str, Job]] = []
            for table in tables:
                name = sub_job_name(job.name, table)
                sub = existing.get(name)
                if sub is not None and sub.parent_job_id != job.id:
                    raise CdmError("Cdm.0104", f"The job name {name}, which the sub-job of table {table} takes, "
                                               "belongs to another job: rename or delete that job.")
                if sub is None:
                    sub = Job(cluster_id=job.cluster_id, name=name, job_type="NORMAL_JOB", parent_job_id=job.id,
                              creation_user=run.creation_user, creation_ms=now_ms(), enabled=True)
                    session.add(sub)
                sub.source_table = table
                sub.from_connector_name, sub.from_link_name = job.from_connector_name, job.from_link_name
                sub.to_connector_name, sub.to_link_name = job.to_connector_name, job.to_link_name
                sub.from_config = _config("fromJobConfig", source.table_job("fromJobConfig", from_job, table, prepared))
                sub.to_config = _config("toJobConfig", destination.table_job("toJobConfig", to_job, table, prepared))
                sub.driver_config = _sub_job_driver(job.driver_config)
                sub.group_name = job.group_name
                sub.update_user, sub.update_ms = run.creation_user, now_ms()
                chosen.append((table, sub))
            session.flush()
            busy = [sub.name for _, sub in chosen if session.scalar(
                select(Submission.id).where(Submission.job_id == sub.id, Submission.status.in_(ACTIVE)).limit(1))]
            if busy:
                raise CdmError("Cdm.0052", f"Sub-jobs {', '.join(busy)} are running: stop them first.")
            done = self._succeeded_last_time(session, job, [sub for _, sub in chosen])
            skipped = [table for table, sub in chosen if sub.name in done]
            to_run = [(table, sub.id) for table, sub in chosen if sub.name not in done]
        # Logged once the session is over: the run's log is written in a transaction of its own.
        if skipped:
            log.info("submission %s: the job's last run failed; its %d tables that succeeded are not copied "
                     "again: %s", self.submission_id, len(skipped), ", ".join(skipped))
        return to_run

    def _set_keys_pending(self, tables: Sequence[str], pending: bool) -> None:
        with self.store.session() as session:
            _, job = self._job(session)
            session.execute(update(Job).where(Job.parent_job_id == job.id, Job.source_table.in_(tables))
                            .values(keys_pending=pending))

    def _finish(self, target: SchemaTarget) -> list[str]:
        """Every table copied: the indexes, foreign keys and identity counters of the tables the job
        made, in this run or in the failed runs before it. What failed is left for the user to make."""
        with self.store.session() as session:
            _, job = self._job(session)
            tables = list(session.scalars(select(Job.source_table).where(
                Job.parent_job_id == job.id, Job.keys_pending).order_by(Job.id)))
        problems = target.finish_tables([table for table in tables if table is not None])
        self._set_keys_pending([table for table in tables if table is not None], False)
        log.info("submission %s: indexes, foreign keys and identity counters of %d tables made%s",
                 self.submission_id, len(tables), f"; {len(problems)} failed" if problems else "")
        for problem in problems:
            log.error("submission %s: %s", self.submission_id, problem)
        return problems

    def _succeeded_last_time(self, session: Session, job: Job, subs: list[Job]) -> set[str]:
        """After a failed run of the job, the sub-jobs whose last run succeeded; none after a success."""
        previous = session.scalar(select(Submission).where(
            Submission.job_id == job.id, Submission.id < self.submission_id).order_by(Submission.id.desc()).limit(1))
        if previous is None or previous.status == RunStatus.SUCCEEDED:
            return set()
        newest = (select(func.max(Submission.id)).where(Submission.job_id.in_([sub.id for sub in subs]))
                  .group_by(Submission.job_id))
        return {run.job_name for run in session.scalars(select(Submission).where(Submission.id.in_(newest)))
                if run.status == RunStatus.SUCCEEDED}

    # --- running ------------------------------------------------------------------------------
    def _admit(self, table: str, sub_job_id: int) -> int:
        with self.store.session() as session:
            parent, _ = self._job(session)
            sub = session.get(Job, sub_job_id)
            assert sub is not None
            stamp = now_ms()
            child = Submission(
                job_id=sub.id, cluster_id=sub.cluster_id, job_name=sub.name, status=RunStatus.BOOTING, progress=0.0,
                creation_user=parent.creation_user, creation_ms=stamp, last_update_user=parent.creation_user,
                last_update_ms=stamp, is_execute_auto=parent.is_execute_auto, variables=parent.variables,
                parent_submission_id=self.submission_id,
            )
            session.add(child)
            session.flush()
            child_id, sub_name = child.id, sub.name
        log.info("submission %s: table %s: run %s of sub-job %s admitted", self.submission_id, table, child_id,
                 sub_name)
        return child_id

    def _run(self, sub_jobs: list[tuple[str, int]]) -> list[str]:
        """Run the tables' sub-jobs, a bounded number at a time; the tables that failed."""
        with self.store.session() as session:
            _, job = self._job(session)
            config = DatabaseRunConfig.parse(flatten(job.driver_config))
            cluster = session.get(Cluster, job.cluster_id)
            executor = cluster.executor if cluster is not None else LOCAL
        bound = config.concurrent_sub_jobs
        if executor != LOCAL and bound > 1:
            # A copier holds its Dask worker thread until its run commits: the copiers of two tables
            # started together could take every thread and wait on each other's siblings for ever.
            log.warning("submission %s: the cluster runs partitions on the Dask cluster %s: its tables are "
                        "copied one at a time (throttlingConfig.concurrentSubJobs %d is not used), each on "
                        "every worker", self.submission_id, executor, bound)
            bound = 1
        waiting = list(sub_jobs)
        running: dict[str, int] = {}  # table -> its child run
        ended: dict[str, str] = {}  # table -> how its child run ended
        total = len(sub_jobs)
        while waiting or running:
            if self.stop_signalled or self._stop_requested():
                raise JobStopped()
            while waiting and len(running) < bound:
                table, sub_job_id = waiting.pop(0)
                running[table] = self._admit(table, sub_job_id)
            time.sleep(POLL_SECONDS)
            children = self._children()
            for table, child_id in list(running.items()):
                child = children[child_id]
                if child["status"] in ACTIVE:
                    continue
                del running[table]
                ended[table] = child["status"]
                log.info("submission %s: table %s: %s, %d rows written%s", self.submission_id, table,
                         child["status"], child["rows_written"],
                         f" ({child['error_summary']})" if child["error_summary"] else "")
                if child["status"] != RunStatus.SUCCEEDED and config.stop_on_failure:
                    log.warning("submission %s: table %s failed and throttlingConfig.stopOnSubJobFailure is "
                                "true: the other tables are stopped", self.submission_id, table)
                    waiting.clear()
                    self._stop_children()
            self._write_totals(children, done=sum(1 for s in ended.values() if s == RunStatus.SUCCEEDED), total=total)
        return sorted(table for table, outcome in ended.items() if outcome != RunStatus.SUCCEEDED)

    def _children(self) -> dict[int, dict[str, Any]]:
        with self.store.session() as session:
            rows = session.execute(select(
                Submission.id, Submission.status, Submission.progress, Submission.rows_read, Submission.rows_written,
                Submission.rows_skipped, Submission.bytes_read, Submission.bytes_written, Submission.update_rows,
                Submission.error_summary,
            ).where(Submission.parent_submission_id == self.submission_id)).mappings().all()
        return {row["id"]: dict(row) for row in rows}

    @staticmethod
    def _totals(children: dict[int, dict[str, Any]]) -> dict[str, Any]:
        counted = ("rows_read", "rows_written", "rows_skipped", "bytes_read", "bytes_written", "update_rows")
        return {name: sum(int(child[name] or 0) for child in children.values()) for name in counted}

    def _write_totals(self, children: dict[int, dict[str, Any]], done: int, total: int) -> None:
        # Each table weighs the same: a table ended counts whole, a running one by its own progress.
        running = sum(max(float(child["progress"] or 0), 0.0) for child in children.values()
                      if child["status"] in ACTIVE)
        progress = min(99.0, (done * 100.0 + running) / max(total, 1))
        status.record_progress(self.store, self.submission_id, self.fence, progress=progress,
                               **self._totals(children))

    def _verification_report(self) -> dict[str, Any]:
        """With verifyConfig.mode not NONE, which tables of this run match their source and which differ,
        from each table run's own verification: in the run's log, and as the run's ``verification``."""
        with self.store.session() as session:
            _, job = self._job(session)
            mode = DriverConfig.parse(job.driver_config).verify_mode
            rows = session.execute(select(Job.source_table, Submission.status, Submission.error_summary,
                                          Submission.verification)
                                   .join(Job, Job.id == Submission.job_id)
                                   .where(Submission.parent_submission_id == self.submission_id)
                                   .order_by(Job.source_table)).all()
        if mode is VerifyMode.NONE or not rows:
            return {}
        tables = [TableVerification.of(str(table), run_status, error, checked)
                  for table, run_status, error, checked in rows]
        matching = [table for table in tables if table.outcome is Outcome.MATCH]
        differing = [table for table in tables if table.outcome is Outcome.DIFFERS]
        unverified = [table for table in tables if table.outcome is Outcome.NOT_VERIFIED]
        summary = (f"{len(matching)} of {len(tables)} tables match"
                   + (f"; {len(differing)} differ: {', '.join(t.table for t in differing)}" if differing else "")
                   + (f"; {len(unverified)} not verified: {', '.join(t.table for t in unverified)}"
                      if unverified else ""))
        log.info("submission %s: verification (%s) of %d tables: %s", self.submission_id, mode.value, len(tables),
                 summary)
        # A line for each table that did not match; those that did share one (a run keeps so many lines).
        for table in (*differing, *unverified):
            log.warning("submission %s: %s", self.submission_id, table.line)
        if matching:
            log.info("submission %s: tables that match: %s", self.submission_id,
                     ", ".join(f"{table.table} ({table.source_rows} rows)" for table in matching))
        return {"verification": {"mode": mode.value, "passed": not differing and not unverified,
                                 "summary": summary, "tables": [table.as_dict() for table in tables]}}

    def _stop_requested(self) -> bool:
        with self.store.session() as session:
            return bool(session.scalar(select(Submission.stop_requested).where(Submission.id == self.submission_id)))

    def _stop_children(self) -> None:
        """Ask the table runs still active to stop (their supervisor stops their workers); the admitted
        ones no worker has started yet end at once."""
        with self.store.session() as session:
            session.execute(update(Submission).where(
                Submission.parent_submission_id == self.submission_id, Submission.status.in_(ACTIVE),
            ).values(stop_requested=True, last_update_ms=now_ms()))
            unstarted = session.scalars(select(Submission.id).where(
                Submission.parent_submission_id == self.submission_id, Submission.status == RunStatus.BOOTING,
                Submission.owner.is_(None))).all()
        for child_id in unstarted:
            status.fail_if_active(self.store, child_id, "Job stopped by user.",
                                  "The entire-database run that admitted it was stopped before it started.")
