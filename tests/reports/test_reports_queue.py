"""Report builds wait in a queue of their own ("reports"), consumed by a worker of its
own: a build of minutes never holds up the handoff deadline sweep (every 2 s) on the
main worker. Checked through the suite's real Redis and real Celery workers."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from config.celery import REPORTS_QUEUE, TELEGRAM_SEND_QUEUE
from config.celery import app as celery_app
from handoff.enums import Fallback
from handoff.models import HandoffSettings, Request
from handoff.services import request_open
from handoff.tasks import sweep_deadlines
from reports.builders import BUILDERS
from reports.builders.base import Column, ReportBuilder, Sheet
from reports.enums import ReportJobStatus, ReportType
from reports.filters import DialogFilters
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


class BlockedBuilder(ReportBuilder):
    """One row, written only once the test lets go of `gate`; `building` tells the test
    the build has started (the job is running, a worker is inside it)."""

    report_type = "blocked"
    gate = threading.Lock()
    building = threading.Event()

    def rows_total(self) -> int:
        return 1

    def sheets(self):
        def rows():
            BlockedBuilder.building.set()
            if not BlockedBuilder.gate.acquire(timeout=60):
                raise TimeoutError("the test never let the build go on")
            BlockedBuilder.gate.release()
            yield ("built",)

        yield Sheet("Blocked", [Column("Text")], rows())


def test_a_deadline_sweep_runs_on_the_main_worker_while_the_reports_worker_builds(
    broker, reports_storage, monkeypatch
):
    # given: a request whose accept deadline has passed, and a build that blocks on a
    # lock the test holds
    chat = ChatFactory()
    HandoffSettings.objects.create(chat=chat, fallback=Fallback.MESSAGE)
    request = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
    Request.objects.filter(pk=request.pk).update(
        accept_deadline=timezone.now() - timedelta(seconds=1)
    )
    analyst = analyst_make(chats=(chat,))
    monkeypatch.setitem(BUILDERS, BlockedBuilder.report_type, BlockedBuilder)
    BlockedBuilder.building.clear()
    BlockedBuilder.gate.acquire()
    held = True
    # the two workers of `make run`, one process each: the main one (no beat here: the
    # test sends the sweep as beat would) and the reports one
    with (
        start_worker(
            celery_app,
            perform_ping_check=False,
            pool="solo",
            queues=["celery", TELEGRAM_SEND_QUEUE],
            hostname="main@test",
            loglevel="WARNING",
        ),
        start_worker(
            celery_app,
            perform_ping_check=False,
            pool="solo",
            queues=[REPORTS_QUEUE],
            hostname="reports@test",
            loglevel="WARNING",
        ),
    ):
        try:
            job = report_job_create(
                user=analyst,
                report_type=BlockedBuilder.report_type,
                filters=DialogFilters(),
                with_times=False,
            )
            assert BlockedBuilder.building.wait(timeout=60)
            # when: beat's deadline sweep, with the reports worker inside the build
            sweep_deadlines.delay()
            # then: the main worker runs it
            closed = wait_until(
                lambda: Request.objects.filter(pk=request.pk, status="closed").first(),
                seconds=30,
            )
            assert closed.close_reason == "unavailable"
            # while the build was still blocked
            assert ReportJob.objects.get(pk=job.pk).status == ReportJobStatus.RUNNING
            # when: the build may go on
            BlockedBuilder.gate.release()
            held = False
            # then: it is built
            built = wait_until(
                lambda: ReportJob.objects.filter(
                    pk=job.pk, status__in=[ReportJobStatus.DONE, ReportJobStatus.FAILED]
                ).first(),
                seconds=60,
            )
            assert (built.status, built.error, built.rows_done) == (ReportJobStatus.DONE, "", 1)
        finally:
            # let a blocked worker finish, or stopping it waits for nothing
            if held:
                BlockedBuilder.gate.release()
