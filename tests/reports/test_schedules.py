"""When a scheduled report runs next (DST-safe, in its own time zone) and which days a
run covers. Pure computations: no job engine needed."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError

from reports.delivery import email_addresses
from reports.enums import ReportType, ScheduleFrequency, SchedulePeriod
from reports.models import ScheduledReport
from reports.schedules import next_run_after, period_dates, schedule_filters

UTC = datetime.UTC


def at(*parts: int) -> datetime.datetime:
    return datetime.datetime(*parts, tzinfo=UTC)


def schedule(**fields) -> ScheduledReport:
    values = {
        "name": "Daily sessions",
        "report_type": ReportType.ALL_SESSIONS,
        "frequency": ScheduleFrequency.DAILY,
        "hour": 7,
        "time_zone": "Europe/Rome",
    }
    values.update(fields)
    return ScheduledReport(**values)


def test_a_daily_run_is_at_the_hour_in_the_schedules_zone_strictly_after_the_moment():
    daily = schedule(hour=7)
    # 07:00 in Rome in winter is 06:00 UTC; a run exactly then is not "after" it
    assert next_run_after(daily, at(2026, 1, 10, 5, 59)) == at(2026, 1, 10, 6, 0)
    assert next_run_after(daily, at(2026, 1, 10, 6, 0)) == at(2026, 1, 11, 6, 0)


def test_a_daily_run_keeps_its_local_hour_across_the_spring_change():
    daily = schedule(hour=7)
    # Rome moves to summer time on 29 March 2026: 07:00 is then 05:00 UTC
    assert next_run_after(daily, at(2026, 3, 28, 6, 0)) == at(2026, 3, 29, 5, 0)


def test_an_hour_the_spring_change_skips_moves_forward_to_when_the_clocks_jumped():
    two_am = schedule(hour=2)
    # 02:00-02:59 do not exist in Rome on 29 March 2026: 03:00 CEST = 01:00 UTC
    first = next_run_after(two_am, at(2026, 3, 28, 12, 0))
    assert first == at(2026, 3, 29, 1, 0)
    # and the day after is 02:00 CEST again
    assert next_run_after(two_am, first) == at(2026, 3, 30, 0, 0)


def test_an_hour_the_autumn_change_repeats_runs_once_at_its_first_occurrence():
    two_am = schedule(hour=2)
    # 02:00-02:59 happen twice in Rome on 25 October 2026 (CEST, then CET)
    first = next_run_after(two_am, at(2026, 10, 24, 12, 0))
    assert first == at(2026, 10, 25, 0, 0)
    # the second 02:00 (01:00 UTC) is not another run
    assert next_run_after(two_am, first) == at(2026, 10, 26, 1, 0)


def test_a_weekly_run_is_on_its_weekday():
    monday_nine = schedule(
        frequency=ScheduleFrequency.WEEKLY, weekday=0, hour=9, time_zone="America/New_York"
    )
    # Wednesday 14 January 2026 → Monday 19 January 09:00 EST = 14:00 UTC
    assert next_run_after(monday_nine, at(2026, 1, 14, 12, 0)) == at(2026, 1, 19, 14, 0)
    # on the Monday itself, before nine: that same day
    assert next_run_after(monday_nine, at(2026, 1, 19, 13, 59)) == at(2026, 1, 19, 14, 0)


def test_a_weekly_run_counts_the_weekday_in_its_own_zone_not_utc():
    sunday_midnight = schedule(
        frequency=ScheduleFrequency.WEEKLY, weekday=6, hour=0, time_zone="Asia/Tokyo"
    )
    # Sunday 00:00 in Tokyo is Saturday 15:00 UTC
    assert next_run_after(sunday_midnight, at(2026, 1, 14, 0, 0)) == at(2026, 1, 17, 15, 0)


def test_the_previous_day_is_the_day_before_the_run_in_the_schedules_zone():
    # 1 March 23:30 UTC is already 2 March in Rome
    assert period_dates(SchedulePeriod.PREVIOUS_DAY, at(2026, 3, 1, 23, 30), "Europe/Rome") == (
        datetime.date(2026, 3, 1),
        datetime.date(2026, 3, 1),
    )
    assert period_dates(SchedulePeriod.PREVIOUS_DAY, at(2026, 3, 1, 23, 30), "UTC") == (
        datetime.date(2026, 2, 28),
        datetime.date(2026, 2, 28),
    )


def test_the_previous_7_days_end_the_day_before_the_run():
    assert period_dates(SchedulePeriod.PREVIOUS_7_DAYS, at(2026, 3, 2, 6, 0), "Europe/Rome") == (
        datetime.date(2026, 2, 23),
        datetime.date(2026, 3, 1),
    )


def test_the_previous_calendar_month_is_the_whole_month_before_the_runs_local_month():
    assert period_dates(SchedulePeriod.PREVIOUS_MONTH, at(2026, 1, 15, 6, 0), "Europe/Rome") == (
        datetime.date(2025, 12, 1),
        datetime.date(2025, 12, 31),
    )
    # 28 February 23:30 UTC is 1 March in Rome: the previous month is February
    assert period_dates(SchedulePeriod.PREVIOUS_MONTH, at(2026, 2, 28, 23, 30), "Europe/Rome") == (
        datetime.date(2026, 2, 1),
        datetime.date(2026, 2, 28),
    )


def test_all_dates_sets_no_date():
    assert period_dates(SchedulePeriod.ALL_DATES, at(2026, 1, 15), "UTC") == (None, None)


def test_a_runs_filters_are_the_saved_ones_with_the_periods_dates():
    weekly = schedule(
        period=SchedulePeriod.PREVIOUS_7_DAYS,
        filters={
            "chat": [3, 1],
            "messenger": ["telegram"],
            "status": "closed",
            # stored absolute dates are not what a schedule runs with
            "date_from": "2020-01-01",
            "date_to": "2020-01-31",
        },
    )
    filters = schedule_filters(weekly, at(2026, 3, 2, 6, 0))
    assert filters.chat_ids == (1, 3)
    assert filters.messengers == ("telegram",)
    assert filters.status == "closed"
    assert (filters.date_from, filters.date_to) == (
        datetime.date(2026, 2, 23),
        datetime.date(2026, 3, 1),
    )


def test_malformed_saved_filters_are_refused():
    broken = schedule(filters={"chat": ["not a number"]})
    with pytest.raises(ValidationError):
        schedule_filters(broken, at(2026, 3, 2))


def test_email_addresses_one_a_line_duplicates_dropped():
    text = "boss@example.com\n\n  team@example.org , Boss@Example.com; ops@example.net "
    assert email_addresses(text) == ["boss@example.com", "team@example.org", "ops@example.net"]


def test_email_addresses_name_every_bad_one_and_refuse_header_tricks():
    with pytest.raises(ValidationError) as refused:
        email_addresses("ok@example.com\nnot-an-address\nboss@example.com\rBcc: x@evil.test")
    message = " ".join(refused.value.messages)
    assert "not-an-address" in message
    assert "Bcc: x@evil.test" in message
    assert "ok@example.com" not in message


def test_email_addresses_are_limited():
    with pytest.raises(ValidationError):
        email_addresses("\n".join(f"person{n}@example.com" for n in range(51)))


def test_the_beat_starts_the_schedules_every_minute_through_registered_tasks(settings):
    from config.celery import app as celery_app

    entry = settings.CELERY_BEAT_SCHEDULE["reports-schedules"]
    assert (entry["task"], entry["schedule"]) == ("reports.schedules_run", 60)
    assert "reports.schedules_run" in celery_app.tasks
