"""Parsing of CDM's flat input mappings, shared by the connectors: CDM sends strings, but also
accepts JSON booleans and numbers.

Every input name CDM documents for a connector is accepted (docs/inputs.md). Those this deployment
gives no meaning are listed as data, ``Unused`` entries beside the code that reads the others: a
value that asks for nothing passes silently, any other is either noted once in each run's log
(``ignored_notes``) or, where ignoring it would betray what the user asked for, refused when the
link or job is saved (``refuse_unsupported``)."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from opencdm.errors import CdmError

MAX_INT = 2147483647
E = TypeVar("E", bound=Enum)


def text(inputs: Mapping[str, object], name: str) -> str | None:
    """The input's value as a string; CDM sends strings but also accepts JSON booleans and numbers."""
    value = inputs.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    return text or None


def required(inputs: Mapping[str, object], name: str) -> str:
    value = text(inputs, name)
    if value is None:
        raise CdmError("Cdm.0238", f"{name} cannot be empty.")
    return value


def integer(inputs: Mapping[str, object], name: str) -> int | None:
    value = text(inputs, name)
    if value is None:
        return None
    if not value.isdigit() or int(value) > MAX_INT:
        raise CdmError("Cdm.0009", f"{name} is not an integer or is beyond the value range [0, {MAX_INT}].")
    return int(value)


def tcp_port(inputs: Mapping[str, object], name: str) -> int | None:
    """A TCP port: one rule, one code (CDM's range error) for any value that is not one."""
    value = text(inputs, name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= 65535):
        raise CdmError("Cdm.0024", f"[{name}] must be within the range [1, 65535]: [{value}] is not a port.")
    return int(value)


def boolean(inputs: Mapping[str, object], name: str) -> bool:
    value = text(inputs, name)
    if value is None or value.lower() == "false":
        return False
    if value.lower() == "true":
        return True
    raise CdmError("Cdm.0014", f"The parameter is invalid: {name} must be true or false, not [{value}].")


def columns(inputs: Mapping[str, object], name: str) -> tuple[str, ...] | None:
    value = text(inputs, name)
    if value is None:
        return None
    columns = tuple(part.strip() for part in value.split("&"))
    if any(not column for column in columns):
        raise CdmError("Cdm.0014", f"The parameter is invalid: {name} [{value}] contains an empty column name.")
    if len(set(columns)) != len(columns):
        raise CdmError("Cdm.1116", f"Duplicate column names in {name} [{value}].")
    return columns


def enum_value(inputs: Mapping[str, object], name: str, enum: type[E], default: E) -> E:
    value = text(inputs, name)
    if value is None:
        return default
    for member in enum:
        if member.value.lower() == value.lower():
            return member
    allowed = ", ".join(member.value for member in enum)
    raise CdmError("Cdm.0014", f"The parameter is invalid: {name} [{value}] must be one of {allowed}.")


def names(config: str, *inputs: str) -> frozenset[str]:
    """Full input names of one config group: ``names("toJobConfig", "tableName")``."""
    return frozenset(f"{config}.{name}" for name in inputs)


def refuse_unknown(given: Iterable[str], known: Collection[str], owner: str) -> None:
    """Refuse the first input name not in ``known``, with the closest known one: a misspelled name
    would otherwise be ignored, and the job run with a default its author did not choose."""
    for name in given:
        if name not in known:
            closest = _closest(name, known)
            hint = f" (did you mean {closest}?)" if closest else ""
            raise CdmError("Cdm.0014", f"Unknown input {name} for {owner}{hint}")


def _closest(name: str, known: Collection[str]) -> str | None:
    """The known name closest to ``name``: within its config group, compared without the group's
    prefix (which every name of the group shares); across groups when the group is not known."""
    group, _, inner = name.partition(".")
    in_group = {other.partition(".")[2]: other for other in known if other.partition(".")[0] == group}
    candidates = in_group if in_group else {other: other for other in known}
    closest = difflib.get_close_matches(inner if in_group else name, sorted(candidates), n=1)
    return candidates[closest[0]] if closest else None


class Treatment(Enum):
    IGNORED = "ignored"  # accepted; a run says once in its log that it was ignored, and why
    REFUSED = "refused"  # accepted with a neutral value only: any other is refused as not supported


# The values that ask for nothing of most documented inputs: unset, empty or false.
NOTHING = ("", "false")
# Of an input whose every value asks for something (a path, a key, a list): unset or empty.
UNSET = ("",)


@dataclass(frozen=True)
class Unused:
    """An input CDM documents that means nothing in this deployment, and what becomes of it."""

    name: str  # full name, e.g. "toJobConfig.orientation"
    treatment: Treatment
    why: str  # the end of a sentence: "<name> is ignored: <why>" or "<name>=<value> is not supported: <why>"
    neutral: tuple[str, ...] = NOTHING  # values (compared case-insensitively) accepted without a word

    def asks_for_something(self, inputs: Mapping[str, object]) -> bool:
        value = text(inputs, self.name) or ""
        return value.lower() not in (neutral.lower() for neutral in self.neutral)


def ignored(name: str, why: str, neutral: tuple[str, ...] = NOTHING) -> Unused:
    return Unused(name, Treatment.IGNORED, why, neutral)


def refused(name: str, why: str, neutral: tuple[str, ...] = NOTHING) -> Unused:
    return Unused(name, Treatment.REFUSED, why, neutral)


def unused_names(table: Iterable[Unused], group: str | None = None) -> frozenset[str]:
    """The names of ``table`` (those of config group ``group`` only, when given)."""
    return frozenset(entry.name for entry in table if group is None or entry.name.startswith(f"{group}."))


def refuse_unsupported(inputs: Mapping[str, object], table: Iterable[Unused]) -> None:
    """Refuse the first input of ``table`` whose value asks for what this deployment cannot do."""
    for entry in table:
        if entry.treatment is Treatment.REFUSED and entry.asks_for_something(inputs):
            # A free value (a key, a path) is not echoed: the name says enough.
            shown = entry.name if entry.neutral == UNSET else f"{entry.name}={text(inputs, entry.name)}"
            raise CdmError("Cdm.0014", f"{shown} is not supported: {entry.why}")


def ignored_notes(inputs: Mapping[str, object], table: Iterable[Unused]) -> list[str]:
    """One sentence per input of ``table`` given a value this deployment ignores (never the value)."""
    return [
        f"{entry.name} is ignored: {entry.why}"
        for entry in table
        if entry.treatment is Treatment.IGNORED and entry.asks_for_something(inputs)
    ]
