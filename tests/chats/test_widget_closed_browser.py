"""A closed dialog in the widget, in a real browser (issue 8, item 19): the visitor can
end a chat with the bot too, sees that it ended, and a new message (or "Start a new
chat") opens a new dialog where that message is delivered once."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

from chats.enums import AuthorKind, DialogStatus
from chats.models import Dialog, Message
from chats.services import dialogs_close_idle
from tests.browser_fixtures import *  # noqa: F403 - the shared browser fixtures
from tests.config.test_content_security_policy_browser import PolicyWatch

GREETING = re.compile(r"^Hi! I am the demo shop's assistant")
PRICES_ANSWER = re.compile(r"include VAT")
PRICE_QUESTION = "How much does it cost?"
AFTER_THE_END = "One more thing: how much is delivery?"
ENDED_NOTICE = "The chat has ended."
OUTBOX_KEY = "baton.demo.outbox"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def visitor_opens_the_chat(page, server):
    page.goto(f"{server.http_url}/demo/")
    page.locator("#baton-launcher").click()
    widget = page.frame_locator("#baton-frame")
    expect(widget.locator("#baton-messages .from-bot .text")).to_have_text([GREETING])
    return widget


def visitor_sends(widget, text: str) -> None:
    widget.locator("#baton-input").fill(text)
    widget.locator("#baton-input").press("Enter")


def close_idle_dialogs_in_another_thread() -> int:
    """The beat task as Celery would run it, a day later. Not on this thread: Playwright's
    event loop makes the after-commit publish refuse to run here."""

    def sweep() -> int:
        try:
            later = timezone.now() + timedelta(hours=settings.BATON_DIALOG_IDLE_CLOSE_HOURS + 1)
            return dialogs_close_idle(now=later)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(sweep).result()


def test_the_visitor_ends_a_chat_with_the_bot_after_confirming_in_the_page(daphne_server, page):
    # given: a visitor talking to the bot (no request)
    call_command("load_demo")
    widget = visitor_opens_the_chat(page, daphne_server)
    messages = widget.locator("#baton-messages")
    visitor_sends(widget, PRICE_QUESTION)
    expect(messages.locator(".from-bot .text")).to_have_text([GREETING, PRICES_ANSWER])
    browser_dialogs: list[str] = []
    page.on("dialog", lambda dialog: (browser_dialogs.append(dialog.message), dialog.dismiss()))

    # when: the visitor presses "End chat" and changes their mind
    end = widget.locator("#baton-end")
    expect(end).to_be_visible()
    end.click()
    expect(widget.locator("#baton-end-confirm")).to_be_visible()
    widget.locator("#baton-end-no").click()

    # then: nothing ended
    expect(widget.locator("#baton-end-confirm")).to_be_hidden()
    assert Dialog.objects.get().status == DialogStatus.BOT

    # when: they press it again and confirm
    end.click()
    widget.locator("#baton-end-yes").click()

    # then: the widget says so and offers a new chat; the dialog is closed
    ended = widget.locator("#baton-ended")
    expect(ended).to_be_visible()
    expect(widget.locator("#baton-new-chat")).to_be_visible()
    expect(messages.locator(".from-system .text")).to_have_text([ENDED_NOTICE])
    expect(end).to_be_hidden()
    assert Dialog.objects.get().status == DialogStatus.CLOSED
    assert browser_dialogs == []


def test_a_message_after_the_end_starts_a_new_dialog_and_is_delivered_there_once(
    daphne_server, page
):
    # given: a visitor who chatted with the bot and ended the chat
    call_command("load_demo")
    watch = PolicyWatch(page)
    widget = visitor_opens_the_chat(page, daphne_server)
    messages = widget.locator("#baton-messages")
    visitor_sends(widget, PRICE_QUESTION)
    expect(messages.locator(".from-bot .text")).to_have_text([GREETING, PRICES_ANSWER])
    widget.locator("#baton-end").click()
    widget.locator("#baton-end-yes").click()
    expect(widget.locator("#baton-ended")).to_be_visible()
    first = Dialog.objects.get()

    # when: they type a message and send it
    visitor_sends(widget, PRICE_QUESTION)

    # then: a second dialog greets them and the bot answers the message there
    new_chat = messages.locator(".divider ~ .message")
    expect(new_chat.locator(".text")).to_have_text([GREETING, PRICE_QUESTION, PRICES_ANSWER])
    expect(messages.locator(".divider")).to_have_count(1)
    expect(widget.locator("#baton-ended")).to_be_hidden()
    expect(widget.locator("#baton-end")).to_be_visible()
    expect(messages.locator("[data-pending]")).to_have_count(0)
    expect(messages.locator(".failed")).to_have_count(0)
    # and: the old dialog's history stays above the divider
    old_chat = messages.locator(".message:not(.divider ~ .message)")
    expect(old_chat.locator(".text")).to_have_text(
        [GREETING, PRICE_QUESTION, PRICES_ANSWER, ENDED_NOTICE]
    )
    second = Dialog.objects.exclude(pk=first.pk).get()
    first.refresh_from_db()
    assert first.status == DialogStatus.CLOSED
    assert second.status == DialogStatus.BOT
    assert list(
        Message.objects.filter(dialog=second, author_kind=AuthorKind.CLIENT).values_list(
            "text", flat=True
        )
    ) == [PRICE_QUESTION]
    watch.assert_clean()
    assert (
        widget.locator("body").evaluate("(_body, key) => localStorage.getItem(key)", OUTBOX_KEY)
        == "[]"
    )


def test_a_chat_closed_for_idleness_shows_it_live_and_start_a_new_chat_opens_one(
    daphne_server, page
):
    # given: a visitor with the chat open
    call_command("load_demo")
    widget = visitor_opens_the_chat(page, daphne_server)
    messages = widget.locator("#baton-messages")

    # when: the idle sweep closes the dialog
    assert close_idle_dialogs_in_another_thread() == 1

    # then: the widget shows the ended state at once
    expect(widget.locator("#baton-ended")).to_be_visible()
    expect(widget.locator("#baton-end")).to_be_hidden()

    # when: the visitor starts a new chat
    widget.locator("#baton-new-chat").click()

    # then: a new dialog greets them below the old one
    expect(messages.locator(".divider ~ .message .text")).to_have_text([GREETING])
    expect(messages.locator(".from-bot .text")).to_have_text([GREETING, GREETING])
    expect(widget.locator("#baton-ended")).to_be_hidden()
    assert Dialog.objects.filter(status=DialogStatus.CLOSED).count() == 1
    assert Dialog.objects.filter(status=DialogStatus.BOT).count() == 1
    # and: the new dialog takes messages
    visitor_sends(widget, AFTER_THE_END)
    expect(messages.locator(".from-client[data-sequence] .text")).to_have_text([AFTER_THE_END])
    open_dialog = Dialog.objects.get(status=DialogStatus.BOT)
    assert Message.objects.filter(dialog=open_dialog, text=AFTER_THE_END).count() == 1
