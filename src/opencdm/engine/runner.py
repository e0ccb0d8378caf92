"""Runs one submission inside a worker process: plan, copy batches, count, commit."""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo

from sqlalchemy import delete, func, select, update

from opencdm.config_values import flatten, input_value_as_str
from opencdm.connectors import get_connector
from opencdm.connectors.base import NativeFormat, Partition, Sink, Source, TableScan
from opencdm.connectors.inputs import ignored_notes
from opencdm.engine import run_log, status
from opencdm.engine.dirty import DirtyDataPlace, DirtyDataWriter, received_rows, run_stem, server_directory
from opencdm.engine.driver import DRIVER_UNUSED, DriverConfig
from opencdm.engine.executors import LOCAL, PartitionFailed, executor_for
from opencdm.engine.incremental import IncrementalRead
from opencdm.engine.macros import expand_all
from opencdm.engine.partitions import PartitionJob, Tally, cancel_statements, copy_partition
from opencdm.engine.verify import Verification, VerifyMode, add_checksums, checksum, compare_counts
from opencdm.errors import CdmError, JobStopped
from opencdm.settings import Settings
from opencdm.store.db import Store
from opencdm.store.links import link_values
from opencdm.store.models import Cluster, Job, Link, ResumablePartition, Submission
from opencdm.store.secrets import SecretBox

log = logging.getLogger(__name__)


class RunTakenOver(JobStopped):
    """The run is no longer this worker's: another server took it over (its lease expired), or it
    ended meanwhile. The worker rolls back and writes nothing more."""


def _local_zone() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


# A resumable run cuts its source into at least this many partitions, so a crash loses little.
RESUMABLE_PARTITIONS = 8


class VerificationFailed(Exception):
    """The copy does not match its source; args are (summary, details)."""



@dataclass
class Counters(Tally):
    rows_estimate: int | None = None
    progress: float = 0.0
    verification: dict[str, object] | None = None
    # What the destination committed of the counts above: all of them once the run commits, those
    # of its committed partitions before that (resumable runs), none when it rolls back.
    committed: Tally = field(default_factory=Tally)

    def as_values(self) -> dict[str, object]:
        """The live counters: what was written so far, committed or not."""
        return {
            "rows_read": self.rows_read,
            "bytes_read": self.bytes_read,
            "rows_written": self.rows_written,
            "bytes_written": self.bytes_written,
            "update_rows": self.rows_updated,
            "rows_skipped": self.rows_skipped,
            "rows_estimate": self.rows_estimate,
            "verification": self.verification,
        }

    def committed_values(self) -> dict[str, object]:
        return {
            "committed_rows": self.committed.rows_written,
            "committed_bytes": self.committed.bytes_written,
            "committed_updates": self.committed.rows_updated,
        }

    def kept_values(self) -> dict[str, object]:
        """The counters of a run that ended: written means committed (a rollback took the rest back)."""
        return {
            **self.as_values(), **self.committed_values(), "rows_written": self.committed.rows_written,
            "bytes_written": self.committed.bytes_written, "update_rows": self.committed.rows_updated,
        }

    def keep_all(self) -> None:
        self.committed = Tally(*self.counts())

    def advance_progress(self) -> None:
        """Progress from rows written against the estimate; below 100 until committed, never backwards."""
        if self.rows_estimate:
            self.progress = max(self.progress, min(99.0, 100.0 * self.rows_written / self.rows_estimate))


