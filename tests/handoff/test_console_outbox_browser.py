"""The console's outbox, tab title, notices and form answers in a real browser (issue 8,
items 13, 15, 21): a reply typed while Daphne restarts is stored once and delivered,
a refused reply is marked, the title counts requests pending at load, errors are
inline notices (never alert()), and form answers read as a list."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from chats.enums import AuthorKind
from chats.models import Message
from handoff.enums import RequestStatus
from handoff.models import Request
from tests.handoff.test_console_browser import (
    add_pre_handoff_form,
    demo_chat_with_handoff,
    operator_logs_in,
    visitor_opens_the_chat,
)
from tests.servers import DaphneServer, wait_until

REPLY = "Typed while the server restarted"
OFFLINE = "Reconnecting…"
# the restart takes a while on a busy machine, and the console's backoff grows meanwhile
RESTART_WAIT_MS = 90_000

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def restartable_daphne(django_db_setup, django_db_blocker, redis_url):
    """A Daphne of this test's own (the suite's one must stay up), on the test database."""
    from django.db import connection

    with django_db_blocker.unblock():
        database_name = connection.settings_dict["NAME"]
    server = DaphneServer(redis_url=redis_url, database_name=str(database_name)).start()
    yield server
    server.stop()


def operator_accepts_a_visitor(console, visitor, server):
    """The visitor asks for a human; the operator opens the request and accepts it.
    Returns the visitor's widget frame."""
    widget = visitor_opens_the_chat(visitor, server)
    widget.locator("#baton-headset").click()
    console.locator("#list-pending li").click()
    console.locator("#accept").click()
    expect(console.locator("#reply")).to_be_visible()
    return widget


def test_a_reply_typed_while_daphne_restarts_is_stored_once_and_delivered(
    restartable_daphne, new_page
):
    # given: the operator talks to a visitor
    demo_chat_with_handoff()
    console = new_page()
    alerts = operator_logs_in(console, restartable_daphne)
    visitor = new_page()
    widget = operator_accepts_a_visitor(console, visitor, restartable_daphne)

    # when: Daphne stops and the operator replies meanwhile
    restartable_daphne.stop()
    expect(console.locator("#connection")).to_have_text(OFFLINE)
    console.locator("#reply-text").fill(REPLY)
    console.locator("#reply-text").press("Enter")

    # then: the reply is shown as pending
    expect(console.locator("#messages [data-pending] .text")).to_have_text([REPLY])
    assert not Message.objects.filter(text=REPLY).exists()

    # when: Daphne is back on the same port
    restartable_daphne.start()

    # then: the reply is stored once and shown delivered, in the console and to the visitor
    delivered = console.locator("#messages .from-operator[data-sequence] .text")
    expect(delivered).to_have_text([REPLY], timeout=RESTART_WAIT_MS)
    expect(console.locator("#messages [data-pending]")).to_have_count(0)
    expect(widget.locator("#baton-messages .from-operator .text")).to_have_text(
        [REPLY], timeout=RESTART_WAIT_MS
    )
    assert Message.objects.filter(text=REPLY, author_kind=AuthorKind.OPERATOR).count() == 1
    assert console.evaluate("() => Object.keys(localStorage).map((k) => localStorage[k])") == ["[]"]
    assert alerts == []


def test_a_refused_reply_leaves_the_outbox_and_is_marked(daphne_server, new_page):
    # given
    demo_chat_with_handoff()
    console = new_page()
    alerts = operator_logs_in(console, daphne_server)
    operator_accepts_a_visitor(console, new_page(), daphne_server)

    # when: the operator sends a reply the server refuses (a lone surrogate), then a good one
    console.locator("#reply").evaluate(
        """(form) => {
          form.querySelector("#reply-text").value = "a\\ud800b";
          form.requestSubmit();
        }"""
    )
    refused = console.locator("#messages .failed[data-refused]")
    expect(refused).to_have_count(1)
    console.locator("#reply-text").fill(REPLY)
    console.locator("#reply-text").press("Enter")

    # then: the good one is delivered; the refused one says why and is not resent
    expect(console.locator("#messages .from-operator[data-sequence] .text")).to_have_text([REPLY])
    expect(refused.locator(".meta")).to_have_text(re.compile(r"^Not sent: \S"))
    assert console.evaluate("() => Object.keys(localStorage).map((k) => localStorage[k])") == ["[]"]
    assert list(
        Message.objects.filter(author_kind=AuthorKind.OPERATOR).values_list("text", flat=True)
    ) == [REPLY]
    assert alerts == []
    expect(console.locator("#notices .notice")).to_have_count(0)


def test_the_tab_title_counts_requests_already_pending_at_load(daphne_server, new_page):
    # given: a visitor waits for a human before the operator opens the console
    demo_chat_with_handoff()
    widget = visitor_opens_the_chat(new_page(), daphne_server)
    widget.locator("#baton-headset").click()
    wait_until(lambda: Request.objects.filter(status=RequestStatus.PENDING).exists())

    # when
    console = new_page()
    operator_logs_in(console, daphne_server)

    # then: the title counts it, and stops counting it once it is accepted
    expect(console.locator("#count-pending")).to_have_text("1")
    expect(console).to_have_title(re.compile(r"^\(1\) "))
    console.locator("#list-pending li").click()
    console.locator("#accept").click()
    expect(console.locator("#list-mine li")).to_have_count(1)
    expect(console).to_have_title(re.compile(r"^[^(]"))


def test_an_error_is_an_inline_notice_the_operator_dismisses(daphne_server, new_page):
    # given: the console shows a request that was closed behind its back
    demo_chat_with_handoff()
    console = new_page()
    alerts = operator_logs_in(console, daphne_server)
    widget = visitor_opens_the_chat(new_page(), daphne_server)
    widget.locator("#baton-headset").click()
    console.locator("#list-pending li").click()
    expect(console.locator("#accept")).to_be_visible()
    Request.objects.update(status=RequestStatus.CLOSED)

    # when: the operator accepts it
    console.locator("#accept").click()

    # then: the refusal is a notice on the page, not a blocking dialog
    notice = console.locator("#notices .notice")
    expect(notice).to_have_count(1)
    expect(notice.locator("span")).to_have_text(re.compile(r"\S"))
    assert alerts == []

    # when: the operator dismisses it
    notice.locator("button.dismiss").click()

    # then
    expect(console.locator("#notices .notice")).to_have_count(0)


def test_form_answers_read_as_a_list_in_the_console(daphne_server, new_page):
    # given: a visitor answered the pre-handoff form
    chat = demo_chat_with_handoff()
    name, topic = add_pre_handoff_form(chat)
    console = new_page()
    operator_logs_in(console, daphne_server)
    widget = visitor_opens_the_chat(new_page(), daphne_server)
    widget.locator("#baton-headset").click()
    form = widget.locator("form.form-form")
    form.locator(f"[name='{name.pk}']").fill("Ann Example")
    form.locator(f"[name='{topic.pk}']").select_option("Billing")
    form.locator("button[type=submit]").click()

    # when
    console.locator("#list-pending li").click()

    # then: the history shows the answers as label and value, not one line of text
    answers = console.locator("#messages .from-client .answers")
    expect(answers.locator("dt")).to_have_text(["Your name", "Topic"])
    expect(answers.locator("dd")).to_have_text(["Ann Example", "Billing"])
    expect(console.locator("#messages .from-client .text")).to_have_count(0)
