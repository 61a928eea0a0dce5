"""The console's "Close the request" box means "close after sending" (issue 8, review
walk): ticking it closes nothing; Send then reads "Send and close" and sends the reply
first, closing once the server has it, or reads "Close" with no text and closes at once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chats.enums import AuthorKind
from chats.models import Message
from handoff.enums import RequestStatus
from handoff.models import Request
from tests.handoff.test_console_browser import demo_chat_with_handoff, operator_logs_in
from tests.handoff.test_console_outbox_browser import operator_accepts_a_visitor
from tests.servers import wait_until

GOODBYE = "Goodbye"
ENDED = "The conversation with the operator has ended."
SEND = "Reply as Olga"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ticking_close_waits_for_the_goodbye_then_closes(daphne_server, new_page):
    # given: the operator talks to a visitor
    demo_chat_with_handoff()
    console = new_page()
    alerts = operator_logs_in(console, daphne_server)
    widget = operator_accepts_a_visitor(console, new_page(), daphne_server)
    send = console.locator("#reply button[type=submit]")
    expect(send).to_have_text(SEND)

    # when: the operator ticks "Close the request"
    console.locator("#close").check()

    # then: nothing is closed yet; the reply box stays, and Send says it will close
    expect(send).to_have_text("Close")
    expect(console.locator("#reply")).to_be_visible()
    expect(console.locator("#readonly")).to_be_hidden()
    assert Request.objects.get().status == RequestStatus.ACCEPTED

    # when: the operator types a goodbye
    console.locator("#reply-text").fill(GOODBYE)

    # then
    expect(send).to_have_text("Send and close")
    assert Request.objects.get().status == RequestStatus.ACCEPTED

    # when: the operator sends it
    send.click()

    # then: the visitor reads the goodbye, then that the conversation ended
    messages = widget.locator("#baton-messages")
    expect(messages.locator(".from-operator .text")).to_have_text([GOODBYE])
    expect(messages.get_by_text(ENDED, exact=True)).to_be_visible()
    # and: the request is closed by the operator, after the goodbye was stored
    request = wait_until(lambda: Request.objects.filter(status=RequestStatus.CLOSED).first())
    assert request.close_reason == "operator"
    goodbye = Message.objects.get(text=GOODBYE, author_kind=AuthorKind.OPERATOR)
    ended = Message.objects.get(text=ENDED)
    assert goodbye.sequence < ended.sequence
    # and: the console shows it read-only
    expect(console.locator("#readonly")).to_be_visible()
    expect(console.locator("#reply")).to_be_hidden()
    expect(console.locator("#list-closed li")).to_have_count(1)
    expect(console.locator("#messages .from-operator[data-sequence] .text")).to_have_text([GOODBYE])
    assert alerts == []
    expect(console.locator("#notices .notice")).to_have_count(0)


def test_close_with_no_text_closes_at_once_and_unticking_changes_nothing(daphne_server, new_page):
    # given: the operator talks to a visitor
    demo_chat_with_handoff()
    console = new_page()
    alerts = operator_logs_in(console, daphne_server)
    widget = operator_accepts_a_visitor(console, new_page(), daphne_server)
    send = console.locator("#reply button[type=submit]")

    # when: the operator ticks the box and unticks it again
    console.locator("#close").check()
    expect(send).to_have_text("Close")
    console.locator("#close").uncheck()

    # then: Send is Send again, and the request is still open
    expect(send).to_have_text(SEND)
    console.locator("#reply-text").fill("Still here")
    send.click()
    expect(console.locator("#messages .from-operator[data-sequence] .text")).to_have_text(
        ["Still here"]
    )
    assert Request.objects.get().status == RequestStatus.ACCEPTED

    # when: the operator ticks it and sends with no text
    console.locator("#close").check()
    expect(send).to_have_text("Close")
    send.click()

    # then: the request closes at once, with nothing more sent
    expect(console.locator("#readonly")).to_be_visible()
    expect(widget.locator("#baton-messages").get_by_text(ENDED, exact=True)).to_be_visible()
    assert Request.objects.get().status == RequestStatus.CLOSED
    assert list(
        Message.objects.filter(author_kind=AuthorKind.OPERATOR).values_list("text", flat=True)
    ) == ["Still here"]
    assert alerts == []
    expect(console.locator("#notices .notice")).to_have_count(0)
