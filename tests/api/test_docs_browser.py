"""The API docs page (Swagger UI) renders in a real browser under the site's
Content-Security-Policy: no violation, the operations are listed."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import *  # noqa: F403 - the browser fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_docs_page_renders_under_the_csp(daphne_server, page):
    problems = []
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" or "Content Security Policy" in message.text
            else None
        ),
    )

    page.goto(f"{daphne_server.http_url}/api/v1/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Baton API")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert page.locator("text=/api/v1/dialogs/").count() >= 1
    assert not [text for text in problems if "Content Security Policy" in text], problems
