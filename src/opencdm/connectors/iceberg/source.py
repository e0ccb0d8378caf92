"""An Iceberg table (or one of its snapshots) as a job's source, split by data files."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
from pyiceberg.table import FileScanTask
from pyiceberg.table.snapshots import Snapshot

from opencdm.connectors.base import Partition, Source
from opencdm.connectors.iceberg.config import LinkConfig, TableConfig, errors, invalid
from opencdm.connectors.iceberg.tables import FIELD_METADATA, arrow_schema, close_catalog, load_table, read_files
from opencdm.connectors.types import cast_batch
from opencdm.errors import CdmError


class IcebergSource(Source):
    def __init__(self, link: LinkConfig, config: TableConfig) -> None:
        self._link, self._config = link, config
        self._catalog = link.open()
        table = load_table(self._catalog, link, config)
        if table is None:
            raise CdmError("Cdm.0900", f"Table [{config.display}] does not exist.")
        self._table = table
        snapshot = table.snapshot_by_id(config.snapshot_id) if config.snapshot_id is not None else None
        if config.snapshot_id is not None and snapshot is None:
            raise invalid(
                "fromJobConfig.snapshotId", str(config.snapshot_id), f"is not a snapshot of table [{config.display}]"
            )
        self._use(snapshot or table.current_snapshot())

    def _use(self, snapshot: Snapshot | None) -> None:
        self._snapshot = snapshot
        self._scan = self._table.scan(snapshot_id=snapshot.snapshot_id if snapshot else None)
        self._schema = self._scan.projection()

    def schema(self) -> pa.Schema:
        stored = json.loads(self._table.properties.get(FIELD_METADATA, "{}"))
        arrow = arrow_schema(self._schema)
        return pa.schema(
            field.with_metadata(stored.get(str(self._schema.find_field(field.name).field_id)) or {}) for field in arrow
        )

    def estimate_rows(self) -> int | None:
        if self._snapshot is None:
            return 0
        total = self._snapshot.summary["total-records"] if self._snapshot.summary else None
        return int(total) if total is not None else None

    def _tasks(self) -> list[FileScanTask]:
        with errors(self._link, "Cdm.0903", "Failed to obtain metadata."):
            return list(self._scan.plan_files())

    def partitions(self, max_partitions: int) -> list[Partition]:
        tasks = self._tasks()
        if max_partitions <= 1 or len(tasks) <= 1:
            return [Partition(0)]
        # Largest file first into the lightest group.
        groups: list[tuple[int, list[str]]] = [(0, []) for _ in range(min(max_partitions, len(tasks)))]
        for task in sorted(tasks, key=lambda t: -t.file.file_size_in_bytes):
            lightest = min(range(len(groups)), key=lambda index: groups[index][0])
            load, paths = groups[lightest]
            groups[lightest] = (load + task.file.file_size_in_bytes, [*paths, task.file.file_path])
        # The snapshot too: a partition read in another process must not see a later commit's files.
        snapshot = self._snapshot.snapshot_id if self._snapshot else None
        return [Partition(index, {"snapshot": snapshot, "files": paths}) for index, (_, paths) in enumerate(groups)]

    def read(self, partition: Partition, batch_rows: int) -> Iterator[pa.RecordBatch]:
        snapshot = partition.spec.get("snapshot")
        if snapshot is not None and self._snapshot is not None and snapshot != self._snapshot.snapshot_id:
            pinned = self._table.snapshot_by_id(snapshot)
            if pinned is None:
                raise CdmError(
                    "Cdm.0904", f"Snapshot [{snapshot}] of table [{self._config.display}] was expired during the run."
                )
            self._use(pinned)
        wanted = set(partition.spec.get("files") or ())
        tasks = [task for task in self._tasks() if not wanted or task.file.file_path in wanted]
        schema = self.schema()
        for batch in read_files(self._link, self._table, self._schema, tasks, batch_rows):
            yield cast_batch(batch.select(schema.names), schema)

    def close(self) -> None:
        close_catalog(self._catalog)
