"""The console's conversation view in two browsers: a visitor in the widget writes a
link and a `javascript:` text, the operator sees every message's time, a separator
for an older day, a working safe link (and the other text not as a link), the photo
and document the visitor sent earlier, the visitor's side panel, and writes a private
note the visitor never sees. Screenshots at desktop and phone sizes."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

from chats.enums import AuthorKind
from chats.models import Dialog, Message, PageVisit
from chats.services import message_post
from distributor.models import CustomerBinding, Operator
from handoff.models import ConversationNote, Request
from tests.browser_fixtures import screenshot_keep, screenshot_sizes
from tests.distributor.factories import CustomerFactory
from tests.handoff.test_console_browser import (
    demo_chat_with_handoff,
    operator_logs_in,
    visitor_opens_the_chat,
)
from tests.servers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SAFE_URL = "https://example.com/order?id=7"
VISITOR_TEXT = f"My order: {SAFE_URL} and javascript:alert(1) please"
NOTE = "Internal: refund approved by the shop manager"
REPLY = "Your refund is on its way."


def in_another_thread(function):
    """Run a service that publishes after commit off this thread (Playwright's loop
    runs here, and asgiref's async_to_sync refuses a thread with a running loop)."""

    def run():
        try:
            return function()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def a_visitor_with_history(dialog: Dialog, operator: Operator) -> Request:
    """Yesterday-and-before: the greeting moved two days back, a photo and a document
    the visitor sent then, a customer, a page visit and an earlier conversation."""

    def attachments():
        message_post(
            dialog=dialog,
            author_kind=AuthorKind.CLIENT,
            attachments=[{"kind": "photo", "url": "/static/widget/avatar-bot.svg"}],
            client_msg_id="old-photo",
        )
        message_post(
            dialog=dialog,
            author_kind=AuthorKind.CLIENT,
            attachments=[
                {
                    "kind": "document",
                    "url": "/static/console/console.css",
                    "file_name": "receipt.css",
                }
            ],
            client_msg_id="old-document",
        )

    in_another_thread(attachments)
    two_days_ago = timezone.now() - timedelta(days=2)
    Message.objects.filter(dialog=dialog).update(created_at=two_days_ago)
    CustomerBinding.objects.create(
        client=dialog.client,
        customer=CustomerFactory(name="Ann Example", email="ann@example.com", phone=None),
    )
    PageVisit.objects.create(
        dialog=dialog,
        url="https://shop.example/checkout",
        title="Checkout",
        visited_at=two_days_ago,
    )
    return Request.objects.create(
        dialog=dialog,
        chat=dialog.chat,
        status="closed",
        reason="headset",
        operator=operator,
        created_at=two_days_ago,
        accepted_at=two_days_ago,
        closed_at=two_days_ago,
        close_reason="operator",
    )


def test_the_operator_sees_times_days_safe_links_the_panel_and_writes_a_private_note(
    daphne_server, new_page
):
    # given: the demo chat, the operator in the console, a visitor with some history
    chat = demo_chat_with_handoff()
    console = new_page()
    script_errors: list[str] = []
    console.on("pageerror", lambda error: script_errors.append(str(error)))
    console.on(
        "console", lambda line: script_errors.append(line.text) if line.type == "error" else None
    )
    alerts = operator_logs_in(console, daphne_server)
    visitor = new_page()
    widget = visitor_opens_the_chat(visitor, daphne_server)
    dialog = Dialog.objects.get(chat=chat)
    olga = Operator.objects.get(user__username="operator")
    earlier = a_visitor_with_history(dialog, olga)

    # when: the visitor writes a link and a javascript: text, and asks for a person
    widget.locator("#baton-input").fill(VISITOR_TEXT)
    widget.locator("#baton-input").press("Enter")
    expect(widget.locator("#baton-messages .from-client .text").last).to_have_text(VISITOR_TEXT)
    widget.locator("#baton-headset").click()
    wait_until(lambda: Request.objects.filter(dialog=dialog, status="pending").exists())

    # and the operator opens and accepts it
    console.locator("#list-pending li").first.click()
    console.locator("#accept").click()
    expect(console.locator("#list-mine li")).to_have_count(1)
    messages = console.locator("#messages")

    # then: every stored message shows its time, exact on hover
    stored = messages.locator("li[data-sequence]")
    expect(stored.first).to_be_visible()
    count = stored.count()
    assert count >= 4
    expect(messages.locator("li[data-sequence] .meta time[datetime]")).to_have_count(count)
    first_time = messages.locator("li[data-sequence] time").first
    expect(first_time).to_have_attribute("title", re.compile(r"\d"))
    # a separator for the older day, and one for today
    days = messages.locator("li.day")
    expect(days).to_have_count(2)
    expect(days.last).to_have_text(re.compile(r"today", re.IGNORECASE))
    # the safe link works, the javascript: text is only text
    visitor_message = messages.locator("li.from-client", has_text="My order")
    link = visitor_message.locator("a")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", SAFE_URL)
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    expect(visitor_message.locator(".text")).to_have_text(VISITOR_TEXT)
    assert messages.locator("a[href^='javascript']").count() == 0
    # the photo is a bounded thumbnail opening the full image; the document downloads
    thumbnail = messages.locator("a.media.photo img.thumbnail")
    expect(thumbnail).to_be_visible()
    box = thumbnail.bounding_box()
    assert box is not None and box["width"] <= 240 and box["height"] <= 180
    expect(messages.locator("a.media.photo")).to_have_attribute(
        "href", f"{daphne_server.http_url}/static/widget/avatar-bot.svg"
    )
    document = messages.locator("a.media.document")
    expect(document).to_have_attribute("download", "receipt.css")
    expect(document).to_contain_text("receipt.css")

    # and the visitor's panel: customer, channel, pages, previous conversation
    panel = console.locator("#visitor-panel")
    expect(panel).to_be_visible()
    expect(console.locator("#panel-channel")).to_have_text("Web")
    expect(console.locator("#panel-customer dd")).to_have_text(["Ann Example", "ann@example.com"])
    expect(console.locator("#panel-customer a")).to_have_attribute("href", "mailto:ann@example.com")
    # (latest first: the demo page the widget reported, then the older checkout)
    pages = console.locator("#panel-pages li")
    expect(pages).to_have_count(2)
    expect(pages.first.locator("a")).to_have_attribute("href", f"{daphne_server.http_url}/demo/")
    expect(pages.last).to_contain_text("Checkout")
    expect(pages.last.locator("a")).to_have_attribute("href", "https://shop.example/checkout")
    previous = console.locator("#panel-previous li a")
    expect(previous).to_have_count(1)
    expect(previous).to_have_attribute("href", f"/console/requests/{earlier.pk}/")
    for size, viewport in screenshot_sizes.items():
        console.set_viewport_size(viewport)
        screenshot_keep(console, f"console-conversation-{size}")
    console.set_viewport_size(screenshot_sizes["desktop"])

    # when: the operator writes a private note
    console.locator("#note-text").fill(NOTE)
    console.locator("#note-send").click()

    # then: it is in the conversation, marked private, and stored once
    note = messages.locator("li.note")
    expect(note).to_have_count(1)
    expect(note.locator(".note-badge")).to_have_text("Private note")
    expect(note.locator(".text")).to_have_text(NOTE)
    expect(console.locator("#note-text")).to_have_value("")
    assert list(ConversationNote.objects.values_list("text", flat=True)) == [NOTE]

    # when: the operator replies after it
    console.locator("#reply-text").fill(REPLY)
    console.locator("#reply-text").press("Enter")

    # then: the visitor gets the reply, and never the note
    widget_messages = widget.locator("#baton-messages")
    expect(widget_messages.locator(".from-operator .text")).to_have_text([REPLY])
    expect(widget_messages).not_to_contain_text(NOTE)
    expect(widget_messages).not_to_contain_text("Private note")

    # and on a phone the panel folds away behind the Visitor button
    console.set_viewport_size(screenshot_sizes["phone"])
    expect(panel).to_be_hidden()
    console.locator("#panel-toggle").click()
    expect(panel).to_be_visible()
    expect(console.locator("#panel-toggle")).to_have_attribute("aria-expanded", "true")
    screenshot_keep(console, "console-conversation-panel-phone")
    console.locator("#panel-close").click()
    expect(panel).to_be_hidden()
    console.set_viewport_size(screenshot_sizes["desktop"])
    screenshot_keep(console, "console-conversation-note-desktop")
    screenshot_keep(visitor, "widget-after-private-note-desktop")
    assert alerts == []
    assert script_errors == []
    expect(console.locator("#notices .notice")).to_have_count(0)
