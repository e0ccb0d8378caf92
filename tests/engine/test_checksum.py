"""The checksum of verifyConfig.mode=CHECKSUM: independent of row order and batching, sensitive to
every value, to NULL against empty text, and to a row moved between columns."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa

from opencdm.engine.verify import VerifyMode, add_checksums, checksum, compare_counts

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("amount", pa.decimal128(12, 2)),
                    ("at", pa.timestamp("us", tz="UTC")), ("raw", pa.binary())])
ROWS = [
    (1, "a", Decimal("1.50"), dt.datetime(2024, 1, 1, tzinfo=dt.UTC), b"\x00\xff"),
    (2, "", None, None, b""),
    (3, None, Decimal("-0.01"), dt.datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC), None),
]


def _batch(rows: list[tuple[object, ...]], schema: pa.Schema = SCHEMA) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([dict(zip(schema.names, row, strict=True)) for row in rows], schema=schema)


def test_order_and_batching_do_not_matter() -> None:
    whole = checksum([_batch(ROWS)], SCHEMA)
    assert whole[0] == 3
    assert checksum([_batch(ROWS[2:]), _batch(ROWS[:1]), _batch(ROWS[1:2])], SCHEMA) == whole


def test_every_difference_shows() -> None:
    whole = checksum([_batch(ROWS)], SCHEMA)
    changed = [ROWS[0], (2, None, None, None, b""), ROWS[2]]  # empty text became NULL
    assert checksum([_batch(changed)], SCHEMA) != whole
    shifted = [ROWS[0], ROWS[1], (3, None, Decimal("-0.02"), ROWS[2][3], None)]
    assert checksum([_batch(shifted)], SCHEMA) != whole
    swapped = [(1, "a", Decimal("1.50"), ROWS[0][3], b"\x00\xff"), (2, "", None, None, b""),
               (3, None, Decimal("-0.01"), ROWS[2][3], b"")]  # NULL binary became empty
    assert checksum([_batch(swapped)], SCHEMA) != whole


def test_a_destination_with_wider_types_compares_in_the_source_types() -> None:
    wider = pa.schema([("id", pa.int32()), ("name", pa.large_string()), ("amount", pa.decimal128(20, 4)),
                       ("at", pa.timestamp("us", tz="UTC")), ("raw", pa.large_binary())])
    assert checksum([_batch(ROWS, wider)], SCHEMA) == checksum([_batch(ROWS)], SCHEMA)


def test_count_and_checksum_verdicts() -> None:
    ok = compare_counts(VerifyMode.COUNT, 10, 8, 2, None)
    assert ok.passed and "10 rows read = 8 written + 2 skipped" in ok.summary
    lost = compare_counts(VerifyMode.COUNT, 10, 8, 0, None)
    assert not lost.passed and "10 rows read" in lost.summary
    short = compare_counts(VerifyMode.COUNT, 10, 10, 0, 9)
    assert not short.passed and "holds 9" in short.summary
    mismatch = compare_counts(VerifyMode.CHECKSUM, 3, 3, 0, 3)
    add_checksums(mismatch, (3, "00000000000000aa"), (3, "00000000000000ab"))
    assert not mismatch.passed and "checksum mismatch" in mismatch.summary
