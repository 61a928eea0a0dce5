import datetime
from zoneinfo import ZoneInfo

import pytest

from handoff.working_hours import WeeklyPeriod, Window, WorkingHours, window_text

ROME = ZoneInfo("Europe/Rome")
MONDAY, FRIDAY, SATURDAY, SUNDAY = 0, 4, 5, 6
EVERY_DAY = range(7)


def rome(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=ROME)


def utc(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.UTC)


def period(weekday: int, starts_at: str, ends_at: str) -> WeeklyPeriod:
    return WeeklyPeriod(
        weekday=weekday,
        starts_at=datetime.time.fromisoformat(starts_at),
        ends_at=datetime.time.fromisoformat(ends_at),
    )


def rome_hours(*periods: WeeklyPeriod) -> WorkingHours:
    return WorkingHours(enabled=True, time_zone="Europe/Rome", periods=periods)


def weekdays_nine_to_six() -> WorkingHours:
    return rome_hours(*(period(day, "09:00", "18:00") for day in range(MONDAY, FRIDAY + 1)))


def every_day_nine_to_six() -> WorkingHours:
    return rome_hours(*(period(day, "09:00", "18:00") for day in EVERY_DAY))


# 2026-01-05 is a Monday, 2026-01-09 a Friday; Rome is on CET (UTC+1) in January.


def test_is_open_inside_a_period():
    assert weekdays_nine_to_six().is_open(rome(2026, 1, 5, 10, 30))


def test_is_open_from_the_first_instant_of_a_period():
    assert weekdays_nine_to_six().is_open(rome(2026, 1, 5, 9, 0))


def test_is_closed_before_a_period():
    assert not weekdays_nine_to_six().is_open(rome(2026, 1, 5, 8, 59))


def test_is_closed_from_the_end_of_a_period():
    assert not weekdays_nine_to_six().is_open(rome(2026, 1, 5, 18, 0))


def test_is_closed_on_a_day_without_periods():
    assert not weekdays_nine_to_six().is_open(rome(2026, 1, 10, 12, 0))


def test_is_open_accepts_moments_in_any_time_zone():
    assert weekdays_nine_to_six().is_open(utc(2026, 1, 5, 8, 0))


def test_is_open_in_each_of_several_periods_a_day():
    hours = rome_hours(period(MONDAY, "09:00", "12:00"), period(MONDAY, "14:00", "18:00"))
    assert [hours.is_open(rome(2026, 1, 5, 10)), hours.is_open(rome(2026, 1, 5, 15))] == [
        True,
        True,
    ]


def test_is_closed_between_periods_of_a_day():
    hours = rome_hours(period(MONDAY, "09:00", "12:00"), period(MONDAY, "14:00", "18:00"))
    assert not hours.is_open(rome(2026, 1, 5, 13))


def test_disabled_is_always_open():
    hours = WorkingHours(enabled=False, time_zone="Europe/Rome", periods=[])
    assert hours.is_open(rome(2026, 1, 10, 3, 0))


def test_disabled_is_open_outside_its_periods():
    hours = WorkingHours(
        enabled=False, time_zone="Europe/Rome", periods=[period(MONDAY, "09:00", "18:00")]
    )
    assert hours.is_open(rome(2026, 1, 5, 23, 0))


def test_disabled_has_no_next_window():
    hours = WorkingHours(
        enabled=False, time_zone="Europe/Rome", periods=[period(MONDAY, "09:00", "18:00")]
    )
    assert hours.next_window(rome(2026, 1, 5, 8, 0)) is None


def test_enabled_without_periods_is_never_open():
    assert not rome_hours().is_open(rome(2026, 1, 5, 12, 0))


def test_enabled_without_periods_has_no_next_window():
    assert rome_hours().next_window(rome(2026, 1, 5, 12, 0)) is None


def test_next_window_while_open_is_the_open_window():
    window = weekdays_nine_to_six().next_window(rome(2026, 1, 5, 10, 0))
    assert window == Window(starts_at=rome(2026, 1, 5, 9, 0), ends_at=rome(2026, 1, 5, 18, 0))


def test_next_window_later_the_same_day():
    hours = rome_hours(period(MONDAY, "09:00", "12:00"), period(MONDAY, "14:00", "18:00"))
    window = hours.next_window(rome(2026, 1, 5, 12, 30))
    assert window == Window(starts_at=rome(2026, 1, 5, 14, 0), ends_at=rome(2026, 1, 5, 18, 0))


