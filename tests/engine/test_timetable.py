"""When scheduled jobs run: CDM's schedulerConfig read as fire times, in the job's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from opencdm.engine.timetable import Timetable
from opencdm.errors import CdmError

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str, zone: ZoneInfo = SHANGHAI) -> int:
    return round(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone).timestamp() * 1000)


def shown(ms: int | None, zone: ZoneInfo = SHANGHAI) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, zone).strftime("%a %Y-%m-%d %H:%M:%S")


def timetable(zone: ZoneInfo = SHANGHAI, **inputs: str) -> Timetable:
    values = {"schedulerConfig.isSchedulerJob": "true"}
    values.update({f"schedulerConfig.{name}": value for name, value in inputs.items()})
    parsed = Timetable.parse(values, zone)
    assert parsed is not None
    return parsed


def runs(table: Timetable, after: str, count: int, zone: ZoneInfo = SHANGHAI) -> list[str | None]:
    """The next ``count`` runs after ``after``, each counted on from the one before (as the scheduler does)."""
    found: list[str | None] = []
    previous = at(after, zone)
    for _ in range(count):
        following = table.next_after(previous, anchor_ms=previous)
        found.append(shown(following, zone))
        if following is None:
            break
        previous = following
    return found


def test_minute_cycles_count_from_the_start_date_and_end_at_the_stop_date() -> None:
    table = timetable(cycleType="minute", cycle="30", startDate="2018-11-29 15:30:30",
                      stopDate="2018-11-29 17:00:00")
    assert runs(table, "2018-11-29 12:00:00", 5) == [
        "Thu 2018-11-29 15:30:30", "Thu 2018-11-29 16:00:30", "Thu 2018-11-29 16:30:30", None,
    ]
    # A start date already past: the next run on its cycle, none made up for.
    assert shown(table.next_after(at("2018-11-29 16:10:00"), anchor_ms=0)) == "Thu 2018-11-29 16:30:30"


def test_hour_cycles_run_at_the_listed_minutes_of_every_nth_hour() -> None:
    table = timetable(cycleType="hour", cycle="3", runAt="57,10", startDate="2024-05-01 01:20:00")
    # 01:10 is before the start; hours count from the start's hour: 01, 04, 07, ...
    assert runs(table, "2024-05-01 00:00:00", 4) == [
        "Wed 2024-05-01 01:57:00", "Wed 2024-05-01 04:10:00", "Wed 2024-05-01 04:57:00", "Wed 2024-05-01 07:10:00",
    ]


def test_day_cycles_run_at_the_start_dates_time_of_day() -> None:
    table = timetable(cycleType="day", cycle="2", startDate="2022-10-14 00:00:00")
    # CDM's own example: saved at 12:00 on the start day, the first run is two days on.
    assert runs(table, "2022-10-14 12:00:00", 2) == ["Sun 2022-10-16 00:00:00", "Tue 2022-10-18 00:00:00"]


def test_week_cycles_run_on_the_listed_days_of_every_nth_week() -> None:
    table = timetable(cycleType="week", cycle="2", runAt="fri,mon", startDate="2024-05-01 06:30:00")  # a Wednesday
    assert runs(table, "2024-04-01 00:00:00", 4) == [
        "Fri 2024-05-03 06:30:00", "Mon 2024-05-13 06:30:00", "Fri 2024-05-17 06:30:00", "Mon 2024-05-27 06:30:00",
    ]
    # Without runAt: the start date's day of the week.
    weekly = timetable(cycleType="week", startDate="2024-05-01 06:30:00")
    assert runs(weekly, "2024-05-01 06:30:00", 1) == ["Wed 2024-05-08 06:30:00"]


def test_month_cycles_skip_days_a_month_does_not_have() -> None:
    table = timetable(cycleType="month", runAt="31,15", startDate="2024-01-20 23:00:00")
    assert runs(table, "2024-01-01 00:00:00", 4) == [
        "Wed 2024-01-31 23:00:00", "Thu 2024-02-15 23:00:00", "Fri 2024-03-15 23:00:00", "Sun 2024-03-31 23:00:00",
    ]
    leap_day = timetable(cycleType="month", cycle="12", runAt="29", startDate="2025-02-01 00:00:00")
    assert runs(leap_day, "2025-01-01 00:00:00", 1) == ["Tue 2028-02-29 00:00:00"]
    never = timetable(cycleType="month", cycle="12", runAt="30", startDate="2025-02-01 00:00:00")
    assert never.next_after(at("2025-01-01 00:00:00"), anchor_ms=0) is None


def test_times_are_wall_clock_times_in_the_job_time_zone() -> None:
    shanghai = timetable(cycleType="day", startDate="2024-01-01 08:00:00")
    assert shanghai.start_ms == at("2024-01-01 00:00:00", ZoneInfo("UTC"))
    berlin = ZoneInfo("Europe/Berlin")
    table = timetable(berlin, cycleType="day", startDate="2024-03-29 09:00:00")
    # Berlin's clocks go forward in the night to 2024-03-31: the runs stay at 09:00, 23 hours apart.
    assert runs(table, "2024-03-30 00:00:00", 2, berlin) == ["Sat 2024-03-30 09:00:00", "Sun 2024-03-31 09:00:00"]
    saturday = table.next_after(at("2024-03-30 00:00:00", berlin), anchor_ms=0)
    assert saturday is not None
    assert table.next_after(saturday, anchor_ms=0) == saturday + 23 * 3_600_000


def test_without_a_start_date_cycles_count_from_the_run_before() -> None:
    table = timetable(cycleType="minute", cycle="5")
    saved = at("2024-05-01 10:00:07")
    first = table.next_after(saved, anchor_ms=saved)
    assert shown(first) == "Wed 2024-05-01 10:05:07"
    assert first is not None and shown(table.next_after(first, anchor_ms=first)) == "Wed 2024-05-01 10:10:07"


@pytest.mark.parametrize(("inputs", "code", "names"), [
    ({"isSchedulerJob": "yes"}, "Cdm.0014", "isSchedulerJob"),
    ({"cycleType": "fortnight"}, "Cdm.0014", "cycleType"),
    ({"cycleType": "minute", "cycle": "0"}, "Cdm.0024", "cycle"),
    ({"cycleType": "minute", "cycle": "x"}, "Cdm.0024", "cycle"),
    ({"cycleType": "day", "startDate": "2024-13-01 00:00:00"}, "Cdm.0014", "startDate"),
    ({"cycleType": "day", "startDate": "01/05/2024"}, "Cdm.0014", "startDate"),
    ({"cycleType": "day", "startDate": "2024-05-02 00:00:00", "stopDate": "2024-05-01 00:00:00"}, "Cdm.0014",
     "stopDate"),
    ({"cycleType": "hour", "runAt": "60"}, "Cdm.0014", "runAt"),
    ({"cycleType": "week", "runAt": "monday"}, "Cdm.0014", "runAt"),
    ({"cycleType": "month", "runAt": "0,15"}, "Cdm.0014", "runAt"),
])
def test_invalid_inputs_are_refused_with_their_name(inputs: dict[str, str], code: str, names: str) -> None:
    values = {"schedulerConfig.isSchedulerJob": "true", **{f"schedulerConfig.{k}": v for k, v in inputs.items()}}
    with pytest.raises(CdmError) as refused:
        Timetable.parse(values, None)
    assert refused.value.code == code
    assert f"schedulerConfig.{names}" in refused.value.message


def test_an_unscheduled_job_has_no_timetable_whatever_else_it_says() -> None:
    assert Timetable.parse({"schedulerConfig.isSchedulerJob": "false", "schedulerConfig.cycleType": "?"}, None) is None
    assert Timetable.parse({}, None) is None
