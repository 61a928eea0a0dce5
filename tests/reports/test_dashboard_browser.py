"""The dashboard in a real browser under the site's Content-Security-Policy: the
charts draw (bars have a size and their channel's colour), nothing is refused by the
policy, and a chart's table opens."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from playwright.sync_api import expect

from reports.access import ANALYST_GROUP
from reports.models import AnalystChatGrant
from tests.browser_fixtures import *  # noqa: F403 - the shared browser fixtures
from tests.distributor.factories import UserFactory
from tests.reports.metrics_dataset import build_dataset

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_charts_draw_under_the_content_security_policy(daphne_server, page):
    dataset = build_dataset()
    user = UserFactory(username="analyst-browser")
    # get_or_create: an earlier transactional test may have flushed the migration's group
    user.groups.add(Group.objects.get_or_create(name=ANALYST_GROUP)[0])
    AnalystChatGrant.objects.create(user=user, chat=dataset.plain)
    signed_in = Client()
    signed_in.force_login(user)
    page.context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": signed_in.cookies["sessionid"].value,
                "url": daphne_server.http_url,
            }
        ]
    )
    problems = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )

    page.goto(
        f"{daphne_server.http_url}/reports/dashboard/?date_from=2026-03-01&date_to=2026-03-31"
    )

    web_bar = page.locator(
        '#chart-dialogs-per-day rect[data-category="2026-03-02"][data-series="web"]'
    )
    expect(web_bar).to_be_visible()
    assert web_bar.bounding_box()["height"] > 10
    assert web_bar.evaluate("bar => getComputedStyle(bar).fill") == "rgb(59, 110, 168)"
    # a vertical line has no width: Playwright calls it hidden, so measure it
    sla_line = page.locator("#chart-first-response line[data-value='30']")
    assert sla_line.bounding_box()["height"] > 100
    assert sla_line.evaluate("line => getComputedStyle(line).stroke") == "rgb(192, 57, 43)"
    page.locator("#chart-ratings summary").click()
    expect(page.locator("#chart-ratings table")).to_contain_text("7/10")
    assert problems == []
