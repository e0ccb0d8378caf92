"""The DDL an entire-database job plans, statement by statement, for what the shop schema of
test_entire_database_schema does not hold: no server is needed to plan."""

from __future__ import annotations

import pyarrow as pa
import pytest

from opencdm.connectors import types as t
from opencdm.connectors.jdbc.catalog import SchemaPlan, schema_writer
from opencdm.connectors.jdbc.catalog.ddl import fitted_name
from opencdm.connectors.jdbc.catalog.model import (
    ColumnDefault,
    ColumnDefinition,
    DatabaseDefinition,
    DefaultKind,
    Engine,
    ForeignKey,
    IndexDefinition,
    TableDefinition,
)
from opencdm.connectors.jdbc.config import LinkConfig
from opencdm.connectors.jdbc.mysql import MySqlDialect
from opencdm.connectors.jdbc.postgresql import PostgresDialect

from conftest import mysql_link, pg_link


def column(name: str, type_: pa.DataType, default: ColumnDefault | None = None, *, length: int | None = None,
           not_null: bool = False, identity: bool = False) -> ColumnDefinition:
    field = t.with_not_null(t.make_field(name, type_, length=length), not_null)
    return ColumnDefinition(name, field, str(type_), not not_null, default, identity)


def literal(text: str) -> ColumnDefault:
    return ColumnDefault(DefaultKind.LITERAL, text, Engine.MYSQL)


def plan(destination: str, *tables: TableDefinition) -> SchemaPlan:
    if destination == "postgresql":
        dialect: PostgresDialect | MySqlDialect = PostgresDialect(LinkConfig.parse(pg_link()))
    else:
        dialect = MySqlDialect(LinkConfig.parse(mysql_link("shop")))
    return schema_writer(dialect, "shop").plan(DatabaseDefinition(Engine.MYSQL, "src", tables))


ITEM = TableDefinition("src", "item", (
    column("id", pa.int32(), not_null=True),
    column("sold", pa.timestamp("us"), literal("0000-00-00 00:00:00")),
    column("day", pa.date32(), literal("2024-02-29")),
    column("done", pa.bool_(), literal("0")),
    column("code", pa.string(), literal("7"), length=10),
    column("price", pa.decimal128(5, 2), literal("abc")),
), primary_key=("id",))


@pytest.mark.parametrize("destination", ["postgresql", "mariadb"])
def test_defaults_translate_when_they_fit_the_column_and_are_noted_when_not(destination: str) -> None:
    planned = plan(destination, ITEM)
    create = planned.tables[0].create[0]
    assert "DEFAULT '2024-02-29'" in create and "DEFAULT FALSE" in create and "DEFAULT '7'" in create
    assert [note.split(" is not carried")[0] for note in planned.notes] == [
        "default '0000-00-00 00:00:00' of src.item.sold", "default 'abc' of src.item.price",
    ]


def test_postgresql_renames_an_index_whose_name_another_relation_has_and_cuts_long_names() -> None:
    long_name = "i" * 80
    order = TableDefinition("src", "order", (column("id", pa.int32(), not_null=True),), primary_key=("id",),
                            indexes=(IndexDefinition("item", ("id",)), IndexDefinition(long_name, ("id",))))
    planned = plan("postgresql", ITEM, order)
    statements = [step.statements[0] for step in planned.table("order").indexes]
    assert statements[0] == 'CREATE INDEX "order_item" ON "shop"."order" ("id")'
    assert f'"{fitted_name(long_name, 63)}"' in statements[1] and len(fitted_name(long_name, 63).encode()) == 63
    renamed = "index item of src.order is named order_item: PostgreSQL's index names are unique in a schema."
    assert renamed in planned.notes


def test_postgresql_refuses_a_foreign_key_to_columns_that_are_no_key_there() -> None:
    child = TableDefinition("src", "child", (column("code", pa.string(), length=10),), foreign_keys=(
        ForeignKey("child_code", ("code",), "src", "item", ("code",)),
    ))
    planned = plan("postgresql", ITEM, child)
    assert planned.table("child").foreign_keys == () and planned.table("child").validations == ()
    assert "foreign key child_code of src.child is not carried: PostgreSQL wants the referenced columns (code) " \
           "to be a primary key or unique constraint." in planned.notes


def test_mariadb_takes_one_auto_increment_a_table_kept_first_in_a_key() -> None:
    counted = TableDefinition("src", "counted", (
        column("tenant", pa.int32(), not_null=True),
        column("id", pa.int64(), not_null=True, identity=True),
        column("serial", pa.int64(), not_null=True, identity=True),
    ), primary_key=("tenant", "id"))
    planned = plan("mariadb", counted)
    create = planned.tables[0].create[0]
    assert "`id` BIGINT NOT NULL AUTO_INCREMENT" in create and "KEY (`id`)" in create
    assert "`serial` BIGINT NOT NULL," in create
    assert planned.tables[0].identities == ("id",)
    assert "auto-increment of src.counted.serial is not carried: MariaDB has one auto-increment column a table." \
        in planned.notes


def test_mariadb_indexes_a_prefix_of_columns_too_long_for_a_key_and_keeps_unique_keys_whole() -> None:
    notes = TableDefinition("src", "notes", (
        column("id", pa.int32(), not_null=True), column("title", pa.string(), length=1000), column("body", pa.string()),
    ), primary_key=("id",), indexes=(
        IndexDefinition("by_title_body", ("title", "body")), IndexDefinition("unique_body", ("body",), unique=True),
    ))
    planned = plan("mariadb", notes)
    [step] = planned.tables[0].indexes
    assert step.statements == (
        "ALTER TABLE `shop`.`notes` ADD INDEX `by_title_body` (`title`(384), `body`(384)), "
        "ADD UNIQUE INDEX `unique_body` (`body`)",
    )


def test_mariadb_makes_set_default_no_action_and_foreign_key_names_unique_in_the_database() -> None:
    keys = [
        TableDefinition("src", name, (column("item_id", pa.int32()),), foreign_keys=(
            ForeignKey("to_item", ("item_id",), "src", "item", ("id",), on_delete="SET DEFAULT"),
        )) for name in ("a", "b")
    ]
    planned = plan("mariadb", ITEM, *keys)
    assert planned.table("a").foreign_keys[1] == (
        "ALTER TABLE `shop`.`a` ADD CONSTRAINT `to_item` FOREIGN KEY (`item_id`) REFERENCES `shop`.`item` (`id`) "
        "ON DELETE NO ACTION ON UPDATE NO ACTION"
    )
    assert "CONSTRAINT `b_to_item`" in planned.table("b").foreign_keys[1]
    assert "ON DELETE SET DEFAULT of foreign key to_item of src.a becomes NO ACTION: InnoDB refuses SET DEFAULT." \
        in planned.notes
