"""The operator's live inbox in a browser: every message of a request they may accept
or own reaches the list live (unread count, last-message preview, the visitor's name),
and opening a conversation reads it, also after a reload."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

from chats.enums import Messenger
from chats.models import Chat, Message
from chats.realtime import user_access_changed_publish
from chats.services import dialog_receive_client_message, dialog_start_or_resume
from distributor.models import Operator
from handoff.models import Request
from handoff.realtime import (
    CONSOLE_INBOX,
    CONSOLE_REQUEST,
    console_chat_group,
    inbox_entry,
    request_summary,
)
from handoff.services import request_accept, request_open
from tests.handoff.test_console_browser import operator_logs_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def in_another_thread(work):
    """Run a write as another process would: not on Playwright's thread, whose running
    event loop the after-commit publish (async_to_sync) refuses."""

    def run():
        try:
            return work()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def visitor_asks_for_a_human(chat: Chat, name: str) -> tuple[int, object]:
    dialog, _created = dialog_start_or_resume(
        chat=chat, messenger=Messenger.WEB, external_id=f"inbox-{name}", name=name
    )
    request = request_open(dialog=dialog, reason="script")
    return request.pk, dialog


def visitor_writes(dialog, text: str, number: int) -> None:
    in_another_thread(
        lambda: dialog_receive_client_message(
            dialog=dialog, text=text, client_msg_id=f"inbox-{number}"
        )
    )


def row(page, request_id: int):
    return page.locator(f'#list-pending li[data-request="{request_id}"]')


def test_unread_counts_and_previews_update_live_and_opening_reads(daphne_server, new_page):
    # given: two visitors waiting for a person, and the operator's console open
    call_command("load_demo")
    chat = Chat.objects.get(public_key="demo")
    ann_request, ann = in_another_thread(lambda: visitor_asks_for_a_human(chat, "Ann Inbox"))
    bob_request, bob = in_another_thread(lambda: visitor_asks_for_a_human(chat, "Bob Inbox"))
    page = new_page()
    operator_logs_in(page, daphne_server)
    expect(row(page, ann_request).locator(".client")).to_have_text("Ann Inbox")
    expect(row(page, bob_request).locator(".client")).to_have_text("Bob Inbox")
    expect(row(page, ann_request).locator(".unread")).to_have_count(0)
    expect(row(page, ann_request).locator(".waiting")).to_contain_text("waiting")
    # when: Ann writes twice
    visitor_writes(ann, "Where is my parcel?", 1)
    visitor_writes(ann, "It was due yesterday.", 2)
    # then: her row counts both and previews the last, live
    expect(row(page, ann_request).locator(".unread")).to_have_text("2")
    expect(row(page, ann_request).locator(".preview")).to_have_text("It was due yesterday.")
    expect(row(page, bob_request).locator(".unread")).to_have_count(0)
    # when: the operator opens Ann's conversation, and Bob and Ann write
    row(page, ann_request).click()
    expect(page.locator("#messages")).to_contain_text("It was due yesterday.")
    expect(row(page, ann_request).locator(".unread")).to_have_count(0)
    visitor_writes(bob, "Hello?", 3)
    visitor_writes(ann, "Order 42.", 4)
    # then: Bob's row counts his message; Ann's, open, shows hers once and counts none
    expect(row(page, bob_request).locator(".unread")).to_have_text("1")
    expect(row(page, bob_request).locator(".preview")).to_have_text("Hello?")
    expect(page.locator("#messages li.from-client .text")).to_have_text(
        ["Where is my parcel?", "It was due yesterday.", "Order 42."]
    )
    expect(row(page, ann_request).locator(".preview")).to_have_text("Order 42.")
    expect(row(page, ann_request).locator(".unread")).to_have_count(0)
    # when: the operator opens Bob's, then reloads the console on the list
    row(page, bob_request).click()
    expect(page.locator("#messages")).to_contain_text("Hello?")
    page.goto(f"{daphne_server.http_url}/console/")
    # then: what was read stays read
    expect(row(page, ann_request).locator(".preview")).to_have_text("Order 42.")
    expect(row(page, ann_request).locator(".unread")).to_have_count(0)
    expect(row(page, bob_request).locator(".unread")).to_have_count(0)


def published(group: str, event: dict) -> None:
    """Send an event through the real channel layer, as another process would."""
    in_another_thread(lambda: async_to_sync(get_channel_layer().group_send)(group, event))


def inbox_event(request_id: int, chat_id: int, message: dict) -> dict:
    return {
        "type": CONSOLE_INBOX,
        "request": request_id,
        "chat_id": chat_id,
        "dialog_id": 0,
        "message": message,
    }


def test_an_inbox_event_delivered_twice_is_counted_once(daphne_server, new_page):
    # given: Ann and Bob wait, and Ann has written once
    call_command("load_demo")
    chat = Chat.objects.get(public_key="demo")
    ann_request, ann = in_another_thread(lambda: visitor_asks_for_a_human(chat, "Ann Twice"))
    bob_request, bob = in_another_thread(lambda: visitor_asks_for_a_human(chat, "Bob Twice"))
    page = new_page()
    operator_logs_in(page, daphne_server)
    visitor_writes(ann, "Where is my parcel?", 11)
    expect(row(page, ann_request).locator(".unread")).to_have_text("1")
    # when: the channel layer delivers the event of Ann's message again (a retried
    # publish), then Bob writes (after it in the same group)
    message = ann.messages.order_by("sequence").last()
    published(console_chat_group(chat.pk), inbox_event(ann_request, chat.pk, inbox_entry(message)))
    visitor_writes(bob, "Hello?", 12)
    # then: Bob's message is shown, and Ann's still counts once
    expect(row(page, bob_request).locator(".unread")).to_have_text("1")
    expect(row(page, ann_request).locator(".unread")).to_have_text("1")
    expect(row(page, ann_request).locator(".preview")).to_have_text("Where is my parcel?")


def made_up_request(template: Request, request_id: int) -> dict:
    """A pending request's summary under another id: one this page has not listed."""
    summary = request_summary(Request.objects.get(pk=template.pk))
    summary.update(id=request_id, client=f"Visitor {request_id}")
    # a request nobody holds names who may take it (issue 11: its eligible managers)
    audience = list(Operator.objects.filter(chats=template.chat_id).values_list("pk", flat=True))
    return {"type": CONSOLE_REQUEST, "request": summary, "audience": audience}


