"""generic-jdbc-connector in entire-database jobs (BATCH_JOB): the source's tables and what they are
(``describe_database``), the destination's tables made before and after their rows
(``JdbcSchemaTarget``, in the phases of docs/decisions/0020-entire-database-schema.md), and each
table's sub-job inputs (``table_job``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from opencdm.connectors.base import DatabaseDescription, SchemaTarget
from opencdm.connectors.inputs import boolean, text
from opencdm.connectors.jdbc.catalog import SchemaPlan, SchemaWriter, Step, TablePlan, read_database, schema_writer
from opencdm.connectors.jdbc.catalog.model import DatabaseDefinition
from opencdm.connectors.jdbc.config import SinkConfig, SourceConfig, TablePreparation
from opencdm.connectors.jdbc.dialect import Dialect
from opencdm.errors import CdmError

# What a sub-job's source does not take from its entire-database job: the choice of tables.
NOT_INHERITED = frozenset({"fromJobConfig.tableName", "fromJobConfig.excludedTables"})
# Indexes and foreign-key checks built at once, each on a connection of its own.
PARALLEL_STEPS = 4


def describe_database(dialect: Dialect, from_job: Mapping[str, str]) -> DatabaseDescription:
    if boolean(from_job, "fromJobConfig.useSql"):
        raise CdmError("Cdm.0014", "An entire-database job copies tables: fromJobConfig.useSql must be false.")
    schema = dialect.schema_for(SourceConfig.parse({**from_job, "fromJobConfig.tableName": "*"}).schema_name)
    conn = dialect.connect()
    try:
        with dialect.wrap("Cdm.0903", "Failed to obtain metadata."):
            definition = read_database(dialect, conn, schema, text(from_job, "fromJobConfig.tableName"),
                                       text(from_job, "fromJobConfig.excludedTables"))
    finally:
        dialect.close(conn)
    return DatabaseDescription(tuple(table.name for table in definition.tables), tuple(definition.report()),
                               definition)


def table_job(group: str, job: Mapping[str, str], table: str, prepared: bool) -> dict[str, str]:
    inputs = {name: value for name, value in job.items() if name not in NOT_INHERITED}
    inputs[f"{group}.tableName"] = table
    if group == "toJobConfig" and prepared:
        inputs["toJobConfig.tablePreparation"] = TablePreparation.DO_NOTHING.value
    return inputs


def schema_target(dialect: Dialect, to_job: Mapping[str, str], source: DatabaseDescription) -> SchemaTarget | None:
    """A target for jobs that make their tables (not DO_NOTHING), into a database whose tables we know
    how to make whole (PostgreSQL, MySQL/MariaDB), from a source read by this connector; else None,
    and each table's run makes its table as a table job does."""
    config = SinkConfig.parse({**to_job, "toJobConfig.tableName": "*"})
    if config.table_preparation is TablePreparation.DO_NOTHING or not isinstance(source.definition,
                                                                                 DatabaseDefinition):
        return None
    schema = dialect.schema_for(config.schema_name)
    try:
        writer = schema_writer(dialect, schema)
    except CdmError:
        return None
    return JdbcSchemaTarget(dialect, schema, writer.plan(source.definition), config.table_preparation, writer)


class JdbcSchemaTarget(SchemaTarget):
    """Makes the tables of ``plan`` (the DDL of the source's tables for this database), in phases."""

    def __init__(self, dialect: Dialect, schema: str, plan: SchemaPlan, preparation: TablePreparation,
                 writer: SchemaWriter) -> None:
        self._dialect, self._schema, self.plan, self._preparation = dialect, schema, plan, preparation
        self._writer = writer
        self.notes = plan.notes

    def create_tables(self, tables: Sequence[str]) -> list[str]:
        dialect, made = self._dialect, []
        conn = dialect.connect()
        try:
            dialect.begin(conn)
            with dialect.wrap("Cdm.0063", "Table creation error."):
                for name in tables:
                    if dialect.table_columns(conn, self._schema, name) is not None:
                        if self._preparation is TablePreparation.CREATE_WHEN_NOT_EXIST:
                            continue
                        dialect.execute(conn, f"DROP TABLE {dialect.table_ref(self._schema, name)}")
                    for statement in self.plan.table(name).create:
                        dialect.execute(conn, statement)
                    made.append(name)
                conn.commit()
        finally:
            dialect.close(conn)
        return made

    def finish_tables(self, tables: Sequence[str]) -> list[str]:
        plans = [self.plan.table(name) for name in tables]
        failed = self._run_in_parallel([step for plan in plans for step in plan.indexes])
        # One after another: two keys between tables that reference each other would wait on each other.
        failed += self._run_each([Step(f"foreign key on {plan.name}", (statement,))
                                  for plan in plans for statement in plan.foreign_keys])
        failed += self._run_in_parallel([step for plan in plans for step in plan.validations])
        return failed + self._set_identities(plans)

    def _run(self, step: Step, conn: Any) -> str | None:
        try:
            for statement in step.statements:
                self._dialect.execute(conn, statement)
            conn.commit()
        except self._dialect.driver_errors as exc:
            conn.rollback()
            return f"{step.what}: {self._dialect.error_message(exc)}"
        return None

    def _run_each(self, steps: Sequence[Step]) -> list[str]:
        conn = self._dialect.connect()
        try:
            return [failure for step in steps if (failure := self._run(step, conn)) is not None]
        finally:
            self._dialect.close(conn)

    def _run_in_parallel(self, steps: Sequence[Step]) -> list[str]:
        """The steps on PARALLEL_STEPS connections at once, one connection for each share of them
        (dealt in turn, so that the big tables' steps, side by side in ``steps``, spread)."""
        if not steps:
            return []
        connections = min(PARALLEL_STEPS, len(steps))
        with ThreadPoolExecutor(connections) as pool:
            shares = pool.map(self._run_each, [steps[first::connections] for first in range(connections)])
            return [failure for failures in shares for failure in failures]

    def _set_identities(self, plans: Sequence[TablePlan]) -> list[str]:
        conn = self._dialect.connect()
        try:
            steps = [Step(f"identity of {plan.name}", tuple(self._writer.identity_statements(conn, plan)))
                     for plan in plans if plan.identities]
            return [failure for step in steps if (failure := self._run(step, conn)) is not None]
        finally:
            self._dialect.close(conn)
