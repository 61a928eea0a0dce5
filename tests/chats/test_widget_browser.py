"""A visitor chats with the demo bot in a real browser: the demo host page embeds the
widget exactly as a customer's site would, and Daphne serves it from a child process."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from chats.enums import AuthorKind
from chats.models import Message, PageVisit
from tests.browser_fixtures import *  # noqa: F403 - the shared browser fixtures

GREETING = re.compile(r"^Hi! I am the demo shop's assistant")
DELIVERY_ANSWER = re.compile(r"^We deliver")
PRICES_ANSWER = re.compile(r"include VAT")
PRICE_QUESTION = "How much does it cost?"
XSS_PAYLOAD = '<img src=x onerror="window.__pwned=1">'

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_visitor_chats_with_the_bot_and_finds_the_history_after_a_reload(daphne_server, page):
    # given: the demo chat, and a visitor on the host page with the chat open
    call_command("load_demo")
    demo_url = f"{daphne_server.http_url}/demo/"
    page.goto(demo_url)
    page.locator("#baton-launcher").click()
    widget = page.frame_locator("#baton-frame")
    messages = widget.locator("#baton-messages")
    expect(messages.locator(".from-bot .text")).to_have_text([GREETING])

    # when: the visitor presses an FAQ button, then types a keyword question
    widget.get_by_role("button", name="Delivery", exact=True).click()
    expect(messages.locator(".from-bot .text")).to_have_text([GREETING, DELIVERY_ANSWER])
    widget.locator("#baton-input").fill(PRICE_QUESTION)
    widget.locator("#baton-input").press("Enter")
    expect(messages.locator(".from-bot .text")).to_have_text(
        [GREETING, DELIVERY_ANSWER, PRICES_ANSWER]
    )
    expect(messages.locator(".from-client .text")).to_have_text(["Delivery", PRICE_QUESTION])
    page.reload()

    # then: the chat reopens with the whole history, each message once
    expect(page.locator("#baton-frame")).to_be_visible()
    expect(messages.locator(".from-bot .text")).to_have_text(
        [GREETING, DELIVERY_ANSWER, PRICES_ANSWER]
    )
    expect(messages.locator(".from-client .text")).to_have_text(["Delivery", PRICE_QUESTION])
    expect(messages.locator(".from-bot")).to_have_count(3)
    expect(messages.locator(".from-client")).to_have_count(2)
    client_texts = Message.objects.filter(author_kind=AuthorKind.CLIENT).order_by("sequence")
    assert list(client_texts.values_list("text", flat=True)) == ["Delivery", PRICE_QUESTION]
    assert PageVisit.objects.filter(url=demo_url).exists()


def test_visitor_text_that_looks_like_html_is_shown_as_text(daphne_server, page):
    # given
    call_command("load_demo")
    page.goto(f"{daphne_server.http_url}/demo/")
    page.locator("#baton-launcher").click()
    widget = page.frame_locator("#baton-frame")
    messages = widget.locator("#baton-messages")
    expect(messages.locator(".from-bot .text")).to_have_text([GREETING])

    # when
    widget.locator("#baton-input").fill(XSS_PAYLOAD)
    widget.locator("#baton-input").press("Enter")

    # then: the stored message comes back as text and nothing ran
    stored = messages.locator(".from-client[data-sequence]")
    expect(stored.locator(".text")).to_have_text(XSS_PAYLOAD)
    expect(messages.locator(".from-client img")).to_have_count(0)
    assert messages.evaluate("() => typeof window.__pwned") == "undefined"
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert Message.objects.get(author_kind=AuthorKind.CLIENT).text == XSS_PAYLOAD


# Clicks the launcher in the very task that adds it, before the chat frame can load.
CLICK_LAUNCHER_AT_ONCE = """
new MutationObserver((changes, observer) => {
  const launcher = document.getElementById("baton-launcher");
  if (launcher) {
    observer.disconnect();
    launcher.click();
  }
}).observe(document, { childList: true, subtree: true });
"""


def test_visitor_who_opens_the_chat_before_it_has_loaded_is_greeted(daphne_server, page):
    # given
    call_command("load_demo")
    page.add_init_script(CLICK_LAUNCHER_AT_ONCE)

    # when
    page.goto(f"{daphne_server.http_url}/demo/")

    # then
    expect(page.locator("#baton-frame")).to_be_visible()
    messages = page.frame_locator("#baton-frame").locator("#baton-messages")
    expect(messages.locator(".from-bot .text")).to_have_text([GREETING])
