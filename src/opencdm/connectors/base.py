"""The connector interface, after Sqoop 2's Initializer / Partitioner / Extractor / Loader / Destroyer.

A connector is one module per CDM connector name. It describes its link inputs (``InputSpec``),
checks a link (``Connector.validate_link``), and opens a ``Source`` or a ``Sink`` for a job.
Data flows as ``pyarrow.RecordBatch``es of bounded size; connectors know nothing of HTTP or the store.

Schemas carry the meaning of each column as Arrow types plus field metadata:
``opencdm.length`` (declared character length of varchar(n)) and ``opencdm.type`` (a logical type
Arrow lacks, e.g. ``json`` or ``numeric`` for an unconstrained NUMERIC carried as a decimal string).
A source read from a table with a primary key names its columns in the schema's metadata
(``opencdm.primary_key``, see ``with_primary_key``), so that a table created for it gets the same key.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal

import pyarrow as pa
import pyarrow.compute as pc

from opencdm.connectors import values
from opencdm.connectors.inputs import Unused, unused_names
from opencdm.errors import CdmError

PRIMARY_KEY = b"opencdm.primary_key"


def with_primary_key(schema: pa.Schema, key: Sequence[str]) -> pa.Schema:
    """``schema`` saying that its columns ``key`` (in key order) are the primary key of the rows."""
    return schema.with_metadata({**(schema.metadata or {}), PRIMARY_KEY: json.dumps(list(key)).encode()})


def primary_key_of(schema: pa.Schema) -> list[str]:
    """The primary key ``with_primary_key`` put on ``schema``; empty when the rows have none."""
    value = (schema.metadata or {}).get(PRIMARY_KEY)
    return [str(name) for name in json.loads(value)] if value else []


# The config groups of a connector's inputs: a link's, a job's source's, a job's destination's.
ConfigGroup = Literal["linkConfig", "fromJobConfig", "toJobConfig"]


@dataclass(frozen=True)
class InputSpec:
    """One link input, described the way Sqoop 2 / CDM describe them in ShowLink."""

    name: str  # full name, e.g. "linkConfig.host"
    type: str = "STRING"  # STRING | INTEGER | BOOLEAN | ENUM | MAP
    mandatory: bool = False
    sensitive: bool = False
    size: int | None = None
    default: str | None = None
    # An ENUM's values, where the connector keeps them as a list (a form offers them).
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Partition:
    """A picklable slice of a source; ``spec`` is the connector's own description of the slice."""

    index: int
    spec: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RejectedRow:
    """A row the destination refused, or the source could not read (dirty data), with the reason;
    a source's row also says where it is (``file`` as the user knows it, 1-based ``line``) and, for a
    line that could not be cut into fields, holds its ``text`` instead of values."""

    values: dict[str, Any]
    reason: str
    file: str | None = None
    line: int | None = None
    text: str | None = None


@dataclass(frozen=True)
class Refused:
    """The rows of a column whose values a destination cannot hold (``Sink.refused_values``), and
    why, as the end of a sentence that names the column, the row and the value."""

    rows: pa.Array  # boolean, without nulls
    why: str = "which the destination cannot hold"

    @classmethod
    def where(cls, mask: pa.Array | None, why: str | None = None) -> Refused | None:
        """``mask``'s true rows as refused; None when there are none."""
        if mask is None:
            return None
        mask = pc.fill_null(mask, False)
        if not pc.any(mask).as_py():
            return None
        return cls(mask) if why is None else cls(mask, why)


@dataclass
class WriteResult:
    rows: int = 0
    bytes: int = 0
    # Rows written (in this result or an earlier one) that updated or replaced a row already there.
    updated: int = 0
    # Rows left out because the destination refused them (only with Sink.skip_rejected_rows).
    rejected: list[RejectedRow] = field(default_factory=list)
    # Bytes the destination read from the source by itself (Sink.write_scan); 0 otherwise.
    bytes_read: int = 0


@dataclass(frozen=True)
class NativeFormat:
    """A database's own wire format for a list of column types, e.g. PostgreSQL binary COPY.

    When a source and a sink agree on one (same name, same column types in the same order), the
    engine passes the source's bytes to the sink without decoding them: the fast path of
    docs/decisions/0002-fast-engine.md. The Arrow path stays the reference behaviour.
    """

    name: str
    column_types: tuple[str, ...]
    # The data has no Arrow form (files copied as they are): the engine passes it through whatever
    # its settings, and a sink that does not take it fails the run.
    required: bool = False


