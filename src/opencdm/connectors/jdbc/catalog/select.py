"""Which tables of a schema an entire-database job copies: CDM's ``fromJobConfig.tableName`` form.

A selection is an ``&``-separated list of names and ``*`` wildcard patterns (empty: every table),
minus an exclusion list of the same form. Names and patterns match case-sensitively, as quoted
identifiers do: ``Order`` and ``order`` are two tables. A name asked for that the schema does not
have is an error naming it; a pattern that matches nothing selects nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from opencdm.errors import CdmError

SEPARATOR = "&"
WILDCARD = "*"


def parse_selection(selection: str | None) -> list[str]:
    """The names and patterns of a selection, blanks around them removed, empty ones dropped."""
    return [item.strip() for item in (selection or "").split(SEPARATOR) if item.strip()]


def _pattern(item: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in item.split(WILDCARD)), re.DOTALL)


def _matching(available: Sequence[str], items: Sequence[str], schema: str, must_exist: bool) -> set[str]:
    present = set(available)
    chosen: set[str] = set()
    for item in items:
        if WILDCARD in item:
            pattern = _pattern(item)
            chosen.update(name for name in available if pattern.fullmatch(name))
        elif item in present:
            chosen.add(item)
        elif must_exist:
            raise CdmError("Cdm.0900", f"Table [{schema}.{item}] does not exist.")
    return chosen


def choose_tables(available: Sequence[str], selection: str | None, excluded: str | None, schema: str) -> list[str]:
    """The tables of ``available`` (the schema's base tables) that ``selection`` names and
    ``excluded`` does not, in code-point order whatever the catalog's collation; an excluded name
    the schema lacks is no error."""
    items = parse_selection(selection)
    chosen = set(available) if not items else _matching(available, items, schema, must_exist=True)
    chosen -= _matching(available, parse_selection(excluded), schema, must_exist=False)
    return sorted(chosen)
