"""An Iceberg table as a job's destination: one commit per run.

Data files are written as batches arrive (a bounded buffer at a time) and added all at once in one
Iceberg commit at ``commit``; until then readers see the table as it was, and ``rollback`` deletes
the files. A table the run creates is created by that same commit.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException, TableAlreadyExistsError, ValidationException
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import _dataframe_to_data_files, schema_to_pyarrow
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table, Transaction
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.update.snapshot import _SnapshotProducer

from opencdm.connectors.base import Sink, WriteResult
from opencdm.connectors.iceberg.config import LinkConfig, TableConfig, WriteMode, errors, invalid
from opencdm.connectors.iceberg.tables import (
    arrow_schema,
    check_location,
    close_catalog,
    load_table,
    new_table,
    read_files,
)
from opencdm.connectors.types import cast_array, cast_batch
from opencdm.errors import CdmError

# Arrow bytes buffered before they are written as data files: memory per run, and the files' size
# before compression (a partitioned table gets one file per partition value of each flush).
FLUSH_BYTES = 64 * 1024 * 1024


class IcebergSink(Sink):
    parallel_writers = False  # one commit per run: one process holds its data files

    def __init__(self, link: LinkConfig, config: TableConfig) -> None:
        self._link, self._config = link, config
        self._catalog = link.open()
        self._table: Table | None = None
        self._creating: Transaction | None = None  # the run creates the table at commit
        self._mode = config.write_mode
        self._arrow: pa.Schema | None = None  # the table's columns, as written
        self._sources: dict[str, str] = {}  # table column -> source column, in the source's order
        self._run = uuid.uuid4()
        self._counter = itertools.count()
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0
        self._files: list[DataFile] = []  # written, not committed
        self._committed: list[DataFile] = []

    def prepare(self, source_schema: pa.Schema) -> None:
        config, link = self._config, self._link
        self._table = load_table(self._catalog, link, config)
        if self._table is None:
            with errors(link, "Cdm.0063", "Table creation error."):
                # A namespace holds no data: one left by a run that fails later changes no table.
                self._catalog.create_namespace_if_not_exists(config.identifier[:-1])
                schema, spec, properties = new_table(source_schema, config.partition_by)
                self._creating = self._catalog.create_table_transaction(
                    config.identifier, schema=schema, partition_spec=spec, properties=properties
                )
            check_location(self._creating.table_metadata.location, config)
        elif config.partition_by:
            spec = self._table.spec()
            current = tuple(str(self._table.schema().find_column_name(field.source_id)) for field in spec.fields)
            if current != config.partition_by:
                raise invalid(
                    "toJobConfig.partitionBy",
                    "&".join(config.partition_by),
                    f"differs from the partitioning of the existing table [{config.display}] "
                    f"({'&'.join(current) or 'none'})",
                )
        self._match_columns(source_schema)

    def attach(self, source_schema: pa.Schema, native: object) -> None:
        # A resumable run commits each partition: the later ones add to what the earlier ones wrote.
        self._table = load_table(self._catalog, self._link, self._config)
        if self._table is None:
            raise CdmError("Cdm.0900", f"Table [{self._config.display}] does not exist.")
        self._creating, self._mode = None, WriteMode.APPEND
        self._match_columns(source_schema)

    def _target(self) -> tuple[TableMetadata, FileIO]:
        if self._creating is not None:
            return self._creating.table_metadata, self._creating._table.io
        assert self._table is not None
        return self._table.metadata, self._table.io

    def _match_columns(self, source_schema: pa.Schema) -> None:
        """Source columns go to the table's columns of the same name (case aside); others get NULLs."""
        self._arrow = schema_to_pyarrow(self._target()[0].schema(), include_field_ids=False)
        by_name = {name.lower(): name for name in self._arrow.names}
        self._sources = {}
        for name in source_schema.names:
            target = by_name.get(name.lower())
            if target is None:
                raise CdmError(
                    "Cdm.0014",
                    f"The parameter is invalid: column [{name}] of the source does not exist "
                    f"in table [{self._config.display}].",
                )
            self._sources[target] = name

    def write(self, batches: Iterator[pa.RecordBatch]) -> Iterator[WriteResult]:
        if self._arrow is None:
            raise CdmError("Cdm.0234", "Loading error. Cause: prepare() was not called.")
        arrow = self._arrow
        for batch in batches:
            arrays = [
                cast_array(batch.column(self._sources[field.name]), field.type, field.name)
                if field.name in self._sources
                else pa.nulls(batch.num_rows, field.type)
                for field in arrow
            ]
            self._buffer.append(pa.RecordBatch.from_arrays(arrays, schema=arrow))
            self._buffered += batch.nbytes
            yield WriteResult(rows=batch.num_rows)
            if self._buffered >= FLUSH_BYTES:
                yield WriteResult(bytes=self._flush())
        yield WriteResult(bytes=self._flush())

    def _flush(self) -> int:
        """Write the buffered rows as data files; their size."""
        if not self._buffer:
            return 0
        data = pa.Table.from_batches(self._buffer)
        self._buffer, self._buffered = [], 0
        metadata, io = self._target()
        with errors(self._link, "Cdm.0232", "Data write failed."):
            written = list(_dataframe_to_data_files(metadata, data, io, self._run, self._counter))
        self._files += written
        return sum(file.file_size_in_bytes for file in written)

    def rows_of_this_run(self) -> int | None:
        return sum(file.record_count for file in self._committed + self._files)

    def read_back(self, batch_rows: int) -> Iterator[pa.RecordBatch] | None:
        if self._table is None:
            return None
        table, columns = self._table, list(self._sources)
        arrow = arrow_schema(table.schema())
        written = pa.schema([arrow.field(column).with_name(self._sources[column]) for column in columns])
        ours = {file.file_path for file in self._committed}
        with errors(self._link, "Cdm.0903", "Failed to obtain metadata."):
            tasks = [task for task in table.scan().plan_files() if task.file.file_path in ours]
        return (
            cast_batch(batch.select(columns), written)
            for batch in read_files(self._link, table, table.schema(), tasks, batch_rows)
        )

    def commit(self) -> None:
        self._flush()
        with errors(self._link, "Cdm.0232", f"Failed to commit to table [{self._config.display}]."):
            self._commit()
        # A resumable run commits once per partition: "this run" is all of them.
        self._committed, self._files, self._creating = self._committed + self._files, [], None

    def _commit(self) -> None:
        if self._creating is not None:
            transaction, current = self._creating, None
        else:
            assert self._table is not None
            table = self._table.refresh()
            transaction, current = table.transaction(), table.current_snapshot()
        producer: _SnapshotProducer[Any] | None = None  # no rows to add: no empty snapshot
        if self._mode is WriteMode.OVERWRITE and current is not None:
            producer = transaction.update_snapshot().overwrite()
            for task in table.scan(snapshot_id=current.snapshot_id).plan_files():
                producer.delete_data_file(task.file)
        elif self._files:
            producer = transaction.update_snapshot().fast_append()
        if producer is not None:
            for file in self._files:
                producer.append_data_file(file)
            producer.commit()
        try:
            transaction.commit_transaction()
        except TableAlreadyExistsError:
            raise CdmError(
                "Cdm.0063",
                f"Table creation error. Cause: table [{self._config.display}] was created by another run meanwhile.",
            ) from None
        except (CommitFailedException, ValidationException):
            raise  # it did not land: rollback deletes the files
        except Exception:
            self._files = []  # it may have landed: the files may belong to the table now
            raise
        self._table = self._catalog.load_table(self._config.identifier)  # a created table is a staged one till now

    def rollback(self) -> None:
        self._buffer, self._buffered = [], 0
        if self._files:
            io = self._target()[1]
            for file in self._files:
                with suppress(Exception):  # a file left behind is an orphan no snapshot names
                    io.delete(file.file_path)
        self._files = []

    def close(self) -> None:
        self.rollback()
        close_catalog(self._catalog)
