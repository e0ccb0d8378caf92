"""CDM's date and time macros, with the examples of CDM's own documentation."""

from __future__ import annotations

import datetime as dt

import pytest

from opencdm.engine.macros import expand, java_format
from opencdm.errors import CdmError

NOW = dt.datetime(2023, 3, 1, 9, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("${dateformat(yyyy-MM-dd HH:mm:ss)}", "2023-03-01 09:00:00"),
        ("${dateformat(yyyy-MM-dd HH:mm:ss, -1, YEAR)}", "2022-03-01 09:00:00"),
        ("${dateformat(yyyy-MM-dd HH:mm:ss, -3, MONTH)}", "2022-12-01 09:00:00"),
        ("${dateformat(yyyy-MM-dd HH:mm:ss, -1, DAY)}", "2023-02-28 09:00:00"),
        ("${dateformat(yyyy-MM-dd HH:mm:ss, -1, HOUR)}", "2023-03-01 08:00:00"),
        ("${dateformat(yyyy-MM-dd HH:mm:ss, -1, MINUTE)}", "2023-03-01 08:59:00"),
        ("${dateformat(yyyy-MM-dd HH:mm:ss, -1, SECOND)}", "2023-03-01 08:59:59"),
        ("${dateformat(yyyy/MM/dd)}", "2023/03/01"),
        ("${dateformat(yyyyMMdd,-1,DAY)}", "20230228"),
        ("${timestamp()}", str(int(NOW.timestamp() * 1000))),
        ("${timestamp(-10, MINUTE)}", str(int(NOW.timestamp() * 1000) - 600_000)),
    ],
)
def test_documented_examples(macro: str, expected: str) -> None:
    assert expand(macro, NOW, {}) == expected


def test_month_offsets_clamp_to_the_month_end() -> None:
    assert expand("${dateformat(yyyy-MM-dd, -1, MONTH)}", dt.datetime(2024, 3, 31), {}) == "2024-02-29"
    assert expand("${dateformat(yyyy-MM-dd, 1, YEAR)}", dt.datetime(2024, 2, 29), {}) == "2025-02-28"


def test_macros_inside_sql_and_variables() -> None:
    where = "day >= '${dateformat(yyyy-MM-dd, -1, DAY)}' AND region = '${region}'"
    assert expand(where, NOW, {"region": "eu"}) == "day >= '2023-02-28' AND region = 'eu'"
    assert expand("orders_${dateformat(yyyyMM)}", NOW, {}) == "orders_202303"


def test_java_patterns() -> None:
    moment = dt.datetime(2024, 7, 5, 15, 4, 9, 123456)
    assert java_format(moment, "yy-M-d h:mm a SSS") == "24-7-5 3:04 PM 123"
    assert java_format(moment, "EEE, dd MMM yyyy 'at' HH'h'") == "Fri, 05 Jul 2024 at 15h"
    assert java_format(moment, "''yyyy''") == "'2024'"


@pytest.mark.parametrize(
    "bad", ["${nope}", "${dateformat()}", "${dateformat(yyyy, -1)}", "${dateformat(yyyy, x, DAY)}",
            "${timestamp(1, FORTNIGHT)}", "${dateformat(yyyy-QQ)}"],
)
def test_bad_macros_are_named_in_the_error(bad: str) -> None:
    with pytest.raises(CdmError) as error:
        expand(bad, NOW, {})
    assert error.value.code == "Cdm.0014"
