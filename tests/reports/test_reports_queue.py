"""Report builds wait in a queue of their own ("reports"), consumed by a worker of its
own: a build of minutes never holds up the handoff deadline sweep (every 2 s) on the
main worker. Checked through the suite's real Redis and real Celery workers."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from config.celery import REPORTS_QUEUE, TELEGRAM_SEND_QUEUE
from config.celery import app as celery_app
from handoff.dialog_filters import DialogFilters
from handoff.enums import Fallback
from handoff.models import HandoffSettings, Request
from handoff.services import request_open
from handoff.tasks import sweep_deadlines
from reports.enums import ReportJobStatus, ReportType
from reports.models import ReportJob
from reports.services import report_job_create
from reports.tasks import sweep as reports_sweep
from tests.chats.factories import ChatFactory, DialogFactory
from tests.reports.jobs_dataset import analyst_make
from tests.servers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker(settings) -> redis.Redis:
    """The suite's Redis, as the Celery broker (emptied before each test)."""
    celery_app.conf.broker_url = settings.CELERY_BROKER_URL
    celery_app.conf.result_backend = settings.CELERY_RESULT_BACKEND
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def waiting(broker: redis.Redis, queue: str) -> list[tuple[str, str]]:
    """(task name, its arguments) of each message waiting in `queue` (a Redis list),
    sorted."""
    messages = [json.loads(raw) for raw in broker.lrange(queue, 0, -1)]
    return sorted(
        (message["headers"]["task"], message["headers"]["argsrepr"]) for message in messages
    )


def test_report_tasks_wait_in_the_reports_queue_and_the_sweeps_in_the_default_one(
    broker, reports_storage
):
    # given: no worker runs; an analyst
    analyst = analyst_make(chats=(ChatFactory(),))
    # when: the analyst asks for a report (its build is sent after commit), beat sends its
    # tasks by name, and a scheduled job's delivery is sent
    job = report_job_create(
        user=analyst,
        report_type=ReportType.ALL_SESSIONS,
        filters=DialogFilters(),
        with_times=False,
    )
    celery_app.send_task("reports.schedules_run")
    celery_app.send_task("reports.job_deliver", args=(job.pk,))
    sweep_deadlines.delay()
    reports_sweep.delay()
    # then: the report tasks wait in "reports"; the handoff sweep in "celery", with the
    # reports sweep (it fails builds whose worker died: it must not wait behind them)
    assert waiting(broker, REPORTS_QUEUE) == [
        ("reports.build_job", f"({job.pk},)"),
        ("reports.job_deliver", f"({job.pk},)"),
        ("reports.schedules_run", "()"),
    ]
    assert waiting(broker, "celery") == [("handoff.sweep_deadlines", "()"), ("reports.sweep", "()")]
    assert waiting(broker, TELEGRAM_SEND_QUEUE) == []


def test_a_deadline_sweep_runs_on_the_main_worker_while_a_build_waits_for_the_reports_worker(
    broker, reports_storage
):
    """The main worker (the queues `make run`'s worker with beat consumes) runs the
    handoff sweep and never takes a report build: the build's message stays in
    "reports" for the reports worker. (Two Celery workers inside one test process
    share kombu's Redis poller and can take each other's messages, so the reports
    worker's own process is covered by tests/config/test_runner.py instead.)"""
    # given: a request whose accept deadline has passed, and a report build asked for
    chat = ChatFactory()
    HandoffSettings.objects.create(chat=chat, fallback=Fallback.MESSAGE)
    request = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
    Request.objects.filter(pk=request.pk).update(
        accept_deadline=timezone.now() - timedelta(seconds=1)
    )
    job = report_job_create(
        user=analyst_make(chats=(chat,)),
        report_type=ReportType.ALL_SESSIONS,
        filters=DialogFilters(),
        with_times=False,
    )
    assert [task for task, _args in waiting(broker, REPORTS_QUEUE)] == ["reports.build_job"]
    with start_worker(
        celery_app,
        perform_ping_check=False,
        pool="solo",
        queues=["celery", TELEGRAM_SEND_QUEUE],
        hostname="main@test",
        loglevel="WARNING",
    ):
        # when: beat's deadline sweep
        sweep_deadlines.delay()
        # then: the main worker runs it
        closed = wait_until(
            lambda: Request.objects.filter(pk=request.pk, status="closed").first(),
            seconds=30,
        )
        assert closed.close_reason == "unavailable"
    # and the build was left to the reports worker: still waiting, never started
    assert [task for task, _args in waiting(broker, REPORTS_QUEUE)] == ["reports.build_job"]
    assert ReportJob.objects.get(pk=job.pk).status == ReportJobStatus.QUEUED
