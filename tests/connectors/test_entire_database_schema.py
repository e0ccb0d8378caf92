"""The schema of an entire-database job: a shop schema read from MariaDB, PostgreSQL and SQLite,
created in PostgreSQL and MariaDB (another database or schema of the same server included) in the
three phases, with the rows copied between the first two by the table jobs' own copy; the
destination's catalog then has the keys, indexes, foreign keys, defaults, comments and identities,
and whatever was not carried is named."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import schema_sources as shop
from schema_catalog import Catalog, count, describe, insert_id, insert_sql, quoted
from test_write_modes import Database, _mysql_database, _pg_database, _sqlite_database

from opencdm.connectors.jdbc import _dialect
from opencdm.connectors.jdbc.catalog import SchemaPlan, read_database
from opencdm.connectors.jdbc.catalog.model import DatabaseDefinition
from opencdm.connectors.jdbc.database import JdbcSchemaTarget, describe_database, schema_target
from opencdm.errors import CdmError

from conftest import MY_HOST, MY_PORT, MY_USER, pg_connect
from jdbc_support import copy


@dataclass
class Place:
    """A database and the schema in it that a test reads from or writes into."""

    database: Database
    schema: str


@pytest.fixture
def other_pg_schema(pg_available: None) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    with pg_connect() as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with pg_connect() as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture
def other_mysql_database(mysql_available: None) -> Iterator[str]:
    import pymysql

    name = f"t_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, autocommit=True)
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    yield name
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE `{name}`")
    conn.close()


def _place(kind: str, request: pytest.FixtureRequest, path: Path, other: bool = False) -> Place:
    if kind == "postgresql":
        schema = request.getfixturevalue("other_pg_schema" if other else "pg_schema")
        return Place(_pg_database(schema), schema)
    if kind == "mariadb":
        database = request.getfixturevalue("other_mysql_database" if other else "mysql_database")
        return Place(_mysql_database(database), database)
    return Place(_sqlite_database(path), "main")


def built(kind: str, request: pytest.FixtureRequest, path: Path) -> Place:
    place = _place(kind, request, path)
    for statement in {"postgresql": shop.POSTGRESQL, "mariadb": shop.MARIADB, "sqlite": shop.SQLITE}[kind]:
        place.database.execute(statement)
    return place


@dataclass
class Migration:
    definition: DatabaseDefinition
    plan: SchemaPlan
    failed: list[str]  # of the steps after the rows: "what: the database's message"


def read(place: Place, selection: str = "") -> DatabaseDefinition:
    dialect = _dialect(place.database.link)
    conn = dialect.connect()
    try:
        return read_database(dialect, conn, place.schema, selection)
    finally:
        dialect.close(conn)


def migrate(source: Place, target: Place, selection: str = "") -> Migration:
    """Read the source schema, then make, load and finish the destination's tables as a job does."""
    from_job = {"fromJobConfig.schemaName": source.schema, "fromJobConfig.tableName": selection}
    description = describe_database(_dialect(source.database.link), from_job)
    to_job = {"toJobConfig.schemaName": target.schema, "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}
    made = schema_target(_dialect(target.database.link), to_job, description)
    assert isinstance(made, JdbcSchemaTarget) and isinstance(description.definition, DatabaseDefinition)
    tables = made.create_tables(description.tables)
    assert tables == list(description.tables)
    for table in tables:
        copy(
            source.database.link, {"fromJobConfig.schemaName": source.schema, "fromJobConfig.tableName": table},
            target.database.link, {"toJobConfig.schemaName": target.schema, "toJobConfig.tableName": table},
        )
    return Migration(description.definition, made.plan, made.finish_tables(tables))


ROUTES = [
    ("mariadb", "postgresql"),
    ("mariadb", "mariadb"),
    ("postgresql", "mariadb"),
    ("postgresql", "postgresql"),
    ("sqlite", "postgresql"),
    ("sqlite", "mariadb"),
]

FOREIGN_KEYS = {
    ("customer", ("first_order",), "Order", ("id",), "SET NULL", "NO ACTION"),
    ("Order", ("customer_id",), "customer", ("id",), "CASCADE", "NO ACTION"),
    ("select", ("order_id",), "Order", ("id",), "NO ACTION", "NO ACTION"),
    ("MixedCase", ("parent_region", "parent_code"), "MixedCase", ("region", "code"), "SET NULL", "CASCADE"),
}
DEFAULTS = {
    ("customer", "created"): "current_timestamp",
    ("customer", "score"): "1.50",
    ("customer", "active"): "1",
    ("Order", "status"): "new",
    ("Order", "placed"): "2024-01-01",
    ("select", "from"): "it's",
    ("select", "qty"): "1",
}


def assert_shop_schema(catalog: Catalog, tables: Sequence[str], commented: bool) -> None:
    assert sorted(catalog.tables) == sorted(tables)
    assert {table: catalog.primary[table] for table in ("customer", "Order", "select", "MixedCase")} == {
        "customer": ("id",), "Order": ("id",), "select": ("order_id", "line"), "MixedCase": ("region", "code"),
    }
    assert catalog.unique["customer"] == {("email",)}
    assert ("name", "created") in catalog.indexes["customer"]
    assert ("qty", "from") in catalog.indexes["select"]
    assert ("label",) in catalog.indexes["MixedCase"]
    assert catalog.foreign == FOREIGN_KEYS
    assert {key: catalog.defaults.get(key) for key in DEFAULTS} == DEFAULTS
    assert catalog.identity == {("customer", "id"), ("Order", "id")}
    if commented:
        assert catalog.comments[("customer", None)] == "who buys"
        assert catalog.comments[("Order", "note")] == "free text"


@pytest.mark.parametrize(("origin", "destination"), ROUTES, ids=[f"{a}-to-{b}" for a, b in ROUTES])
def test_a_schema_comes_along_with_keys_indexes_foreign_keys_defaults_comments_and_identities(
    origin: str, destination: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source = built(origin, request, tmp_path / "shop.db")
    target = _place(destination, request, tmp_path / "unused.db", other=origin == destination)
    migration = migrate(source, target)
    definition, plan = migration.definition, migration.plan
    assert migration.failed == []
    tables = shop.SQLITE_TABLES if origin == "sqlite" else shop.TABLES
    assert [table.name for table in definition.tables] == tables
    catalog = describe(target.database, target.schema)
    assert_shop_schema(catalog, tables, commented=origin != "sqlite")
    assert count(target.database, "select") == 2
    # Identities continue past the copied maximum (customer 2, "Order" 7).
    assert insert_id(target.database, "customer", "name", "'new'") == 3
    assert insert_id(target.database, "Order", "customer_id", "1") == 8
    # The foreign keys hold: a line of an order that does not exist is refused.
    with pytest.raises(Exception, match="(?i)foreign key"):
        target.database.execute(insert_sql(target.database, "select", "order_id, line", "999, 1"))
    # A generated column comes as a plain one holding the copied values.
    generated = f"generated column {source.schema}.select.total: its expression is not carried"
    assert generated in "\n".join(definition.report())
    assert sorted(target.database.fetch(f"SELECT total FROM {quoted(target.database, 'select')}")) == [(4,), (6,)]
    not_carried = {(item.kind, item.name.rsplit(".", 1)[-1]) for item in definition.not_carried}
    report = "\n".join(definition.report() + list(plan.notes))
    assert {("view", "paid")} <= not_carried
    if origin != "sqlite":  # a partitioned table is read whole, its partitions are not tables of their own
        assert f"table {source.schema}.mixedcase is partitioned; it is created as one plain table." in report
    if origin == "mariadb":
        assert {("trigger", "order_note"), ("procedure", "noop"), ("table", "shapes")} <= not_carried
        assert "`Order`.status of type enum('new','paid')" not in report  # names are shown unquoted
        assert f"column {source.schema}.Order.status of type enum('new','paid')" in report
        assert f"column {source.schema}.Order.yr of type year(4)" in report
        assert "Type point is not supported" in report
        # MySQL's index names are a table's own; PostgreSQL's are the schema's.
        assert ("note",) in catalog.indexes["Order"]
        renamed = f"index by_name of {source.schema}.customer is named customer_by_name"
        assert (renamed in report) is (destination == "postgresql")
        prefix = f"index mixed_label of {source.schema}.MixedCase indexes whole columns"
        assert (prefix in report) is (destination == "postgresql")
        assert f"check constraint qty of {source.schema}.select is not carried: CHECK (`qty` > 0)" in report
        assert f"index note_words of {source.schema}.Order is not carried: FULLTEXT indexes" in report
        carried_uuid = destination == "mariadb"
        assert (f"default uuid() of {source.schema}.Order.code is not carried" in report) is not carried_uuid
        assert (catalog.defaults.get(("Order", "code")) == "uuid()") is carried_uuid
        on_update = f"ON UPDATE CURRENT_TIMESTAMP of {source.schema}.customer.touched is not carried"
        assert (on_update in report) is (destination == "postgresql")
    if origin == "postgresql":
        assert {("trigger", "order_touch"), ("function", "touch()")} <= not_carried
        assert f"index lower_email of {source.schema}.customer is not carried" in report
        assert f"index open_orders of {source.schema}.Order is not carried" in report
        assert f"check constraint Order_status_check of {source.schema}.Order is not carried" in report
        assert f"column {source.schema}.customer.feeling of type {source.schema}.mood, a type of the source" in report
        assert ("sequence", "ticket") in not_carried
        assert f"default nextval('{source.schema}.ticket'::regclass) of {source.schema}.mixedcase.ticket is not " \
               "carried" in report
        # MariaDB keeps a timestamptz as DATETIME(6) marked in its comment, beside the column's own.
        marked = "opencdm:timestamptz when it began" if destination == "mariadb" else "when it began"
        assert catalog.comments[("customer", "created")] == marked
        if destination == "mariadb":
            customer = read(target).table("customer")
            assert customer is not None
            created = customer.column("created")
            assert (created.comment, str(created.field.type)) == ("when it began", "timestamp[us, tz=UTC]")
        carried_uuid = destination == "postgresql"
        assert (f"default gen_random_uuid() of {source.schema}.Order.code is not carried" in report) is not carried_uuid
        assert (catalog.defaults.get(("Order", "code")) == "gen_random_uuid()") is carried_uuid
    if origin == "sqlite":
        assert ("trigger", "order_touch") in not_carried
        assert "index open_orders of main.Order is not carried" in report
        assert "check constraint of main.select is not carried: CHECK (qty > 0)." in report


def test_a_selection_creates_its_tables_and_reports_foreign_keys_to_tables_left_out(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source = built("mariadb", request, tmp_path / "unused.db")
    target = _place("postgresql", request, tmp_path / "unused.db")
    migration = migrate(source, target, selection="Order&select")
    definition, plan = migration.definition, migration.plan
    catalog = describe(target.database, target.schema)
    assert catalog.tables == {"Order", "select"}
    assert catalog.foreign == {("select", ("order_id",), "Order", ("id",), "NO ACTION", "NO ACTION")}
    assert f"foreign key order_customer of {source.schema}.Order is not carried: it references " \
           f"{source.schema}.customer, which this job does not create." in plan.notes
    # Triggers are reported with the tables they belong to; the schema's view and procedure always.
    assert {item.kind for item in definition.not_carried} == {"view", "trigger", "procedure"}


def test_a_table_asked_for_that_the_schema_lacks_is_named(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    source = built("mariadb", request, tmp_path / "unused.db")
    with pytest.raises(CdmError) as failure:
        read(source, "Order&order")
    assert (failure.value.code, failure.value.message) == ("Cdm.0900", f"Table [{source.schema}.order] does not exist.")


@pytest.mark.parametrize("destination", ["postgresql", "mariadb"])
def test_a_copied_row_that_breaks_a_foreign_key_fails_that_keys_validation_only(
    destination: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # SQLite checks foreign keys only when a connection asks it to: its files may hold such rows.
    source = built("sqlite", request, tmp_path / "shop.db")
    source.database.execute("""INSERT INTO "select" VALUES (999, 1, 'lost', 1)""")
    target = _place(destination, request, tmp_path / "unused.db")
    migration = migrate(source, target)
    [failure] = migration.failed
    assert failure.startswith("foreign key select_order_id_fkey of main.select: ")
    assert "select_order_id_fkey" in failure.partition(": ")[2]
    # The key is there; the rows are as the source had them.
    assert ("select", ("order_id",), "Order", ("id",), "NO ACTION", "NO ACTION") in describe(
        target.database, target.schema
    ).foreign
    assert count(target.database, "select") == 3
