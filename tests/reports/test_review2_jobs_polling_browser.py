"""The report list's polling (static/reports/jobs.js) stops asking for a job that no
longer exists, instead of asking for it every second for as long as the page is open."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from reports.enums import ReportJobStatus, ReportType
from reports.models import ReportJob
from tests.browser_fixtures import *  # noqa: F403 - the browser fixtures
from tests.chats.factories import ChatFactory
from tests.reports.test_access import make_analyst
from tests.reports.test_jobs_browser import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_deleted_job_is_no_longer_polled(daphne_server, page):
    analyst = make_analyst("ann", chats=[ChatFactory(name="Shop")])
    job = ReportJob.objects.create(
        owner=analyst, report_type=ReportType.ALL_SESSIONS, status=ReportJobStatus.QUEUED
    )
    signed_in(page, daphne_server, analyst)
    status_url = f"/reports/jobs/{job.pk}/status"
    page.goto(f"{daphne_server.http_url}/reports/jobs/")
    row = page.locator("tr.job")
    expect(row).to_have_attribute("data-status", "queued")
    # when: the job is deleted (cleanup, an admin) while the page polls it
    with page.expect_response(
        lambda response: response.url.endswith(status_url) and response.status == 404
    ):
        job.delete()
    # then: the row is no longer active, so the next polls leave it alone
    expect(row).to_have_attribute("data-status", "gone")
