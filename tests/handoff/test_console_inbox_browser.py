"""The operator's live inbox in a browser: every message of a request they may accept
or own reaches the list live (unread count, last-message preview, the visitor's name),
and opening a conversation reads it, also after a reload."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from django.db import connections
from playwright.sync_api import expect

from chats.enums import Messenger
from chats.models import Chat
from chats.services import dialog_receive_client_message, dialog_start_or_resume
from handoff.services import request_open
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
