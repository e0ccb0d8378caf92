"""What every catalog reader shares: the columns as the source dialect types them, and rows of a
catalog query grouped by table."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from opencdm.connectors.jdbc.catalog.model import NotCarried
from opencdm.connectors.jdbc.dialect import Dialect
from opencdm.connectors.jdbc.types import Column
from opencdm.errors import CdmError

VIEW_REASON = "it is not copied; create it in the destination from its definition."
SEQUENCE_REASON = "a sequence that belongs to no column is not copied."
ROUTINE_REASON = "stored code is not translated."


def trigger_not_carried(schema: str, trigger: str, table: str) -> NotCarried:
    return NotCarried("trigger", f"{schema}.{trigger}", f"a trigger of {schema}.{table}; triggers are not copied "
                      "(they would also fire on the copied rows).")


def generated_note(display: str, column: str) -> str:
    return (f"generated column {display}.{column}: its expression is not carried; it becomes a plain column "
            "holding the copied values.")


def partitioned_note(display: str) -> str:
    return f"table {display} is partitioned; it is created as one plain table."


# The foreign key actions as SQL spells them, by the letters PostgreSQL's catalog and SQLite's pragma use.
ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def dialect_columns(dialect: Dialect, conn: Any, schema: str, table: str) -> dict[str, Column] | NotCarried:
    """The table's columns by name as a table job reads them, or why the table cannot be copied (a
    column of a type the type mapping refuses: the whole table is reported and left out)."""
    try:
        with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
            columns = dialect.table_columns(conn, schema, table)
    except CdmError as exc:
        if exc.code != "Cdm.0921":
            raise
        return NotCarried("table", f"{schema}.{table}", f"{exc.message} Copy it with a table job and a useSql query.")
    if columns is None:
        raise CdmError("Cdm.0900", f"Table [{schema}.{table}] does not exist.")
    return {column.field.name: column for column in columns}


def catalog_rows(dialect: Dialect, conn: Any, sql: str, schema: str | None = None) -> list[tuple[Any, ...]]:
    """The rows of a catalog query, ``{schema}`` in it standing for ``schema`` as a literal."""
    with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
        return dialect.query(conn, sql if schema is None else sql.format(schema=dialect.literal(schema)))


def grouped(rows: Iterable[tuple[Any, ...]]) -> dict[str, list[tuple[Any, ...]]]:
    """Catalog rows grouped, in order, under their first value (a table's, an index's name)."""
    groups: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        groups[str(row[0])].append(tuple(row[1:]))
    return groups