@dataclass(frozen=True)
class Plan:
    source: Source
    sink: Sink
    num_extractors: int
    # What partition processes need to open their own source and sink.
    job: PartitionJob
    job_id: int
    # An incremental run: whether it has rows to read (job.cursor says which).
    incremental: bool = False
    verify_mode: VerifyMode = VerifyMode.COUNT
    resumable: bool = False
    # Where parallel partitions run: the job's cluster's executor (engine.executors).
    executor: str = LOCAL


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
        # The id of a resumable run's partition plan (its partitions commit one by one).
        self.resumable_plan: str | None = None
        # The stage table the sink announced ({"schema", "table"}) until a commit or rollback drops it.
        self.stage_table: dict[str, str] | None = None
        # The plan whose statements a stop cancels (cancel_statements): from planning until the
        # commit, or until the rollback begins, which no cancel may interrupt.
        self._cancellable: Plan | None = None
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
        plan: Plan | None = None
        began = time.monotonic()
        try:
            with self._stop_explains_failures():
                plan = self._plan()
                planned = time.monotonic()
                self._cancellable = plan
                self._copy(plan)
                self._cancellable = None  # committed
            if plan.job.cursor is not None:
                self._save_cursor(plan.job_id, plan.job.cursor.upper)
            # The plan goes with the success, in its transaction: a run taken over after its last
            # commit leaves its plan, all committed, for the run that follows.
            forget_plan = delete(ResumablePartition).where(ResumablePartition.job_id == plan.job_id)
            if not status.succeed(
                self.store, self.submission_id, self.fence, then=lambda session: session.execute(forget_plan),
                **self.counters.kept_values(), stage_table=None,
            ):
                raise RunTakenOver()
            if self.resumable_plan is not None:
                plan.sink.forget_partitions(self.resumable_plan)
            log.info(
                "submission %s: %d rows in %.2f s (planning %.2f s)", self.submission_id,
                self.counters.rows_written, time.monotonic() - began, planned - began,
            )
        except RunTakenOver:
            self._rollback(plan)
            log.warning("submission %s was taken over by another server (or ended meanwhile): its "
                        "uncommitted work is rolled back, and it writes nothing more", self.submission_id)
        except JobStopped:
            self._rollback(plan)
            summary = (
                "Job stopped by user." if self._stop_requested() else "Job stopped: the OpenCDM server shut down."
            )
            self._fail(summary, "The run was stopped and rolled back.")
        except (PartitionFailed, VerificationFailed) as exc:
            self._rollback(plan)
            self._fail(*exc.args)
        except CdmError as exc:
            self._rollback(plan)
            self._fail(exc.message, f"{exc.code}: {exc.message}")
        except Exception as exc:
            self._rollback(plan)
            log.exception("submission %s failed", self.submission_id)
            self._fail(f"{type(exc).__name__}: {exc}", traceback.format_exc(), logged=True)
        finally:
            self.progress.close()  # a write still under way cannot undo the final state: see status.py
            if plan is not None:
                plan.source.close()
                plan.sink.close()

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

    def _plan(self) -> Plan:
        with self.store.session() as session:
            submission = session.get(Submission, self.submission_id)
            assert submission is not None
            job = session.get(Job, submission.job_id)
            assert job is not None
            driver = DriverConfig.parse(job.driver_config)
            driver_values = flatten(job.driver_config)
            dirty_link = driver.dirty_data_link if driver.record_dirty_data else None
            names = [name for name in (job.from_link_name, job.to_link_name, dirty_link) if name is not None]
            links = {
                link.name: link
                for link in session.query(Link).filter(Link.cluster_id == job.cluster_id, Link.name.in_(names))
            }
            for name in names:
                if name not in links:
                    raise CdmError("Cdm.0101", f"Link [{name}] does not exist.")
            from_link = link_values(self.box, links[job.from_link_name])
            to_link = link_values(self.box, links[job.to_link_name])
            cluster = session.get(Cluster, job.cluster_id)
            assert cluster is not None
            dirty_place = None
            if driver.max_error_records is not None and driver.record_dirty_data:
                if dirty_link is None:
                    directory = server_directory(self.settings.home, cluster.project_id, job.name)
                    dirty_place = DirtyDataPlace(str(directory))
                else:
                    dirty_place = DirtyDataPlace(
                        driver.dirty_data_directory or "/", links[dirty_link].connector_name,
                        link_values(self.box, links[dirty_link]), driver.dirty_data_bucket,
                    )
            dirty_file_stem = run_stem(job.name, self.submission_id)
            # Macros read the clock of the moment the job was started, in the job's time zone.
            started = datetime.fromtimestamp(submission.creation_ms / 1000, driver.time_zone or _local_zone())
            variables = {str(k): input_value_as_str(v) for k, v in (submission.variables or {}).items()}
            from_job = expand_all(flatten(job.from_config), started, variables)
            to_job = expand_all(flatten(job.to_config), started, variables)
            from_connector, to_connector = job.from_connector_name, job.to_connector_name
            job_id, stored_cursor = job.id, job.incremental_cursor
            cluster_executor = cluster.executor
        executor = self._executor_for(
            cluster_executor, ((from_connector, from_link, "source"), (to_connector, to_link, "destination"))
        )
        # Inputs CDM documents that mean nothing here, given a value that asks for something: said
        # once per run (both ends on one link say its inputs once).
        notes = [
            *ignored_notes({**from_link, **from_job}, get_connector(from_connector).unused_inputs),
            *ignored_notes({**to_link, **to_job}, get_connector(to_connector).unused_inputs),
            *ignored_notes(driver_values, DRIVER_UNUSED),
        ]
        for note in dict.fromkeys(notes):
            log.warning("submission %s: %s", self.submission_id, note)
        incremental = IncrementalRead.parse(from_job, to_job)
        source = get_connector(from_connector).open_source(from_link, from_job)
        source.skip_rejected_rows = driver.max_error_records is not None
        try:
            cursor = None
            if incremental is not None:
                self._write_progress(is_incrementing=True)
                cursor = incremental.next_range(source, stored_cursor)
                if cursor is not None:
                    source.restrict(cursor)
            sink = get_connector(to_connector).open_sink(to_link, to_job)
        except BaseException:
            source.close()
            raise
        self._drop_tables_left(job_id, sink)
        sink.announce_lasting_table = self._announce_stage_table
        sink.skip_rejected_rows = driver.max_error_records is not None
        partition_job = PartitionJob(
            from_connector, from_link, from_job, to_connector, to_link, to_job,
            schema=source.schema(), native=None, batch_rows=self.settings.batch_rows, cursor=cursor,
            max_rejected=driver.max_error_records, dirty_place=dirty_place, dirty_file_stem=dirty_file_stem,
        )
        return Plan(
            source=source, sink=sink, num_extractors=driver.num_extractors, job=partition_job, job_id=job_id,
            incremental=incremental is not None, verify_mode=driver.verify_mode, resumable=driver.resumable,
            executor=executor,
        )

    def _executor_for(self, executor: str, ends: tuple[tuple[str, dict[str, str], str], ...]) -> str:
        """The cluster's executor, unless the job has an end on this server's disk (a SQLite file, a
        nas directory, a local Iceberg warehouse): a Dask worker, maybe on another machine, would
        open whatever sits at that path on its own disk. Such a job's partitions run here."""
        if executor == LOCAL:
            return executor
        for connector, link, end in ends:
            place = get_connector(connector).server_disk_place(link)
            if place is not None:
                log.info("submission %s: its %s is %s on this server's disk, which the workers of the Dask "
                         "cluster %s may not see: its partitions run in processes of this server",
                         self.submission_id, end, place, executor)
                return LOCAL
        return executor

    def _copy(self, plan: Plan) -> None:
        source, sink, schema = plan.source, plan.sink, plan.job.schema
        self.counters.rows_estimate = source.estimate_rows()
        self._flush(force=True)
        resumed = self._unfinished_partition_plan(plan.job_id) if plan.resumable else None
        on_dask = plan.executor != LOCAL
        # Writers in other processes commit on their own: clearing the destination (or dropping it)
        # waits until they are done, to commit with their rows. A resumable run commits it first.
        sink.defer_destruction = sink.parallel_writers and not plan.resumable and (on_dask or plan.num_extractors > 1)
        native, scan = self._prepare_destination(plan, resumed is not None)
        if resumed is not None:
            self.resumable_plan, partitions = resumed
        elif scan is not None:
            partitions = []  # read by the destination itself, below
        elif plan.incremental and plan.job.cursor is None:
            partitions = []  # nothing past the cursor; the destination is still prepared
        elif plan.resumable:
            partitions = source.partitions(max(plan.num_extractors, RESUMABLE_PARTITIONS))
            self.resumable_plan = self._record_partition_plan(plan.job_id, partitions)
        else:
            partitions = source.partitions(plan.num_extractors)
        if self.resumable_plan is not None:
            sink.commit()  # preparation and clearing on their own; each partition then commits alone
            recorded = sink.committed_partitions(self.resumable_plan)
            if resumed is not None:
                partitions = self._skip_recorded(plan.job_id, partitions, recorded)
            sink.attach(schema, native)  # a writer of the new transaction's own
        if sink.parallel_writers and (
            (on_dask and len(partitions) > 0)
            or (len(partitions) > 1 and (plan.num_extractors > 1 or not plan.resumable))
        ):
            to_job = sink.open_to_writers(plan.job.to_job)
            self._copy_in_parallel(
                replace(plan.job, to_job=to_job, native=native, resumable_plan=self.resumable_plan), partitions, plan
            )
            gathered = sink.gather_writers()
            if gathered is None:
                self._keep()
                self._verify(plan)  # the children committed: a mismatch fails a committed run
                return
            self.counters.count_written(gathered)
            self._verify_and_commit(plan)
            return
        if on_dask and not sink.parallel_writers:
            log.info("submission %s: this server's process copies the job, not the Dask cluster %s: its "
                     "destination takes one writer per run", self.submission_id, plan.executor)
        batch_rows, check, job = self.settings.batch_rows, self._check_alive, plan.job
        dirty = DirtyDataWriter(job.dirty_place, f"{job.dirty_file_stem}.jsonl") if job.dirty_place else None
        try:
            if scan is not None:
                for written in sink.write_scan(scan, self.counters.rows_estimate, check):
                    self.counters.rows_read += written.rows
                    self.counters.bytes_read += written.bytes_read
                    self.counters.count_written(written)
                    self._flush()
            for partition in partitions:
                before = self.counters.counts()
                for written in copy_partition(
                    source, sink, partition, native, batch_rows, self.counters, check, job.max_rejected, dirty
                ):
                    self.counters.count_written(written)
                    self._flush()
                if self.resumable_plan is not None:
                    self._before_commit()
                    counts = tuple(now - then for now, then in zip(self.counters.counts(), before, strict=True))
                    rows = Tally(*counts).rows_written
                    sink.commit_partition(self.resumable_plan, partition.index, rows)
                    self._partition_committed(plan.job_id, partition.index, rows)
                    self._keep(counts)
                    sink.attach(schema, native)
        finally:
            if dirty is not None:
                dirty.close()
        self._verify_and_commit(plan)

    def _verify_and_commit(self, plan: Plan) -> None:
        verification = self._verify_counts(plan)  # in the sink's transaction: a mismatch rolls back
        self._before_commit()
        plan.sink.commit()
        self._keep()
        if verification is not None:
            self._verify_checksums(plan, verification)

    def _prepare_destination(self, plan: Plan, resumed: bool) -> tuple[NativeFormat | None, TableScan | None]:
        """Choose how the data travels and get the destination ready for it: the destination reading
        the table by itself (``scan``), the source's bytes passed through (``native``), or Arrow
        batches (neither). A resumed run only attaches to what the failed one prepared."""
        source, sink, schema = plan.source, plan.sink, plan.job.schema
        # A byte stream cannot leave refused rows out: dirty data takes the Arrow path.
        # Data with no Arrow form (native.required) is passed through whatever the settings.
        native = source.native_format()
        if native is not None and not native.required and (not self.settings.fast_paths or sink.skip_rejected_rows):
            native = None
        # A destination reading the table by itself copies it whole, in one go: not in runs that
        # commit partition by partition or read an incremental range, nor with dirty data.
        scan = None
        if self.settings.fast_paths and not sink.skip_rejected_rows and not plan.resumable and not plan.incremental:
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

    def _verify(self, plan: Plan) -> None:
        verification = self._verify_counts(plan)
        if verification is not None:
            self._verify_checksums(plan, verification)

    def _verify_counts(self, plan: Plan) -> Verification | None:
        if plan.verify_mode is VerifyMode.NONE:
            return None
        counters = self.counters
        verification = compare_counts(
            plan.verify_mode, counters.rows_read, counters.rows_written, counters.rows_skipped,
            plan.sink.rows_of_this_run(),
        )
        self._record(verification)
        return verification

    def _verify_checksums(self, plan: Plan, verification: Verification) -> None:
        if plan.verify_mode is VerifyMode.CHECKSUM:
            schema, batch_rows = plan.job.schema, self.settings.batch_rows
            # The source is read a second time: one that changed since the copy shows as a mismatch.
            source_batches = (batch for partition in plan.source.partitions(1)
                              for batch in plan.source.read(partition, batch_rows))
            destination = plan.sink.read_back(batch_rows)
            add_checksums(verification, checksum(source_batches, schema),
                          checksum(destination, schema) if destination is not None else None)
            self._record(verification)

    def _record(self, verification: Verification) -> None:
        self.counters.verification = verification.as_dict()
        if not verification.passed:
            raise VerificationFailed(
                f"Verification ({verification.mode}) failed: {verification.summary}.",
                "The copy was compared with its source after writing (verifyConfig.mode); see the "
                "submission's verification.",
            )

    def _copy_in_parallel(self, job: PartitionJob, partitions: list[Partition], plan: Plan) -> None:
        executor = executor_for(plan.executor, f"opencdm-{uuid.uuid4().hex}-{self.submission_id}")
        copiers = executor.start(job, partitions, plan.num_extractors)
        where = "processes" if plan.executor == LOCAL else f"Dask tasks of {plan.executor}"
        log.info("submission %s: %d partitions on %d %s", self.submission_id, len(partitions), copiers, where)
        # Each copier's counts so far: a copier Dask starts again (its worker died, its transaction
        # with it) reports from zero, and what the lost attempt had counted is taken back.
        counted = {child: Tally() for child in range(copiers)}
        # Partitions committed on their own (resumable runs), whether this attempt or a lost one did.
        noted: set[int] = set()

        def recorded(index: int, rows: int) -> None:
            """A partition a lost attempt committed, found by the next one: counted once."""
            if index not in noted:
                noted.add(index)
                counts = Tally(rows_read=rows, rows_written=rows).take()
                self.counters.add(*counts)
                self._partition_committed(plan.job_id, index, rows)
                self._keep(counts)
                executor.note_committed(index)

        # Dirty data the copiers send (on Dask), written here: a file per partition, so that the rows
        # a lost attempt sent for a partition it did not commit are dropped when the next one starts.
        dirty: dict[int, DirtyDataWriter] = {}
        dirty_of_copier: dict[int, set[int]] = {child: set() for child in range(copiers)}
        started: set[int] = set()

        def partition_dirty(index: int) -> DirtyDataWriter:
            assert job.dirty_place is not None  # copiers send dirty data only with a place for it
            return DirtyDataWriter(job.dirty_place, f"{job.dirty_file_stem}-partition-{index}.jsonl")

        def record_dirty(child: int, index: int, pickled: bytes) -> None:
            if index not in dirty:
                dirty[index] = partition_dirty(index)
            dirty[index].record(received_rows(pickled))
            dirty_of_copier[child].add(index)

        def forget_lost_dirty(child: int) -> None:
            for index in dirty_of_copier[child] - noted:
                dirty.pop(index).close()
                emptied = partition_dirty(index)
                emptied.record([])  # opens it anew, empty: the new attempt records the partition's rows again
                emptied.close()
            dirty_of_copier[child] &= noted

        ready: set[int] = set()
        committed: set[int] = set()
        commit_ordered = False
        try:
            while len(committed) < copiers:
                if len(ready) < copiers:
                    # Once the commit is ordered, a stop comes too late: stopping then would leave
                    # the copiers that committed first committed, and the others not.
                    self._check_alive()
                event = executor.next_event(0.2)
                if event is not None:
                    kind, child, *details = event
                    if kind == "progress":
                        self.counters.add(*details)
                        counted[child].add(*details)
                        self.counters.advance_progress()
                    elif kind == "started":
                        lost = counted[child].take()
                        log.info("submission %s: copier %s started on %s%s", self.submission_id, child, details[0],
                                 " again: its first attempt is lost" if any(lost) else "")
                        self.counters.add(*(-count for count in lost))
                        ready.discard(child)
                        if child in started:
                            forget_lost_dirty(child)
                        started.add(child)
                    elif kind == "partition":
                        self._partition_committed(plan.job_id, *details)
                        executor.note_committed(details[0])
                        noted.add(details[0])
                        self._keep(counted[child].take())  # kept, whatever happens to the copier
                    elif kind == "recorded":
                        recorded(*details)
                    elif kind == "dirty":
                        record_dirty(child, *details)
                    elif kind == "ready":
                        ready.add(child)
                    elif kind == "committed":
                        committed.add(child)
                    elif kind == "failed":
                        raise PartitionFailed(*details)
                else:
                    executor.check_copiers(committed)
                if len(ready) == copiers:
                    if not commit_ordered:
                        self._before_commit()
                        commit_ordered = True
                    executor.order_commit()
                self._flush()
        except BaseException:
            executor.abort()
            raise
        finally:
            # Counters the copiers sent before they ended.
            for kind, child, *details in executor.finish():
                if kind == "progress":
                    self.counters.add(*details)
                    counted[child].add(*details)
                elif kind == "partition":  # committed: recorded even when the run is failing
                    self._partition_committed(plan.job_id, *details)
                    self._keep(counted[child].take())
                elif kind == "recorded":
                    recorded(*details)
                elif kind == "dirty":
                    record_dirty(child, *details)
            for writer in dirty.values():
                writer.close()

    def _unfinished_partition_plan(self, job_id: int) -> tuple[str, list[Partition]] | None:
        """The plan a failed resumable run of the job left (its id, its partitions not committed);
        None when none failed."""
        with self.store.session() as session:
            rows = session.scalars(
                select(ResumablePartition).where(ResumablePartition.job_id == job_id)
                .order_by(ResumablePartition.position)
            ).all()
            if not rows:
                return None
            plan_id = rows[0].plan_id
            if plan_id is None:  # recorded before plans had ids
                plan_id = uuid.uuid4().hex
                for row in rows:
                    row.plan_id = plan_id
            skipped = sum(1 for row in rows if row.committed_rows is not None)
            left = [Partition(row.position, row.spec) for row in rows if row.committed_rows is None]
        log.info("submission %s resumes: %d partitions committed before, %d left", self.submission_id, skipped,
                 len(left))
        self._write_progress(partitions_skipped=skipped)
        return plan_id, left

    def _skip_recorded(self, job_id: int, partitions: list[Partition], recorded: dict[int, int]) -> list[Partition]:
        """``partitions`` but those the destination recorded as committed: a run that died between a
        partition's commit and its record in the store left them so."""
        found = [partition for partition in partitions if partition.index in recorded]
        if not found:
            return partitions
        for partition in found:
            self._partition_committed(job_id, partition.index, recorded[partition.index])
        with self.store.session() as session:
            skipped = session.scalar(
                select(func.count()).select_from(ResumablePartition)
                .where(ResumablePartition.job_id == job_id, ResumablePartition.committed_rows.is_not(None))
            )
        log.info("submission %s: %d partitions committed before, found recorded in the destination",
                 self.submission_id, len(found))
        self._write_progress(partitions_skipped=skipped)
        return [partition for partition in partitions if partition.index not in recorded]

    def _record_partition_plan(self, job_id: int, partitions: list[Partition]) -> str:
        plan_id = uuid.uuid4().hex
        with self.store.session() as session:
            session.execute(delete(ResumablePartition).where(ResumablePartition.job_id == job_id))
            session.add_all(
                ResumablePartition(job_id=job_id, position=partition.index, spec=dict(partition.spec), plan_id=plan_id)
                for partition in partitions
            )
        return plan_id

    def _partition_committed(self, job_id: int, position: int, rows: int) -> None:
        # After the destination's commit: a crash in between copies this partition again.
        with self.store.session() as session:
            session.execute(
                update(ResumablePartition)
                .where(ResumablePartition.job_id == job_id, ResumablePartition.position == position)
                .values(committed_rows=rows)
            )

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

    def _drop_tables_left(self, job_id: int, sink: Sink) -> None:
        """Drop the stage tables earlier runs of the job announced and did not drop (their worker was
        killed outright), and say so in both runs' logs. A table that cannot be dropped now stays
        recorded for the next run; this run goes on."""
        with self.store.session() as session:
            recorded = session.execute(
                select(Submission.id, Submission.stage_table).where(
                    Submission.job_id == job_id, Submission.id != self.submission_id,
                    Submission.stage_table.is_not(None), Submission.status.not_in(status.ACTIVE),
                )
            ).all()
        left = {run_id: table for run_id, table in recorded if table is not None}
        for run_id, table in left.items():
            name = f"{table['schema']}.{table['table']}"
            try:
                dropped = sink.drop_table_left(table["schema"], table["table"])
            except Exception:
                log.warning("submission %s: stage table %s, left by run %s of the job, could not be dropped",
                            self.submission_id, name, run_id, exc_info=True)
                continue
            with self.store.session() as session:
                session.execute(update(Submission).where(Submission.id == run_id).values(stage_table=None))
            if dropped:
                log.info("submission %s: dropped stage table %s, left by run %s of the job (its worker was killed)",
                         self.submission_id, name, run_id)
                run_log.append(self.store, run_id, "INFO",
                               f"stage table {name} dropped by run {self.submission_id} of the job")

    def _save_cursor(self, job_id: int, value: str) -> None:
        # After the destination committed: a run that failed or was stopped never moves the cursor.
        with self.store.session() as session:
            session.execute(update(Job).where(Job.id == job_id).values(incremental_cursor=value))

    def _check_alive(self) -> None:
        # Checked between batches rather than raised from the signal handler, so a stop never
        # lands in the middle of a driver call or a store write. A worker whose server died must
        # not go on unsupervised either.
        if self.stop_signalled or os.getppid() != self.parent_pid:
            raise JobStopped()
        if self.progress is not None and self.progress.lost.is_set():
            raise RunTakenOver()

    def _before_commit(self) -> None:
        """Commit only a run still ours, with enough of its lease left that no other server can take
        it over before the commit is done; while the owner's renewal is late, wait for it."""
        margin_ms = self.settings.lease_seconds * 1000 / 3
        while True:
            self._check_alive()
            left_ms = status.lease_left_ms(self.store, self.submission_id, self.fence)
            if left_ms is None:
                raise RunTakenOver()
            if left_ms > margin_ms:
                return
            time.sleep(0.2)

    def _write_progress(self, **values: object) -> None:
        if not status.record_progress(self.store, self.submission_id, self.fence, **values):
            raise RunTakenOver()

    def _flush(self, force: bool = False) -> None:
        """The counters to the store: now when ``force``, else by the progress writer's thread."""
        self.counters.advance_progress()
        values = {"progress": self.counters.progress, **self.counters.as_values()}
        if force or self.progress is None:
            self._write_progress(**values)
        else:
            self.progress.offer(**values)

    def _rollback(self, plan: Plan | None) -> None:
        with self._cancelling:
            self._cancellable = None
        if plan is None:
            return
        try:
            plan.sink.rollback()
        except Exception:
            log.exception("rollback of submission %s failed", self.submission_id)
        else:
            self.stage_table = None  # dropped by the rollback

    def _stop_requested(self) -> bool:
        with self.store.session() as session:
            return bool(session.get(Submission, self.submission_id).stop_requested)  # type: ignore[union-attr]
