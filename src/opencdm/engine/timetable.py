"""When a scheduled job runs: CDM's ``schedulerConfig`` inputs as a sequence of fire times.

Times are wall-clock times in the job's time zone (``schedulerConfig.timeZone``, else the server's
local time). As in CDM, a schedule repeats every ``cycle`` units counted from ``startDate``; for
``hour``, ``week`` and ``month`` the optional ``runAt`` picks the minutes of the hour, the days of
the week or the days of the month within each cycle, and the time of day comes from ``startDate``.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from opencdm.connectors.inputs import names
from opencdm.errors import CdmError

# The driver inputs Timetable.parse reads (the time zone is the job's: see engine.driver).
SCHEDULE_INPUTS = names("schedulerConfig", "isSchedulerJob", "cycleType", "cycle", "startDate", "stopDate", "runAt")
CYCLE_TYPES = ("minute", "hour", "day", "week", "month")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_CYCLE = 2_147_483_647
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
# A month schedule may name days some months lack (31, or 29 of February): look this many cycles
# ahead (four years at least, so a leap day is found) before deciding it never runs again.
MONTH_CYCLES_SEARCHED = 48


def _wall(ms: int, zone: ZoneInfo | None) -> datetime:
    """The naive wall-clock time of an instant; naive datetimes stand for the server's local time."""
    if zone is None:
        return datetime.fromtimestamp(ms / 1000)
    return datetime.fromtimestamp(ms / 1000, zone).replace(tzinfo=None)


def _epoch_ms(wall: datetime, zone: ZoneInfo | None) -> int:
    return round((wall.replace(tzinfo=zone) if zone else wall).timestamp() * 1000)


def _refuse(message: str) -> CdmError:
    return CdmError("Cdm.0014", message)


def _parse_date(values: Mapping[str, str], name: str, zone: ZoneInfo | None) -> int | None:
    raw = values.get(f"schedulerConfig.{name}", "").strip()
    if not raw:
        return None
    try:
        return _epoch_ms(datetime.strptime(raw, DATE_FORMAT), zone)
    except ValueError:
        raise _refuse(
            f"schedulerConfig.{name} '{raw}' is not a date of the form yyyy-MM-dd HH:mm:ss (e.g. 2024-01-31 02:00:00)."
        ) from None


def _numbers(raw: str, low: int, high: int, meaning: str) -> tuple[int, ...]:
    try:
        numbers = {int(part) for part in raw.split(",")}
    except ValueError:
        numbers = set()
    if not numbers or not all(low <= number <= high for number in numbers):
        raise _refuse(f"schedulerConfig.runAt '{raw}' must list {meaning} ({low}-{high}) separated by commas.")
    return tuple(sorted(numbers))


def _parse_run_at(raw: str, cycle_type: str) -> tuple[int, ...]:
    """Minutes of the hour, ISO weekdays (1 = Monday) or days of the month; () = taken from startDate."""
    raw = raw.replace(" ", "")
    if not raw or cycle_type in ("minute", "day"):
        return ()  # CDM reads runAt only for hour, week and month cycles
    if cycle_type == "hour":
        return _numbers(raw, 0, 59, "minutes of the hour")
    if cycle_type == "month":
        return _numbers(raw, 1, 31, "days of the month")
    days = raw.lower().split(",")
    if not all(day in WEEKDAYS for day in days):
        raise _refuse(f"schedulerConfig.runAt '{raw}' must list days of the week ({','.join(WEEKDAYS)}).")
    return tuple(sorted({WEEKDAYS.index(day) + 1 for day in days}))


