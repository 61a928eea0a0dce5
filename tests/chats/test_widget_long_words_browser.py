"""A word with no spaces (a long URL, a pasted token) that the visitor writes or gives as
a form answer wraps inside its bubble: the bubble stays within the widget's frame."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import *  # noqa: F403 - the shared browser fixtures
from tests.handoff.test_console_browser import (
    add_pre_handoff_form,
    demo_chat_with_handoff,
    visitor_opens_the_chat,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_WORD = "Supercalifragilisticexpialidocious" * 8
LONG_URL = "https://shop.example.com/track?parcel=" + "0123456789abcdef" * 20


def within(inner: dict, outer: dict) -> bool:
    return (
        inner["x"] >= outer["x"]
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"]
        and inner["width"] > 0
    )


def test_long_words_wrap_inside_the_bubble_within_the_frame(daphne_server, page):
    # given: a chat with a pre-handoff form, and a visitor with the widget open
    chat = demo_chat_with_handoff()
    name_field, _topic = add_pre_handoff_form(chat)
    widget = visitor_opens_the_chat(page, daphne_server)
    messages = widget.locator("#baton-messages")

    # when: the visitor writes a long word, asks for a human and answers with a long URL
    widget.locator("#baton-input").fill(LONG_WORD)
    widget.locator("#baton-input").press("Enter")
    expect(messages.locator(".from-client[data-sequence] .text")).to_have_text([LONG_WORD])
    widget.locator("#baton-headset").click()
    form = messages.locator("form.form-form")
    form.locator(f"[name='{name_field.pk}']").fill(LONG_URL)
    form.locator("button[type=submit]").click()
    answers = messages.locator(".from-client .answers dd")
    expect(answers.first).to_have_text(LONG_URL)

    # then: every bubble of the visitor is inside the frame, and the frame does not
    # scroll sideways
    frame = page.locator("#baton-frame").bounding_box()
    bubbles = messages.locator(".from-client .body")
    expect(bubbles).to_have_count(2)
    for index in range(2):
        assert within(bubbles.nth(index).bounding_box(), frame), index
    assert within(answers.first.bounding_box(), frame)
    assert messages.evaluate("(element) => element.scrollWidth <= element.clientWidth")
    document = widget.locator("html")
    assert document.evaluate("(element) => element.scrollWidth <= element.clientWidth")
