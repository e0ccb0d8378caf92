"""The reference Arrow route: connectorx ``arrow_stream`` from MariaDB → ADBC ``adbc_ingest`` into PostgreSQL.

connectorx widens and re-types some columns (numeric → decimal128(38,10), int → int64), and ADBC's
binary COPY refuses mismatched types, so every batch is cast to the target table's Arrow schema
(the cost of the cast is part of the measurement, as in the baseline).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import adbc_driver_postgresql.dbapi as adbc
import connectorx as cx
import pyarrow as pa

TARGET = pa.schema([
    ("id", pa.int64()),
    ("c_int", pa.int32()),
    ("c_numeric", pa.decimal128(12, 2)),
    ("c_double", pa.float64()),
    ("c_varchar", pa.string()),
    ("c_text", pa.string()),
    ("c_bool", pa.bool_()),
    ("c_date", pa.date32()),
    ("c_ts", pa.timestamp("us")),
    ("c_tstz", pa.timestamp("us", "UTC")),
])


def cast_batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    for batch in reader:
        columns = [batch.column(field.name).cast(field.type) for field in TARGET]
        yield pa.RecordBatch.from_arrays(columns, schema=TARGET)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True, help="connectorx URL, e.g. mysql://root@127.0.0.1:3306/bench")
    parser.add_argument("--target", required=True, help="libpq URI of the PostgreSQL destination")
    parser.add_argument("--table", required=True, help="existing target table in schema bench")
    args = parser.parse_args()
    reader = cx.read_sql(args.source, "SELECT * FROM src", return_type="arrow_stream", batch_size=100_000)
    with adbc.connect(args.target) as conn:
        with conn.cursor() as cursor:
            stream = pa.RecordBatchReader.from_batches(TARGET, cast_batches(reader))
            cursor.adbc_ingest(args.table, stream, mode="append", db_schema_name="bench")
        conn.commit()


if __name__ == "__main__":
    main()