def test_next_window_the_next_day():
    window = weekdays_nine_to_six().next_window(rome(2026, 1, 5, 18, 0))
    assert window == Window(starts_at=rome(2026, 1, 6, 9, 0), ends_at=rome(2026, 1, 6, 18, 0))


def test_next_window_across_the_weekend():
    window = weekdays_nine_to_six().next_window(rome(2026, 1, 9, 19, 30))
    assert window == Window(starts_at=rome(2026, 1, 12, 9, 0), ends_at=rome(2026, 1, 12, 18, 0))


def test_next_window_a_week_later_for_a_single_period_just_ended():
    hours = rome_hours(period(MONDAY, "09:00", "10:00"))
    window = hours.next_window(rome(2026, 1, 5, 10, 30))
    assert window == Window(starts_at=rome(2026, 1, 12, 9, 0), ends_at=rome(2026, 1, 12, 10, 0))


def test_next_window_is_in_the_schedules_time_zone():
    window = weekdays_nine_to_six().next_window(utc(2026, 1, 5, 6, 0))
    assert window.starts_at.tzinfo == ROME


def test_adjacent_periods_of_a_day_are_one_window():
    hours = rome_hours(period(MONDAY, "12:00", "18:00"), period(MONDAY, "09:00", "12:00"))
    window = hours.next_window(rome(2026, 1, 5, 8, 0))
    assert window == Window(starts_at=rome(2026, 1, 5, 9, 0), ends_at=rome(2026, 1, 5, 18, 0))


def test_overlapping_periods_of_a_day_are_one_window():
    hours = rome_hours(period(MONDAY, "09:00", "13:00"), period(MONDAY, "12:00", "18:00"))
    window = hours.next_window(rome(2026, 1, 5, 8, 0))
    assert window == Window(starts_at=rome(2026, 1, 5, 9, 0), ends_at=rome(2026, 1, 5, 18, 0))


# Rome: CET (UTC+1) until 2026-03-29 02:00, CEST (UTC+2) until 2026-10-25 03:00, then CET.


def test_rome_nine_is_eight_utc_before_spring_forward():
    hours = every_day_nine_to_six()
    assert [hours.is_open(utc(2026, 3, 28, 7, 59)), hours.is_open(utc(2026, 3, 28, 8, 0))] == [
        False,
        True,
    ]


def test_rome_nine_is_seven_utc_on_the_day_of_spring_forward():
    hours = every_day_nine_to_six()
    assert [hours.is_open(utc(2026, 3, 29, 6, 59)), hours.is_open(utc(2026, 3, 29, 7, 0))] == [
        False,
        True,
    ]


def test_rome_nine_is_seven_utc_after_spring_forward():
    hours = every_day_nine_to_six()
    assert [hours.is_open(utc(2026, 3, 30, 6, 59)), hours.is_open(utc(2026, 3, 30, 7, 0))] == [
        False,
        True,
    ]


def test_rome_six_pm_is_sixteen_utc_after_spring_forward():
    hours = every_day_nine_to_six()
    assert [hours.is_open(utc(2026, 3, 30, 15, 59)), hours.is_open(utc(2026, 3, 30, 16, 0))] == [
        True,
        False,
    ]


def test_rome_nine_is_seven_utc_before_fall_back():
    hours = every_day_nine_to_six()
    assert [hours.is_open(utc(2026, 10, 24, 6, 59)), hours.is_open(utc(2026, 10, 24, 7, 0))] == [
        False,
        True,
    ]


def test_rome_nine_is_eight_utc_on_the_day_of_fall_back():
    hours = every_day_nine_to_six()
    assert [hours.is_open(utc(2026, 10, 25, 7, 59)), hours.is_open(utc(2026, 10, 25, 8, 0))] == [
        False,
        True,
    ]


def test_rome_nine_is_eight_utc_after_fall_back():
    hours = every_day_nine_to_six()
    assert [hours.is_open(utc(2026, 10, 26, 7, 59)), hours.is_open(utc(2026, 10, 26, 8, 0))] == [
        False,
        True,
    ]


