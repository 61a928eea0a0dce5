"""Accessibility (issue 13, point 7): both UIs pass an axe-core scan with no serious or
critical violation, at desktop and phone sizes, on every screen a visitor and an
operator go through; the main controls are reached with the keyboard alone.

Two browsers (visitor and operator) against Daphne, as in test_console_browser."""

from __future__ import annotations

from pprint import pformat

import pytest
from playwright.sync_api import expect

from handoff.models import HandoffSettings
from tests.a11y import axe_violations
from tests.browser_fixtures import screenshot_keep, screenshot_sizes
from tests.handoff.test_console_browser import (
    add_pre_handoff_form,
    demo_chat_with_handoff,
    operator_logs_in,
    visitor_opens_the_chat,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VISITOR_NAME = "Ann Example"


def scan_at_both_sizes(page, name: str, target=None) -> dict[str, list[dict]]:
    """Scan `target` (the page, or a frame of it) at the desktop and the phone size,
    keep a screenshot of each, and return the violations found by size (none: {})."""
    found = {}
    for size_name, size in screenshot_sizes.items():
        page.set_viewport_size(size)
        violations = axe_violations(target or page)
        screenshot_keep(page, f"a11y-{name}-{size_name}")
        if violations:
            found[f"{name}-{size_name}"] = violations
    page.set_viewport_size(screenshot_sizes["desktop"])
    return found


def widget_frame(page):
    return page.locator("#baton-frame").element_handle().content_frame()


def test_the_login_page_passes_axe(daphne_server, page):
    # given / when: the console's login page, and then a failed login
    page.goto(f"{daphne_server.http_url}/console/login/")
    found = scan_at_both_sizes(page, "console-login")
    page.locator("input[name=username]").fill("nobody")
    page.locator("input[name=password]").fill("wrong")
    page.locator("form.login-form button[type=submit]").click()
    expect(page.get_by_role("alert")).to_be_visible()
    found |= scan_at_both_sizes(page, "console-login-error")

    # then
    assert found == {}, pformat(found, width=100)


def test_console_and_widget_pass_axe_through_a_whole_conversation(daphne_server, new_page):
    # given: the demo chat with a pre-handoff form; the operator in the console
    chat = demo_chat_with_handoff()
    name_field, _topic = add_pre_handoff_form(chat)
    HandoffSettings.objects.filter(chat=chat).update(feedback_enabled=True)
    console = new_page()
    operator_logs_in(console, daphne_server)
    found = scan_at_both_sizes(console, "console-empty")
    visitor = new_page()
    widget = visitor_opens_the_chat(visitor, daphne_server)
    frame = widget_frame(visitor)
    found |= scan_at_both_sizes(visitor, "widget-greeting", frame)

    # when: the visitor asks for a human and gets the form
    widget.locator("#baton-headset").click()
    form = widget.locator("#baton-messages form.form-form")
    expect(form).to_be_visible()
    found |= scan_at_both_sizes(visitor, "widget-form", frame)
    form.locator(f"[name='{name_field.pk}']").fill(VISITOR_NAME)
    form.locator("button[type=submit]").click()

    # then: the console lists it; the operator opens it
    pending = console.locator("#list-pending li")
    expect(pending).to_have_count(1)
    found |= scan_at_both_sizes(console, "console-list")
    pending.click()
    expect(console.locator("#accept")).to_be_visible()
    found |= scan_at_both_sizes(console, "console-pending-request")

    # when: the operator accepts and they talk
    console.locator("#accept").click()
    expect(console.locator("#reply")).to_be_visible()
    console.locator("#reply-text").fill("Hello Ann, how can I help?")
    console.locator("#reply-text").press("Enter")
    messages = widget.locator("#baton-messages")
    expect(messages.locator(".from-operator .text")).to_have_text(["Hello Ann, how can I help?"])
    widget.locator("#baton-input").fill("Where is my parcel?")
    widget.locator("#baton-input").press("Enter")
    expect(console.locator("#messages .from-client .text")).to_contain_text(["Where is my parcel?"])
    found |= scan_at_both_sizes(console, "console-conversation")
    found |= scan_at_both_sizes(visitor, "widget-operator", frame)

    # when: the operator opens the transfer form
    console.locator("#transfer-open").click()
    expect(console.locator("#transfer")).to_be_visible()
    found |= scan_at_both_sizes(console, "console-transfer")
    console.locator("#transfer-cancel").click()

    # when: the operator closes; the visitor is asked for a rating
    console.locator("#close-request").click()
    expect(console.get_by_role("dialog", name="Close this conversation?")).to_be_visible()
    found |= scan_at_both_sizes(console, "console-close-confirm")
    console.locator("#close-confirm-yes").click()
    expect(console.locator("#readonly")).to_be_visible()
    expect(messages.get_by_role("radio")).to_have_count(5)
    found |= scan_at_both_sizes(console, "console-closed")
    found |= scan_at_both_sizes(visitor, "widget-rating", frame)

    # then: no serious or critical violation anywhere
    assert found == {}, pformat(found, width=100)


def tab_until(page, selector: str, limit: int = 40) -> bool:
    """Press Tab until the focused element matches `selector` (True), or `limit` times."""
    for _press in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return True
    return False


def focus_outline(page) -> str:
    """The focused element's outline style (what :focus-visible draws)."""
    return page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")


def test_an_operator_works_a_request_with_the_keyboard_alone(daphne_server, new_page):
    # given: a visitor waiting for a person, and the operator's console
    demo_chat_with_handoff()
    console = new_page()
    operator_logs_in(console, daphne_server)
    first_visitor = new_page()
    visitor_opens_the_chat(first_visitor, daphne_server).locator("#baton-headset").click()
    expect(console.locator("#list-pending li")).to_have_count(1)
    visitor = new_page()
    widget = visitor_opens_the_chat(visitor, daphne_server)
    widget.locator("#baton-headset").click()
    expect(console.locator("#list-pending li")).to_have_count(2)

    # when: the operator tabs to the waiting list, moves down to the last row, Enter
    assert tab_until(console, "#list-pending li[data-request]")
    assert focus_outline(console) == "solid"
    console.keyboard.press("ArrowDown")
    assert console.evaluate("() => document.activeElement.matches('#list-pending li:last-child')")
    console.keyboard.press("Enter")

    # then: the request opens; Tab reaches Accept, and Enter accepts it
    expect(console.locator("#accept")).to_be_visible()
    expect(console.locator("#list-pending li[aria-current=true]")).to_have_count(1)
    assert tab_until(console, "#accept")
    assert focus_outline(console) == "solid"
    console.keyboard.press("Enter")
    expect(console.locator("#reply")).to_be_visible()

    # when: Tab reaches the reply box, the operator types, and Tab reaches Send
    assert tab_until(console, "#reply-text")
    console.keyboard.type("Hello from the keyboard")
    assert tab_until(console, "#reply-send", limit=1)
    assert focus_outline(console) == "solid"
    console.keyboard.press("Enter")

    # then: the visitor reads the reply
    expect(widget.locator("#baton-messages .from-operator .text")).to_have_text(
        ["Hello from the keyboard"]
    )


def test_a_visitor_writes_and_sends_with_the_keyboard_alone(daphne_server, page):
    # given: the widget opened on its own (as a phone's full-screen frame does)
    demo_chat_with_handoff()
    page.goto(f"{daphne_server.http_url}/widget/demo/")
    expect(page.locator("#baton-messages .from-bot .text")).to_have_count(1)

    # when: Tab reaches the message box, the visitor types, Tab reaches Send, Enter
    assert tab_until(page, "#baton-input")
    page.keyboard.type("Delivery")
    assert tab_until(page, "#baton-send", limit=1)
    assert focus_outline(page) == "solid"
    page.keyboard.press("Enter")

    # then: the message is sent and the bot answers it
    expect(page.locator("#baton-messages .from-client .text")).to_have_text(["Delivery"])
    expect(page.locator("#baton-messages .from-bot")).to_have_count(2)