@dataclass(frozen=True)
class NativeChunk:
    data: bytes | bytearray
    rows: int


@dataclass(frozen=True)
class TableScan:
    """A whole database table, or plain columns of it, described so that a destination can read
    it by itself (``Sink.prepare_scan``), e.g. DuckDB's postgres scanner writing Parquet: a second
    fast path (docs/decisions/0004-files-lake-and-duckdb.md) beside the native formats.
    ``conninfo`` holds the password: never log it, and take ``password`` out of any message that
    might quote it."""

    dialect: str  # e.g. "postgresql"; conninfo is in that database's client syntax (libpq's)
    conninfo: str = field(repr=False)
    password: str | None = field(repr=False)
    schema: str
    table: str
    columns: tuple[str, ...]
    column_types: tuple[str, ...]  # the database's own types, as it spells them
    key: tuple[str, ...] = ()  # the columns that name a row in messages (Source.row_key)


@dataclass(frozen=True)
class CursorRange:
    """The rows of an incremental run: ``column`` after ``after`` (or equal to it, when
    ``inclusive``; from the start when None) and at most ``upper``. Values are text, as
    ``Source.cursor_max`` returns them and as users write ``fromJobConfig.lastValue``."""

    column: str
    after: str | None
    inclusive: bool
    upper: str


