"""The whole path of a report: asked for on the chooser page, built by a real Celery
worker through Redis, opened back with openpyxl, downloaded, then swept away."""

from __future__ import annotations

import datetime
import io

import pytest
from celery.contrib.testing.worker import start_worker
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from config.celery import REPORTS_QUEUE
from config.celery import app as celery_app
from reports import xlsx
from reports.builders import BUILDERS
from reports.enums import ReportJobStatus
from reports.models import ReportJob
from reports.tasks import sweep
from tests.reports.jobs_dataset import analyst_make, dataset_make, wall
from tests.reports.test_jobs import FailingBuilder
from tests.servers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(settings):
    celery_app.conf.broker_url = settings.CELERY_BROKER_URL
    celery_app.conf.result_backend = settings.CELERY_RESULT_BACKEND
    with start_worker(
        celery_app,
        perform_ping_check=False,
        pool="solo",
        queues=["celery", REPORTS_QUEUE],  # builds go to their own queue
        loglevel="WARNING",
    ):
        yield


def job_finished(job_id: int) -> ReportJob | None:
    return ReportJob.objects.filter(
        pk=job_id, status__in=[ReportJobStatus.DONE, ReportJobStatus.FAILED]
    ).first()


def test_a_report_built_by_the_worker_is_downloaded_then_expires(
    worker, reports_storage, monkeypatch
):
    # given: sheets split every 3 rows (header included)
    monkeypatch.setattr(xlsx, "EXCEL_MAX_ROWS", 3)
    data = dataset_make()
    analyst = analyst_make(chats=(data.shop,))
    browser = Client()
    browser.force_login(analyst)
    # when: the analyst asks for all sessions with times, from the viewer's filters
    response = browser.post(
        reverse("reports:job_list"),
        {"filters": f"chat={data.shop.pk}", "report_type": "all_sessions", "with_times": "on"},
    )
    assert response.status_code == 302
    job = ReportJob.objects.get()
    built = wait_until(lambda: job_finished(job.pk), seconds=60)
    # then: built, with progress at its total
    assert (built.status, built.error) == (ReportJobStatus.DONE, "")
    assert (built.rows_done, built.rows_total) == (14, 14)
    status = browser.get(reverse("reports:job_status", args=[job.pk])).json()
    assert status["download_url"] == reverse("reports:job_download", args=[job.pk])

    # the owner downloads it and it opens
    download = browser.get(status["download_url"])
    assert download.status_code == 200
    workbook = load_workbook(io.BytesIO(b"".join(download.streaming_content)))
    assert workbook.sheetnames == [
        "Sessions", "Sessions (2)",
        "Messages", "Messages (2)", "Messages (3)", "Messages (4)", "Messages (5)", "Messages (6)",
    ]  # fmt: skip
    sessions = workbook["Sessions (2)"]
    assert sessions.freeze_panes == "A2"
    assert sessions.column_dimensions["A"].width == 34
    assert sessions["A1"].value == "Session id" and sessions["A1"].font.bold
    # D3 started 08:00Z: 09:00 in Rome, a real date cell
    assert sessions["A2"].value == data.d3.session_id
    assert sessions["G2"].is_date
    assert sessions["G2"].value == wall(2026, 1, 9, 9)
    # D1's last message "=cancel order please" stays text (Messages (4), row 3)
    formula_like = workbook["Messages (4)"]["E3"]
    assert (formula_like.value, formula_like.data_type) == ("=cancel order please", "s")
    assert workbook["Messages (4)"]["B3"].value == wall(2026, 1, 10, 10, 6)

    # another analyst of the same chat cannot guess the link
    other = Client()
    other.force_login(analyst_make("other", chats=(data.shop,)))
    assert other.get(status["download_url"]).status_code == 404

    # when: its time is up and the beat's sweep runs on the worker
    ReportJob.objects.filter(pk=job.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    name = built.file.name
    sweep.delay()
    wait_until(
        lambda: ReportJob.objects.filter(pk=job.pk, status=ReportJobStatus.EXPIRED).exists(),
        seconds=60,
    )
    # then: the file is gone and the link says so
    assert not (reports_storage / name).exists()
    assert browser.get(status["download_url"]).status_code == 410


def test_a_failing_build_shows_its_error_on_the_page(worker, reports_storage, monkeypatch):
    monkeypatch.setitem(BUILDERS, "failing", FailingBuilder)
    data = dataset_make()
    browser = Client()
    browser.force_login(analyst_make(chats=(data.shop,)))
    browser.post(reverse("reports:job_list"), {"report_type": "failing"})
    job = ReportJob.objects.get()
    failed = wait_until(lambda: job_finished(job.pk), seconds=60)
    assert failed.status == ReportJobStatus.FAILED
    page = browser.get(reverse("reports:job_list")).content.decode()
    assert "ZeroDivisionError: division by zero in row 3" in page
    assert list(reports_storage.iterdir()) == []
