"""Every entry of each dialect's type table, both ways: the native type names a database reports read
as Arrow fields, and the Arrow fields declared as the types of a created table (docs/type-mapping.md).

The round trips through real databases are in test_jdbc_roundtrip.py; these pin each mapped type,
the parametric ones (DECIMAL(p,s), VARCHAR(n), unsigned, tinyint(1), ...) included, without one.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from opencdm.connectors import types as t
from opencdm.connectors.jdbc import mysql_types, postgresql_types, sqlite_types
from opencdm.errors import CdmError

STRING, BINARY = pa.string(), pa.binary()
D = pa.decimal128


def _field(type_: pa.DataType, length: int | None = None, logical: str | None = None) -> pa.Field:
    return t.make_field("c", type_, length=length, logical=logical)


JSON = _field(STRING, logical=t.JSON)
JSONB = _field(STRING, logical=t.JSONB)
NUMERIC = _field(STRING, logical=t.NUMERIC)

# (type, comment, has a json_valid() check) as SHOW FULL COLUMNS reports it -> field
MYSQL_READS = [
    ("tinyint(1)", "", False, _field(pa.bool_())),
    ("tinyint(4)", "", False, _field(pa.int8())),
    ("tinyint(1) unsigned", "", False, _field(pa.uint8())),
    ("tinyint(3) unsigned", "", False, _field(pa.uint8())),
    ("smallint(6)", "", False, _field(pa.int16())),
    ("smallint(5) unsigned", "", False, _field(pa.uint16())),
    ("mediumint(9)", "", False, _field(pa.int32())),
    ("mediumint(8) unsigned", "", False, _field(pa.uint32())),
    ("int(11)", "", False, _field(pa.int32())),
    ("int(10) unsigned", "", False, _field(pa.uint32())),
    ("int(10) unsigned zerofill", "", False, _field(pa.uint32())),
    ("integer", "", False, _field(pa.int32())),
    ("bigint(20)", "", False, _field(pa.int64())),
    ("bigint(20) unsigned", "", False, _field(pa.uint64())),
    ("decimal(12,2)", "", False, _field(D(12, 2))),
    ("decimal(12,2) unsigned", "", False, _field(D(12, 2))),
    ("decimal(65,30)", "", False, _field(pa.decimal256(65, 30))),
    ("numeric(10,0)", "", False, _field(D(10, 0))),
    ("decimal", "", False, _field(D(10, 0))),
    ("float", "", False, _field(pa.float32())),
    ("double", "", False, _field(pa.float64())),
    ("real", "", False, _field(pa.float64())),
    ("date", "", False, _field(pa.date32())),
    ("time", "", False, _field(pa.time64("us"))),
    ("time(6)", "", False, _field(pa.time64("us"))),
    ("datetime(6)", "", False, _field(t.TIMESTAMP)),
    ("datetime(6)", "opencdm:timestamptz", False, _field(t.TIMESTAMP_TZ)),
    ("datetime", "note", False, _field(t.TIMESTAMP)),
    ("timestamp(6)", "", False, _field(t.TIMESTAMP_TZ)),
    ("year(4)", "", False, _field(pa.int16())),
    ("varchar(64)", "", False, _field(STRING, 64)),
    ("VARCHAR(64)", "", False, _field(STRING, 64)),
    ("char(2)", "", False, _field(STRING, 2, t.CHAR)),
    ("char", "", False, _field(STRING, 1, t.CHAR)),
    ("tinytext", "", False, _field(STRING)),
    ("text", "", False, _field(STRING)),
    ("mediumtext", "", False, _field(STRING)),
    ("longtext", "", False, _field(STRING)),
    ("longtext", "", True, JSON),  # MariaDB's JSON
    ("json", "", False, JSON),
    ("enum('a','b')", "", False, _field(STRING)),
    ("set('a','b')", "", False, _field(STRING)),
    ("binary(4)", "", False, _field(BINARY, 4)),
    ("varbinary(16)", "", False, _field(BINARY, 16)),
    ("tinyblob", "", False, _field(BINARY)),
    ("blob", "", False, _field(BINARY)),
    ("mediumblob", "", False, _field(BINARY)),
    ("longblob", "", False, _field(BINARY)),
    ("bit(1)", "", False, _field(BINARY)),
]

# format_type() -> field
POSTGRESQL_READS = [
    ("smallint", _field(pa.int16())),
    ("integer", _field(pa.int32())),
    ("bigint", _field(pa.int64())),
    ("numeric(12,2)", _field(D(12, 2))),
    ("numeric(38,10)", _field(D(38, 10))),
    ("numeric(39,3)", _field(pa.decimal256(39, 3))),
    ("numeric(10)", _field(D(10, 0))),
    ("numeric", NUMERIC),
    ("real", _field(pa.float32())),
    ("double precision", _field(pa.float64())),
    ("text", _field(STRING)),
    ("character varying(64)", _field(STRING, 64)),
    ("character varying", _field(STRING)),
    ("character(3)", _field(STRING, 3, t.CHAR)),
    ("character", _field(STRING, 1, t.CHAR)),
    ("json", JSON),
    ("jsonb", JSONB),
    ("boolean", _field(pa.bool_())),
    ("date", _field(pa.date32())),
    ("bytea", _field(BINARY)),
    ("time without time zone", _field(pa.time64("us"))),
    ("time(3) without time zone", _field(pa.time64("us"))),
    ("timestamp without time zone", _field(t.TIMESTAMP)),
    ("timestamp(3) without time zone", _field(t.TIMESTAMP)),
    ("timestamp with time zone", _field(t.TIMESTAMP_TZ)),
    ("timestamp(0) with time zone", _field(t.TIMESTAMP_TZ)),
] + [
    # Without an Arrow mapping: their text, the type kept for a PostgreSQL destination.
    (native, _field(STRING, logical=t.PG_NATIVE_PREFIX + native))
    for native in (
        "time with time zone", "uuid", "interval", "interval(6)", "inet", "xml", "money", "bit varying(5)",
        "integer[]", "numeric(12,2)[]", "point", "tsvector", '"Mood"',
    )
]

# declared type -> field
SQLITE_READS = [
    ("tinyint", _field(pa.int8())),
    ("smallint", _field(pa.int16())),
    ("int", _field(pa.int32())),
    ("int(11)", _field(pa.int32())),
    ("mediumint", _field(pa.int32())),
    ("integer", _field(pa.int64())),
    ("INTEGER", _field(pa.int64())),
    ("bigint", _field(pa.int64())),
    ("tinyint unsigned", _field(pa.uint8())),
    ("smallint unsigned", _field(pa.uint16())),
    ("int unsigned", _field(pa.uint32())),
    ("bigint unsigned", _field(pa.uint64())),
    ("decimal(12,2)", _field(D(12, 2))),
    ("DECIMAL( 12 , 2 )", _field(D(12, 2))),
    ("numeric(10)", _field(D(10, 0))),
    ("decimal_text(38,10)", _field(D(38, 10))),
    ("DECIMAL_TEXT(20,0)", _field(D(20, 0))),
    ("numeric_text(40,2)", _field(pa.decimal256(40, 2))),
    ("decimal", NUMERIC),
    ("numeric", NUMERIC),
    ("numeric_text", NUMERIC),
    ("float", _field(pa.float32())),
    ("real", _field(pa.float64())),
    ("double", _field(pa.float64())),
    ("double precision", _field(pa.float64())),
    ("boolean", _field(pa.bool_())),
    ("bool", _field(pa.bool_())),
    ("date", _field(pa.date32())),
    ("time", _field(pa.time64("us"))),
    ("datetime", _field(t.TIMESTAMP)),
    ("timestamp", _field(t.TIMESTAMP)),
    ("timestamptz", _field(t.TIMESTAMP_TZ)),
    ("timestamp with time zone", _field(t.TIMESTAMP_TZ)),
    ("varchar(64)", _field(STRING, 64)),
    ("varchar", _field(STRING)),
    ("character varying(8)", _field(STRING, 8)),
    ("nvarchar(8)", _field(STRING, 8)),
    ("varying character(8)", _field(STRING, 8)),
    ("char(2)", _field(STRING, 2, t.CHAR)),
    ("character(2)", _field(STRING, 2, t.CHAR)),
    ("nchar", _field(STRING, 1, t.CHAR)),
    ("", _field(STRING)),
    ("text", _field(STRING)),
    ("clob", _field(STRING)),
    ("string", _field(STRING)),
    ("json", JSON),
    ("jsonb", JSON),
    ("blob", _field(BINARY)),
    ("bytea", _field(BINARY)),
    ("varbinary(16)", _field(BINARY, 16)),
    ("varbinary", _field(BINARY)),
]


def _same(actual: pa.Field, wanted: pa.Field) -> None:
    assert actual.equals(wanted, check_metadata=True), f"{actual} {actual.metadata} != {wanted} {wanted.metadata}"


@pytest.mark.parametrize(("native", "comment", "json_check", "wanted"), MYSQL_READS)
def test_mysql_reads(native: str, comment: str, json_check: bool, wanted: pa.Field) -> None:
    _same(mysql_types.read_field("c", native, comment, json_check), wanted)


@pytest.mark.parametrize(("native", "wanted"), POSTGRESQL_READS)
def test_postgresql_reads(native: str, wanted: pa.Field) -> None:
    _same(postgresql_types.read_field("c", native), wanted)


@pytest.mark.parametrize(("native", "wanted"), SQLITE_READS)
def test_sqlite_reads(native: str, wanted: pa.Field) -> None:
    _same(sqlite_types.read_field("c", native), wanted)


@pytest.mark.parametrize("native", ["geometry", "point", "enum('a)','b')", "decimal(1,,2) x(", "varchar(10"])
def test_mysql_refuses_what_it_does_not_map(native: str) -> None:
    with pytest.raises(CdmError, match=r"Type .* is not supported") as info:
        mysql_types.read_field("c", native, "", False)
    assert info.value.code == "Cdm.0921"


@pytest.mark.parametrize("native", ["uuid", "int[]", "double  precision", "decimal(1,2,3)", "time with time zone"])
def test_sqlite_refuses_what_it_does_not_map(native: str) -> None:
    with pytest.raises(CdmError, match=r"Type .* is not supported") as info:
        sqlite_types.read_field("c", native)
    assert info.value.code == "Cdm.0921"


def test_decimals_wider_than_76_digits_are_refused() -> None:
    for read in (
        lambda: mysql_types.read_field("c", "decimal(77,0)", "", False),
        lambda: postgresql_types.read_field("c", "numeric(77,0)"),
        lambda: sqlite_types.read_field("c", "decimal_text(77,0)"),
    ):
        with pytest.raises(CdmError, match=r"decimal\(77,0\) is not supported \(at most 76 digits\)"):
            read()


UNSUPPORTED = object()  # the declaration raises Cdm.0921
CREATED: list[tuple[pa.Field, str | object, str | object, str | object]] = [
    # field, PostgreSQL, MariaDB / MySQL, SQLite
    (_field(pa.int8()), "smallint", "TINYINT", "TINYINT"),
    (_field(pa.int16()), "smallint", "SMALLINT", "SMALLINT"),
    (_field(pa.int32()), "integer", "INT", "INT"),
    (_field(pa.int64()), "bigint", "BIGINT", "BIGINT"),
    (_field(pa.uint8()), "smallint", "TINYINT UNSIGNED", "TINYINT UNSIGNED"),
    (_field(pa.uint16()), "integer", "SMALLINT UNSIGNED", "SMALLINT UNSIGNED"),
    (_field(pa.uint32()), "bigint", "INT UNSIGNED", "INT UNSIGNED"),
    (_field(pa.uint64()), "numeric(20,0)", "BIGINT UNSIGNED", "DECIMAL_TEXT(20,0)"),
    (_field(D(12, 2)), "numeric(12,2)", "DECIMAL(12,2)", "DECIMAL(12,2)"),
    (_field(D(15, 5)), "numeric(15,5)", "DECIMAL(15,5)", "DECIMAL(15,5)"),
    (_field(D(16, 2)), "numeric(16,2)", "DECIMAL(16,2)", "DECIMAL_TEXT(16,2)"),
    (_field(D(38, 10)), "numeric(38,10)", "DECIMAL(38,10)", "DECIMAL_TEXT(38,10)"),
    (_field(D(38, 31)), "numeric(38,31)", UNSUPPORTED, "DECIMAL_TEXT(38,31)"),
    (_field(pa.decimal256(65, 30)), "numeric(65,30)", "DECIMAL(65,30)", "DECIMAL_TEXT(65,30)"),
    (_field(pa.decimal256(66, 0)), "numeric(66,0)", UNSUPPORTED, "DECIMAL_TEXT(66,0)"),
    (NUMERIC, "numeric", "DECIMAL(65,30)", "NUMERIC_TEXT"),
    (_field(pa.float32()), "real", "FLOAT", "FLOAT"),
    (_field(pa.float64()), "double precision", "DOUBLE", "DOUBLE"),
    (_field(STRING), "text", "LONGTEXT", "TEXT"),
    (_field(pa.large_string()), "text", "LONGTEXT", "TEXT"),
    (_field(STRING, 0), "text", "LONGTEXT", "TEXT"),
    (_field(STRING, 64), "character varying(64)", "VARCHAR(64)", "VARCHAR(64)"),
    (_field(STRING, 16383), "character varying(16383)", "VARCHAR(16383)", "VARCHAR(16383)"),
    (_field(STRING, 16384), "character varying(16384)", "LONGTEXT", "VARCHAR(16384)"),
    (_field(STRING, 2, t.CHAR), "character(2)", "CHAR(2)", "CHAR(2)"),
    (_field(STRING, 255, t.CHAR), "character(255)", "CHAR(255)", "CHAR(255)"),
    (_field(STRING, 256, t.CHAR), "character(256)", "VARCHAR(256)", "CHAR(256)"),
    (_field(STRING, None, t.CHAR), "character(1)", "LONGTEXT", "CHAR(1)"),
    (_field(pa.bool_()), "boolean", "BOOLEAN", "BOOLEAN"),
    (_field(pa.date32()), "date", "DATE", "DATE"),
    (_field(pa.time64("us")), "time without time zone", "TIME(6)", "TIME"),
    (_field(t.TIMESTAMP), "timestamp without time zone", "DATETIME(6)", "TIMESTAMP"),
    (_field(t.TIMESTAMP_TZ), "timestamp with time zone", "DATETIME(6) COMMENT 'opencdm:timestamptz'", "TIMESTAMPTZ"),
    (_field(pa.timestamp("ms")), "timestamp without time zone", UNSUPPORTED, UNSUPPORTED),
    (_field(pa.timestamp("s", tz="+01:00")), "timestamp with time zone",
     "DATETIME(6) COMMENT 'opencdm:timestamptz'", UNSUPPORTED),
    (_field(BINARY), "bytea", "LONGBLOB", "BLOB"),
    (_field(pa.large_binary()), "bytea", "LONGBLOB", "BLOB"),
    (_field(BINARY, 16), "bytea", "VARBINARY(16)", "VARBINARY(16)"),
    (_field(BINARY, 16384), "bytea", "LONGBLOB", "VARBINARY(16384)"),
    (_field(pa.binary(4)), "bytea", UNSUPPORTED, UNSUPPORTED),
    (JSON, "json", "JSON", "JSON"),
    (JSONB, "jsonb", "JSON", "JSON"),
    (_field(STRING, logical=t.PG_NATIVE_PREFIX + "uuid"), "uuid", "LONGTEXT", "TEXT"),
    (_field(STRING, 8, t.PG_NATIVE_PREFIX + "interval"), "interval", "VARCHAR(8)", "VARCHAR(8)"),
    (_field(pa.float16()), UNSUPPORTED, UNSUPPORTED, UNSUPPORTED),
    (_field(pa.date64()), UNSUPPORTED, UNSUPPORTED, UNSUPPORTED),
    (_field(pa.time64("ns")), UNSUPPORTED, UNSUPPORTED, UNSUPPORTED),
    (_field(pa.list_(pa.int32())), UNSUPPORTED, UNSUPPORTED, UNSUPPORTED),
]
TABLES = {
    "postgresql": postgresql_types.POSTGRESQL_TYPES,
    "mysql": mysql_types.MYSQL_TYPES,
    "sqlite": sqlite_types.SQLITE_TYPES,
}


@pytest.mark.parametrize("dialect", list(TABLES))
@pytest.mark.parametrize("row", CREATED, ids=lambda row: f"{row[0].type}-{(row[0].metadata or {})}")
def test_created_column_types(dialect: str, row: tuple[pa.Field, str | object, str | object, str | object]) -> None:
    field, wanted = row[0], dict(zip(TABLES, row[1:], strict=True))[dialect]
    if wanted is UNSUPPORTED:
        with pytest.raises(CdmError, match=r"Type .* is not supported") as info:
            TABLES[dialect].declare(field)
        assert info.value.code == "Cdm.0921"
    else:
        assert TABLES[dialect].declare(field) == wanted


def test_mysql_names_its_decimal_limit() -> None:
    with pytest.raises(CdmError) as info:
        mysql_types.MYSQL_TYPES.declare(_field(pa.decimal256(66, 0)))
    assert info.value.message == "Type decimal(66,0) (MySQL allows DECIMAL(65,30) at most) is not supported."
