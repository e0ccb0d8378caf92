"""``JdbcSink``: CDM's destination semantics (tablePreparation, beforeImportType, writeMode,
useStageTable, resumable partitions) on any ``Dialect``."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from opencdm.connectors import types as t
from opencdm.connectors import values
from opencdm.connectors.base import NativeChunk, NativeFormat, Refused, RejectedRow, Sink, WriteResult, primary_key_of
from opencdm.connectors.jdbc.config import BeforeImport, SinkConfig, TablePreparation, WriteMode
from opencdm.connectors.jdbc.dialect import APPEND, Dialect, Merge, Writer
from opencdm.connectors.jdbc.types import Column, match_columns, match_names
from opencdm.connectors.types import cast_batch
from opencdm.errors import CdmError


def _names(columns: Sequence[Column]) -> list[str]:
    return [column.field.name for column in columns]


# What the writers of a stage table leave to the move out of it: they append, nothing more.
_DESTINATION_ONLY_INPUTS = frozenset({
    "toJobConfig.tablePreparation", "toJobConfig.beforeImportType", "toJobConfig.shouldClearTable",
    "toJobConfig.whereClause", "toJobConfig.writeMode", "toJobConfig.upsertKeys", "toJobConfig.useStageTable",
})


class _Step(NamedTuple):
    """A table preparation or clearing statement, with the error it raises when it fails."""

    sql: str
    code: str
    what: str


# Bytes of the table name kept in a stage table's name: identifiers are at most 63 bytes in PostgreSQL.
STAGE_NAME_PREFIX_BYTES = 24
# In the name of every stage table, and only there: nothing else is ever dropped as a stage table.
STAGE_MARK = "_opencdm_stage_"


def _checked(batches: Iterator[pa.RecordBatch], width: int, written: Sequence[int]) -> Iterator[pa.RecordBatch]:
    """The batches of ``width`` columns, each cut to its columns at positions ``written``."""
    for batch in batches:
        if batch.num_columns != width:
            raise CdmError(
                "Cdm.0931",
                f"Schema column count [{width}] does not match result-set column count [{batch.num_columns}].",
            )
        yield batch if len(written) == width else batch.select(written)


def _too_long(array: pa.Array, target: pa.Field) -> Refused | None:
    """The values longer than ``target``'s declared length: refused before the write, so that the
    refusal names the value (a database names the column and at most the line), and so that
    PostgreSQL does not silently cut trailing spaces beyond the length."""
    limit = t.length_of(target)
    assert limit is not None
    try:
        converted = t.cast_array(array, target.type, target.name)
    except CdmError:
        return None  # the write's own conversion fails naming the value
    if t.is_binary(converted.type):
        lengths, unit = pc.binary_length(converted), "bytes"
    elif t.is_text(converted.type):
        lengths, unit = pc.utf8_length(converted), "characters"
    else:
        return None
    return Refused.where(pc.greater(lengths, limit), f"longer than the {limit} {unit} of column [{target.name}]")


def _conversion_failure(convert: Callable[[pa.Array], pa.Array], value: pa.Array) -> str:
    """The message of cast_array's refusal of ``value``, one value values.failing_rows found."""
    try:
        convert(value)
    except CdmError as exc:
        return exc.message
    raise AssertionError("a value values.failing_rows found converts on its own")


# The table beside a resumable run's destination table that records, in each partition's own
# transaction, that the partition committed (Sink.commit_partition).
PARTITION_RECORDS_TABLE = "opencdm_partition_commits"

# Where a batch's write can be undone when rows of it are refused (Sink.skip_rejected_rows).
REJECT_SAVEPOINT = "opencdm_batch"


