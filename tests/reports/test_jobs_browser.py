"""An analyst builds a report in a real browser: the chooser shows the viewer's
filters, Build queues the job, the page follows its progress by itself (no reload)
while a Celery worker builds it, and the download link appears and downloads."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings
from django.test import Client
from openpyxl import load_workbook
from playwright.sync_api import expect

from config.celery import REPORTS_QUEUE
from config.celery import app as celery_app
from reports.models import ReportJob
from tests.browser_fixtures import *  # noqa: F403 - the browser fixtures
from tests.reports.jobs_dataset import analyst_make, dataset_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def signed_in(page, server, user) -> None:
    """The user's session cookie in the browser (analysts who are not staff have no
    login page of their own here; the session is the same either way)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": server.http_url}])


def test_an_analyst_builds_watches_and_downloads_a_report(daphne_server, page, settings, tmp_path):
    data = dataset_make()
    analyst = analyst_make(chats=(data.shop,))
    signed_in(page, daphne_server, analyst)
    # given: the chooser opened from the viewer with its filters
    page.goto(f"{daphne_server.http_url}/reports/jobs/?chat={data.shop.pk}&messenger=web")
    expect(page.locator(".job-filters")).to_contain_text("chats: Shop")
    expect(page.locator(".job-filters")).to_contain_text("channels: Web")
    # when: they build "all sessions" with times
    page.locator("select[name=report_type]").select_option("all_sessions")
    page.locator("input[name=with_times]").check()
    page.get_by_role("button", name="Build").click()
    row = page.locator("tr.job").first
    expect(row.locator(".job-status")).to_have_text("queued")
    expect(row.locator(".job-download")).to_be_hidden()
    # then: a worker builds it and the open page shows it ready, by itself
    celery_app.conf.broker_url = settings.CELERY_BROKER_URL
    celery_app.conf.result_backend = settings.CELERY_RESULT_BACKEND
    job = ReportJob.objects.get()
    try:
        with start_worker(
            celery_app,
            perform_ping_check=False,
            pool="solo",
            queues=["celery", REPORTS_QUEUE],  # builds go to their own queue
            loglevel="WARNING",
        ):
            expect(row.locator(".job-status")).to_have_text("ready")
        # D1 and D3 are the web dialogs: 2 sessions + 9 messages
        expect(row.locator(".job-rows")).to_have_text("11 / 11")
        expect(row.locator("progress")).to_have_attribute("value", "11")
        expect(row.locator(".job-expires")).to_be_visible()
        with page.expect_download() as download_info:
            row.locator(".job-download").click()
        download = download_info.value
        job.refresh_from_db()
        assert download.suggested_filename == job.file.name
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        workbook = load_workbook(saved)
        assert workbook.sheetnames == ["Sessions", "Messages"]
        assert workbook["Messages"]["B1"].value == "Time"
    finally:
        job.refresh_from_db()
        if job.file:
            job.file.storage.delete(job.file.name)