class Source(ABC):
    """Reads one job's source. Opened in the worker process."""

    # Set by the engine (throttlingConfig.maxErrorRecords) before anything is read: rows the source
    # cannot read (a malformed line, a value that does not fit its column) are left out and handed
    # over by ``take_rejected`` instead of failing the read.
    skip_rejected_rows: bool = False

    @abstractmethod
    def schema(self) -> pa.Schema:
        """The Arrow schema of the rows ``read`` yields (columnList applied)."""

    @abstractmethod
    def estimate_rows(self) -> int | None:
        """A cheap estimate of the number of rows, for progress; None when unknown."""

    def partitions(self, max_partitions: int) -> list[Partition]:
        """Split the source into at most ``max_partitions`` slices; one slice by default."""
        return [Partition(0)]

    @abstractmethod
    def read(self, partition: Partition, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Yield the rows of one partition as record batches of at most ``batch_rows`` rows."""

    def cursor_max(self, column: str, after: str | None, inclusive: bool) -> str | None:
        """The greatest value of ``column`` among the rows past ``after`` (see CursorRange), as
        text; None when there is no such row."""
        raise CdmError("Cdm.0014", "This source cannot be read incrementally (fromJobConfig.incrMigration).")

    def restrict(self, cursor: CursorRange) -> None:
        """From now on read only the rows of ``cursor``; called before ``partitions``."""
        raise CdmError("Cdm.0014", "This source cannot be read incrementally (fromJobConfig.incrMigration).")

    def take_rejected(self) -> list[RejectedRow]:
        """The rows left out since the last call (with ``skip_rejected_rows``); the engine calls it
        as the rows read are written, and once more after the last batch."""
        return []

    def convert_into(self, fields: list[pa.Field | None]) -> None:  # noqa: B027 - optional hook
        """Called before ``read`` with the destination's field for each column (None: unknown;
        ``Sink.target_fields``): a source that reads text (files) converts it straight into
        them, so that a value that does not fit is named where it is read (file and line) and left
        out as cheaply as any unreadable row. Batches then have those types."""

    def take_bytes_read(self) -> int | None:
        """The bytes read from the stored source since the last call (files: as stored, compressed
        ones compressed); None when the source cannot tell, and the engine counts the Arrow bytes
        of the batches instead (docs/observability.md, BYTES_READ)."""
        return None

    def native_format(self) -> NativeFormat | None:
        """The native format ``read_native`` produces, or None when there is none."""
        return None

    def read_native(self, partition: Partition) -> Iterator[NativeChunk]:
        """Yield one partition in ``native_format()``, in chunks of bounded size."""
        raise NotImplementedError

    def table_scan(self) -> TableScan | None:
        """This source as a table a destination may read by itself; None unless it is a whole table
        or plain columns of it (no query, whereClause or incremental range)."""
        return None

    def row_key(self) -> tuple[str, ...]:
        """The columns that name a row in messages (a table's primary key, when it is read); none
        by default, and a row is then named by its position."""
        return ()

    def cancel(self) -> None:  # noqa: B027 - optional hook
        """Cancel, from another thread, whatever statement this source's connections run (the run
        was stopped): the call blocked in it then fails. Nothing where there is nothing to cancel."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class Sink(ABC):
    """Writes one job's destination. Opened in the worker process."""

    # Whether several sinks of one job may write partitions at once, each in its own transaction
    # (``attach`` after one of them ran ``prepare`` and committed).
    parallel_writers: bool = False
    # Set by the engine (throttlingConfig.maxErrorRecords): rows the destination refuses are left
    # out and reported in WriteResult.rejected instead of failing the write.
    skip_rejected_rows: bool = False
    # Set by the engine before ``prepare`` when other sinks may write the partitions: a preparation
    # that destroys rows (clearing, dropping the table) must then wait for ``gather_writers``, so
    # that it commits with the new rows, and a failed run leaves the destination as it was.
    defer_destruction: bool = False
    # Set by the engine: called with (schema, table) before the sink creates a table of its own that
    # outlives a killed run (a stage table other writers see, or one DDL commits at once), so that
    # the engine records it and the job's next run drops it (``drop_table_left``).
    announce_lasting_table: Callable[[str, str], None] | None = None

    @abstractmethod
    def prepare(self, source_schema: pa.Schema) -> None:
        """Get the destination ready: table preparation, clearing before import."""

    @abstractmethod
    def write(self, batches: Iterator[pa.RecordBatch]) -> Iterator[WriteResult]:
        """Write the batches; yield the rows/bytes written after each batch (for live counters)."""

    def target_fields(self) -> list[pa.Field | None]:
        """After ``prepare`` or ``attach``: the destination's field each column of the batches
        ``write`` takes is written into (None: not known or not written); empty when the sink
        writes what it is given (Source.convert_into)."""
        return []

    def refused_values(self, position: int, array: pa.Array) -> Refused | None:
        """Where ``array``, the column at ``position`` of the batches ``write`` takes, holds values
        the destination cannot hold (None: it holds them all). The engine fails the run on the
        first one, naming column, row and value: by default ±infinity of timestamps and dates."""
        return Refused.where(values.infinities(array))

    def prepare_native(self, source_schema: pa.Schema, native: NativeFormat) -> bool:
        """Like ``prepare``, for ``write_native`` of data in ``native``; False (nothing done) when
        the destination's columns do not take that format as it is. Then ``prepare`` follows."""
        return False

    def attach(self, source_schema: pa.Schema, native: NativeFormat | None) -> None:
        """Get ready to write into a destination another sink of the job prepared: no table
        preparation, no clearing. ``native`` is the format agreed by that sink, if any."""
        raise NotImplementedError

    def open_to_writers(self, to_job: dict[str, str]) -> dict[str, str]:
        """Commit the preparation, for writers in other processes (which see only what is
        committed); return the job configuration their sinks ``attach`` with: ``to_job``, or one
        that points them at where ``gather_writers`` finds their rows."""
        self.commit()
        return to_job

    def gather_writers(self) -> WriteResult | None:
        """After the writers committed: bring their rows into the destination inside this sink's
        transaction, after the destruction ``defer_destruction`` deferred (then the run verifies
        and commits). None when they wrote into the destination itself."""
        return None

    def write_native(self, chunks: Iterator[NativeChunk]) -> Iterator[WriteResult]:
        """Write chunks in the format agreed by ``prepare_native``; yield progress like ``write``."""
        raise NotImplementedError

    def prepare_scan(self, source_schema: pa.Schema, scan: TableScan) -> bool:
        """Like ``prepare``, for ``write_scan``; False (nothing done) when the destination cannot read
        ``scan`` by itself and write exactly what ``write`` would write of ``source_schema``. Then
        ``prepare`` follows."""
        return False

    def write_scan(
        self, scan: TableScan, rows_estimate: int | None, check: Callable[[], None]
    ) -> Iterator[WriteResult]:
        """Read every row of ``scan`` and write it, as ``prepare_scan`` agreed; yield progress like
        ``write`` (rows may be estimated from ``rows_estimate`` while it runs, the total is exact)
        and the bytes read. ``check`` is called at least every second and raises to stop the run;
        the copy stops with it."""
        raise NotImplementedError

    def rows_of_this_run(self) -> int | None:
        """How many rows the destination holds of this run, when it can tell them from any others
        (e.g. a table this run created or emptied); None otherwise. Counts uncommitted rows too."""
        return None

    def read_back(self, batch_rows: int) -> Iterator[pa.RecordBatch] | None:
        """This run's rows as the destination holds them, in the written columns, when it can tell
        them from others (as ``rows_of_this_run``); None otherwise. Read after ``commit``."""
        return None

    @abstractmethod
    def commit(self) -> None:
        """Make everything written visible."""

    @abstractmethod
    def rollback(self) -> None:
        """Undo what ``write`` did since ``prepare``, as far as the destination allows."""

    def commit_partition(self, plan: str, index: int, rows: int) -> None:
        """Commit partition ``index`` of a resumable run's ``plan`` together with a record of it,
        where the destination can keep one in the same transaction (``committed_partitions``), so
        that a crash between this commit and the run's own record of it does not copy it again."""
        self.commit()

    def committed_partitions(self, plan: str) -> dict[int, int]:
        """The partitions of ``plan`` that ``commit_partition`` committed, with their rows (empty
        where the destination keeps no record). Called outside a partition's transaction."""
        return {}

    def drop_table_left(self, schema: str, table: str) -> bool:
        """Drop a table ``announce_lasting_table`` named, which a killed run of the job left behind;
        False when it is not there (its run dropped it, or never created it)."""
        return False

    def forget_partitions(self, plan: str) -> None:  # noqa: B027 - optional hook
        """Drop the records of ``plan``: its run succeeded."""

    def cancel(self) -> None:  # noqa: B027 - optional hook
        """Cancel, from another thread, the statement this sink's connection runs (the run was
        stopped): the write blocked in it then fails, and the run rolls back."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


@dataclass(frozen=True)
class DatabaseDescription:
    """What an entire-database job copies from its source: the tables, in the order they are copied;
    a line for each object or detail of the source not carried (for the run log); and the source
    family's own description of the tables, from which a destination of the same family makes them."""

    tables: tuple[str, ...]
    not_carried: tuple[str, ...] = ()
    definition: object = None


