"""Closing from the console is a button with a confirmation (issue 13, point 5; it was a
checkbox that meant "close after sending"): Close asks first; Cancel or Esc changes
nothing; with a reply in the box the dialog says it is sent first, and the request
closes only once the server has the reply."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chats.enums import AuthorKind
from chats.models import Message
from handoff.enums import RequestStatus
from handoff.models import Request
from tests.browser_fixtures import screenshot_keep, screenshot_sizes
from tests.handoff.test_console_browser import demo_chat_with_handoff, operator_logs_in
from tests.handoff.test_console_outbox_browser import operator_accepts_a_visitor
from tests.servers import wait_until

GOODBYE = "Goodbye"
ENDED = "The conversation with the operator has ended."

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_close_with_a_reply_in_the_box_sends_it_first_then_closes(daphne_server, new_page):
    # given: the operator talks to a visitor and has typed a goodbye
    demo_chat_with_handoff()
    console = new_page()
    alerts = operator_logs_in(console, daphne_server)
    widget = operator_accepts_a_visitor(console, new_page(), daphne_server)
    console.locator("#reply-text").fill(GOODBYE)

    # when: the operator presses Close
    console.locator("#close-request").click()

    # then: a dialog asks, saying the reply goes first; nothing is closed yet
    dialog = console.get_by_role("dialog", name="Close this conversation?")
    expect(dialog).to_be_visible()
    expect(console.locator("#close-confirm-reply")).to_be_visible()
    expect(console.locator("#close-confirm-yes")).to_have_text("Send and close")
    expect(console.locator("#close-confirm-yes")).to_be_focused()
    for size, viewport in screenshot_sizes.items():
        console.set_viewport_size(viewport)
        screenshot_keep(console, f"console-close-confirm-{size}")
    assert Request.objects.get().status == RequestStatus.ACCEPTED

    # when: the operator confirms
    console.locator("#close-confirm-yes").click()

    # then: the visitor reads the goodbye, then that the conversation ended
    messages = widget.locator("#baton-messages")
    expect(messages.locator(".from-operator .text")).to_have_text([GOODBYE])
    expect(messages.get_by_text(ENDED, exact=True)).to_be_visible()
    # and: the request is closed by the operator, after the goodbye was stored
    request = wait_until(lambda: Request.objects.filter(status=RequestStatus.CLOSED).first())
    assert request.close_reason == "operator"
    goodbye = Message.objects.get(text=GOODBYE, author_kind=AuthorKind.OPERATOR)
    assert goodbye.sequence < Message.objects.get(text=ENDED).sequence
    # and: the console shows it read-only, without a Close button
    expect(console.locator("#readonly")).to_be_visible()
    expect(console.locator("#reply")).to_be_hidden()
    expect(console.locator("#close-request")).to_be_hidden()
    assert alerts == []
    expect(console.locator("#notices .notice")).to_have_count(0)


def test_cancel_and_escape_change_nothing_and_close_with_no_text_closes_at_once(
    daphne_server, new_page
):
    # given: the operator talks to a visitor
    demo_chat_with_handoff()
    console = new_page()
    operator_logs_in(console, daphne_server)
    widget = operator_accepts_a_visitor(console, new_page(), daphne_server)
    dialog = console.get_by_role("dialog", name="Close this conversation?")

    # when: the operator opens the dialog and cancels, then opens it and presses Esc
    console.locator("#close-request").click()
    console.locator("#close-cancel").click()
    expect(dialog).to_be_hidden()
    console.locator("#close-request").click()
    expect(dialog).to_be_visible()
    console.keyboard.press("Escape")

    # then: the request is still open and the operator can go on
    expect(dialog).to_be_hidden()
    console.locator("#reply-text").fill("Still here")
    console.locator("#reply-text").press("Enter")
    expect(console.locator("#messages .from-operator[data-sequence] .text")).to_have_text(
        ["Still here"]
    )
    assert Request.objects.get().status == RequestStatus.ACCEPTED

    # when: the operator closes with an empty box (the dialog's button reads "Close")
    console.locator("#close-request").click()
    expect(console.locator("#close-confirm-reply")).to_be_hidden()
    expect(console.locator("#close-confirm-yes")).to_have_text("Close")
    console.locator("#close-confirm-yes").click()

    # then: the request closes at once, with nothing more sent
    expect(console.locator("#readonly")).to_be_visible()
    expect(widget.locator("#baton-messages").get_by_text(ENDED, exact=True)).to_be_visible()
    assert Request.objects.get().status == RequestStatus.CLOSED
    assert list(
        Message.objects.filter(author_kind=AuthorKind.OPERATOR).values_list("text", flat=True)
    ) == ["Still here"]
