"""The beat task's work: every due schedule makes one report job, once, however often
or concurrently schedules_run is called; a refusal is written on the schedule."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from reports.access import ANALYST_GROUP
from reports.delivery import delivery_failures_record
from reports.enums import ReportJobStatus, ReportType, ScheduleFrequency, SchedulePeriod
from reports.models import AnalystChatGrant, ReportJob, ScheduledReport
from reports.schedules import ScheduleRefused, next_run_after, schedule_run_now, schedules_run
from tests.chats.factories import ChatFactory
from tests.distributor.factories import UserFactory
from tests.threads import run_in_threads

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
NOW = datetime.datetime(2026, 3, 2, 6, 0, 30, tzinfo=UTC)  # Monday, 07:00:30 in Rome


def analyst(*chats, username=None):
    user = UserFactory(**({"username": username} if username else {}))
    # get_or_create: a transactional test's flush removes what migrations wrote
    user.groups.add(Group.objects.get_or_create(name=ANALYST_GROUP)[0])
    for chat in chats:
        AnalystChatGrant.objects.create(user=user, chat=chat)
    return user


def due_schedule(**fields) -> ScheduledReport:
    chat = fields.pop("chat", None) or ChatFactory(name="Shop")
    values = {
        "name": "Morning sessions",
        "owner": fields.pop("owner", None) or analyst(chat),
        "report_type": ReportType.ALL_SESSIONS,
        "filters": {"chat": [chat.pk], "status": "closed"},
        "period": SchedulePeriod.PREVIOUS_DAY,
        "with_times": True,
        "frequency": ScheduleFrequency.DAILY,
        "hour": 7,
        "time_zone": "Europe/Rome",
        "email_to": "boss@example.com",
        "next_run_at": datetime.datetime(2026, 3, 2, 6, 0, tzinfo=UTC),
    }
    values.update(fields)
    return ScheduledReport.objects.create(**values)


def test_a_due_schedule_makes_one_job_with_its_filters_and_the_periods_dates():
    schedule = due_schedule()
    assert schedules_run(NOW) == 1
    [job] = ReportJob.objects.all()
    assert job.schedule == schedule
    assert job.owner == schedule.owner
    assert job.report_type == ReportType.ALL_SESSIONS
    assert job.with_times is True
    assert job.status == ReportJobStatus.QUEUED
    assert job.filters == {
        "chat": schedule.filters["chat"],
        "status": "closed",
        "date_from": "2026-03-01",
        "date_to": "2026-03-01",
    }
    schedule.refresh_from_db()
    assert schedule.last_run_at == NOW
    assert schedule.next_run_at == datetime.datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    assert schedule.last_error == ""


def test_running_twice_makes_one_job():
    due_schedule()
    assert schedules_run(NOW) == 1
    assert schedules_run(NOW) == 0
    assert schedules_run(NOW + datetime.timedelta(seconds=60)) == 0
    assert ReportJob.objects.count() == 1


def test_a_schedule_missed_for_days_runs_once_and_next_runs_after_now():
    schedule = due_schedule(next_run_at=datetime.datetime(2026, 2, 20, 6, 0, tzinfo=UTC))
    assert schedules_run(NOW) == 1
    assert schedules_run(NOW) == 0
    assert ReportJob.objects.count() == 1
    schedule.refresh_from_db()
    assert schedule.next_run_at == datetime.datetime(2026, 3, 3, 6, 0, tzinfo=UTC)


def test_a_schedule_not_yet_due_or_disabled_does_not_run():
    due_schedule(next_run_at=NOW + datetime.timedelta(minutes=1))
    due_schedule(name="Off", enabled=False)
    assert schedules_run(NOW) == 0
    assert ReportJob.objects.count() == 0


def test_a_schedule_without_a_next_run_gets_one_and_does_not_run_at_once():
    schedule = due_schedule(next_run_at=None)
    assert schedules_run(NOW) == 0
    schedule.refresh_from_db()
    assert schedule.next_run_at == datetime.datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    assert ReportJob.objects.count() == 0


def test_an_owner_who_is_no_longer_an_analyst_gets_no_job_and_the_schedule_says_why():
    schedule = due_schedule()
    schedule.owner.groups.clear()
    assert schedules_run(NOW) == 0
    assert ReportJob.objects.count() == 0
    schedule.refresh_from_db()
    assert "may no longer read reports" in schedule.last_error
    # it is not retried every minute: the next run is tomorrow's
    assert schedule.next_run_at == datetime.datetime(2026, 3, 3, 6, 0, tzinfo=UTC)


def test_an_owner_who_lost_a_chat_gets_no_job_and_the_schedule_names_the_chat():
    chat = ChatFactory(name="Shop")
    schedule = due_schedule(chat=chat)
    AnalystChatGrant.objects.filter(chat=chat).delete()
    assert schedules_run(NOW) == 0
    schedule.refresh_from_db()
    assert f"chat(s) {chat.pk}" in schedule.last_error


def test_malformed_stored_filters_are_reported_not_run():
    schedule = due_schedule(filters={"chat": ["x"], "messenger": ["fax"]})
    assert schedules_run(NOW) == 0
    schedule.refresh_from_db()
    assert "saved filters are not valid" in schedule.last_error


def test_a_report_the_job_engine_refuses_is_recorded_not_retried_every_minute():
    schedule = due_schedule(report_type="passwords")  # written around Admin's choices
    assert schedules_run(NOW) == 0
    schedule.refresh_from_db()
    assert schedule.last_error.startswith("The report was refused:")
    assert schedule.next_run_at == datetime.datetime(2026, 3, 3, 6, 0, tzinfo=UTC)


def test_one_refused_schedule_does_not_stop_the_others():
    refused = due_schedule(name="A refused")
    refused.owner.groups.clear()
    due_schedule(name="B fine")
    assert schedules_run(NOW) == 1
    assert ReportJob.objects.get().schedule.name == "B fine"


def test_a_new_run_clears_the_previous_runs_error():
    schedule = due_schedule(last_error="E-mail not sent: connection refused")
    schedules_run(NOW)
    schedule.refresh_from_db()
    assert schedule.last_error == ""


def test_run_now_makes_a_job_and_keeps_the_regular_next_run():
    schedule = due_schedule(next_run_at=NOW + datetime.timedelta(hours=5))
    job = schedule_run_now(schedule, now=NOW)
    assert job.schedule == schedule
    schedule.refresh_from_db()
    assert schedule.last_run_at == NOW
    assert schedule.next_run_at == NOW + datetime.timedelta(hours=5)


def test_run_now_for_a_refused_owner_raises_and_records_it():
    schedule = due_schedule()
    schedule.owner.is_active = False
    schedule.owner.save()
    with pytest.raises(ScheduleRefused):
        schedule_run_now(schedule, now=NOW)
    schedule.refresh_from_db()
    assert "may no longer read reports" in schedule.last_error
    assert ReportJob.objects.count() == 0


def test_a_failed_build_of_the_latest_job_is_noted_once():
    schedule = due_schedule()
    schedules_run(NOW)
    ReportJob.objects.update(status=ReportJobStatus.FAILED, error="MemoryError")
    later = NOW + datetime.timedelta(minutes=5)
    assert delivery_failures_record(now=later) == 1
    assert delivery_failures_record(now=later) == 0
    schedule.refresh_from_db()
    assert "was not built: MemoryError" in schedule.last_error
    assert schedule.last_error.count("MemoryError") == 1


def test_next_run_after_saving_is_computed_by_the_same_rule():
    schedule = due_schedule(frequency=ScheduleFrequency.WEEKLY, weekday=4)
    assert next_run_after(schedule, NOW) == datetime.datetime(2026, 3, 6, 6, 0, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_start_a_due_schedule_once():
    rounds = 10 if connection.vendor == "postgresql" else 3
    for round_number in range(rounds):
        schedule = due_schedule(name=f"Round {round_number}")
        assert run_in_threads(4, lambda _index: schedules_run(NOW)) == []
        assert ReportJob.objects.filter(schedule=schedule).count() == 1
        ScheduledReport.objects.filter(pk=schedule.pk).update(enabled=False)


def test_a_run_started_late_reports_the_period_of_the_time_it_was_due():
    # regression (review): the period was counted from the moment the run started, so
    # a 23:00 run that a busy worker started after midnight reported the wrong day
    schedule = due_schedule(
        hour=23,
        next_run_at=datetime.datetime(2026, 3, 2, 22, 0, tzinfo=UTC),  # Mon 23:00 Rome
    )
    late = datetime.datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # Tue 00:30 in Rome

    assert schedules_run(late) == 1

    [job] = ReportJob.objects.all()
    assert (job.filters["date_from"], job.filters["date_to"]) == ("2026-03-01", "2026-03-01")
    schedule.refresh_from_db()
    assert schedule.next_run_at == datetime.datetime(2026, 3, 3, 22, 0, tzinfo=UTC)


def test_days_missed_run_once_for_the_latest_due_time():
    due_schedule(next_run_at=datetime.datetime(2026, 2, 27, 6, 0, tzinfo=UTC))  # Fri 07:00

    assert schedules_run(NOW) == 1  # Mon 07:00:30

    [job] = ReportJob.objects.all()
    # Monday's run: the previous day is Sunday
    assert (job.filters["date_from"], job.filters["date_to"]) == ("2026-03-01", "2026-03-01")
