"""Worker process entry point: ``python -m opencdm.engine.worker SUBMISSION_ID``, or
``--standby``: started ahead of time by the server, imports done, waiting on stdin for the id of
the submission to run (so a job does not wait for Python to start)."""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from types import FrameType

from opencdm.connectors import connector_names
from opencdm.engine.runner import SubmissionRunner
from opencdm.settings import Settings
from opencdm.store.db import Store
from opencdm.store.secrets import SecretBox


def freeze_imported_objects() -> None:
    """Leave everything imported so far out of the garbage collector's full collections.

    A copy loop that allocates per row (the native pass-through reads one message per row) sets
    off full collections, and each one walked every object of the imported libraries: measured on
    5M rows, 7.8 s of CPU in the worker instead of 2.9 s. A worker runs one job and exits, so
    nothing frozen needs collecting.
    """
    gc.freeze()


def main(argv: list[str]) -> int:
    # Before the imports of a standby worker, which are most of a short run's CPU.
    os.nice(Settings.from_env().worker_niceness)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    if argv[1:] == ["--standby"]:
        connector_names()  # import every connector now, not when the job is waiting
        line = sys.stdin.readline()
        if not line.strip():
            return 0  # the server closed our stdin without a job: it is going away
        submission_id = int(line)
    else:
        submission_id = int(argv[1])
    freeze_imported_objects()
    settings = Settings.from_env()
    store = Store(settings.database_url)
    runner = SubmissionRunner(settings, store, SecretBox.load(settings.home, settings.secret_key), submission_id)

    def _on_stop(_signum: int, _frame: FrameType | None) -> None:
        runner.stop_signalled = True

    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGINT, _on_stop)
    try:
        runner.run()
    finally:
        store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
