"""One file read by several extractors: an uncompressed CSV file in byte ranges, a Parquet file in
ranges of row groups. Each line (row) must be read exactly once, whatever the ranges' bounds cut
through; a CSV whose quoting may hide line breaks is read whole."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from files_support import postgres_link, rows, run, succeeded

from opencdm.connectors import get_connector
from opencdm.connectors.base import Partition, Source

from conftest import RunningServer, create_link, pg_connect

# Tiny ranges (fromJobConfig.splitFileSize, in MB: about 100 bytes), so that small files split.
TINY_SPLIT = "0.0001"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENCDM_FILE_ROOTS", str(tmp_path))
    return tmp_path


def nas_source(root: Path, **inputs: str) -> Source:
    return get_connector("nas-connector").open_source(
        {"linkConfig.rootDirectory": str(root)}, {f"fromJobConfig.{name}": value for name, value in inputs.items()}
    )


def read_partitions(source: Source, partitions: list[Partition]) -> list[dict[str, Any]]:
    source.schema()
    return [row for partition in partitions for batch in source.read(partition, 7) for row in batch.to_pylist()]


def units(partitions: list[Partition]) -> list[tuple[str, int | None, int | None]]:
    return [tuple(unit) for partition in partitions for unit in partition.spec["units"]]  # type: ignore[misc]


def numbered_lines(count: int) -> list[str]:
    """Lines of varied length, so that range bounds fall anywhere in them."""
    return [f"{i},{'label ' * (i % 7)}{i}" for i in range(1, count + 1)]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("extractors", [2, 3, 7])
def test_csv_byte_ranges_read_every_line_exactly_once(root: Path, newline: str, extractors: int) -> None:
    # A header, and a last line without a line break.
    content = newline.join(["id,label", *numbered_lines(300)]).encode()
    (root / "big.csv").write_bytes(content)
    inputs = {
        "inputDirectory": "/big.csv",
        "inputFormat": "CSV_FILE",
        "firstRowAsHeader": "true",
        "lineSeparator": newline.encode("unicode_escape").decode(),
        "splitFileSize": TINY_SPLIT,
    }
    whole = read_partitions(nas_source(root, **inputs), [Partition(0)])
    assert [row["id"] for row in whole] == list(range(1, 301))

    source = nas_source(root, **inputs)
    partitions = source.partitions(extractors)
    assert len(partitions) == extractors
    bounds = [start for _, start, _ in units(partitions) if start]
    # Some range begins in the middle of a line: the range before it reads that line whole.
    assert any(content[bound - 1 : bound] != newline[-1].encode() for bound in bounds)
    split = read_partitions(source, partitions)
    # The header is read once, as names (an "id" value would not be an integer); every row once.
    assert source.schema().field("id").type == pa.int16()  # the narrowest integer type of every value (1..300)
    assert sorted(split, key=lambda row: row["id"]) == whole


def test_a_range_bound_at_a_line_start_and_at_the_last_byte(root: Path) -> None:
    # Lines of exactly 10 bytes: with 30 lines and 3 extractors every bound falls on a line start.
    content = "".join(f"{i:04d},abcd\n" for i in range(30)).encode()
    (root / "even.csv").write_bytes(content)
    source = nas_source(
        root, inputDirectory="/even.csv", inputFormat="CSV_FILE", splitFileSize=TINY_SPLIT, columnList="1:int&2"
    )
    partitions = source.partitions(3)
    assert sorted(start for _, start, _ in units(partitions)) == [0, 100, 200]
    per_partition = [[row["col1"] for row in read_partitions(source, [partition])] for partition in partitions]
    assert sorted(per_partition) == [list(range(0, 10)), list(range(10, 20)), list(range(20, 30))]


def test_a_csv_whose_quotes_may_hide_line_breaks_is_read_whole(root: Path) -> None:
    lines = numbered_lines(200)
    lines[100] = '101,"a value\nover two lines, with a ""quote"""'
    (root / "quoted.csv").write_text("\n".join(lines) + "\n")
    source = nas_source(root, inputDirectory="/quoted.csv", inputFormat="CSV_FILE", splitFileSize=TINY_SPLIT)
    partitions = source.partitions(3)
    assert units(partitions) == [(str(root / "quoted.csv"), None, None)]
    read = read_partitions(source, partitions)
    assert [row["col1"] for row in read] == list(range(1, 201))
    assert read[100]["col2"] == 'a value\nover two lines, with a "quote"'

    # Without quoting, every line break ends a line: the file is split.
    (root / "plain.csv").write_text("\n".join(numbered_lines(200)) + "\n")
    plain = nas_source(
        root, inputDirectory="/plain.csv", inputFormat="CSV_FILE", splitFileSize=TINY_SPLIT, quoteChar="false"
    )
    assert len(plain.partitions(3)) == 3
    assert sorted(row["col1"] for row in read_partitions(plain, plain.partitions(3))) == list(range(1, 201))


