"""working_seconds_between: only time inside the chat's working windows counts."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from handoff.working_hours import WeeklyPeriod, WorkingHours
from reports.metrics import WorkingClock, working_seconds_between

ROME = ZoneInfo("Europe/Rome")
UTC = datetime.UTC
HOUR = 3600


def rome(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=ROME)


def office_hours(*extra: WeeklyPeriod) -> WorkingHours:
    """Mon–Fri 09:00–18:00 in Rome, plus any extra periods."""
    periods = [WeeklyPeriod(day, datetime.time(9), datetime.time(18)) for day in range(5)]
    return WorkingHours(enabled=True, time_zone="Europe/Rome", periods=[*periods, *extra])


def test_disabled_hours_count_plain_elapsed_seconds():
    hours = WorkingHours(enabled=False, time_zone="Europe/Rome", periods=[])

    # over the spring-forward night: 23:00 CET → 05:00 CEST is 5 hours
    assert working_seconds_between(hours, rome(2026, 3, 28, 23), rome(2026, 3, 29, 5)) == 5 * HOUR


def test_a_wait_inside_one_window():
    assert (
        working_seconds_between(office_hours(), rome(2026, 3, 3, 10), rome(2026, 3, 3, 10, 1, 30))
        == 90
    )


def test_a_wait_across_closing_time_counts_only_until_the_close_and_from_the_opening():
    # Tue 17:30 → Wed 09:15: 30 minutes + 15 minutes
    seconds = working_seconds_between(
        office_hours(), rome(2026, 3, 3, 17, 30), rome(2026, 3, 4, 9, 15)
    )

    assert seconds == 45 * 60


def test_a_wait_over_a_weekend():
    # Fri 17:00 → Mon 10:00: 1 h + 1 h
    seconds = working_seconds_between(office_hours(), rome(2026, 3, 6, 17), rome(2026, 3, 9, 10))

    assert seconds == 2 * HOUR


def test_a_wait_entirely_outside_the_hours_counts_nothing():
    assert working_seconds_between(office_hours(), rome(2026, 3, 7, 10), rome(2026, 3, 8, 20)) == 0


def test_a_window_over_the_spring_forward_jump_is_an_hour_shorter():
    # Sunday 29 March 2026 01:00–05:00 on the wall is 3 real hours (02:00 → 03:00)
    hours = office_hours(WeeklyPeriod(6, datetime.time(1), datetime.time(5)))

    seconds = working_seconds_between(hours, rome(2026, 3, 28, 12), rome(2026, 3, 29, 12))

    assert seconds == 3 * HOUR


def test_a_window_over_the_fall_back_change_is_an_hour_longer():
    # Sunday 25 October 2026 01:00–05:00 on the wall is 5 real hours (03:00 → 02:00)
    hours = office_hours(WeeklyPeriod(6, datetime.time(1), datetime.time(5)))

    seconds = working_seconds_between(hours, rome(2026, 10, 25, 0), rome(2026, 10, 25, 6))

    assert seconds == 5 * HOUR


def test_working_hours_start_and_end_in_the_zone_on_a_dst_day():
    # Monday 30 March (CEST): 09:00 Rome is 07:00 UTC
    start = datetime.datetime(2026, 3, 30, 6, 30, tzinfo=UTC)
    end = datetime.datetime(2026, 3, 30, 7, 30, tzinfo=UTC)

    assert working_seconds_between(office_hours(), start, end) == 30 * 60


def test_an_end_before_the_start_counts_nothing():
    assert working_seconds_between(office_hours(), rome(2026, 3, 3, 11), rome(2026, 3, 3, 10)) == 0


def test_enabled_without_periods_is_never_open():
    hours = WorkingHours(enabled=True, time_zone="Europe/Rome", periods=[])

    assert working_seconds_between(hours, rome(2026, 3, 3, 10), rome(2026, 3, 20, 10)) == 0


def test_a_wait_longer_than_the_lookahead_counts_every_week():
    # three full weeks from Monday 09:00: 15 days × 9 h
    seconds = working_seconds_between(office_hours(), rome(2026, 1, 5, 9), rome(2026, 1, 26, 9))

    assert seconds == 15 * 9 * HOUR


def test_naive_moments_are_refused():
    with pytest.raises(ValueError):
        working_seconds_between(
            office_hours(),
            datetime.datetime(2026, 3, 3, 10),  # noqa: DTZ001 - naive on purpose
            rome(2026, 3, 3, 11),
        )


def test_the_clock_counts_as_the_function_does_for_waits_in_any_order():
    # every 7 hours 13 minutes over March–April 2026 (both DST nights of the Sunday
    # period included), waits of 0 to 60 hours, going forward and jumping back
    hours = office_hours(WeeklyPeriod(6, datetime.time(1), datetime.time(5)))
    clock = WorkingClock(hours)
    base = datetime.datetime(2026, 3, 1, tzinfo=UTC)
    waits = []
    for step in range(200):
        start = base + datetime.timedelta(minutes=433 * step)
        waits.append((start, start + datetime.timedelta(minutes=(step * 997) % 3600)))
    waits += list(reversed(waits[:40]))

    counted = [clock.seconds(start, end) for start, end in waits]

    assert counted == [working_seconds_between(hours, start, end) for start, end in waits]
    assert sum(counted) > 0


def test_the_clock_with_hours_disabled_counts_elapsed_time():
    clock = WorkingClock(WorkingHours(enabled=False, time_zone="UTC", periods=[]))

    assert clock.seconds(rome(2026, 3, 28, 23), rome(2026, 3, 29, 5)) == 5 * HOUR
    assert clock.seconds(rome(2026, 3, 29, 5), rome(2026, 3, 28, 23)) == 0
