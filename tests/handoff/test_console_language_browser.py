"""The console in the operator's language, in a real browser: a request's status in
the lists and in the request's header is the translated label, not the raw value
("pending", "accepted"), and a document without a file name is called "document" in
the language. The console follows the operator's browser language (LocaleMiddleware,
Accept-Language), the widget the chat's; both are Russian here."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.utils.translation import gettext, override
from playwright.sync_api import expect

from chats.enums import AuthorKind
from chats.models import Chat, Dialog
from chats.services.messages import message_post
from handoff.enums import RequestStatus
from tests.browser_fixtures import WAIT_MS
from tests.handoff.test_console_browser import (
    demo_chat_with_handoff,
    operator_logs_in,
    visitor_opens_the_chat,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def russian_page(browser, _patient_expect):
    """A page in a browser whose language is Russian (its Accept-Language says ru)."""
    context = browser.new_context(locale="ru-RU")
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def russian(text: str) -> str:
    with override("ru"):
        translated = gettext(text)
    assert translated != text
    return translated


def client_sends_a_document_without_a_name(chat: Chat) -> None:
    """As a Telegram document with no file name arrives. Not on this thread:
    Playwright's loop runs here, and the publish after commit refuses it."""

    def post() -> None:
        try:
            message_post(
                dialog=Dialog.objects.get(chat=chat),
                author_kind=AuthorKind.CLIENT,
                attachments=[{"kind": "document", "file_name": "", "url": "/no-such-file/"}],
            )
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(post).result()


def test_a_russian_operator_sees_the_request_statuses_in_russian(
    daphne_server, russian_page, new_page
):
    # given: a Russian chat, and an operator whose browser speaks Russian in the console
    chat = demo_chat_with_handoff()
    Chat.objects.filter(pk=chat.pk).update(language="ru")
    console = russian_page
    operator_logs_in(console, daphne_server)
    expect(console.locator("html")).to_have_attribute("lang", "ru")
    pending = russian(RequestStatus.PENDING.label)
    accepted = russian(RequestStatus.ACCEPTED.label)

    # when: a visitor asks for a person
    widget = visitor_opens_the_chat(new_page(), daphne_server)
    widget.locator("#baton-headset").click()

    # then: the pending list says the status in Russian
    row = console.locator("#list-pending li .sub")
    expect(row).to_have_text(f"{chat.name} · {pending}")

    # when: the operator opens the request: its header says it in Russian too
    console.locator("#list-pending li").click()
    expect(console.locator("#detail-status")).to_have_text(pending)

    # when: the operator accepts it
    console.locator("#accept").click()

    # then: the header and the row in "Mine" say "accepted" in Russian
    expect(console.locator("#detail-status")).to_have_text(accepted)
    expect(console.locator("#list-mine li .sub")).to_contain_text(f"{chat.name} · {accepted}")

    # when: the client sends a document that has no file name
    client_sends_a_document_without_a_name(chat)

    # then: the console and the widget call it a document in Russian
    document = f"📎 {russian('document')}"
    expect(console.locator("#messages a.media.document")).to_have_text(document)
    expect(widget.locator("#baton-messages a.document")).to_have_text(document)
