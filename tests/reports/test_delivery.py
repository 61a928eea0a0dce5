"""Delivering a built scheduled report: e-mailed as a real XLSX attachment (Django's
locmem backend in tests), and sent to a manager's Telegram as a document through the
outbox to the fake Bot API; every failure ends up readable on the schedule."""

from __future__ import annotations

import datetime
import io
import socket

import openpyxl
import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.files.base import ContentFile

from reports.access import ANALYST_GROUP
from reports.delivery import (
    XLSX_MIME,
    delivery_failures_record,
    job_deliver,
    telegram_send_for,
)
from reports.enums import ReportJobStatus, ReportType, ScheduleFrequency, SchedulePeriod
from reports.models import AnalystChatGrant, ReportJob, ScheduledReport
from telegram_bridge.models import OutboundMessage, SendStatus
from telegram_bridge.services.operators import connect_link_create
from tests.chats.factories import ChatFactory
from tests.distributor.factories import OperatorFactory, UserFactory
from tests.telegram_bridge.conftest import fake_api, telegram_world  # noqa: F401 (fixtures)
from tests.telegram_bridge.telegram_updates import text_update

pytestmark = pytest.mark.django_db

RUN_AT = datetime.datetime(2026, 3, 2, 6, 0, 30, tzinfo=datetime.UTC)  # 07:00 in Rome
MANAGER_TELEGRAM_ID = 4242


