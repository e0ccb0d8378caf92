"""Starts each submission in its own worker process, stops it, and reaps it.

A worker writes its own progress and outcome to the store. The supervisor only steps in when a
worker ends without doing so (a crash, a kill): it then marks the submission FAILED, so nothing
stays RUNNING forever. A crash of a job never takes the server down.

Several servers may share one PostgreSQL store (docs/decisions/0010-several-servers.md). A server
claims a run before it starts its worker (``SELECT … FOR UPDATE SKIP LOCKED``, then owner, lease and
a new fencing token), renews the lease of the runs it owns, and stops those a user asked to stop
through any server. A run whose lease expired is taken over by another server: marked FAILED under
a new token, so the former owner's worker, if it wakes up, can neither write to the run nor
commit; the scheduler then retries it, or resumes it, as its job asks.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import threading
import time
import uuid
from multiprocessing.process import BaseProcess
from pathlib import Path

from sqlalchemy import or_, select, update
from sqlalchemy.orm import aliased

from opencdm.engine import run_log as run_log_lines
from opencdm.engine.status import ACTIVE, COMMITTED_WRITES, SYSTEM_USER, RunStatus, fail_if_active, now_ms
from opencdm.settings import Settings
from opencdm.store.db import Store
from opencdm.store.models import Submission

log = logging.getLogger(__name__)
# One line per run start and end, whatever its outcome, with a JSON object operators can parse.
run_log = logging.getLogger("opencdm.runs")

WORKER_MODULE = "opencdm.engine.worker"
STOP_GRACE_SECONDS = 10.0


def _worker_processes() -> multiprocessing.context.ForkServerContext:
    """Workers are forked from a fork server that imported the worker module, and with it every
    connector, once: a run then starts in milliseconds of CPU instead of the ~0.7 s a new Python
    spends on its imports (which, under StartJob churn, took more than the machine's two cores)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([WORKER_MODULE])
    return context


def _run_worker(settings: Settings, submission_id: int, fence: int) -> None:
    # Imported here, in the worker (where the fork server has imported it already), so that the
    # API process does not carry every connector's libraries.
    from opencdm.engine.worker import run_submission

    run_submission(settings, submission_id, fence)



def _is_worker_alive(pid: int) -> bool:
    """True if ``pid`` is a live OpenCDM worker (not a recycled pid of another program)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return WORKER_MODULE.encode() in cmdline


def _end_orphans(pids: list[int]) -> None:
    """End workers whose server is gone, so that no one could stop or reap them. They are asked
    first, as StopJob does, and given one grace period together: a worker that rolls back and
    records the partitions its processes committed leaves a resumable run nothing to copy twice.
    Then each one's process group (a worker leads one, with its partition processes) is killed,
    whatever is left of it."""
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while any(_is_worker_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # the group ended with its worker
            os.killpg(pid, signal.SIGKILL)


class Supervisor:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.instance_id = uuid.uuid4().hex
        self.lease_ms = round(settings.lease_seconds * 1000)
        self._processes = _worker_processes()
        self._workers: dict[int, BaseProcess] = {}
        self._fences: dict[int, int] = {}
        self._kill_deadlines: dict[int, float] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._reaper = threading.Thread(target=self._reap_forever, name="opencdm-reaper", daemon=True)
        # Serialises "is this job running? → create a submission" across request threads.
        self.start_lock = threading.Lock()

    def start(self) -> None:
        self.recover_orphans()
        # Now, not at the first StartJob: the fork server imports every connector before it answers.
        multiprocessing.forkserver.ensure_running()
        self._reaper.start()

    def recover_orphans(self) -> None:
        """On a SQLite store, which one server uses at a time, submissions left BOOTING/RUNNING by a
        server that is gone become FAILED at once. On a shared store, only those whose lease expired:
        the others' owners are alive."""
        if not self.store.url.startswith("sqlite"):
            self.take_over_expired()
            return
        with self.store.session() as session:
            orphans = session.scalars(select(Submission).where(Submission.status.in_(ACTIVE))).all()
            stale = [(s.id, s.worker_pid) for s in orphans if s.owner != self.instance_id]
        _end_orphans([pid for _, pid in stale if pid and _is_worker_alive(pid)])
        for submission_id, _ in stale:
            fail_if_active(
                self.store,
                submission_id,
                "The run was abandoned: the OpenCDM server that ran it stopped or crashed.",
                "On restart the server found this submission still marked as running, "
                "owned by a server process that no longer exists.",
                **COMMITTED_WRITES,
            )

    def _claim(self, submission_id: int) -> int | None:
        """Make this server the run's owner, with a lease and a new fencing token (returned); None
        when another server claimed it first."""
        with self.store.session() as session:
            fence = session.scalar(
                select(Submission.fence)
                .where(
                    Submission.id == submission_id, Submission.status == RunStatus.BOOTING, Submission.owner.is_(None)
                )
                .with_for_update(skip_locked=True)
            )
            if fence is None:
                return None
            session.execute(
                update(Submission).where(Submission.id == submission_id)
                .values(owner=self.instance_id, fence=fence + 1, lease_expires_ms=now_ms() + self.lease_ms)
            )
        return fence + 1

    def keep_leases(self) -> None:
        """Renew the leases of this server's runs; stop those a user asked to stop through any server,
        and the workers of runs another server took over; take over the runs of servers gone silent,
        and start the runs a server admitted but never started."""
        me = self.instance_id
        with self.store.session() as session:
            session.execute(
                update(Submission).where(Submission.owner == me, Submission.status.in_(ACTIVE))
                .values(lease_expires_ms=now_ms() + self.lease_ms)
            )
            to_stop = session.scalars(
                select(Submission.id).where(
                    Submission.owner == me, Submission.status.in_(ACTIVE), Submission.stop_requested
                )
            ).all()
            with self._lock:
                local = [sid for sid, process in self._workers.items() if process.exitcode is None]
            lost = session.scalars(
                select(Submission.id).where(Submission.id.in_(local), Submission.owner != me)
            ).all() if local else []
            unstarted = session.scalars(
                select(Submission.id).where(
                    Submission.status == RunStatus.BOOTING, Submission.owner.is_(None),
                    Submission.creation_ms < now_ms() - self.lease_ms,
                )
            ).all()
        for submission_id in lost:
            log.warning("submission %s was taken over by another server: its worker here is stopped", submission_id)
        for submission_id in (*to_stop, *lost):
            self.stop(submission_id)
        self.take_over_expired()
        for submission_id in unstarted:
            log.warning("submission %s was admitted by a server that did not start it: starting it here",
                        submission_id)
            self.launch(submission_id)

    def launch_table_runs(self) -> None:
        """Start the table runs that entire-database runs of this server's admitted (engine.batch):
        checked at every turn of the reaper, so that a table waits a fifth of a second, not a lease."""
        with self._lock:
            if not any(process.exitcode is None for process in self._workers.values()):
                return
        parents = aliased(Submission)
        with self.store.session() as session:
            tables = session.scalars(
                select(Submission.id).join(parents, parents.id == Submission.parent_submission_id).where(
                    Submission.status == RunStatus.BOOTING, Submission.owner.is_(None),
                    parents.owner == self.instance_id, parents.status.in_(ACTIVE),
                ).order_by(Submission.id)
            ).all()
        for submission_id in tables:
            self.launch(submission_id)

    def take_over_expired(self) -> None:
        """Runs whose owner let their lease expire become FAILED under a new fencing token; the
        scheduler then follows them up by their job's policy (retry, resume, or nothing)."""
        now = now_ms()
        with self.store.session() as session:
            expired = session.execute(
                select(Submission.id, Submission.owner, Submission.fence)
                .where(
                    Submission.status.in_(ACTIVE), Submission.owner.is_not(None), Submission.owner != self.instance_id,
                    or_(Submission.lease_expires_ms < now, Submission.lease_expires_ms.is_(None)),
                )
                .with_for_update(skip_locked=True)
            ).all()
            for submission_id, owner, fence in expired:
                session.execute(
                    update(Submission).where(Submission.id == submission_id).values(
                        status=RunStatus.FAILED, progress=-1.0, fence=fence + 1, owner=self.instance_id,
                        last_update_ms=now, last_update_user=SYSTEM_USER,
                        error_summary="The run was taken over: the OpenCDM server that ran it stopped renewing "
                                      "its lease.",
                        error_details=f"Server {owner} did not renew the run's lease; server {self.instance_id} "
                                      "found it expired and ended the run. Its worker, if still alive, "
                                      "commits nothing.",
                        **COMMITTED_WRITES,
                    )
                )
        for submission_id, owner, _ in expired:
            log.warning("submission %s: the lease of server %s expired; run taken over", submission_id, owner)
            run_log_lines.append(self.store, submission_id, "WARNING",
                                 f"server {owner} did not renew its lease: server {self.instance_id} took the run over")
            log_run_end(self.store, submission_id)

    def launch(self, submission_id: int) -> None:
        """Claim an admitted run and start its worker; nothing if another server claimed it first."""
        fence = self._claim(submission_id)
        if fence is None:
            return
        run_log_lines.append(self.store, submission_id, "INFO", f"run claimed by server {self.instance_id}")
        process = self._processes.Process(
            target=_run_worker, args=(self.settings, submission_id, fence), name=f"opencdm-worker-{submission_id}"
        )
        with self._lock:  # multiprocessing polls its children in start(): one thread at a time
            process.start()
            self._workers[submission_id] = process
            self._fences[submission_id] = fence
            pid = process.pid  # now: a short run may be over, and its process closed, before the log line
        with self.store.session() as session:
            job_name = session.scalar(
                update(Submission)
                .where(Submission.id == submission_id, Submission.fence == fence)
                .values(worker_pid=pid)
                .returning(Submission.job_name)
            )
        run_log.info("run started", extra={"fields": {"job": job_name, "submission": submission_id, "pid": pid}})

    def stop(self, submission_id: int) -> None:
        """Ask the worker to stop (it rolls back and records why); kill it if it does not."""
        with self._lock:
            process = self._workers.get(submission_id)
            if process is None or process.exitcode is not None:
                return
            process.terminate()
            self._kill_deadlines.setdefault(submission_id, time.monotonic() + STOP_GRACE_SECONDS)

    def running_count(self) -> int:
        with self._lock:
            return sum(1 for process in self._workers.values() if process.exitcode is None)

    def shutdown(self) -> None:
        """Stop every worker and wait for them; what they could not record is recorded here."""
        with self._lock:
            submission_ids = list(self._workers)
        for submission_id in submission_ids:
            self.stop(submission_id)
        deadline = time.monotonic() + STOP_GRACE_SECONDS + 2
        while self.running_count() and time.monotonic() < deadline:
            time.sleep(0.1)
        self._closing.set()
        self._reap_once()

    def _reap_forever(self) -> None:
        # Renewed three times a lease, at least every second: a user's stop, through another server,
        # takes a second at most to reach the worker.
        lease_interval = min(1.0, self.settings.lease_seconds / 3)
        leases_kept = time.monotonic()
        while not self._closing.wait(0.2):
            try:
                self._reap_once()
                self.launch_table_runs()
                if time.monotonic() - leases_kept >= lease_interval:
                    leases_kept = time.monotonic()
                    self.keep_leases()
            except Exception:  # the reaper must survive a store hiccup
                log.exception("reaping workers failed")

    def _reap_once(self) -> None:
        with self._lock:
            now = time.monotonic()
            for submission_id, deadline in list(self._kill_deadlines.items()):
                process = self._workers.get(submission_id)
                if process is not None and process.exitcode is None and now > deadline:
                    process.kill()
            finished = {sid: p.exitcode for sid, p in self._workers.items() if p.exitcode is not None}
            fences = {}
            for submission_id in finished:
                self._workers.pop(submission_id).close()  # its pipe to the fork server
                self._kill_deadlines.pop(submission_id, None)
                fences[submission_id] = self._fences.pop(submission_id)
        for submission_id, returncode in finished.items():
            self._record_exit(submission_id, fences[submission_id], returncode)

    def _record_exit(self, submission_id: int, fence: int, returncode: int) -> None:
        with self.store.session() as session:
            run = session.execute(
                select(Submission.stop_requested, Submission.rows_written, Submission.committed_rows)
                .where(Submission.id == submission_id)
            ).first()
        stop_requested, written, committed = run if run is not None else (False, 0, 0)
        if stop_requested:
            summary, details = "Job stopped by user.", "The worker was stopped on the user's request."
        elif self._closing.is_set() or returncode == -signal.SIGTERM:
            summary = "Job stopped: the OpenCDM server shut down."
            details = "The server was asked to shut down while the job was running."
        else:
            summary = f"The worker process ended unexpectedly (exit code {returncode})."
            details = "The worker ended without recording a result; see the server log."
        ended_here = fail_if_active(self.store, submission_id, summary, details, fence, **COMMITTED_WRITES)
        if ended_here and written > committed:  # the dead worker's transactions were rolled back
            run_log_lines.append(self.store, submission_id, "WARNING", run_log_lines.rolled_back(written, committed))
        if ended_here or returncode == 0:
            log_run_end(self.store, submission_id, returncode)


def log_run_end(store: Store, submission_id: int, returncode: int | None = None) -> None:
    with store.session() as session:
        run = session.get(Submission, submission_id)
        if run is None:  # its job was deleted meanwhile
            return
        started_ms = run.execute_ms or run.creation_ms
        ended = {
            "job": run.job_name, "submission": run.id, "status": run.status,
            "rows_read": run.rows_read, "rows_written": run.rows_written, "rows_skipped": run.rows_skipped,
            "duration_s": round(max(run.last_update_ms - started_ms, 0) / 1000, 3),
            "error": run.error_summary, "worker_exit": returncode,
        }
    level = logging.INFO if ended["status"] == RunStatus.SUCCEEDED else logging.WARNING
    run_log.log(level, "run ended", extra={"fields": ended})
    summary = (f"run ended {ended['status']}: {ended['rows_read']} rows read, {ended['rows_written']} written, "
               f"{ended['rows_skipped']} skipped, in {ended['duration_s']} s")
    if ended["error"]:
        summary += f"; error: {ended['error']}"
    run_log_lines.append(store, submission_id, logging.getLevelName(level), summary)