class SchemaTarget(ABC):
    """A destination that makes the tables of an entire-database job itself, as pgloader does: each
    table with its columns and primary key before its rows; once every table holds its rows, their
    indexes, foreign keys and identity counters, which are faster built once than kept up row by row."""

    # What the destination takes differently from the source, or not at all: one line each.
    notes: tuple[str, ...] = ()

    @abstractmethod
    def create_tables(self, tables: Sequence[str]) -> list[str]:
        """Make those of ``tables`` the job's table preparation asks for (CREATE_WHEN_NOT_EXIST keeps
        a table that exists, DROP_AND_CREATE makes it anew); the tables made."""

    @abstractmethod
    def finish_tables(self, tables: Sequence[str]) -> list[str]:
        """The indexes, foreign keys and identity counters of ``tables`` (made by create_tables, now
        holding their rows); what failed, one line each (the rest is made all the same)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the target holds."""


class Connector(ABC):
    """One CDM connector name: its inputs, its capabilities, and factories for its sources and sinks
    (docs/connectors/writing-a-connector.md; registered by one line of ``opencdm.connectors.CONNECTORS``).

    What it is and can do is declared up front, as class attributes: its name, its inputs and
    ``commits_partitions_alone``. What depends on a link or a job is asked with its inputs in hand
    (``carries_as_is``, ``server_disk_place``, ``check_output``: the defaults say "rows", "over the
    network", "holds no files"); what depends on the destination itself, of the sink once opened
    (``Sink.parallel_writers``, ``Sink.prepare_native``, ``Sink.prepare_scan``).

    ``link``, ``from_job`` and ``to_job`` are flat mappings of input name -> value (strings as
    CDM sends them, secrets decrypted), e.g. ``{"linkConfig.host": "127.0.0.1", ...}``.
    Invalid input raises ``opencdm.errors.CdmError`` with a specific code and message.
    """

    name: str
    link_inputs: tuple[InputSpec, ...]
    # Every fromJobConfig / toJobConfig input name its sources / sinks read (or accept and ignore),
    # declared beside the code that reads them; any other name is refused (see ``known_inputs``).
    source_inputs: frozenset[str]
    sink_inputs: frozenset[str]
    # The other inputs CDM documents for this connector (links' and jobs'), which mean nothing here:
    # accepted, and ignored or refused by value (see ``opencdm.connectors.inputs.Unused``).
    unused_inputs: tuple[Unused, ...] = ()
    # Capability: whether its sinks can commit a run partition by partition and take up another
    # run's partitions (Sink.attach, Sink.commit_partition): throttlingConfig.resumable needs it.
    commits_partitions_alone: bool = True

    @property
    def sensitive_inputs(self) -> frozenset[str]:
        return frozenset(spec.name for spec in self.link_inputs if spec.sensitive)

    def known_inputs(self, group: ConfigGroup) -> frozenset[str]:
        """The input names this connector knows in ``group``: those it reads, and those CDM documents
        that mean nothing here (a link's are all in its config, whatever their prefix)."""
        if group == "linkConfig":
            jobs = ("fromJobConfig.", "toJobConfig.")
            unused = frozenset(entry.name for entry in self.unused_inputs if not entry.name.startswith(jobs))
            return frozenset(spec.name for spec in self.link_inputs) | unused
        read = self.source_inputs if group == "fromJobConfig" else self.sink_inputs
        return read | unused_names(self.unused_inputs, group)

    @abstractmethod
    def check_link_inputs(self, link: Mapping[str, str]) -> None:
        """Check the link's inputs without connecting (missing or malformed values)."""

    @abstractmethod
    def validate_link(self, link: Mapping[str, str]) -> None:
        """Really connect with the link's inputs; raise CdmError with the server's own message."""

    @abstractmethod
    def check_from_job(self, link: Mapping[str, str], from_job: Mapping[str, str]) -> None:
        """Check a job's source inputs without connecting."""

    @abstractmethod
    def check_to_job(self, link: Mapping[str, str], to_job: Mapping[str, str]) -> None:
        """Check a job's destination inputs without connecting."""

    def carries_as_is(self, job: Mapping[str, str]) -> str | None:
        """The native format this end of ``job`` (its fromJobConfig or toJobConfig inputs) carries
        instead of rows, e.g. files copied as they are; the job's other end must carry the same."""
        return None

    @abstractmethod
    def open_source(self, link: Mapping[str, str], from_job: Mapping[str, str]) -> Source: ...

    @abstractmethod
    def open_sink(self, link: Mapping[str, str], to_job: Mapping[str, str]) -> Sink: ...

    # --- entire-database jobs (CDM's BATCH_JOB): one sub-job per table ----------------------------
    def describe_database(self, link: Mapping[str, str], from_job: Mapping[str, str]) -> DatabaseDescription:
        """The tables an entire-database job copies from this link (chosen by its fromJobConfig), and
        what the source holds that it does not carry."""
        raise CdmError("Cdm.0014", f"{self.name} cannot be the source of an entire-database job (BATCH_JOB).")

    def open_schema_target(
        self, link: Mapping[str, str], to_job: Mapping[str, str], source: DatabaseDescription
    ) -> SchemaTarget | None:
        """What makes the tables of an entire-database job here before and after their rows; None
        when the tables' own runs make them (as a table job makes its table)."""
        return None

    def table_job(self, group: ConfigGroup, job: Mapping[str, str], table: str, prepared: bool) -> dict[str, str]:
        """The fromJobConfig (or toJobConfig) inputs of the sub-job that copies ``table``, from those
        of its entire-database job, ``job``; ``prepared``: a SchemaTarget made the table already."""
        side = "source" if group == "fromJobConfig" else "destination"
        raise CdmError("Cdm.0014", f"{self.name} cannot be the {side} of an entire-database job (BATCH_JOB).")

    def server_disk_place(self, link: Mapping[str, str]) -> str | None:
        """What of this link lies on the server's own disk (e.g. "the SQLite database /data/a.db"),
        which a Dask worker on another machine cannot see; None for a link reached over the network."""
        return None

    def check_output(self, link: Mapping[str, str], bucket: str | None, path: str) -> None:
        """Check, without connecting, that ``open_output`` may make files at ``path`` (in ``bucket``)."""
        raise CdmError("Cdm.0014", f"Links of {self.name} cannot hold files (throttlingConfig.writeToLink).")

    def open_output(self, link: Mapping[str, str], bucket: str | None, path: str) -> BinaryIO:
        """A new file at ``path`` (in ``bucket``, for object storage) on this link, for the engine's
        own output such as dirty data."""
        raise CdmError("Cdm.0014", f"Links of {self.name} cannot hold files (throttlingConfig.writeToLink).")