@dataclass(frozen=True)
class Timetable:
    cycle_type: str
    cycle: int
    run_at: tuple[int, ...]
    start_ms: int | None
    stop_ms: int | None
    zone: ZoneInfo | None

    @classmethod
    def parse(cls, values: Mapping[str, str], zone: ZoneInfo | None) -> Timetable | None:
        """The schedule of flat driver inputs; None when ``schedulerConfig.isSchedulerJob`` is not true."""
        scheduled = values.get("schedulerConfig.isSchedulerJob", "false").strip().lower() or "false"
        if scheduled not in ("true", "false"):
            raise _refuse(f"schedulerConfig.isSchedulerJob must be true or false, got '{scheduled}'.")
        if scheduled == "false":
            return None
        cycle_type = values.get("schedulerConfig.cycleType", "").strip().lower()
        if cycle_type not in CYCLE_TYPES:
            raise _refuse(
                f"schedulerConfig.cycleType must be one of {', '.join(CYCLE_TYPES)} for a scheduled job, "
                f"got '{cycle_type}'."
            )
        raw_cycle = values.get("schedulerConfig.cycle", "").strip() or "1"
        if not raw_cycle.isdigit() or not 1 <= int(raw_cycle) <= MAX_CYCLE:
            raise CdmError(
                "Cdm.0024", f"[schedulerConfig.cycle] must be within the range [1, {MAX_CYCLE}], got '{raw_cycle}'."
            )
        start_ms = _parse_date(values, "startDate", zone)
        stop_ms = _parse_date(values, "stopDate", zone)
        if start_ms is not None and stop_ms is not None and stop_ms <= start_ms:
            raise _refuse("schedulerConfig.stopDate must be after schedulerConfig.startDate.")
        return cls(
            cycle_type=cycle_type,
            cycle=int(raw_cycle),
            run_at=_parse_run_at(values.get("schedulerConfig.runAt", ""), cycle_type),
            start_ms=start_ms,
            stop_ms=stop_ms,
            zone=zone,
        )

    def next_after(self, after_ms: int, anchor_ms: int, minute_ms: int = MINUTE_MS) -> int | None:
        """The first run strictly after ``after_ms``; None once the schedule is over (stopDate).

        Cycles count from startDate; a schedule without one counts from ``anchor_ms``: the run before,
        or the moment the schedule was saved. ``minute_ms`` is the length of a minute cycle
        (shorter only to try schedules out quickly).
        """
        timetable = self if self.start_ms is not None else replace(self, start_ms=anchor_ms)
        try:
            found = timetable._first_from(after_ms + 1, minute_ms)
        except (OverflowError, ValueError):  # beyond the calendar (year 9999): no more runs
            return None
        if found is None or (self.stop_ms is not None and found > self.stop_ms):
            return None
        return found

    def _first_from(self, earliest_ms: int, minute_ms: int) -> int | None:
        """The first run at or after ``earliest_ms`` (and at or after the start)."""
        assert self.start_ms is not None
        start_ms = self.start_ms
        earliest_ms = max(earliest_ms, start_ms)
        start = _wall(start_ms, self.zone)
        if self.cycle_type == "minute":
            period = self.cycle * minute_ms
            return start_ms + -(-(earliest_ms - start_ms) // period) * period
        if self.cycle_type == "hour":
            return self._first_in_hours(start, earliest_ms)
        time_of_day = start.time()
        for day in self._days(start.date(), _wall(earliest_ms, self.zone).date()):
            at = _epoch_ms(datetime.combine(day, time_of_day), self.zone)
            if at >= earliest_ms:
                return at
        return None

    def _first_in_hours(self, start: datetime, earliest_ms: int) -> int:
        # Hours are counted in elapsed time, so a daylight-saving change neither skips nor repeats one.
        base_ms = _epoch_ms(start.replace(minute=0, second=0, microsecond=0), self.zone)
        within_minute_ms = start.second * 1000 + start.microsecond // 1000
        offsets = [minute * MINUTE_MS + within_minute_ms for minute in self.run_at or (start.minute,)]
        period = self.cycle * HOUR_MS
        first = max(0, (earliest_ms - base_ms) // period)
        # Every offset is under an hour, so the cycle after ``first`` always has a run late enough.
        return next(
            at for k in range(2) for offset in offsets
            if (at := base_ms + (first + k) * period + offset) >= earliest_ms
        )

    def _days(self, start: date, earliest: date) -> Iterator[date]:
        """The days with a run, in order, from the cycle that holds ``earliest`` (made one at a time:
        a late one may lie beyond the calendar)."""
        if self.cycle_type == "day":
            first = (earliest - start).days // self.cycle
            for k in range(2):
                yield start + timedelta(days=(first + k) * self.cycle)
        elif self.cycle_type == "week":
            monday = start - timedelta(days=start.weekday())
            first = (earliest - monday).days // 7 // self.cycle
            for k in range(2):
                for weekday in self.run_at or (start.isoweekday(),):
                    yield monday + timedelta(weeks=(first + k) * self.cycle, days=weekday - 1)
        else:
            month_of = start.year * 12 + start.month - 1
            first = max(0, (earliest.year * 12 + earliest.month - 1 - month_of) // self.cycle)
            for k in range(MONTH_CYCLES_SEARCHED):
                year, month = divmod(month_of + (first + k) * self.cycle, 12)
                length = calendar.monthrange(year, month + 1)[1]
                for day in self.run_at or (start.day,):
                    if day <= length:
                        yield date(year, month + 1, day)
