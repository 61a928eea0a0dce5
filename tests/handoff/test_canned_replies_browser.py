"""Canned replies in the console (issue 13, point 2): "/" in the reply box opens the
chat's replies, filtered as typed, chosen with the keyboard, inserted with the
variables filled in; another chat's replies are never offered."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pprint import pformat

import pytest
from django.db import connections
from playwright.sync_api import expect

from chats.models import Chat
from handoff.models import CannedReply
from tests.a11y import axe_violations
from tests.browser_fixtures import screenshot_keep, screenshot_sizes
from tests.chats.factories import ChatFactory
from tests.handoff.test_console_browser import (
    add_pre_handoff_form,
    demo_chat_with_handoff,
    operator_logs_in,
    visitor_opens_the_chat,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VISITOR_NAME = "Ann Example"


def replies_of(chat: Chat) -> None:
    CannedReply.objects.create(
        chat=chat,
        shortcut="thanks",
        title="Thank the visitor",
        text="Thank you, {visitor_name}! {operator_name} of {chat_name}",
    )
    CannedReply.objects.create(
        chat=chat, shortcut="hours", title="Opening hours", text="We work 9 to 18."
    )
    # a chat the operator also serves, whose replies must not show in this one's request
    other = ChatFactory(name="Another shop")
    olga = chat.operators.first()

    def serve_it_too() -> None:
        # (on another thread: the access change publishes after commit, which
        # asgiref refuses on this thread, where Playwright's loop runs)
        try:
            olga.chats.add(other)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(serve_it_too).result()
    CannedReply.objects.create(
        chat=other, shortcut="tracking", title="Another shop's tracking", text="Not here"
    )


def test_slash_opens_the_chats_replies_and_inserts_one_with_its_variables(daphne_server, new_page):
    # given: Ann waits in the demo chat (named by the form); Olga has accepted her
    chat = demo_chat_with_handoff()
    name_field, _topic = add_pre_handoff_form(chat)
    replies_of(chat)
    console = new_page()
    operator_logs_in(console, daphne_server)
    visitor = new_page()
    widget = visitor_opens_the_chat(visitor, daphne_server)
    widget.locator("#baton-headset").click()
    form = widget.locator("#baton-messages form.form-form")
    form.locator(f"[name='{name_field.pk}']").fill(VISITOR_NAME)
    form.locator("button[type=submit]").click()
    console.locator("#list-pending li").click()
    console.locator("#accept").click()
    box = console.locator("#reply-text")
    expect(box).to_be_visible()
    # the visitor as the console names her (client_name when the list carries it)
    shown_name = console.locator("#detail-client").text_content()
    assert shown_name
    filled = f"Thank you, {shown_name}! Olga of Demo shop assistant"

    # when: Olga types "/"
    box.fill("")
    box.press("/")

    # then: this chat's replies are listed (by shortcut), not the other chat's
    listbox = console.get_by_role("listbox", name="Canned replies")
    options = listbox.get_by_role("option")
    expect(options).to_have_text(["/hours Opening hours", "/thanks Thank the visitor"])
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    found = {}
    for size_name, size in screenshot_sizes.items():
        console.set_viewport_size(size)
        if violations := axe_violations(console):
            found[size_name] = violations
        screenshot_keep(console, f"canned-replies-{size_name}")
    console.set_viewport_size(screenshot_sizes["desktop"])
    assert found == {}, pformat(found, width=100)

    # when: she narrows it to "t", moves with ↓ and ↑, and inserts with Enter
    box.press("t")
    expect(options).to_have_text(["/thanks Thank the visitor"])
    box.press("ArrowDown")
    box.press("ArrowUp")
    box.press("Enter")

    # then: the text is in the box with the variables filled in, and nothing was sent
    expect(box).to_have_value(filled)
    expect(listbox).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(console.locator("#messages .from-operator")).to_have_count(0)

    # when: she sends it
    box.press("Enter")

    # then: the visitor reads it
    expect(widget.locator("#baton-messages .from-operator .text")).to_have_text([filled])

    # when: "/" again, then Esc
    box.press("/")
    expect(options).to_have_count(2)
    box.press("Escape")

    # then: the list closes and the "/" stays as typed; Tab inserts like Enter
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("/")
    box.press("h")
    expect(options).to_have_text(["/hours Opening hours", "/thanks Thank the visitor"])
    box.press("Tab")
    expect(box).to_have_value("We work 9 to 18.")
    expect(box).to_be_focused()


def test_a_slash_inside_a_reply_opens_nothing(daphne_server, new_page):
    # given: an accepted request of a chat with canned replies
    chat = demo_chat_with_handoff()
    replies_of(chat)
    console = new_page()
    operator_logs_in(console, daphne_server)
    visitor = new_page()
    widget = visitor_opens_the_chat(visitor, daphne_server)
    widget.locator("#baton-headset").click()
    console.locator("#list-pending li").click()
    console.locator("#accept").click()
    box = console.locator("#reply-text")
    expect(box).to_be_visible()

    # when: "/" is typed after other text, or followed by a space
    box.press_sequentially("and/or")
    listbox = console.get_by_role("listbox")

    # then: no list; Enter sends the text as typed
    expect(listbox).to_be_hidden()
    box.fill("")
    box.press_sequentially("/ ")
    expect(listbox).to_be_hidden()
    box.fill("and/or")
    box.press("Enter")
    expect(widget.locator("#baton-messages .from-operator .text")).to_have_text(["and/or"])
