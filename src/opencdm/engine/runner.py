"""Runs one submission inside a worker process: opens the ends its plan names, prepares the
destination, copies (engine.copiers), verifies, commits, and records how the run ended."""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from opencdm.connectors.base import CursorRange, NativeFormat, Partition, Source, TableScan
from opencdm.engine import resume, run_log, status
from opencdm.engine.copiers import copy_in_parallel, copy_in_this_process
from opencdm.engine.counters import Counters
from opencdm.engine.executors import LOCAL, PartitionFailed
from opencdm.engine.incremental import IncrementalRead
from opencdm.engine.partitions import cancel_statements
from opencdm.engine.plan import OpenRun, PartitionJob, Plan, open_ends, read_plan
from opencdm.engine.resume import UnfinishedPlan
from opencdm.engine.verify import VerificationFailed, Verifier
from opencdm.errors import CdmError, JobStopped
from opencdm.settings import Settings
from opencdm.store.db import Store
from opencdm.store.models import Submission
from opencdm.store.secrets import SecretBox

log = logging.getLogger(__name__)


class RunTakenOver(JobStopped):
    """The run is no longer this worker's: another server took it over (its lease expired), or it
    ended meanwhile. The worker rolls back and writes nothing more."""


class SubmissionRunner:
    def __init__(self, settings: Settings, store: Store, box: SecretBox, submission_id: int, fence: int) -> None:
        self.settings = settings
        self.store = store
        self.box = box
        self.submission_id = submission_id
        # The token the run was claimed with: every write of the run carries it (engine.supervisor).
        self.fence = fence
        self.counters = Counters()
        self.parent_pid = os.getppid()
        self.stop_signalled = False
        self.progress: status.ProgressWriter | None = None
        self.job_id: int | None = None
        # The id of a resumable run's partition plan (its partitions commit one by one).
        self.resumable_plan: str | None = None
        # The stage table the sink announced ({"schema", "table"}) until a commit or rollback drops it.
        self.stage_table: dict[str, str] | None = None
        # The run whose statements a stop cancels (cancel_statements): from planning until the
        # commit, or until the rollback begins, which no cancel may interrupt.
        self._cancellable: OpenRun | None = None
        self._cancelling = threading.Lock()

    def cancel_statements(self) -> None:
        """Cancel what the run's source and sink are running: called by the worker's stop watcher,
        from its own thread, as the stop is signalled (engine.worker)."""
        with self._cancelling:
            if self._cancellable is not None:
                cancel_statements(self._cancellable.source, self._cancellable.sink)

    @contextmanager
    def _stop_explains_failures(self) -> Iterator[None]:
        """A stop cancels the statement running (cancel_statements): the driver's error that the
        cancelled call raises is the stop, not a failure of the copy."""
        try:
            yield
        except Exception as exc:
            if self.stop_signalled and not isinstance(exc, JobStopped):
                log.info("submission %s: stopped during a statement, cancelled: %s", self.submission_id, exc)
                raise JobStopped() from exc
            raise

    def run(self) -> None:
        if not status.mark_running(self.store, self.submission_id, self.fence):
            return  # stopped, or taken over, before it began
        self.progress = status.ProgressWriter(
            self.store, self.submission_id, self.fence, self.settings.progress_interval_seconds
        )
        opened: OpenRun | None = None
        began = time.monotonic()
        try:
            with self._stop_explains_failures():
                opened = self._open()
                planned = time.monotonic()
                self._cancellable = opened
                self._copy(opened)
                self._cancellable = None  # committed
            job_id = opened.plan.job_id
            if opened.job.cursor is not None:
                resume.save_cursor(self.store, job_id, opened.job.cursor.upper)
            # The plan goes with the success, in its transaction: a run taken over after its last
            # commit leaves its plan, all committed, for the run that follows.
            forget_plan = resume.forget_plan(job_id)
            if not status.succeed(
                self.store, self.submission_id, self.fence, then=lambda session: session.execute(forget_plan),
                **self.counters.kept_values(), stage_table=None,
            ):
                raise RunTakenOver()
            if self.resumable_plan is not None:
                opened.sink.forget_partitions(self.resumable_plan)
            log.info(
                "submission %s: %d rows in %.2f s (planning %.2f s)", self.submission_id,
                self.counters.rows_written, time.monotonic() - began, planned - began,
            )
        except RunTakenOver:
            self._rollback(opened)
            log.warning("submission %s was taken over by another server (or ended meanwhile): its "
                        "uncommitted work is rolled back, and it writes nothing more", self.submission_id)
        except JobStopped:
            self._rollback(opened)
            summary = (
                "Job stopped by user." if self._stop_requested() else "Job stopped: the OpenCDM server shut down."
            )
            self._fail(summary, "The run was stopped and rolled back.")
        except (PartitionFailed, VerificationFailed) as exc:
            self._rollback(opened)
            self._fail(*exc.args)
        except CdmError as exc:
            self._rollback(opened)
            self._fail(exc.message, f"{exc.code}: {exc.message}")
        except Exception as exc:
            self._rollback(opened)
            log.exception("submission %s failed", self.submission_id)
            self._fail(f"{type(exc).__name__}: {exc}", traceback.format_exc(), logged=True)
        finally:
            self.progress.close()  # a write still under way cannot undo the final state: see status.py
            if opened is not None:
                opened.source.close()
                opened.sink.close()

    def _fail(self, summary: str, details: str, logged: bool = False) -> None:
        """The run ends FAILED with its counts so far (rolled back already): written, what it committed."""
        if not logged:
            log.error("submission %s failed: %s", self.submission_id, summary)
        counters = self.counters
        if counters.rows_written > counters.committed.rows_written:
            log.warning("submission %s: %s", self.submission_id,
                        run_log.rolled_back(counters.rows_written, counters.committed.rows_written))
        status.fail_if_active(
            self.store, self.submission_id, summary, details, self.fence, **counters.kept_values(),
            stage_table=self.stage_table,
        )

    def _open(self) -> OpenRun:
        """The run's plan with both ends open: the source restricted to an incremental run's range,
        the stage tables earlier runs left dropped."""
        plan = read_plan(self.settings, self.store, self.box, self.submission_id)
        self.job_id = plan.job_id
        executor = self._executor_for(plan)
        for note in plan.ignored_inputs():
            log.warning("submission %s: %s", self.submission_id, note)
        incremental = IncrementalRead.parse(plan.ends.from_job, plan.ends.to_job)
        cursor: CursorRange | None = None

        def read_range(source: Source) -> CursorRange | None:
            nonlocal cursor
            if incremental is not None:
                self._write_progress(is_incrementing=True)
                cursor = incremental.next_range(source, plan.stored_cursor)
            return cursor

        max_rejected = plan.driver.max_error_records
        source, sink = open_ends(plan.ends, max_rejected is not None, read_range)
        resume.drop_tables_left(self.store, self.submission_id, plan.job_id, sink)
        sink.announce_lasting_table = self._announce_stage_table
        job = PartitionJob(
            plan.ends, schema=source.schema(), native=None, batch_rows=self.settings.batch_rows, cursor=cursor,
            max_rejected=max_rejected, dirty_place=plan.dirty_place, dirty_file_stem=plan.dirty_file_stem,
        )
        return OpenRun(plan, source, sink, job, executor, incremental is not None)

    def _executor_for(self, plan: Plan) -> str:
        """The cluster's executor, unless the job has an end on this server's disk: a Dask worker,
        maybe on another machine, would open whatever sits at that path on its own disk. Such a
        job's partitions run here."""
        if plan.cluster_executor == LOCAL:
            return LOCAL
        found = plan.ends.on_server_disk()
        if found is None:
            return plan.cluster_executor
        end, place = found
        log.info("submission %s: its %s is %s on this server's disk, which the workers of the Dask "
                 "cluster %s may not see: its partitions run in processes of this server",
                 self.submission_id, end, place, plan.cluster_executor)
        return LOCAL

    def _copy(self, run: OpenRun) -> None:
        source, sink, schema, driver = run.source, run.sink, run.job.schema, run.plan.driver
        self.counters.rows_estimate = source.estimate_rows()
        self.flush(force=True)
        resumed = self._unfinished_plan(run.plan.job_id) if driver.resumable else None
        on_dask = run.executor != LOCAL
        # Writers in other processes commit on their own: clearing the destination (or dropping it)
        # waits until they are done, to commit with their rows. A resumable run commits it first.
        sink.defer_destruction = sink.parallel_writers and not driver.resumable and (
            on_dask or driver.num_extractors > 1
        )
        native, scan = self._prepare_destination(run, resumed is not None)
        if resumed is not None:
            self.resumable_plan, partitions = resumed.plan_id, resumed.left
        elif scan is not None:
            partitions = []  # read by the destination itself, below
        elif run.incremental and run.job.cursor is None:
            partitions = []  # nothing past the cursor; the destination is still prepared
        elif driver.resumable:
            partitions = source.partitions(max(driver.num_extractors, resume.RESUMABLE_PARTITIONS))
            self.resumable_plan = resume.record_plan(self.store, run.plan.job_id, partitions)
        else:
            partitions = source.partitions(driver.num_extractors)
        if self.resumable_plan is not None:
            sink.commit()  # preparation and clearing on their own; each partition then commits alone
            recorded = sink.committed_partitions(self.resumable_plan)
            if resumed is not None:
                partitions = self._skip_recorded(run.plan.job_id, partitions, recorded)
            sink.attach(schema, native)  # a writer of the new transaction's own
        job = replace(run.job, native=native, resumable_plan=self.resumable_plan)
        if sink.parallel_writers and (
            (on_dask and len(partitions) > 0)
            or (len(partitions) > 1 and (driver.num_extractors > 1 or not driver.resumable))
        ):
            self._copy_in_parallel(run, job, partitions)
            return
        if on_dask and not sink.parallel_writers:
            log.info("submission %s: this server's process copies the job, not the Dask cluster %s: its "
                     "destination takes one writer per run", self.submission_id, run.executor)
        if scan is not None:
            for written in sink.write_scan(scan, self.counters.rows_estimate, self.check_alive):
                self.counters.rows_read += written.rows
                self.counters.bytes_read += written.bytes_read
                self.counters.count_written(written)
                self.flush()
        copy_in_this_process(self, job, source, sink, partitions)
        self._verify_and_commit(run)

    def _copy_in_parallel(self, run: OpenRun, job: PartitionJob, partitions: list[Partition]) -> None:
        sink = run.sink
        to_writers = replace(job.ends, to_job=sink.open_to_writers(job.ends.to_job))
        copy_in_parallel(self, replace(job, ends=to_writers), partitions, run.executor, run.plan.driver.num_extractors)
        gathered = sink.gather_writers()
        if gathered is None:
            self._keep()
            self._verifier(run).everything()  # the copiers committed: a mismatch fails a committed run
            return
        self.counters.count_written(gathered)
        self._verify_and_commit(run)

    def _verify_and_commit(self, run: OpenRun) -> None:
        verifier = self._verifier(run)
        verification = verifier.counts()  # in the sink's transaction: a mismatch rolls back
        self.before_commit()
        run.sink.commit()
        self._keep()
        if verification is not None:
            verifier.checksums(verification)

    def _verifier(self, run: OpenRun) -> Verifier:
        return Verifier(run.plan.driver.verify_mode, self.counters, run.source, run.sink, run.job.schema,
                        self.settings.batch_rows)

    def _prepare_destination(self, run: OpenRun, resumed: bool) -> tuple[NativeFormat | None, TableScan | None]:
        """Choose how the data travels and get the destination ready for it: the destination reading
        the table by itself (``scan``), the source's bytes passed through (``native``), or Arrow
        batches (neither). A resumed run only attaches to what the failed one prepared."""
        source, sink, schema = run.source, run.sink, run.job.schema
        # A byte stream cannot leave refused rows out: dirty data takes the Arrow path.
        # Data with no Arrow form (native.required) is passed through whatever the settings.
        native = source.native_format()
        if native is not None and not native.required and (not self.settings.fast_paths or sink.skip_rejected_rows):
            native = None
        # A destination reading the table by itself copies it whole, in one go: not in runs that
        # commit partition by partition or read an incremental range, nor with dirty data.
        scan = None
        if (self.settings.fast_paths and not sink.skip_rejected_rows and not run.plan.driver.resumable
                and not run.incremental):
            scan = source.table_scan()
        if resumed:
            # The destination holds the partitions the failed run committed: no preparation, no clearing.
            sink.attach(schema, None)
            return None, None
        if scan is not None and (native is None or not native.required) and sink.prepare_scan(schema, scan):
            log.info("submission %s: the destination reads %s table %s.%s itself", self.submission_id,
                     scan.dialect, scan.schema, scan.table)
            return None, scan
        if native is not None and sink.prepare_native(schema, native):
            log.info("submission %s: passing %s through without decoding", self.submission_id, native.name)
            return native, None
        if native is not None and native.required:
            raise CdmError("Cdm.0062", f"The destination does not take {native.name} data as it is.")
        sink.prepare(schema)
        return None, None

    def _unfinished_plan(self, job_id: int) -> UnfinishedPlan | None:
        """The partition plan a failed resumable run of the job left, to resume; None when none failed."""
        unfinished = resume.unfinished_plan(self.store, job_id)
        if unfinished is not None:
            log.info("submission %s resumes: %d partitions committed before, %d left", self.submission_id,
                     unfinished.committed, len(unfinished.left))
            self._write_progress(partitions_skipped=unfinished.committed)
        return unfinished

    def _skip_recorded(self, job_id: int, partitions: list[Partition], recorded: dict[int, int]) -> list[Partition]:
        """``partitions`` but those the destination recorded as committed: a run that died between a
        partition's commit and its record in the store left them so."""
        found = [partition for partition in partitions if partition.index in recorded]
        if not found:
            return partitions
        for partition in found:
            resume.partition_committed(self.store, job_id, partition.index, recorded[partition.index])
        skipped = resume.committed_partitions(self.store, job_id)
        log.info("submission %s: %d partitions committed before, found recorded in the destination",
                 self.submission_id, len(found))
        self._write_progress(partitions_skipped=skipped)
        return [partition for partition in partitions if partition.index not in recorded]

    def partition_committed(self, index: int, rows: int, counts: tuple[int, ...]) -> None:
        """A partition of a resumable run committed on its own (engine.copiers.Run)."""
        assert self.job_id is not None
        resume.partition_committed(self.store, self.job_id, index, rows)
        self._keep(counts)

    def _keep(self, counts: tuple[int, ...] | None = None) -> None:
        """``counts`` (all the counters when None) were committed: kept whatever happens to the run
        next. Recorded at once, so that a run whose worker dies reports them as written too."""
        if counts is None:
            self.counters.keep_all()
        else:
            self.counters.committed.add(*counts)
        # Not raising when the run was taken over meanwhile: its next check says so.
        status.record_progress(self.store, self.submission_id, self.fence, **self.counters.committed_values())

    def _announce_stage_table(self, schema: str, table: str) -> None:
        """Recorded before the sink creates it: a worker killed after that leaves it to the next run."""
        self.stage_table = {"schema": schema, "table": table}
        self._write_progress(stage_table=self.stage_table)

    def check_alive(self) -> None:
        # Checked between batches rather than raised from the signal handler, so a stop never
        # lands in the middle of a driver call or a store write. A worker whose server died must
        # not go on unsupervised either.
        if self.stop_signalled or os.getppid() != self.parent_pid:
            raise JobStopped()
        if self.progress is not None and self.progress.lost.is_set():
            raise RunTakenOver()

    def before_commit(self) -> None:
        """Commit only a run still ours, with enough of its lease left that no other server can take
        it over before the commit is done; while the owner's renewal is late, wait for it."""
        margin_ms = self.settings.lease_seconds * 1000 / 3
        while True:
            self.check_alive()
            left_ms = status.lease_left_ms(self.store, self.submission_id, self.fence)
            if left_ms is None:
                raise RunTakenOver()
            if left_ms > margin_ms:
                return
            time.sleep(0.2)

    def _write_progress(self, **values: object) -> None:
        if not status.record_progress(self.store, self.submission_id, self.fence, **values):
            raise RunTakenOver()

    def flush(self, force: bool = False) -> None:
        """The counters to the store: now when ``force``, else by the progress writer's thread."""
        self.counters.advance_progress()
        values = {"progress": self.counters.progress, **self.counters.as_values()}
        if force or self.progress is None:
            self._write_progress(**values)
        else:
            self.progress.offer(**values)

    def _rollback(self, run: OpenRun | None) -> None:
        with self._cancelling:
            self._cancellable = None
        if run is None:
            return
        try:
            run.sink.rollback()
        except Exception:
            log.exception("rollback of submission %s failed", self.submission_id)
        else:
            self.stage_table = None  # dropped by the rollback

    def _stop_requested(self) -> bool:
        with self.store.session() as session:
            return bool(session.get(Submission, self.submission_id).stop_requested)  # type: ignore[union-attr]