def test_next_window_across_spring_forward_keeps_wall_clock_hours():
    window = every_day_nine_to_six().next_window(utc(2026, 3, 28, 18, 0))
    assert (window.starts_at.astimezone(datetime.UTC), window.ends_at.astimezone(datetime.UTC)) == (
        utc(2026, 3, 29, 7, 0),
        utc(2026, 3, 29, 16, 0),
    )


def test_period_starting_in_the_spring_forward_gap_opens_at_the_jump():
    # 02:30 does not exist on 2026-03-29 in Rome: clocks go from 02:00 CET to 03:00 CEST.
    hours = rome_hours(period(SUNDAY, "02:30", "05:00"))
    window = hours.next_window(utc(2026, 3, 28, 12, 0))
    assert (window.starts_at.astimezone(datetime.UTC), window.ends_at.astimezone(datetime.UTC)) == (
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 3, 0),
    )


def test_period_starting_in_the_spring_forward_gap_is_open_right_after_the_jump():
    hours = rome_hours(period(SUNDAY, "02:30", "05:00"))
    assert [hours.is_open(utc(2026, 3, 29, 0, 59)), hours.is_open(utc(2026, 3, 29, 1, 0))] == [
        False,
        True,
    ]


def test_period_ending_in_the_spring_forward_gap_closes_at_the_jump():
    hours = rome_hours(period(SUNDAY, "01:00", "02:30"))
    window = hours.next_window(utc(2026, 3, 28, 12, 0))
    assert window.ends_at == utc(2026, 3, 29, 1, 0)


def test_period_inside_the_spring_forward_gap_does_not_happen_that_night():
    hours = rome_hours(period(SUNDAY, "02:10", "02:50"))
    window = hours.next_window(utc(2026, 3, 28, 12, 0))
    assert window.starts_at == rome(2026, 4, 5, 2, 10)


def test_period_in_the_repeated_fall_back_hour_starts_at_its_first_occurrence():
    # 02:30 happens twice on 2026-10-25 in Rome: at 00:30 UTC (CEST) and at 01:30 UTC (CET).
    hours = rome_hours(period(SUNDAY, "02:30", "04:00"))
    window = hours.next_window(utc(2026, 10, 24, 12, 0))
    assert (window.starts_at.astimezone(datetime.UTC), window.ends_at.astimezone(datetime.UTC)) == (
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 3, 0),
    )


def test_unknown_time_zone_is_rejected():
    with pytest.raises(ValueError, match="Unknown time zone: 'Mars/Olympus'"):
        WorkingHours(enabled=True, time_zone="Mars/Olympus", periods=[])


def test_malformed_time_zone_is_rejected():
    with pytest.raises(ValueError, match="Unknown time zone"):
        WorkingHours(enabled=True, time_zone="../etc/passwd", periods=[])


def test_inverted_period_is_rejected():
    with pytest.raises(ValueError, match="Period must end after it starts"):
        rome_hours(period(MONDAY, "18:00", "09:00"))


def test_empty_period_is_rejected():
    with pytest.raises(ValueError, match="Period must end after it starts"):
        rome_hours(period(MONDAY, "09:00", "09:00"))


def test_weekday_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="Weekday must be 0 \\(Monday\\) to 6 \\(Sunday\\)"):
        rome_hours(period(7, "09:00", "18:00"))


def test_naive_moment_is_rejected():
    with pytest.raises(ValueError, match="aware"):
        weekdays_nine_to_six().is_open(datetime.datetime(2026, 1, 5, 10, 0))  # noqa: DTZ001


def test_window_text_in_english():
    window = Window(starts_at=rome(2026, 1, 5, 9, 0), ends_at=rome(2026, 1, 5, 18, 0))
    assert window_text(window, language="en") == "Nearest manager working hours — Mon 09:00–18:00"


def test_window_text_in_russian():
    window = Window(starts_at=rome(2026, 1, 9, 9, 0), ends_at=rome(2026, 1, 9, 18, 30))
    assert window_text(window, language="ru") == "Ближайшие часы работы менеджеров — Пт 09:00–18:30"


def test_window_text_in_italian():
    window = Window(starts_at=rome(2026, 1, 11, 10, 0), ends_at=rome(2026, 1, 11, 13, 0))
    assert (
        window_text(window, language="it")
        == "Orari di lavoro più vicini degli operatori — dom 10:00–13:00"
    )