def test_inbox_events_of_unlisted_requests_are_kept_bounded(daphne_server, new_page):
    # given: the operator's console, one waiting request to copy summaries from
    call_command("load_demo")
    chat = Chat.objects.get(public_key="demo")
    template_id, _dialog = in_another_thread(lambda: visitor_asks_for_a_human(chat, "Template"))
    template = Request.objects.get(pk=template_id)
    page = new_page()
    operator_logs_in(page, daphne_server)
    expect(row(page, template_id)).to_have_count(1)
    first = 10**6
    message = {"sequence": 1, "author_kind": "client", "preview": "early", "created_at": ""}
    group = console_chat_group(chat.pk)
    # when: messages of 51 requests not listed yet come before their requests
    for request_id in range(first, first + 51):
        published(group, inbox_event(request_id, chat.pk, message))
    # then: the oldest was let go, the latest is applied when its request arrives
    published(group, made_up_request(template, first))
    published(group, made_up_request(template, first + 50))
    expect(row(page, first + 50).locator(".unread")).to_have_text("1")
    expect(row(page, first)).to_have_count(1)
    expect(row(page, first).locator(".unread")).to_have_count(0)
    # when: a message of an unlisted request comes, then a fresh list (which counts
    # what was stored before it), then the request
    published(group, inbox_event(first + 60, chat.pk, message))
    operator = get_user_model().objects.get(username="operator")
    in_another_thread(lambda: user_access_changed_publish(user_id=operator.pk))
    expect(row(page, first)).to_have_count(0)  # the fresh list has no made-up request
    published(group, made_up_request(template, first + 60))
    # then: the message kept from before the list is not counted
    expect(row(page, first + 60)).to_have_count(1)
    expect(row(page, first + 60).locator(".unread")).to_have_count(0)


def test_an_older_message_neither_replaces_the_preview_nor_counts(daphne_server, new_page):
    # given: Ann waits (her request's notice is the row's last message)
    call_command("load_demo")
    chat = Chat.objects.get(public_key="demo")
    ann_request, ann = in_another_thread(lambda: visitor_asks_for_a_human(chat, "Ann Order"))
    request = Request.objects.get(pk=ann_request)
    page = new_page()
    operator_logs_in(page, daphne_server)
    last = ann.messages.order_by("sequence").last()
    expect(row(page, ann_request).locator(".unread")).to_have_count(0)
    group = console_chat_group(chat.pk)
    before = (request.created_at - timedelta(seconds=1)).isoformat()
    # when: a later notice, then the visitor's message that came before it (as the
    # typed "operator" once did: the request's notice was published first)
    notice = {
        "sequence": last.sequence + 2,
        "author_kind": "system",
        "preview": "Please wait",
        "created_at": request.created_at.isoformat(),
    }
    typed = {"sequence": last.sequence + 1, "author_kind": "client", "preview": "operator"}
    published(group, inbox_event(ann_request, chat.pk, notice))
    published(group, inbox_event(ann_request, chat.pk, {**typed, "created_at": before}))
    # and a visitor message written before the request opened, but after the notice's
    # sequence (no server sends one: the list counts none either)
    older = {
        "sequence": last.sequence + 3,
        "author_kind": "client",
        "preview": "before the request",
        "created_at": before,
    }
    published(group, inbox_event(ann_request, chat.pk, older))
    # then: the preview is the latest sequence's, and neither of the visitor's counts
    expect(row(page, ann_request).locator(".preview")).to_have_text("before the request")
    expect(row(page, ann_request).locator(".unread")).to_have_count(0)


def test_an_accepted_request_not_answered_yet_waits_the_same_live_reloaded_and_opened(
    daphne_server, new_page
):
    # given: Ann has waited five minutes and written while waiting; the operator's
    # console lists her request
    call_command("load_demo")
    chat = Chat.objects.get(public_key="demo")
    ann_request, ann = in_another_thread(lambda: visitor_asks_for_a_human(chat, "Ann Waits"))
    visitor_writes(ann, "Hello? Anyone?", 21)
    long_ago = timezone.now() - timedelta(seconds=330)
    Request.objects.filter(pk=ann_request).update(created_at=long_ago)
    Message.objects.filter(dialog=ann).update(created_at=long_ago)
    page = new_page()
    operator_logs_in(page, daphne_server)
    expect(row(page, ann_request).locator(".waiting")).to_have_text("waiting 5 min")
    # when: the operator accepts it (not answered yet)
    operator = Operator.objects.get(user__username="operator")
    in_another_thread(lambda: request_accept(request=ann_request, operator=operator))
    # then: she still waits since she asked, live, after a reload and once opened
    mine = page.locator(f'#list-mine li[data-request="{ann_request}"]')
    expect(mine.locator(".waiting")).to_have_text("waiting 5 min")
    page.reload()
    expect(mine.locator(".waiting")).to_have_text("waiting 5 min")
    mine.click()
    expect(page.locator("#messages")).to_contain_text("Hello? Anyone?")
    expect(mine.locator(".waiting")).to_have_text("waiting 5 min")