class JdbcSink(Sink):
    """CDM's destination semantics on any dialect.

    Without useStageTable the rows go straight into the table (INSERT) or through a temporary
    table per batch (REPLACE, UPSERT), inside the sink's one transaction. With useStageTable they
    are loaded into a stage table; table preparation, clearing and the move into the table wait
    until a partition is fully staged, so a long load takes no lock on the table and a failed or
    stopped run leaves it untouched.
    """

    def __init__(self, dialect: Dialect, config: SinkConfig) -> None:
        self._dialect = dialect
        self._config = config
        self._schema_name = dialect.schema_for(config.schema_name)
        self._conn = dialect.connect()
        self._targets: list[Column] = []
        # The fields of the targets with a length limit, by the position of their source column.
        self._limited: dict[int, pa.Field] = {}
        # How many columns the source's batches have, and the positions of those written (the
        # others go to generated columns).
        self._source_width = 0
        self._written: list[int] = []
        self._writer: Writer | None = None
        self._merge = APPEND
        # useStageTable: the stage table, and the preparation and clearing due before the first move.
        self._stage: str | None = None
        self._deferred: list[_Step] = []
        # Whether the stage table was committed for writers in other processes (open_to_writers):
        # a rollback then has to drop it.
        self._stage_shared = False
        # Whether the table holds this run's rows only: it created or emptied it.
        self._scoped = False
        # The move out of the stage table has to happen once, after every partition is staged;
        # partition processes commit on their own, so a staged job has one writer.
        self.parallel_writers = dialect.concurrent_writers and not config.use_stage_table

    @property
    def _display(self) -> str:
        return f"{self._schema_name}.{self._config.table_name}"

    @property
    def _ref(self) -> str:
        return self._dialect.table_ref(self._schema_name, self._config.table_name)

    @property
    def _stage_ref(self) -> str:
        assert self._stage is not None
        return self._dialect.table_ref(self._schema_name, self._stage)

    def prepare(self, source_schema: pa.Schema) -> None:
        self._use_savepoint_connection()
        self._open_writer(self._prepare_table(self._conn, source_schema, setup=True))

    def attach(self, source_schema: pa.Schema, native: NativeFormat | None) -> None:
        if native is None:
            self._use_savepoint_connection()
            self._open_writer(self._prepare_table(self._conn, source_schema, setup=False))
        elif not self._prepare_native(source_schema, native, setup=False):
            raise CdmError("Cdm.0234", "Loading error. Cause: the destination's columns changed during the run.")

    def _use_savepoint_connection(self) -> None:
        """Leaving refused rows out needs a connection that can roll back to a savepoint after a
        failed statement; where the dialect's usual driver cannot, its native one writes."""
        dialect = self._dialect
        if self.skip_rejected_rows and dialect.rejects_need_native_connection:
            conn = dialect.connect(native=True)
            dialect.close(self._conn)
            self._conn = conn

    def _open_writer(self, written_columns: list[Column]) -> None:
        dialect, table = self._dialect, self._stage or self._config.table_name
        with dialect.wrap("Cdm.0232", "Data write failed."):
            if self._stage is None and self._merge.mode is not WriteMode.INSERT:
                self._writer = dialect.merging_writer(
                    self._conn, self._schema_name, table, self._targets, written_columns, self._merge
                )
            else:
                self._writer = dialect.writer(self._conn, self._schema_name, table, self._targets, written_columns)

    def prepare_native(self, source_schema: pa.Schema, native: NativeFormat) -> bool:
        return self._prepare_native(source_schema, native, setup=True)

    def _prepare_native(self, source_schema: pa.Schema, native: NativeFormat, setup: bool) -> bool:
        dialect, config = self._dialect, self._config
        if native.name != dialect.native_format_name:
            return False
        # The native stream goes into one table as it is: the target, or the stage table. REPLACE and
        # UPSERT without a stage table take the Arrow path, whose batches pass a temporary table.
        if config.write_mode is not WriteMode.INSERT and not config.use_stage_table:
            return False
        conn = dialect.connect(native=True)
        try:
            self._prepare_table(conn, source_schema, setup)
            if not dialect.passes_through(native.column_types, tuple(column.native for column in self._targets)):
                conn.rollback()  # the stage table, if any, was created inside this transaction
                dialect.close(conn)
                self._stage = None
                return False
        except BaseException:
            dialect.close(conn)
            raise
        # From here on the native connection holds the sink's transaction.
        dialect.close(self._conn)
        self._conn = conn
        return True

    def _prepare_table(self, conn: Any, source_schema: pa.Schema, setup: bool) -> list[Column]:
        """Table preparation and clearing (when ``setup``) inside ``conn``'s transaction, or deferred
        to the move out of the stage table; sets the target columns and the write mode's keys, and
        returns all the columns of the table the writer fills (the destination or the stage)."""
        dialect, config = self._dialect, self._config
        names = config.columns or tuple(source_schema.names)
        if len(names) != len(source_schema):
            raise CdmError(
                "Cdm.0931",
                f"Schema column count [{len(source_schema)}] does not match the column count "
                f"[{len(names)}] of toJobConfig.columnList.",
            )
        dialect.begin(conn)
        self._source_width = len(names)
        existing = self._table_columns(conn, config.table_name)
        drops = existing is not None and setup and config.table_preparation is TablePreparation.DROP_AND_CREATE
        if drops:
            steps = [_Step(f"DROP TABLE {self._ref}", "Cdm.0063", "Table creation error.")]
            existing = None
        else:
            steps = []
        definitions: str | None = None  # of the table to create
        if existing is not None:
            self._set_targets(existing, names)
            self._merge = self._merge_rule(conn, _names(existing), _names(self._targets), created=None)
            if not setup:
                return existing
        elif not setup or config.table_preparation is TablePreparation.DO_NOTHING:
            raise CdmError("Cdm.0900", f"Table [{self._display}] does not exist.")
        else:
            fields = [self._created_field(field, name) for field, name in zip(source_schema, names, strict=True)]
            # The source's primary key, under the destination's names of its columns.
            positions = {name: index for index, name in enumerate(source_schema.names)}
            key = primary_key_of(source_schema)
            primary = [fields[positions[name]] for name in key] if set(key) <= set(positions) else []
            primary_names = [field.name for field in primary]
            self._merge = self._merge_rule(conn, list(names), list(names), created=primary_names)
            definitions = ", ".join(dialect.column_definition(field) for field in fields)
            constraints = [dialect.key_constraint(primary)] if primary else []
            # REPLACE and UPSERT match rows on a unique key: a table created for them has one.
            if self._merge.keys and set(self._merge.keys) != set(primary_names):
                constraints.append("UNIQUE (" + ", ".join(dialect.quote(key) for key in self._merge.keys) + ")")
            create = f"CREATE TABLE {self._ref} ({', '.join([definitions, *constraints])})"
            steps.append(_Step(create, "Cdm.0063", "Table creation error."))
        self._scoped = existing is None or config.before_import is BeforeImport.CLEAR_TABLE
        if config.before_import is not BeforeImport.NONE:
            where = f" WHERE {config.where_clause}" if config.before_import is BeforeImport.WHERE_CLAUSE else ""
            clear = f"DELETE FROM {self._ref}{where}"
            steps.append(_Step(clear, "Cdm.0248", f"Failed to clear data of {self._display}."))
        destroys = drops or config.before_import is not BeforeImport.NONE
        if config.use_stage_table or (setup and destroys and self.defer_destruction):
            self._deferred = steps
            return self._create_stage(conn, definitions, names)
        self._run(conn, steps)
        if existing is None:
            existing = self._table_columns(conn, config.table_name)
            assert existing is not None
            self._set_targets(existing, names)
        return existing

    def _set_targets(self, columns: Sequence[Column], names: Sequence[str]) -> None:
        """The table's columns that take the source's columns ``names``: all but generated ones,
        which the database computes (and refuses values for)."""
        matched = match_columns(columns, names, "toJobConfig.columnList", self._display)
        self._written = [index for index, column in enumerate(matched) if not column.generated]
        self._targets = [matched[index] for index in self._written]
        if self._dialect.enforces_lengths:
            self._limited = {
                index: column.field for index, column in zip(self._written, self._targets, strict=True)
                if t.length_of(column.field) is not None
            }

    def _create_stage(self, conn: Any, definitions: str | None, names: Sequence[str]) -> list[Column]:
        """The stage table: the target's copied columns, or the definitions of the table to create."""
        dialect, config = self._dialect, self._config
        prefix = config.table_name.encode()[:STAGE_NAME_PREFIX_BYTES].decode(errors="ignore")
        stage = f"{prefix}{STAGE_MARK}{uuid.uuid4().hex[:16]}"
        ref, schema = dialect.table_ref(self._schema_name, stage), self._schema_name
        # Committed for the writers, or at once by the DDL: a killed run leaves it behind.
        if self.announce_lasting_table is not None and (self.defer_destruction or not dialect.transactional_ddl):
            self.announce_lasting_table(schema, stage)
        with dialect.wrap("Cdm.0063", "Table creation error."):
            if definitions is None:
                dialect.create_table_like(conn, ref, schema, config.table_name, self._targets, temporary=False)
            else:
                dialect.execute(conn, f"CREATE TABLE {ref} ({definitions})")
        self._stage = stage  # from here on a failure drops it
        staged = self._table_columns(conn, stage)
        assert staged is not None
        if definitions is not None:
            self._set_targets(staged, names)
        return staged

    def _table_columns(self, conn: Any, table: str) -> list[Column] | None:
        with self._dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
            return self._dialect.table_columns(conn, self._schema_name, table)

    def _created_field(self, field: pa.Field, name: str) -> pa.Field:
        """A source field as a column of a table OpenCDM creates, after extendCharLength and useNullable."""
        config = self._config
        if config.extend_char_length:
            field = t.with_length_factor(field, 3)
        return t.with_not_null(field.with_name(name), config.use_nullable and t.is_not_null(field))

    def _merge_rule(self, conn: Any, available: list[str], copied: list[str], created: Sequence[str] | None) -> Merge:
        """The write mode with its key: toJobConfig.upsertKeys, else the table's primary key. The key
        has to be copied and, in an existing table, be its primary key or a unique index: the
        database matches rows on one. ``created``: the primary key of the table to create, None
        when the table exists."""
        config, dialect = self._config, self._dialect
        mode = config.write_mode
        if mode is WriteMode.INSERT:
            return APPEND
        if config.upsert_keys:
            keys = match_names(available, config.upsert_keys, "toJobConfig.upsertKeys", self._display)
        elif created is not None:
            keys = list(created)
        else:
            with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
                keys = dialect.primary_key(conn, self._schema_name, config.table_name)
        if not keys:
            raise CdmError(
                "Cdm.0014",
                f"The parameter is invalid: toJobConfig.writeMode {mode.value} needs key columns; set "
                f"toJobConfig.upsertKeys or give table [{self._display}] a primary key.",
            )
        for key in keys:
            if key not in copied:
                raise CdmError(
                    "Cdm.0014",
                    f"The parameter is invalid: key column [{key}] of table [{self._display}] is not copied.",
                )
        if created is None:
            with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
                unique = dialect.unique_keys(conn, self._schema_name, config.table_name)
            if set(keys) not in [set(columns) for columns in unique]:
                raise CdmError(
                    "Cdm.0014",
                    f"The parameter is invalid: [{'&'.join(keys)}] is neither the primary key nor a unique index of "
                    f"table [{self._display}]; toJobConfig.writeMode {mode.value} needs one on exactly these columns.",
                )
        return Merge(mode, tuple(keys), tuple(name for name in available if name not in copied))

    def _run(self, conn: Any, steps: Sequence[_Step]) -> None:
        for step in steps:
            with self._dialect.wrap(step.code, step.what):
                self._dialect.execute(conn, step.sql)

    def target_fields(self) -> list[pa.Field | None]:
        fields: list[pa.Field | None] = [None] * self._source_width
        for position, column in zip(self._written, self._targets, strict=True):
            fields[position] = column.field
        return fields

    def refused_values(self, position: int, array: pa.Array) -> Refused | None:
        found = Refused.where(self._dialect.refused_values(array))
        target = self._limited.get(position)
        if found is None and target is not None:
            found = _too_long(array, target)
        return found

    def write(self, batches: Iterator[pa.RecordBatch]) -> Iterator[WriteResult]:
        if self._writer is None:
            raise CdmError("Cdm.0234", "Loading error. Cause: prepare() was not called.")
        writer, target_schema = self._writer, pa.schema([column.field for column in self._targets])
        checked = _checked(batches, self._source_width, self._written)
        if not self._dialect.negative_zero:
            checked = map(values.without_negative_zeros, checked)
        if self.skip_rejected_rows:
            for batch in checked:
                updated, rejected = self._write_or_reject(batch, target_schema)
                yield WriteResult(batch.num_rows - len(rejected), batch.nbytes, updated, rejected)
        else:
            sizes: deque[tuple[int, int]] = deque()

            def cast_batches() -> Iterator[pa.RecordBatch]:
                for batch in checked:
                    sizes.append((batch.num_rows, batch.nbytes))
                    yield cast_batch(batch, target_schema)

            with self._writing():
                for updated in writer.write_all(cast_batches()):
                    rows, size = sizes.popleft()
                    yield WriteResult(rows=rows, bytes=size, updated=updated)
        if self._stage is not None:
            yield self._move_staged_rows()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Errors of the write as Cdm.0232; a duplicate key also says what runs a job again."""
        dialect = self._dialect
        try:
            yield
        except dialect.driver_errors as exc:
            message = f"Data write failed. Cause: {dialect.error_message(exc)}"
            if dialect.is_duplicate_key(exc):
                message = (
                    f"Data write failed: a row has the key of a row table [{self._display}] already holds "
                    "(to copy rows again, set toJobConfig.writeMode UPSERT or REPLACE, or "
                    f"toJobConfig.beforeImportType shouldClearTable). Cause: {dialect.error_message(exc)}"
                )
            raise CdmError("Cdm.0232", message) from exc

    def _write_or_reject(self, batch: pa.RecordBatch, target_schema: pa.Schema) -> tuple[int, list[RejectedRow]]:
        """Write ``batch``, leaving out the rows the destination refuses: first, in memory, those
        with a value that does not convert into its column (values.failing_rows), then those the
        database refuses (_write_or_refuse)."""
        unconvertible: dict[int, str] = {}
        for position, field in enumerate(target_schema):
            array = batch.column(position)

            def convert(part: pa.Array, field: pa.Field = field) -> pa.Array:
                return t.cast_array(part, field.type, field.name)

            reasons: dict[str, str] = {}  # cast_array's own message, once per distinct value
            for row in values.failing_rows(array, convert):
                shown = values.value_text(array, row)
                if shown not in reasons:
                    reasons[shown] = _conversion_failure(convert, array.slice(row, 1))
                unconvertible.setdefault(row, reasons[shown])
        if not unconvertible:
            return self._write_or_refuse(batch, target_schema)
        left_out = [row in unconvertible for row in range(batch.num_rows)]
        rejected = [
            RejectedRow(batch.slice(row, 1).to_pylist()[0], reason) for row, reason in sorted(unconvertible.items())
        ]
        updated, refused = self._write_or_refuse(batch.filter(pc.invert(pa.array(left_out))), target_schema)
        return updated, rejected + refused

    def _write_or_refuse(self, batch: pa.RecordBatch, target_schema: pa.Schema) -> tuple[int, list[RejectedRow]]:
        """Write ``batch``, leaving out the rows the database refuses: a refused batch is halved
        until the refused rows stand alone, each attempt under a savepoint, so one bad row costs
        about 2·log2(batch) attempts and never its neighbours."""
        if batch.num_rows == 0:
            return 0, []
        dialect, conn = self._dialect, self._conn
        assert self._writer is not None
        with dialect.wrap("Cdm.0232", "Data write failed."):
            dialect.execute(conn, f"SAVEPOINT {REJECT_SAVEPOINT}")
        try:
            with self._writing():
                updated = self._writer.write(cast_batch(batch, target_schema))
        except CdmError as exc:
            with dialect.wrap("Cdm.0232", "Data write failed."):
                dialect.execute(conn, f"ROLLBACK TO SAVEPOINT {REJECT_SAVEPOINT}")
                dialect.execute(conn, f"RELEASE SAVEPOINT {REJECT_SAVEPOINT}")
            if batch.num_rows == 1:
                return 0, [RejectedRow(batch.to_pylist()[0], exc.message)]
            half = batch.num_rows // 2
            first = self._write_or_refuse(batch.slice(0, half), target_schema)
            second = self._write_or_refuse(batch.slice(half), target_schema)
            return first[0] + second[0], first[1] + second[1]
        with dialect.wrap("Cdm.0232", "Data write failed."):
            dialect.execute(conn, f"RELEASE SAVEPOINT {REJECT_SAVEPOINT}")
        return updated, []

    def write_native(self, chunks: Iterator[NativeChunk]) -> Iterator[WriteResult]:
        dialect = self._dialect
        names = ", ".join(dialect.quote(column.field.name) for column in self._targets)
        target = f"{self._stage_ref if self._stage else self._ref} ({names})"
        with self._writing():
            yield from dialect.copy_in(self._conn, target, chunks)
        if self._stage is not None:
            yield self._move_staged_rows()

    def _move_staged_rows(self) -> WriteResult:
        """Table preparation and clearing (the first time), then the staged rows into the table."""
        self._run(self._conn, self._deferred)
        self._deferred = []
        columns = [column.field.name for column in self._targets]
        with self._writing():
            updated = self._dialect.move_rows(self._conn, self._stage_ref, self._ref, columns, self._merge)
        return WriteResult(updated=updated)

    def rows_of_this_run(self) -> int | None:
        if not self._scoped:
            return None
        with self._dialect.wrap("Cdm.0902", "SQL statement execution failed."):
            return int(self._dialect.query(self._conn, f"SELECT COUNT(*) FROM {self._ref}")[0][0])

    def read_back(self, batch_rows: int) -> Iterator[pa.RecordBatch] | None:
        # Source columns left to generated columns have no written values to compare.
        whole = len(self._written) == self._source_width
        return self._read_back(batch_rows) if self._scoped and whole else None

    def _read_back(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        dialect = self._dialect
        expressions = ", ".join(dialect.select_expression(column) for column in self._targets)
        schema = pa.schema([column.field for column in self._targets])
        conn = dialect.connect()
        try:
            with dialect.wrap("Cdm.0904", "Error retrieving data from the result set."):
                yield from dialect.stream(conn, f"SELECT {expressions} FROM {self._ref}", schema, batch_rows)
        finally:
            dialect.close(conn)

    def open_to_writers(self, to_job: dict[str, str]) -> dict[str, str]:
        if self._stage is None:
            self.commit()
            return to_job
        with self._dialect.wrap("Cdm.0232", "Data write failed."):
            self._conn.commit()  # the empty stage table; the deferred steps wait for gather_writers
        self._stage_shared = True
        # The writers append to the stage table; the move out of it applies the job's write mode.
        kept = {key: value for key, value in to_job.items() if key not in _DESTINATION_ONLY_INPUTS}
        return {**kept, "toJobConfig.tableName": self._stage}

    def gather_writers(self) -> WriteResult | None:
        if self._stage is None:
            return None
        self._dialect.begin(self._conn)
        return self._move_staged_rows()

    def commit(self) -> None:
        dialect = self._dialect
        with dialect.wrap("Cdm.0232", "Data write failed."):
            if self._stage is not None and dialect.transactional_ddl:
                dialect.execute(self._conn, f"DROP TABLE {self._stage_ref}")  # gone with the same commit
            self._conn.commit()
            if self._stage is not None and not dialect.transactional_ddl:
                dialect.execute(self._conn, f"DROP TABLE {self._stage_ref}")
        self._stage, self._stage_shared = None, False

    def commit_partition(self, plan: str, index: int, rows: int) -> None:
        dialect = self._dialect
        with dialect.wrap("Cdm.0232", "Data write failed."):
            dialect.execute(
                self._conn,
                f"INSERT INTO {self._records_ref} (plan_id, partition_index, row_count) "
                f"VALUES ({dialect.literal(plan)}, {index}, {rows})",
            )
        self.commit()

    def committed_partitions(self, plan: str) -> dict[int, int]:
        dialect, ref = self._dialect, self._records_ref
        with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
            dialect.execute(
                self._conn,
                f"CREATE TABLE IF NOT EXISTS {ref} (plan_id VARCHAR(64) NOT NULL, partition_index INTEGER NOT NULL, "
                "row_count BIGINT NOT NULL, PRIMARY KEY (plan_id, partition_index))",
            )
            found = dialect.query(
                self._conn, f"SELECT partition_index, row_count FROM {ref} WHERE plan_id = {dialect.literal(plan)}"
            )
            self._conn.commit()
        return {int(index): int(rows) for index, rows in found}

    def drop_table_left(self, schema: str, table: str) -> bool:
        if STAGE_MARK not in table:
            raise ValueError(f"{table} is not a stage table")
        dialect = self._dialect
        with dialect.wrap("Cdm.0232", "Data write failed."):
            dialect.begin(self._conn)
            found = dialect.table_columns(self._conn, schema, table) is not None
            if found:
                dialect.execute(self._conn, f"DROP TABLE IF EXISTS {dialect.table_ref(schema, table)}")
            self._conn.commit()
        return found

    def forget_partitions(self, plan: str) -> None:
        dialect = self._dialect
        with dialect.wrap("Cdm.0232", "Data write failed."):
            dialect.execute(self._conn, f"DELETE FROM {self._records_ref} WHERE plan_id = {dialect.literal(plan)}")
            self._conn.commit()

    @property
    def _records_ref(self) -> str:
        """Where resumable runs record their committed partitions: beside the destination table."""
        return self._dialect.table_ref(self._schema_name, PARTITION_RECORDS_TABLE)

    def rollback(self) -> None:
        dialect = self._dialect
        with dialect.wrap("Cdm.0234", "Loading error."):
            self._conn.rollback()
            # Where DDL is transactional, the rollback took the stage table with it, unless it was
            # committed for the writers.
            if self._stage is not None and (self._stage_shared or not dialect.transactional_ddl):
                dialect.execute(self._conn, f"DROP TABLE IF EXISTS {self._stage_ref}")
                self._conn.commit()
        self._stage, self._stage_shared = None, False

    def cancel(self) -> None:
        self._dialect.cancel(self._conn)

    def close(self) -> None:
        self._dialect.close(self._conn)
