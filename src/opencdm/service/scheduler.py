"""The server's scheduler thread: starts scheduled jobs on time, retries failed runs, and follows up
finished runs (retry or delete the job, as its driver config asks).

Everything it decides is in the store, each decision in the transaction that acts on it, so a
restart carries on where the last server stopped:

* a schedule's next run is ``jobs.next_run_ms``, advanced in the transaction that creates the run's
  submission: a run is started once. A run that fell due while no server was up starts at the next
  start-up, once however many were missed, and the schedule goes on from then;
* when a run is due while the job is still running, that run is skipped (``jobs.skipped_runs``);
* a finished run is settled once (``submissions.settled_ms``): a FAILED run of a RETRY_TRIPLE job
  that no user stopped gets ``retry_due_ms``, or the job is deleted (disposableType) after its last
  attempt. Runs ended by a server shutdown or crash count as failed, and are retried after a restart.

Each step also checks-and-sets the row it acts on, so several servers on one PostgreSQL store do not
start a run twice either; a scheduled run's submission also carries its due time, unique per job
(``submissions.scheduled_ms``), so that even a schedule set back to a time that has fired already
cannot fire it twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Select, Update, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opencdm.engine.status import ACTIVE, RunStatus, now_ms
from opencdm.engine.supervisor import Supervisor
from opencdm.errors import CdmError
from opencdm.service import runs
from opencdm.service.jobs import RunPolicy, active_submission
from opencdm.settings import Settings
from opencdm.store.db import Store
from opencdm.store.models import Cluster, Job, Submission

log = logging.getLogger(__name__)


def _claimed(session: Session, statement: Update) -> bool:
    """Run a conditional UPDATE; True if it changed the row (so no one else acted on it first)."""
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


class Scheduler:
    def __init__(self, settings: Settings, store: Store, supervisor: Supervisor) -> None:
        self.settings = settings
        self.store = store
        self.supervisor = supervisor
        self.minute_ms = round(settings.scheduler_minute_seconds * 1000)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run_forever, name="opencdm-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No run starts after this returns."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run_forever(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # the scheduler must survive a store hiccup
                log.exception("scheduler tick failed")
            if self._stopping.wait(self.settings.scheduler_tick_seconds):
                return

    def tick(self) -> None:
        # Oldest first, so that a run is settled before any later one of its job.
        ended = select(Submission.id).where(Submission.settled_ms.is_(None), Submission.status.not_in(ACTIVE))
        self._each(ended.order_by(Submission.id), self._settle)
        self._each(select(Submission.id).where(Submission.retry_due_ms <= now_ms()), self._retry)
        self._each(select(Job.id).where(Job.next_run_ms <= now_ms()), self._start_scheduled)

    def _each(self, query: Select[int], act: Callable[[Session, int], Submission | None]) -> None:
        with self.store.session() as session:
            ids = session.scalars(query).all()
        for row_id in ids:
            if self._stopping.is_set():
                return
            # Under the lock StartJob takes: "is the job running? → start it" is one step.
            with self.supervisor.start_lock:
                try:
                    with self.store.session() as session:
                        submission = act(session, row_id)
                except IntegrityError:  # a submission for this job and due time exists: started once
                    log.info("%s of %s: done already by another server", act.__name__, row_id)
                    continue
                if submission is not None:
                    try:
                        runs.launch(self.store, self.supervisor, submission)
                    except CdmError as exc:  # recorded on the submission as FAILURE_ON_SUBMIT
                        log.error("job %s: %s", submission.job_name, exc.message)

    def _settle(self, session: Session, submission_id: int) -> None:
        if not _claimed(session, update(Submission).where(
            Submission.id == submission_id, Submission.settled_ms.is_(None)
        ).values(settled_ms=now_ms())):
            return
        ended = session.get(Submission, submission_id)
        job = session.get(Job, ended.job_id) if ended is not None else None
        if ended is None or job is None:
            return
        newer = select(Submission.id).where(Submission.job_id == job.id, Submission.id > ended.id).limit(1)
        if session.scalar(newer) is not None:
            return None  # the job ran again since: that run decides what follows
        policy = RunPolicy.of(job)
        if ended.status == RunStatus.FAILED and not ended.stop_requested and ended.attempt <= policy.retries:
            delay_ms = round(self.settings.retry_backoff_seconds * 1000 * 2 ** (ended.attempt - 1))
            ended.retry_due_ms = now_ms() + delay_ms
            log.info("job %s: attempt %d failed, retry in %.1f s", job.name, ended.attempt, delay_ms / 1000)
        elif policy.deletes_job_after(ended.status):
            log.info("job %s: deleted after a run that %s (disposableType %s)", job.name, ended.status,
                     policy.disposable)
            session.delete(job)

    def _retry(self, session: Session, submission_id: int) -> Submission | None:
        failed = session.get(Submission, submission_id)
        job = session.get(Job, failed.job_id) if failed is not None else None
        cluster = session.get(Cluster, job.cluster_id) if job is not None else None
        if failed is None or job is None or cluster is None or active_submission(session, job) is not None:
            return None  # gone, or the job runs (a race with StartJob): the retry waits for the next tick
        if not _claimed(session, update(Submission).where(
            Submission.id == submission_id, Submission.retry_due_ms.is_not(None)
        ).values(retry_due_ms=None)):
            return None
        if RunPolicy.of(job).retries < failed.attempt:
            return None  # retries were switched off since the run failed
        trigger = runs.Trigger(failed.creation_user, failed.variables, failed.is_execute_auto, failed.attempt + 1)
        return runs.admit_or_record(session, cluster, job, trigger)

    def _start_scheduled(self, session: Session, job_id: int) -> Submission | None:
        job = session.get(Job, job_id)
        cluster = session.get(Cluster, job.cluster_id) if job is not None else None
        now = now_ms()
        if job is None or cluster is None or job.next_run_ms is None or job.next_run_ms > now:
            return None
        due = job.next_run_ms
        timetable = RunPolicy.of(job).timetable
        # From now on, not from the run due: runs missed while no server was up are not made up for.
        following = timetable.next_after(now, anchor_ms=due, minute_ms=self.minute_ms) if timetable else None
        if not _claimed(session, update(Job).where(Job.id == job.id, Job.next_run_ms == due)
                        .values(next_run_ms=following)):
            return None  # another server started this run
        if active_submission(session, job) is not None:
            log.warning("job %s: scheduled run skipped, the previous run is still going", job.name)
            session.execute(update(Job).where(Job.id == job.id).values(skipped_runs=Job.skipped_runs + 1))
            return None
        log.info("job %s: starting the run scheduled for %s ms", job.name, due)
        trigger = runs.Trigger(job.update_user, automatic=True, scheduled_ms=due)
        return runs.admit_or_record(session, cluster, job, trigger)
