"""The conversation list in a browser (issue 13, point 1), with two people: a visitor in
the widget and the operator in the console. The row names the visitor (the form's name,
a Telegram profile, else "Visitor 4F2A"), shows the channel's icon with a label and the
SLA countdown (ok, amber, red: a class and the words), is sorted by urgency, and the
filters, the closed list's pages and the search work, by mouse and by keyboard."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chats.enums import Messenger
from chats.models import Chat
from chats.services import dialog_receive_client_message, dialog_start_or_resume
from distributor.models import Operator
from handoff.enums import FormFieldKind
from handoff.models import FormField, HandoffSettings, Request
from handoff.services import request_accept, request_close, request_open
from tests.browser_fixtures import screenshot_keep, screenshot_sizes
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.handoff.test_console_browser import (
    demo_chat_with_handoff,
    operator_logs_in,
    visitor_opens_the_chat,
)
from tests.handoff.test_console_inbox_browser import in_another_thread

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SLA_SECONDS = 3600
VISITOR_NAME = "Ann Example"
VISITOR_TEXT = "My parcel 77-ZX never came"
TELEGRAM_NAME = "Ivan Petrov"
CLOSED = 52


def the_desk(chat: Chat) -> dict:
    """Requests already there when the operator opens the console: a Telegram visitor
    overdue, a nameless web visitor with less than a quarter of the SLA left, a
    colleague's conversation, 52 closed ones, and another chat's visitor."""
    now = timezone.now()
    telegram, _created = dialog_start_or_resume(
        chat=chat, messenger=Messenger.TELEGRAM, external_id="7001", name=TELEGRAM_NAME
    )
    overdue = request_open(dialog=telegram, reason="api")
    nameless = request_open(dialog=DialogFactory(client__chat=chat), reason="api")
    Request.objects.filter(pk=overdue.pk).update(created_at=now - timedelta(hours=2))
    Request.objects.filter(pk=nameless.pk).update(created_at=now - timedelta(minutes=50))
    colleague = OperatorFactory(display_name="Ivan", chats=[chat])
    held = request_open(dialog=DialogFactory(client__chat=chat, client__name="Bob"), reason="api")
    request_accept(request=held, operator=colleague)
    for _number in range(CLOSED):
        request_close(
            request=request_open(dialog=DialogFactory(client__chat=chat), reason="api"),
            reason="client",
        )
    stranger = request_open(
        dialog=DialogFactory(client__chat=ChatFactory(), client__name="Ann Secret"), reason="api"
    )
    dialog_receive_client_message(dialog=stranger.dialog, text=VISITOR_TEXT, client_msg_id="s")
    return {"overdue": overdue, "nameless": nameless, "held": held}


def row(page, list_id: str, request_id: int):
    return page.locator(f'#{list_id} li[data-request="{request_id}"]')


def test_the_list_names_counts_down_sorts_filters_pages_and_searches(daphne_server, new_page):
    # given: the demo chat with an hour's first-response SLA and a name question
    chat = demo_chat_with_handoff(sla_first_response_seconds=SLA_SECONDS)
    desk = in_another_thread(lambda: the_desk(chat))
    name_field = FormField.objects.create(
        settings=HandoffSettings.objects.get(chat=chat),
        position=0,
        label="Your name",
        kind=FormFieldKind.NAME,
    )
    console = new_page()
    console.set_viewport_size(screenshot_sizes["desktop"])
    operator_logs_in(console, daphne_server)

    # when: a visitor asks for a person in the widget, gives their name and writes
    visitor = new_page()
    widget = visitor_opens_the_chat(visitor, daphne_server)
    widget.locator("#baton-headset").click()
    form = widget.locator("#baton-messages form.form-form")
    form.locator(f"[name='{name_field.pk}']").fill(VISITOR_NAME)
    form.locator("button[type=submit]").click()
    widget.locator("#baton-input").fill(VISITOR_TEXT)
    widget.locator("#baton-input").press("Enter")

    # then: Ann's row is live, named, with the web icon and time left on the SLA
    ann = console.locator("#list-pending li", has_text=VISITOR_NAME)
    expect(ann.locator(".client")).to_have_text(VISITOR_NAME)
    expect(ann.get_by_role("img", name="Web chat")).to_be_visible()
    expect(ann.locator(".sla")).to_have_class(re.compile(r"\bsla-ok\b"))
    expect(ann.locator(".sla")).to_have_text(re.compile(r"^\d+:\d\d left$"))
    expect(ann.locator(".preview")).to_have_text(VISITOR_TEXT)
    # the Telegram visitor by their profile, overdue (red, and said so)
    overdue = row(console, "list-pending", desk["overdue"].pk)
    expect(overdue.locator(".client")).to_have_text(TELEGRAM_NAME)
    expect(overdue.get_by_role("img", name="Telegram")).to_be_visible()
    expect(overdue.locator(".sla")).to_have_class(re.compile(r"\bsla-overdue\b"))
    expect(overdue.locator(".sla")).to_have_text(re.compile(r"^overdue 1:\d\d:\d\d$"))
    expect(overdue).to_have_class(re.compile(r"\brow-sla-overdue\b"))
    # the nameless one by a stable alias, amber with less than a quarter left
    nameless = row(console, "list-pending", desk["nameless"].pk)
    expect(nameless.locator(".client")).to_have_text(re.compile(r"^Visitor [0-9A-F]{4}$"))
    expect(nameless.locator(".sla")).to_have_class(re.compile(r"\bsla-warning\b"))
    # sorted by urgency: overdue, then least time left, then Ann
    expect(console.locator("#list-pending li .client")).to_have_text(
        [TELEGRAM_NAME, re.compile(r"^Visitor "), VISITOR_NAME]
    )
    # the countdown ticks in place: the same node's text changes, no row is rebuilt
    initial = console.evaluate(
        """() => { window.__sla = document.querySelector('#list-pending li:last-child .sla');
                   return window.__sla.textContent; }"""
    )
    console.wait_for_function("(initial) => window.__sla.textContent !== initial", arg=initial)
    assert console.evaluate("() => window.__sla.isConnected")
    screenshot_keep(console, "console-list-desktop")

    # when: the operator accepts Ann, then narrows the list with the filters
    ann.click()
    console.locator("#accept").click()
    expect(console.locator("#list-mine li .client")).to_have_text([VISITOR_NAME])
    mine = console.locator("[data-filter=mine]")
    mine.click()
    # then: only their conversations
    expect(mine).to_have_attribute("aria-pressed", "true")
    expect(console.locator("#list-mine")).to_be_visible()
    expect(console.locator("#list-pending")).to_be_hidden()
    expect(console.locator("#list-closed")).to_be_hidden()
    # by keyboard: unassigned (pending, nobody's)
    unassigned = console.locator("[data-filter=unassigned]")
    unassigned.focus()
    console.keyboard.press("Enter")
    expect(unassigned).to_have_attribute("aria-pressed", "true")
    expect(mine).to_have_attribute("aria-pressed", "false")
    expect(console.locator("#list-pending li")).to_have_count(2)
    expect(console.locator("#list-mine")).to_be_hidden()
    # all my chats: the colleague's conversation too, read-only
    console.locator("[data-filter=all]").click()
    held = row(console, "list-others", desk["held"].pk)
    expect(held.locator(".client")).to_have_text("Bob")
    expect(held.locator(".sub")).to_contain_text("Ivan")
    # (listed for the overview: clicking it opens nothing, and says nothing went wrong)
    expect(held).to_have_attribute("aria-disabled", "true")
    before = console.url
    held.click()
    expect(held).not_to_have_class(re.compile("selected"))
    assert console.url == before
    assert f"/requests/{desk['held'].pk}/" not in console.url
    expect(console.locator("#notices .notice")).to_have_count(0)
    expect(console.locator("#list-pending")).to_be_visible()
    expect(console.locator("#list-mine")).to_be_visible()
    # closed: one page, then the rest with "Load more"
    console.locator("[data-filter=closed]").click()
    expect(console.locator("#list-closed li")).to_have_count(50)
    expect(console.locator("#list-pending")).to_be_hidden()
    more = console.locator("#closed-more")
    more.click()
    expect(console.locator("#list-closed li")).to_have_count(CLOSED)
    expect(more).to_be_hidden()
    ids = console.locator("#list-closed li").evaluate_all(
        "(rows) => rows.map((row) => row.dataset.request)"
    )
    assert len(set(ids)) == CLOSED

    # when: they search by what the visitor wrote
    search = console.locator("#search")
    search.fill("parcel 77-zx")
    # then: Ann's conversation only (the other chat's visitor wrote the same)
    results = console.locator("#search-results li")
    expect(results.locator(".client")).to_have_text([VISITOR_NAME])
    expect(console.locator("#list-closed")).to_be_hidden()
    # by a Telegram profile's name
    search.fill("petrov")
    expect(results.locator(".client")).to_have_text([TELEGRAM_NAME])
    # nothing of another chat
    search.fill("Ann Secret")
    expect(console.locator("#search-empty")).to_be_visible()
    expect(results).to_have_count(0)
    # Escape clears the search and brings the list back
    search.press("Escape")
    expect(console.locator("#search-results-section")).to_be_hidden()
    expect(console.locator("#list-closed")).to_be_visible()

    # and the list at a phone's size
    console.locator("[data-filter=closed]").click()  # none pressed: everything
    console.set_viewport_size(screenshot_sizes["phone"])
    # (a phone shows the lists or a conversation: back to the lists)
    console.locator("#back").click()
    expect(console.locator("#list-pending li").first).to_be_visible()
    scroll_width = console.evaluate("() => document.scrollingElement.scrollWidth")
    assert scroll_width <= screenshot_sizes["phone"]["width"]
    screenshot_keep(console, "console-list-phone")
    console.set_viewport_size(screenshot_sizes["desktop"])
    search.fill("petrov")
    expect(results).to_have_count(1)
    screenshot_keep(console, "console-search-desktop")
    console.set_viewport_size(screenshot_sizes["phone"])
    screenshot_keep(console, "console-search-phone")


def test_a_long_name_stays_on_one_line_and_markup_is_text(daphne_server, page):
    # given: a visitor whose stored name is long and looks like markup
    chat = demo_chat_with_handoff()
    name = '<img src=x onerror="window.__pwned=1">' + "Bartholomew" * 12
    request_id = in_another_thread(
        lambda: (
            request_open(
                dialog=DialogFactory(client__chat=chat, client__name=name), reason="api"
            ).pk
        )
    )
    # when
    operator_logs_in(page, daphne_server)
    # then: the whole name as text, cut with an ellipsis on one line, nothing run
    client = row(page, "list-pending", request_id).locator(".client")
    expect(client).to_have_text(name)
    assert client.evaluate(
        "(node) => getComputedStyle(node).textOverflow === 'ellipsis' "
        "&& node.scrollWidth > node.clientWidth"
    )
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert Operator.objects.filter(user__username="operator").exists()