def xlsx_bytes(rows: list[list]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def built_files():
    """Jobs' files saved during a test, deleted after it."""
    jobs: list[ReportJob] = []
    yield jobs
    for job in jobs:
        if job.file:
            job.file.storage.delete(job.file.name)


@pytest.fixture
def make_job(built_files):
    def make(of: ScheduledReport, *, content: bytes | None = None, **fields) -> ReportJob:
        values = {
            "owner": of.owner,
            "report_type": of.report_type,
            "filters": {**of.filters, "date_from": "2026-03-01", "date_to": "2026-03-01"},
            "with_times": of.with_times,
            "status": ReportJobStatus.DONE,
            "schedule": of,
            "created_at": RUN_AT,
        }
        values.update(fields)
        job = ReportJob(**values)
        if content is not None:
            job.file.save(f"delivery-test-{of.pk}.xlsx", ContentFile(content), save=False)
        job.save()
        built_files.append(job)
        return job

    return make


def make_schedule(**fields) -> ScheduledReport:
    chat = ChatFactory(name="Shop")
    owner = UserFactory(username=f"analyst-{chat.pk}")
    owner.groups.add(Group.objects.get_or_create(name=ANALYST_GROUP)[0])
    AnalystChatGrant.objects.create(user=owner, chat=chat)
    values = {
        "name": "Morning sessions",
        "owner": owner,
        "report_type": ReportType.ALL_SESSIONS,
        "filters": {"chat": [chat.pk], "messenger": ["telegram", "web"], "status": "closed"},
        "period": SchedulePeriod.PREVIOUS_DAY,
        "with_times": True,
        "frequency": ScheduleFrequency.DAILY,
        "hour": 7,
        "time_zone": "Europe/Rome",
        "email_to": "boss@example.com\nteam@example.org",
        "last_run_at": RUN_AT,
    }
    values.update(fields)
    return ScheduledReport.objects.create(**values)


@pytest.fixture
def world(request):
    """tests.telegram_bridge's telegram_world: a chat with a bot on the fake Bot API."""
    return request.getfixturevalue("telegram_world")


def connected_manager(world) -> object:
    """A manager who registered their Telegram account through a connect link."""
    operator = OperatorFactory(display_name="Marta")
    link = connect_link_create(bot=world.bot, operator=operator)
    start = f"/start {link.token}"
    world.receive(text_update(world.next_update_id(), user_id=MANAGER_TELEGRAM_ID, text=start))
    world.settle()
    assert operator.telegram_accounts.filter(active=True).exists()
    world.api.clear()
    return operator


# --- e-mail -------------------------------------------------------------------------


def test_the_report_is_emailed_as_an_xlsx_attachment_with_its_filters_in_words(make_job):
    schedule = make_schedule()
    content = xlsx_bytes([["Session", "Started"], ["s-1", "2026-03-01 10:00"]])
    job = make_job(schedule, content=content)
    # when
    assert job_deliver(job) == []
    # then
    [message] = mail.outbox
    assert message.to == ["boss@example.com", "team@example.org"]
    assert message.subject == "Morning sessions — all sessions — 2026-03-02"
    assert "Period: 2026-03-01 – 2026-03-01 (previous day)" in message.body
    assert "Chats: Shop" in message.body
    assert "Messengers: Telegram, Web" in message.body
    assert "Status: closed" in message.body
    assert "With time in dialogs: yes" in message.body
    [(name, attached, mimetype)] = message.attachments
    assert name == "morning-sessions-2026-03-02.xlsx"
    assert mimetype == XLSX_MIME
    assert attached == content
    sheet = openpyxl.load_workbook(io.BytesIO(attached), read_only=True).active
    assert list(sheet.iter_rows(values_only=True)) == [
        ("Session", "Started"),
        ("s-1", "2026-03-01 10:00"),
    ]
    schedule.refresh_from_db()
    assert schedule.last_error == ""


def test_a_refusing_mail_server_is_recorded_and_the_job_stays(make_job, settings):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    schedule = make_schedule()
    job = make_job(schedule, content=xlsx_bytes([["a"]]))
    # when
    problems = job_deliver(job)
    # then
    assert len(problems) == 1
    schedule.refresh_from_db()
    assert schedule.last_error.startswith("E-mail not sent:")
    job.refresh_from_db()
    assert job.status == ReportJobStatus.DONE
    assert job.file.storage.exists(job.file.name)


def test_a_bad_stored_address_sends_nothing_and_says_which(make_job):
    schedule = make_schedule(email_to="boss@example.com\nboss at example dot com")
    job = make_job(schedule, content=xlsx_bytes([["a"]]))
    job_deliver(job)
    assert mail.outbox == []
    schedule.refresh_from_db()
    assert "boss at example dot com" in schedule.last_error


def test_a_job_that_failed_to_build_sends_nothing_and_says_so(make_job):
    schedule = make_schedule()
    job = make_job(schedule, status=ReportJobStatus.FAILED, error="OperationalError: timeout")
    job_deliver(job)
    assert mail.outbox == []
    schedule.refresh_from_db()
    assert schedule.last_error == f"Report #{job.pk} was not built: OperationalError: timeout"


def test_a_file_deleted_before_delivery_is_reported(make_job):
    schedule = make_schedule()
    job = make_job(schedule, content=xlsx_bytes([["a"]]))
    job.file.storage.delete(job.file.name)
    job_deliver(job)
    assert mail.outbox == []
    schedule.refresh_from_db()
    assert "no longer exists" in schedule.last_error


def test_a_job_without_a_schedule_is_not_delivered(make_job):
    schedule = make_schedule()
    job = make_job(schedule, content=xlsx_bytes([["a"]]), schedule=None)
    assert job_deliver(job) == []
    assert mail.outbox == []


# --- Telegram -----------------------------------------------------------------------


def test_the_report_reaches_the_managers_telegram_as_the_uploaded_document(world, make_job):
    operator = connected_manager(world)
    schedule = make_schedule(email_to="", telegram_operator=operator)
    content = xlsx_bytes([["Session"], ["s-1"]])
    job = make_job(schedule, content=content)
    # when
    assert job_deliver(job) == []
    world.settle()
    # then
    [sent] = world.api.succeeded("sendDocument", chat_id=MANAGER_TELEGRAM_ID)
    upload = sent.files["document"]
    assert upload["content"] == content
    assert upload["filename"] == "morning-sessions-2026-03-02.xlsx"
    assert sent.params["caption"].startswith("Morning sessions — all sessions — 2026-03-02")
    assert "Period: 2026-03-01 – 2026-03-01 (previous day)" in sent.params["caption"]
    row = telegram_send_for(job)
    assert row.status == SendStatus.SENT
    # the outbox row keeps where the file is, not its bytes
    assert row.payload["document_path"] == job.file.path
    assert mail.outbox == []


def test_a_manager_without_telegram_is_recorded_and_the_email_still_goes(make_job):
    operator = OperatorFactory(display_name="Nobody on Telegram")
    schedule = make_schedule(telegram_operator=operator)
    job = make_job(schedule, content=xlsx_bytes([["a"]]))
    job_deliver(job)
    assert len(mail.outbox) == 1
    assert OutboundMessage.objects.count() == 0
    schedule.refresh_from_db()
    assert schedule.last_error == (
        "Telegram: Nobody on Telegram has no active Telegram account (or blocked the bot): "
        "send them a connect link."
    )


def test_a_manager_whose_account_was_deactivated_gets_nothing(world, make_job):
    operator = connected_manager(world)
    operator.telegram_accounts.update(active=False)
    schedule = make_schedule(email_to="", telegram_operator=operator)
    job_deliver(make_job(schedule, content=xlsx_bytes([["a"]])))
    assert OutboundMessage.objects.filter(method="sendDocument").count() == 0
    schedule.refresh_from_db()
    assert "has no active Telegram account" in schedule.last_error


def test_telegram_refusing_the_document_is_noted_on_the_schedule(world, make_job):
    operator = connected_manager(world)
    schedule = make_schedule(email_to="", telegram_operator=operator)
    job = make_job(schedule, content=xlsx_bytes([["a"]]))
    world.api.fail_bad_request("sendDocument", "Bad Request: chat not found")
    # when
    job_deliver(job)
    world.settle()
    # then: the outbox recorded it, and the next beat copies it onto the schedule
    assert telegram_send_for(job).status == SendStatus.FAILED
    assert delivery_failures_record(now=RUN_AT) == 1
    assert delivery_failures_record(now=RUN_AT) == 0
    schedule.refresh_from_db()
    assert schedule.last_error == ("Telegram: the document was not sent (Chat not found).")


def test_a_file_gone_before_the_sender_got_to_it_fails_the_send_clearly(world, make_job):
    operator = connected_manager(world)
    schedule = make_schedule(email_to="", telegram_operator=operator)
    job = make_job(schedule, content=xlsx_bytes([["a"]]))
    job_deliver(job)
    job.file.storage.delete(job.file.name)
    world.settle()
    row = telegram_send_for(job)
    assert row.status == SendStatus.FAILED
    assert row.error.startswith("file unreadable:")
    assert world.api.calls("sendDocument") == []
    delivery_failures_record(now=RUN_AT)
    schedule.refresh_from_db()
    assert "file unreadable" in schedule.last_error
