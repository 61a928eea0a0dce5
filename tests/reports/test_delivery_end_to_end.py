"""A due schedule, end to end through a real Celery worker: the beat's task starts it,
the job engine builds the XLSX, and it is e-mailed. Needs the job engine (reports.
services and reports.tasks, another part of issue 10): skipped until it is there."""

from __future__ import annotations

import datetime
import io

import openpyxl
import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone

from config.celery import REPORTS_QUEUE
from config.celery import app as celery_app
from reports.access import ANALYST_GROUP
from reports.enums import ReportJobStatus, ReportType, SchedulePeriod
from reports.models import AnalystChatGrant, ReportJob, ScheduledReport
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import UserFactory
from tests.servers import wait_until


@pytest.fixture
def delivered_jobs():
    yield
    for job in ReportJob.objects.exclude(file=""):
        job.file.storage.delete(job.file.name)


@pytest.mark.django_db(transaction=True)
def test_a_due_schedule_is_built_by_the_worker_and_emailed(delivered_jobs):
    # given: yesterday's dialog in a chat an analyst may read, and a schedule due now
    chat = ChatFactory(name="Shop")
    DialogFactory(client__chat=chat, started_at=timezone.now() - datetime.timedelta(days=1))
    owner = UserFactory(username="anna")
    # get_or_create: a transactional test's flush removes what migrations wrote
    owner.groups.add(Group.objects.get_or_create(name=ANALYST_GROUP)[0])
    AnalystChatGrant.objects.create(user=owner, chat=chat)
    schedule = ScheduledReport.objects.create(
        name="Daily sessions",
        owner=owner,
        report_type=ReportType.ALL_SESSIONS,
        filters={"chat": [chat.pk]},
        period=SchedulePeriod.PREVIOUS_7_DAYS,
        time_zone="UTC",
        email_to="boss@example.com",
        next_run_at=timezone.now() - datetime.timedelta(minutes=1),
    )
    with start_worker(
        celery_app,
        perform_ping_check=False,
        pool="solo",
        queues=["celery", REPORTS_QUEUE],  # builds go to their own queue
        loglevel="WARNING",
    ):
        # when: the beat's task, by its name
        celery_app.send_task("reports.schedules_run")
        job = wait_until(
            lambda: ReportJob.objects.filter(
                schedule=schedule, status__in=[ReportJobStatus.DONE, ReportJobStatus.FAILED]
            ).first(),
            seconds=60,
        )
        wait_until(lambda: len(mail.outbox) == 1, seconds=30)
    # then
    assert job.status == ReportJobStatus.DONE, job.error
    [message] = mail.outbox
    assert message.to == ["boss@example.com"]
    assert message.subject.startswith("Daily sessions — all sessions — ")
    [(name, content, _mimetype)] = message.attachments
    assert name.endswith(".xlsx")
    rows = list(openpyxl.load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))
    assert len(rows) >= 2  # the header and yesterday's dialog
    schedule.refresh_from_db()
    assert schedule.last_error == ""
    assert schedule.next_run_at > timezone.now()
