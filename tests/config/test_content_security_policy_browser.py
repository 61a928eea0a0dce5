"""The Content-Security-Policy in a real browser: the demo page with the widget open, the
console and the admin carry the header and the browser reports no violation on them."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from chats.models import Chat
from handoff.management.commands.load_demo import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    OPERATOR_PASSWORD,
    OPERATOR_USERNAME,
)
from tests.browser_fixtures import *  # noqa: F403 - the shared browser fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# runs in every frame before the page's own scripts (Playwright's init scripts are not
# subject to the page's policy); the page and the widget frame both record here
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


class PolicyWatch:
    """What the browser said about the policy on one page: console messages and
    securitypolicyviolation events in every frame, and the header of every document."""

    def __init__(self, page) -> None:
        self.page = page
        self.console: list[str] = []
        self.documents: dict[str, str | None] = {}
        page.context.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self.on_console)
        page.on("response", self.on_response)

    def on_console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def on_response(self, response) -> None:
        if response.request.resource_type == "document":
            self.documents[response.url] = response.headers.get("content-security-policy")

    def violations(self) -> list[str]:
        found = list(self.console)
        for frame in self.page.frames:
            found += frame.evaluate("() => window.__cspViolations || []")
        return found

    def assert_clean(self) -> None:
        assert self.documents, "no document was loaded"
        missing = [url for url, policy in self.documents.items() if not policy]
        assert missing == []
        assert self.violations() == []


def test_the_demo_page_and_the_widget_run_without_violations(daphne_server, page):
    # given
    call_command("load_demo")
    chat = Chat.objects.get(public_key="demo")
    watch = PolicyWatch(page)
    # when: the visitor opens the chat and talks to the bot
    page.goto(f"{daphne_server.http_url}/demo/")
    page.locator("#baton-launcher").click()
    widget = page.frame_locator("#baton-frame")
    expect(widget.locator("#baton-messages .from-bot .text").first).to_be_visible()
    widget.locator("#baton-input").fill("How much does it cost?")
    widget.locator("#baton-input").press("Enter")
    expect(widget.locator("#baton-messages .from-client[data-sequence]")).to_have_count(1)
    # then: the chat's colours apply without inline style, and nothing was refused
    header = widget.locator(".widget-header")
    assert header.evaluate(
        "(node, colour) => { const probe = document.createElement('i');"
        " probe.style.color = colour; document.body.append(probe);"
        " const same = getComputedStyle(probe).color === getComputedStyle(node).backgroundColor;"
        " probe.remove(); return same; }",
        chat.button_color,
    )
    assert any("/widget/demo/" in url for url in watch.documents)
    watch.assert_clean()


def test_the_console_runs_without_violations(daphne_server, page):
    call_command("load_demo")
    watch = PolicyWatch(page)
    page.goto(f"{daphne_server.http_url}/console/login/")
    page.locator("input[name=username]").fill(OPERATOR_USERNAME)
    page.locator("input[name=password]").fill(OPERATOR_PASSWORD)
    page.locator("form.login-form button[type=submit]").click()
    expect(page).to_have_url(f"{daphne_server.http_url}/console/")
    # the live socket is open: connect-src allows it
    expect(page.locator("#connection")).to_have_text("")
    watch.assert_clean()


def test_the_admin_runs_without_violations(daphne_server, page):
    call_command("load_demo")
    chat = Chat.objects.get(public_key="demo")
    watch = PolicyWatch(page)
    base = daphne_server.http_url
    page.goto(f"{base}/admin/login/")
    page.locator("input[name=username]").fill(ADMIN_USERNAME)
    page.locator("input[name=password]").fill(ADMIN_PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page).to_have_url(f"{base}/admin/")
    for path in (
        "/admin/chats/chat/",
        f"/admin/chats/chat/{chat.pk}/change/",
        "/admin/telegram_bridge/telegrambot/",
        "/admin/auth/user/add/",
    ):
        page.goto(f"{base}{path}")
        expect(page.locator("#content")).to_be_visible()
    watch.assert_clean()


def test_the_watch_sees_a_violation(daphne_server, page):
    # the probe itself: an inline script on a page of ours is refused and reported
    call_command("load_demo")
    watch = PolicyWatch(page)
    page.goto(f"{daphne_server.http_url}/console/login/")
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = 1'; document.body.append(s); }"
    )
    expect(page.locator("body")).to_be_visible()
    assert page.evaluate("() => window.__ran") is None
    assert any("script-src" in violation for violation in watch.violations())
