"""The analyst pages in a real browser, as an analyst walks them: from the dialogs
to a report of the same filters, to the dashboard of the same chats and days, a
bar to that day's dialogs and back; a phone's width with nothing cut off; a report
failing while one watches, offered to be built again; the keyboard's skip link."""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import expect

from handoff.dialog_filters import DialogFilters
from reports.enums import ReportJobStatus, ReportType
from reports.models import ReportJob
from tests.browser_fixtures import *  # noqa: F403 - the browser fixtures
from tests.reports.jobs_dataset import analyst_make, dataset_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}


def signed_in(page, server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": server.http_url}])


def page_width_overflow(page) -> int:
    """How many pixels the page is wider than the window (0: nothing cut off)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_from_the_dialogs_to_a_report_to_the_dashboard_and_a_days_dialogs(daphne_server, page):
    data = dataset_make()
    signed_in(page, daphne_server, analyst_make(chats=(data.shop,)))
    page.set_viewport_size(DESKTOP)
    page.goto(
        f"{daphne_server.http_url}/reports/dialogs/"
        f"?chat={data.shop.pk}&date_from=2026-01-09&date_to=2026-01-11&messenger=web"
    )
    expect(page.locator("#dialog-total")).to_have_text("2 dialogs")

    # the report chooser gets the viewer's filters
    page.get_by_role("link", name="Build a report from these filters").click()
    expect(page).to_have_title("Reports — Baton analytics")
    expect(page.locator(".job-filters")).to_contain_text("chats: Shop")
    expect(page.locator(".job-filters")).to_contain_text("channels: Web")
    expect(page.locator(".job-filters")).to_contain_text("started 2026-01-09 to 2026-01-11")
    expect(page.locator("nav.main a[aria-current=page]")).to_have_text("Reports")

    # the dashboard of the same chat and days
    page.locator("#to-dashboard").click()
    expect(page.locator("nav.main a[aria-current=page]")).to_have_text("Dashboard")
    expect(page.locator("select[name=chat]")).to_have_value(str(data.shop.pk))
    expect(page.locator("input[name=date_from]")).to_have_value("2026-01-09")
    expect(page.locator("input[name=date_to]")).to_have_value("2026-01-11")

    # a bar of 10 January: that day's dialogs (D1 only)
    page.locator('#chart-dialogs-per-day rect[data-category="2026-01-10"]').first.click()
    expect(page.locator("#dialog-total")).to_have_text("1 dialog")
    expect(page.locator("input[name=date_from]")).to_have_value("2026-01-10")
    expect(page.locator("input[name=date_to]")).to_have_value("2026-01-10")

    # a dialog, and back to that same list
    page.locator("table.dialogs tbody a").first.click()
    expect(page).to_have_title("Dialog with Anna · Shop — Baton analytics")
    page.locator("#back-to-list").click()
    expect(page.locator("#dialog-total")).to_have_text("1 dialog")
    expect(page.locator("input[name=date_from]")).to_have_value("2026-01-10")


def test_every_page_fits_a_phone(daphne_server, page):
    data = dataset_make()
    user = analyst_make(chats=(data.shop,))
    ReportJob.objects.create(
        owner=user,
        report_type=ReportType.ALL_SESSIONS,
        filters={"chat": [data.shop.pk], "text": "a long text " * 8},
        status=ReportJobStatus.FAILED,
        error="OperationalError: " + "database is locked " * 6,
    )
    signed_in(page, daphne_server, user)
    page.set_viewport_size(PHONE)
    base = daphne_server.http_url

    page.goto(f"{base}/reports/dialogs/?chat={data.shop.pk}")
    expect(page.locator("#dialog-total")).to_have_text("3 dialogs")
    assert page_width_overflow(page) <= 0
    # filters stack: To is below From, as wide as the form
    date_from = page.locator("input[name=date_from]").bounding_box()
    date_to = page.locator("input[name=date_to]").bounding_box()
    assert date_to["y"] >= date_from["y"] + date_from["height"]
    assert date_from["width"] > PHONE["width"] * 0.6
    # the table scrolls sideways inside its box instead of widening the page
    scroll = page.locator(".table-scroll").first
    assert scroll.evaluate("box => box.scrollWidth > box.clientWidth")
    # the nav and the log out button are on screen
    for name in ("Dialogs", "Reports", "Dashboard", "Log out"):
        box = (
            page.get_by_role("link", name=name)
            .or_(page.get_by_role("button", name=name))
            .first.bounding_box()
        )
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], name

    for path in (
        f"/reports/dialogs/{data.d1.session_id}/",
        f"/reports/dashboard/?chat={data.shop.pk}&date_from=2026-01-01&date_to=2026-01-31",
        "/reports/jobs/",
    ):
        page.goto(base + path)
        expect(page.locator("h1")).to_be_visible()
        assert page_width_overflow(page) <= 0, path
    # on the reports page (the last one): a report is a card, its button on screen
    again = page.get_by_role("button", name="Build again")
    expect(again).to_be_visible()
    box = again.bounding_box()
    assert box["x"] + box["width"] <= PHONE["width"]
    assert page.locator(".table-scroll").first.evaluate("box => box.scrollWidth <= box.clientWidth")


def test_a_report_failing_while_watched_can_be_built_again(daphne_server, page):
    data = dataset_make()
    user = analyst_make(chats=(data.shop,))
    job = ReportJob.objects.create(
        owner=user,
        report_type=ReportType.PAGES_VISITED,
        filters={"chat": [data.shop.pk]},
        status=ReportJobStatus.RUNNING,
        rows_total=10,
        rows_done=3,
    )
    signed_in(page, daphne_server, user)
    page.goto(f"{daphne_server.http_url}/reports/jobs/")
    row = page.locator("tr.job").first
    expect(row.locator(".job-rows")).to_have_text("3 / 10")
    expect(row.get_by_role("button", name="Build again")).to_be_hidden()

    # when: the worker gives up
    ReportJob.objects.filter(pk=job.pk).update(
        status=ReportJobStatus.FAILED, error="MemoryError: the worker ran out of memory"
    )

    # then: the open page says so and offers to build it again, with the same filters
    expect(row.locator(".job-error")).to_have_text("MemoryError: the worker ran out of memory")
    row.get_by_role("button", name="Build again").click()
    expect(page.locator("tr.job")).to_have_count(2)
    again = ReportJob.objects.exclude(pk=job.pk).get()
    assert again.report_type == ReportType.PAGES_VISITED
    assert DialogFilters.from_json(again.filters) == DialogFilters(chat_ids=(data.shop.pk,))
    assert again.status == ReportJobStatus.QUEUED


def test_the_keyboard_skips_the_nav(daphne_server, page):
    data = dataset_make()
    signed_in(page, daphne_server, analyst_make(chats=(data.shop,)))
    page.goto(f"{daphne_server.http_url}/reports/dialogs/")

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    # the next stop is the first filter, not the nav
    expect(page.locator("select[name=chat]")).to_be_focused()


def test_the_filters_address_leaves_out_empty_fields(daphne_server, page):
    data = dataset_make()
    signed_in(page, daphne_server, analyst_make(chats=(data.shop,)))
    page.goto(f"{daphne_server.http_url}/reports/dialogs/")

    page.locator("select[name=status]").select_option("closed")
    page.locator("input[name=messenger][value=web]").check()
    page.get_by_role("button", name="Show").click()

    expect(page).to_have_url(
        f"{daphne_server.http_url}/reports/dialogs/?status=closed&messenger=web"
    )
    expect(page.locator("#dialog-total")).to_have_text("2 dialogs")
    # back: the form works again (whether or not the browser kept the page)
    page.go_back()
    expect(page.locator("input[name=text]")).to_be_enabled()
    page.locator("input[name=text]").fill("order")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"[?&]text=order"))
    assert "marker=" not in page.url and "date_from=" not in page.url
