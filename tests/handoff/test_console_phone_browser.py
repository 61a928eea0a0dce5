"""The console on a phone (issue 13): one column, the lists or the open conversation
with a back button, nothing wider than the screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import DESKTOP, PHONE, screenshot_keep
from tests.handoff.test_console_browser import (
    demo_chat_with_handoff,
    operator_logs_in,
    visitor_opens_the_chat,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDER_THAN_THE_SCREEN = "document.documentElement.scrollWidth > window.innerWidth"


def test_on_a_phone_the_lists_and_the_conversation_take_turns(daphne_server, new_page):
    # given: a visitor asks for a human; the operator is on a phone
    demo_chat_with_handoff()
    console = new_page()
    console.set_viewport_size(PHONE)
    operator_logs_in(console, daphne_server)
    widget = visitor_opens_the_chat(new_page(), daphne_server)
    widget.locator("#baton-headset").click()

    # then: the lists fill the screen, the header fits
    row = console.locator("#list-pending li")
    expect(row).to_be_visible()
    expect(console.locator("#back")).to_be_hidden()
    assert not console.evaluate(WIDER_THAN_THE_SCREEN)
    screenshot_keep(console, "console-phone-lists")

    # when: the operator opens the request and accepts it
    row.click()
    console.locator("#accept").click()

    # then: the conversation takes the screen, with a way back; nothing sticks out
    expect(console.locator("#reply-text")).to_be_visible()
    expect(console.locator(".lists")).to_be_hidden()
    expect(console.locator("#back")).to_be_visible()
    assert not console.evaluate(WIDER_THAN_THE_SCREEN)
    screenshot_keep(console, "console-phone-conversation")

    # when: back
    console.locator("#back").click()

    # then: the lists again, the request among the operator's own
    expect(console.locator("#list-mine li")).to_have_count(1)
    expect(console.locator("#detail")).to_be_hidden()
    expect(console).to_have_url(f"{daphne_server.http_url}/console/")


def test_on_a_desktop_the_lists_the_conversation_and_the_panel_show_side_by_side(
    daphne_server, new_page
):
    # given: the operator on a desktop has a visitor's conversation open
    demo_chat_with_handoff()
    console = new_page()
    console.set_viewport_size(DESKTOP)
    operator_logs_in(console, daphne_server)
    widget = visitor_opens_the_chat(new_page(), daphne_server)
    widget.locator("#baton-headset").click()
    console.locator("#list-pending li").click()
    console.locator("#accept").click()

    # then: three columns: the lists, the conversation, the visitor's panel
    expect(console.locator("#reply-text")).to_be_visible()
    lists, detail, panel = (
        console.locator(selector).bounding_box()
        for selector in (".lists", "#detail", "#visitor-panel")
    )
    assert lists["x"] + lists["width"] <= detail["x"] + 1
    assert detail["x"] + detail["width"] <= panel["x"] + 1
    expect(console.locator("#back")).to_be_hidden()
    assert not console.evaluate(WIDER_THAN_THE_SCREEN)