def test_small_and_compressed_csv_files_are_not_split(root: Path) -> None:
    text = "\n".join(numbered_lines(200)) + "\n"
    (root / "in").mkdir()
    (root / "in" / "small.csv").write_text(text)
    with gzip.open(root / "in" / "packed.csv.gz", "wt") as packed:
        packed.write(text)
    # Below splitFileSize (default 16 MB) a file is one unit; a gzip stream cannot be entered midway.
    small = nas_source(root, inputDirectory="/in/small.csv", inputFormat="CSV_FILE")
    assert units(small.partitions(3)) == [(str(root / "in" / "small.csv"), None, None)]
    packed = nas_source(
        root,
        inputDirectory="/in/packed.csv.gz",
        inputFormat="CSV_FILE",
        fromCompression="GZIP",
        splitFileSize=TINY_SPLIT,
    )
    assert units(packed.partitions(3)) == [(str(root / "in" / "packed.csv.gz"), None, None)]
    assert [row["col1"] for row in read_partitions(packed, packed.partitions(3))] == list(range(1, 201))


def test_only_a_file_larger_than_its_share_is_split(root: Path) -> None:
    (root / "in").mkdir()
    (root / "in" / "big.csv").write_text("\n".join(numbered_lines(600)) + "\n")
    for index in range(3):
        (root / "in" / f"small{index}.csv").write_text(f"{1000 + index},x\n")
    source = nas_source(root, inputDirectory="/in", inputFormat="CSV_FILE", splitFileSize=TINY_SPLIT)
    partitions = source.partitions(3)
    pieces = units(partitions)
    assert [unit for unit in pieces if "small" in unit[0]] == [
        (str(root / "in" / f"small{index}.csv"), None, None) for index in range(3)
    ]
    assert len([unit for unit in pieces if unit[0].endswith("big.csv")]) == 3
    assert sorted(row["col1"] for row in read_partitions(source, partitions)) == [*range(1, 601), 1000, 1001, 1002]


def test_parquet_row_groups_are_read_once(root: Path) -> None:
    table = pa.table({"id": pa.array(range(1000), pa.int64()), "label": [f"r{i}" for i in range(1000)]})
    pq.write_table(table, root / "groups.parquet", row_group_size=90)  # 12 row groups, the last short
    source = nas_source(root, inputDirectory="/groups.parquet", inputFormat="PARQUET_FILE")
    partitions = source.partitions(3)
    assert len(partitions) == 3
    assert sorted(read_partitions(source, partitions), key=lambda row: row["id"]) == table.to_pylist()


# --- through the API -----------------------------------------------------------------------------


@pytest.fixture
def api(file_server: RunningServer) -> Iterator[httpx.Client]:
    with file_server.client() as client:
        yield client


def test_one_csv_and_one_parquet_file_copied_by_three_extractors(
    api: httpx.Client, file_server: RunningServer, file_root: Path, pg_schema: str
) -> None:
    area = file_root / pg_schema
    area.mkdir()
    lines = ["id,label", *numbered_lines(3000)]
    (area / "big.csv").write_text("\n".join(lines))  # no line break after the last line
    table = pa.table({"id": pa.array(range(1, 3001), pa.int64()), "label": [line.split(",")[1] for line in lines[1:]]})
    pq.write_table(table, area / "big.parquet", row_group_size=500)
    nas = create_link(api, file_server, "nas-connector", {"linkConfig.rootDirectory": str(area)})
    pg_name = postgres_link(api, file_server)
    expected = [(i, line.split(",")[1]) for i, line in enumerate(lines[1:], start=1)]
    for name, inputs in (
        (
            "from_csv",
            {
                "fromJobConfig.inputDirectory": "/big.csv",
                "fromJobConfig.inputFormat": "CSV_FILE",
                "fromJobConfig.firstRowAsHeader": "true",
                "fromJobConfig.splitFileSize": "0.01",
            },
        ),
        ("from_parquet", {"fromJobConfig.inputDirectory": "/big.parquet", "fromJobConfig.inputFormat": "PARQUET_FILE"}),
    ):
        with pg_connect() as conn:
            conn.execute(f'CREATE TABLE "{pg_schema}".{name} (id bigint, label text)')
        before = file_server.log().count("3 partitions on 3 processes")
        out = succeeded(
            run(
                api,
                file_server,
                ("nas-connector", nas, inputs),
                (
                    "generic-jdbc-connector",
                    pg_name,
                    {"toJobConfig.schemaName": pg_schema, "toJobConfig.tableName": name},
                ),
                extractors=3,
            )
        )
        assert out["write_rows"] == 3000
        assert rows(pg_schema, name) == expected
        assert file_server.log().count("3 partitions on 3 processes") == before + 1
