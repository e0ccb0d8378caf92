"""The tables an entire-database job (BATCH_JOB) copies: a schema's base tables, chosen as CDM
chooses them, by ``fromJobConfig.tableName`` (names and ``*`` patterns separated by ``&``; none:
every table), less ``fromJobConfig.excludedTables`` (ours, the same form)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from opencdm.connectors.inputs import names, text
from opencdm.errors import CdmError

# The source input only entire-database jobs read (CDM's console picks tables in a list instead).
DATABASE_SOURCE_INPUTS = names("fromJobConfig", "excludedTables")
# What a sub-job's source must not inherit from its entire-database job: the choice of tables.
NOT_INHERITED = frozenset({"fromJobConfig.tableName", "fromJobConfig.excludedTables"})


def _terms(value: str | None) -> list[str]:
    return [term.strip() for term in (value or "").split("&") if term.strip()]


def _pattern(term: str) -> re.Pattern[str]:
    # Only '*' is a wildcard: table names may hold '?', '[' or '%' of their own.
    return re.compile(".*".join(re.escape(part) for part in term.split("*")), re.DOTALL)


def _matching(available: Sequence[str], terms: list[str], input_name: str) -> set[str]:
    found: set[str] = set()
    for term in terms:
        if "*" in term:
            pattern = _pattern(term)
            found.update(name for name in available if pattern.fullmatch(name))
        elif term in available:
            found.add(term)
        else:
            raise CdmError("Cdm.0940", f"Exact table-name match failed: {input_name} names table [{term}], "
                                       "which the source schema does not have.")
    return found


def choose_tables(available: Sequence[str], from_job: Mapping[str, str]) -> list[str]:
    """The tables of ``available`` (the schema's base tables) the job copies, in ``available``'s order.
    Names match exactly, case included; a name asked for that does not exist is an error."""
    chosen = _terms(text(from_job, "fromJobConfig.tableName")) or ["*"]
    taken = _matching(available, chosen, "fromJobConfig.tableName")
    taken -= _matching(available, _terms(text(from_job, "fromJobConfig.excludedTables")),
                       "fromJobConfig.excludedTables")
    tables = [name for name in available if name in taken]
    if not tables:
        raise CdmError("Cdm.0940", "No table of the source schema is chosen by fromJobConfig.tableName "
                                   "and fromJobConfig.excludedTables.")
    return tables
