"""Which tables an entire-database job copies: CDM's ``&``-list of names and ``*`` patterns, minus
an exclusion list of the same form; names match case-sensitively."""

from __future__ import annotations

import pytest

from opencdm.connectors.jdbc.catalog.select import choose_tables
from opencdm.errors import CdmError

TABLES = ["Order", "customer", "customer_note", "MixedCase", "mixedcase", "select"]


@pytest.mark.parametrize(
    ("selection", "excluded", "chosen"),
    [
        ("", "", sorted(TABLES)),
        (None, None, sorted(TABLES)),
        ("customer", "", ["customer"]),
        ("select&Order", "", ["Order", "select"]),
        (" Order & select ", "", ["Order", "select"]),
        ("customer*", "", ["customer", "customer_note"]),
        ("Mixed*", "", ["MixedCase"]),
        ("*case", "", ["mixedcase"]),
        ("*", "customer*&select", ["MixedCase", "Order", "mixedcase"]),
        ("", "MixedCase", ["Order", "customer", "customer_note", "mixedcase", "select"]),
        ("customer*", "customer_note&no_such_table", ["customer"]),
        ("nothing*", "", []),
    ],
)
def test_tables_are_chosen_by_names_and_patterns_minus_exclusions(
    selection: str | None, excluded: str | None, chosen: list[str]
) -> None:
    assert choose_tables(TABLES, selection, excluded, "shop") == chosen


@pytest.mark.parametrize("missing", ["order", "Customer", "mixedCase"])
def test_a_table_asked_for_by_name_must_exist_with_that_exact_case(missing: str) -> None:
    with pytest.raises(CdmError) as failure:
        choose_tables(TABLES, f"customer&{missing}", "", "shop")
    assert failure.value.code == "Cdm.0900"
    assert failure.value.message == f"Table [shop.{missing}] does not exist."
