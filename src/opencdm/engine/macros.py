"""CDM's macros in job inputs, evaluated when a run starts.

``${dateformat(format)}``, ``${dateformat(format, offset, unit)}``, ``${timestamp()}`` and
``${timestamp(offset, unit)}`` as CDM documents them ("Using Macro Variables of Date and Time"):
``format`` follows java.text.SimpleDateFormat, ``unit`` is SECOND, MINUTE, HOUR, DAY, MONTH or YEAR
(a month or year offset that lands past a month's end takes that month's last day), and
``timestamp`` is in epoch milliseconds. ``${name}`` takes the value of a StartJob variable.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping

from opencdm.errors import CdmError

_MACRO = re.compile(r"\$\{([^{}]*)\}")
_CALL = re.compile(r"^\s*(dateformat|timestamp)\s*\((.*)\)\s*$", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# SimpleDateFormat: runs of one pattern letter, quoted literals ('' is a quote), anything else as is.
_TOKEN = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|.", re.DOTALL)
_UNITS = ("SECOND", "MINUTE", "HOUR", "DAY", "MONTH", "YEAR")


def expand(text: str, now: dt.datetime, variables: Mapping[str, str]) -> str:
    """``text`` with every macro replaced; an unknown macro or variable is a CdmError."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        call = _CALL.match(inner)
        if call is not None:
            text = call.group(2).strip()
            arguments = [argument.strip() for argument in text.split(",")] if text else []
            return _dateformat(now, arguments) if call.group(1) == "dateformat" else _timestamp(now, arguments)
        if _NAME.match(inner) and inner in variables:
            return str(variables[inner])
        raise CdmError(
            "Cdm.0014",
            f"Unknown macro or variable ${{{inner}}}: use dateformat(...), timestamp(...) "
            "or a variable given when the job is started.",
        )

    return _MACRO.sub(replace, text)


def expand_all(inputs: Mapping[str, str], now: dt.datetime, variables: Mapping[str, str]) -> dict[str, str]:
    return {name: expand(value, now, variables) if "${" in value else value for name, value in inputs.items()}


def shift(moment: dt.datetime, offset: int, unit: str) -> dt.datetime:
    unit = unit.upper()
    if unit not in _UNITS:
        raise CdmError("Cdm.0014", f"Unknown macro offset unit {unit}: use one of {', '.join(_UNITS)}.")
    if unit in ("MONTH", "YEAR"):
        months = moment.year * 12 + moment.month - 1 + offset * (12 if unit == "YEAR" else 1)
        year, month = divmod(months, 12)
        day = min(moment.day, calendar.monthrange(year, month + 1)[1])
        return moment.replace(year=year, month=month + 1, day=day)
    return moment + dt.timedelta(**{unit.lower() + "s": offset})


def _offset(now: dt.datetime, arguments: list[str], macro: str) -> dt.datetime:
    if not arguments:
        return now
    if len(arguments) != 2 or not re.fullmatch(r"[+-]?\d+", arguments[0]):
        raise CdmError("Cdm.0014", f"{macro} takes an integer offset and a unit, e.g. {macro}(-1, DAY).")
    return shift(now, int(arguments[0]), arguments[1])


def _dateformat(now: dt.datetime, arguments: list[str]) -> str:
    if len(arguments) not in (1, 3) or not arguments[0]:
        raise CdmError(
            "Cdm.0014",
            "dateformat takes a format, optionally with an offset and a unit: dateformat(yyyy-MM-dd, -1, DAY).",
        )
    return java_format(_offset(now, arguments[1:], "dateformat"), arguments[0])


def _timestamp(now: dt.datetime, arguments: list[str]) -> str:
    return str(int(_offset(now, arguments, "timestamp").timestamp() * 1000))


def java_format(moment: dt.datetime, pattern: str) -> str:
    """``moment`` formatted by a java.text.SimpleDateFormat pattern."""
    out = []
    for match in _TOKEN.finditer(pattern):
        token = match.group(0)
        if token.startswith("'"):
            out.append("'" if token == "''" else token[1:-1].replace("''", "'"))
        elif match.group(1):
            out.append(_field(moment, token[0], len(token)))
        else:
            out.append(token)
    return "".join(out)


def _field(moment: dt.datetime, letter: str, width: int) -> str:
    if letter == "y":
        return f"{moment.year % 100:02d}" if width == 2 else f"{moment.year:0{max(width, 4)}d}"
    if letter == "M":
        if width >= 4:
            return moment.strftime("%B")
        if width == 3:
            return moment.strftime("%b")
        return f"{moment.month:0{width}d}"
    if letter == "E":
        return moment.strftime("%A" if width >= 4 else "%a")
    if letter == "a":
        return "AM" if moment.hour < 12 else "PM"
    if letter == "Z":
        return moment.strftime("%z")
    numbers = {
        "d": moment.day,
        "H": moment.hour,
        "h": (moment.hour % 12) or 12,
        "m": moment.minute,
        "s": moment.second,
        "S": moment.microsecond // 1000,
        "D": moment.timetuple().tm_yday,
    }
    if letter not in numbers:
        raise CdmError("Cdm.0014", f"Pattern letter '{letter}' is not supported in dateformat.")
    return f"{numbers[letter]:0{width}d}"
