"""What the source and the sink share: tables loaded and checked, their columns as Arrow, files read."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, schema_to_pyarrow
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema, assign_fresh_schema_ids
from pyiceberg.table import FileScanTask, Table
from pyiceberg.transforms import IdentityTransform

from opencdm.connectors.iceberg.config import LinkConfig, TableConfig, errors, invalid
from opencdm.connectors.local_paths import allowed_local_path
from opencdm.connectors.types import TIMESTAMP_TZ
from opencdm.errors import CdmError

# Table property keeping what Iceberg types cannot say (varchar lengths, json, ...), by field id.
FIELD_METADATA = "opencdm.field-metadata"


def load_table(catalog: Catalog, link: LinkConfig, config: TableConfig) -> Table | None:
    with errors(link, "Cdm.0903", "Failed to obtain metadata."):
        try:
            table = catalog.load_table(config.identifier)
        except NoSuchTableError:
            return None
    check_location(table.location(), config)
    return table


def check_location(location: str, config: TableConfig) -> None:
    # A catalog may place a table anywhere: on this machine, only where nas links may go too.
    if "://" not in location or location.startswith("file://"):
        allowed_local_path(f"the location of table [{config.display}]", location.removeprefix("file://"))


def arrow_schema(schema: Schema) -> pa.Schema:
    """The table's columns as Arrow types in the engine's own spellings (string, not large_string)."""
    fields = []
    for field in schema_to_pyarrow(schema, include_field_ids=False):
        type_ = field.type
        if pa.types.is_large_string(type_):
            type_ = pa.string()
        elif pa.types.is_large_binary(type_):
            type_ = pa.binary()
        elif pa.types.is_timestamp(type_) and type_.tz is not None:
            type_ = TIMESTAMP_TZ
        fields.append(pa.field(field.name, type_, nullable=True))
    return pa.schema(fields)


def read_files(
    link: LinkConfig, table: Table, projection: Schema, tasks: list[FileScanTask], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """The rows of ``tasks`` in the columns of ``projection``, as pyiceberg's Arrow types."""
    scan = ArrowScan(table.metadata, table.io, projection, AlwaysTrue())
    for task in tasks:
        # One file at a time: pyiceberg reads all the files of one call at once, in threads.
        with errors(link, "Cdm.0904", "Error retrieving data from the table."):
            batches = list(scan.to_record_batches([task]))
        for batch in batches:
            for offset in range(0, batch.num_rows, batch_rows):
                yield batch.slice(offset, batch_rows)


def close_catalog(catalog: Catalog) -> None:
    engine = getattr(catalog, "engine", None)  # a SQL catalog's connection pool
    if engine is not None:
        engine.dispose()


def new_table(source: pa.Schema, partition_by: tuple[str, ...]) -> tuple[Schema, PartitionSpec, dict[str, str]]:
    """The Iceberg schema, identity partitioning and properties of a table made for ``source``."""
    plain = pa.schema(pa.field(field.name, field.type, nullable=True) for field in source)
    try:
        schema = assign_fresh_schema_ids(Catalog._convert_schema_if_needed(plain))
    except (TypeError, ValueError) as exc:
        raise CdmError("Cdm.0921", f"Type not supported by Iceberg tables: {exc}") from exc
    fields = []
    for index, name in enumerate(partition_by):
        matching = [field for field in schema.fields if field.name.lower() == name.lower()]
        if not matching:
            raise invalid("toJobConfig.partitionBy", "&".join(partition_by), f"names no source column [{name}]")
        fields.append(
            PartitionField(
                source_id=matching[0].field_id,
                field_id=1000 + index,
                transform=IdentityTransform(),
                name=matching[0].name,
            )
        )
    metadata = {
        str(schema.find_field(field.name).field_id): {
            key.decode(): value.decode() for key, value in field.metadata.items() if key.startswith(b"opencdm.")
        }
        for field in source
        if field.metadata
    }
    properties = {FIELD_METADATA: json.dumps({k: v for k, v in metadata.items() if v}, sort_keys=True)}
    return schema, PartitionSpec(*fields), properties
