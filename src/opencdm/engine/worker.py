"""What a worker process runs: one submission, in a process of its own."""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
from types import FrameType

from sqlalchemy import select

from opencdm.connectors import connector_names
from opencdm.engine.batch import DatabaseRunner
from opencdm.engine.partitions import keep_cancelling
from opencdm.engine.run_log import RunLogHandler
from opencdm.engine.runner import SubmissionRunner
from opencdm.logs import configure_logging
from opencdm.settings import Settings
from opencdm.store.db import Store
from opencdm.store.models import Job, Submission
from opencdm.store.secrets import SecretBox

log = logging.getLogger(__name__)


def freeze_imported_objects() -> None:
    """Leave everything imported so far out of the garbage collector's full collections.

    A copy loop that allocates per row (the native pass-through reads one message per row) sets
    off full collections, and each one walked every object of the imported libraries: measured on
    5M rows, 7.8 s of CPU in the worker instead of 2.9 s. A worker runs one job and exits, so
    nothing frozen needs collecting.
    """
    gc.freeze()


def run_submission(settings: Settings, submission_id: int, fence: int) -> None:
    """The body of one worker process, forked by the supervisor's fork server (which imported this
    module, and with it every connector, once)."""
    # Its own session: a Ctrl-C in the server's terminal reaches the server only, which then stops
    # its workers in order.
    os.setsid()
    os.nice(settings.worker_niceness)
    configure_logging(settings.log_format)
    freeze_imported_objects()
    store = Store(settings.database_url)
    logging.getLogger("opencdm").addHandler(RunLogHandler(store, submission_id))
    log.info("worker process %s started", os.getpid())
    with store.session() as session:
        job_type = session.scalar(
            select(Job.job_type).join(Submission, Submission.job_id == Job.id).where(Submission.id == submission_id)
        )
    runner_class = DatabaseRunner if job_type == "BATCH_JOB" else SubmissionRunner
    runner = runner_class(settings, store, SecretBox.load(settings.home, settings.secret_key), submission_id, fence)

    def _on_stop(_signum: int, _frame: FrameType | None) -> None:
        runner.stop_signalled = True

    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGINT, _on_stop)
    _cancel_statements_on_stop(runner)
    try:
        runner.run()
    finally:
        store.dispose()


def _cancel_statements_on_stop(runner: SubmissionRunner | DatabaseRunner) -> None:
    """On SIGTERM or SIGINT, cancel the statements the run's connections are running.

    The stop flag is read between batches, and Python runs a signal handler in the main thread
    only: a run blocked in the database (a locked table) would see neither before the supervisor
    kills it. The signal's number also goes down a pipe (``signal.set_wakeup_fd``) as it arrives,
    to a thread that cancels the statements, again until the run has rolled back (keep_cancelling):
    the blocked call fails at once, and the run ends stopped.
    """
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def watch() -> None:
        while not {signal.SIGTERM, signal.SIGINT} & set(os.read(read_end, 64)):
            pass
        runner.stop_signalled = True
        keep_cancelling(runner.cancel_statements, threading.Event())

    threading.Thread(target=watch, name="opencdm-stop-watch", daemon=True).start()


# Imported by the fork server before it forks any worker: every connector, so no run pays for it.
connector_names()
