"""The console for a whole shift (issue 13, points 3-5): the keyboard (Enter sends,
Shift+Enter is a new line, Alt+Up/Down between conversations, Alt+A accepts, Alt+C asks
to close, ? lists the shortcuts), a Reject that can be undone for a few seconds, desktop
notifications, a tab title that counts unread messages from load, and a mute switch."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from chats.enums import AuthorKind
from chats.models import Message
from distributor.models import Operator
from handoff.enums import RequestStatus
from handoff.models import Request
from tests.browser_fixtures import screenshot_keep, screenshot_sizes
from tests.handoff.test_console_browser import (
    demo_chat_with_handoff,
    operator_logs_in,
    visitor_opens_the_chat,
)
from tests.handoff.test_console_outbox_browser import operator_accepts_a_visitor
from tests.servers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# records the desktop notifications the page makes (the browser shows none headless)
RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.__notifications = [];
  class Recorded extends Real {
    constructor(title, options) {
      super(title, options);
      const { body = "", tag = "" } = options || {};
      window.__notifications.push({ title, body, tag });
    }
  }
  window.Notification = Recorded;
})();
"""


def visitor_asks(page, server):
    widget = visitor_opens_the_chat(page, server)
    widget.locator("#baton-headset").click()
    return widget


def test_enter_sends_and_shift_enter_starts_a_new_line(daphne_server, new_page):
    # given: the operator talks to a visitor
    demo_chat_with_handoff()
    console = new_page()
    operator_logs_in(console, daphne_server)
    widget = operator_accepts_a_visitor(console, new_page(), daphne_server)
    reply = console.locator("#reply-text")

    # when: the operator types two lines with Shift+Enter between them, then Enter
    reply.click()
    console.keyboard.type("First line")
    console.keyboard.press("Shift+Enter")
    console.keyboard.type("second line")

    # then: nothing is sent yet, the box holds both lines
    expect(reply).to_have_value("First line\nsecond line")
    assert not Message.objects.filter(author_kind=AuthorKind.OPERATOR).exists()

    # when: Enter
    console.keyboard.press("Enter")

    # then: one message with both lines reaches the visitor, and the box is empty
    expect(widget.locator("#baton-messages .from-operator .text")).to_have_text(
        ["First line\nsecond line"]
    )
    expect(reply).to_have_value("")
    assert list(
        Message.objects.filter(author_kind=AuthorKind.OPERATOR).values_list("text", flat=True)
    ) == ["First line\nsecond line"]


def test_alt_arrows_move_between_conversations_alt_a_accepts_alt_c_asks(daphne_server, new_page):
    # given: two visitors ask for a human
    demo_chat_with_handoff()
    console = new_page()
    operator_logs_in(console, daphne_server)
    visitor_asks(new_page(), daphne_server)
    expect(console.locator("#list-pending li")).to_have_count(1)
    visitor_asks(new_page(), daphne_server)
    expect(console.locator("#list-pending li")).to_have_count(2)
    first, second = Request.objects.order_by("created_at")
    rows = console.locator(".lists li[data-request]")

    # when: Alt+Down with nothing selected, then Alt+Down again, then Alt+Up
    console.locator("body").press("Alt+ArrowDown")
    top = int(rows.nth(0).get_attribute("data-request"))
    expect(console).to_have_url(re.compile(rf"/console/requests/{top}/$"))
    below = int(rows.nth(1).get_attribute("data-request"))
    console.locator("body").press("Alt+ArrowDown")

    # then: the next row is open
    expect(console).to_have_url(re.compile(rf"/console/requests/{below}/$"))
    below_row = console.locator(f'.lists li[data-request="{below}"]')
    expect(below_row).to_have_class(re.compile("selected"))

    # when: Alt+Up
    console.locator("body").press("Alt+ArrowUp")
    expect(console).to_have_url(re.compile(rf"/console/requests/{top}/$"))

    # when: Alt+A
    console.locator("body").press("Alt+KeyA")

    # then: the open request is accepted by this operator
    expect(console.locator("#reply")).to_be_visible()
    accepted = wait_until(lambda: Request.objects.filter(status=RequestStatus.ACCEPTED).first())
    assert accepted.pk == top
    assert {first.pk, second.pk} == {top, below}

    # when: Alt+C, even from the reply box
    console.locator("#reply-text").press("Alt+KeyC")

    # then: the close dialog asks; Esc leaves the request open
    dialog = console.get_by_role("dialog", name="Close this conversation?")
    expect(dialog).to_be_visible()
    console.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert Request.objects.get(pk=top).status == RequestStatus.ACCEPTED


def test_question_mark_lists_the_shortcuts_and_typing_it_in_the_reply_does_not(
    daphne_server, new_page
):
    # given: the operator in the console, talking to a visitor
    demo_chat_with_handoff()
    console = new_page()
    operator_logs_in(console, daphne_server)
    operator_accepts_a_visitor(console, new_page(), daphne_server)
    help_dialog = console.get_by_role("dialog", name="Keyboard shortcuts")

    # when: "?" is typed in the reply box
    console.locator("#reply-text").type("Why?")

    # then: it is text, not a shortcut
    expect(console.locator("#reply-text")).to_have_value("Why?")
    expect(help_dialog).to_be_hidden()

    # when: "?" is pressed outside any field
    console.locator("#reply-text").fill("")
    console.locator("#detail-client").click()
    console.keyboard.press("?")

    # then: the list of shortcuts shows, and Esc closes it
    expect(help_dialog).to_be_visible()
    expect(help_dialog.locator("dd")).to_contain_text(
        ["Send the reply", "Previous / next conversation", "Accept the request"]
    )
    for size, viewport in screenshot_sizes.items():
        console.set_viewport_size(viewport)
        screenshot_keep(console, f"console-shortcuts-{size}")
    console.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    # when: the header's Shortcuts button
    console.locator("#shortcuts-open").click()
    expect(help_dialog).to_be_visible()
    help_dialog.get_by_role("button", name="Done").click()
    expect(help_dialog).to_be_hidden()


def test_reject_can_be_undone_and_otherwise_goes_through(daphne_server, new_page):
    # given: a visitor asks and the operator opens the request
    demo_chat_with_handoff()
    console = new_page()
    operator_logs_in(console, daphne_server)
    visitor_asks(new_page(), daphne_server)
    console.locator("#list-pending li").click()
    operator = Operator.objects.get(user__username="operator")

    # when: the operator rejects it
    console.locator("#reject").click()

    # then: it leaves the list, and a toast offers Undo
    expect(console.locator("#list-pending li")).to_have_count(0)
    undo = console.locator("#undo").get_by_role("button", name="Undo")
    expect(undo).to_be_visible()
    for size, viewport in screenshot_sizes.items():
        console.set_viewport_size(viewport)
        screenshot_keep(console, f"console-reject-undo-{size}")

    # when: Undo
    undo.click()

    # then: the request is back, open, and was never rejected
    expect(console.locator("#list-pending li")).to_have_count(1)
    expect(console.locator("#accept")).to_be_visible()
    request = Request.objects.get()
    assert not request.rejected_by.filter(pk=operator.pk).exists()

    # when: the operator rejects it and lets the toast go
    console.locator("#reject").click()
    expect(undo).to_be_hidden(timeout=15_000)

    # then: the reject reached the server
    wait_until(lambda: request.rejected_by.filter(pk=operator.pk).exists())
    expect(console.locator("#list-pending li")).to_have_count(0)


def test_desktop_notifications_tab_title_from_load_and_mute(daphne_server, new_page):
    # given: the operator allowed notifications and talks to a visitor
    demo_chat_with_handoff()
    console = new_page()
    console.context.grant_permissions(["notifications"])
    console.add_init_script(RECORD_NOTIFICATIONS)
    operator_logs_in(console, daphne_server)
    widget = operator_accepts_a_visitor(console, new_page(), daphne_server)
    expect(console.locator("#notifications")).to_be_hidden()

    # when: a second visitor asks for a human
    visitor_asks(new_page(), daphne_server)

    # then: a desktop notification says so
    wait_until(
        lambda: any(
            note["title"] == "New request" for note in console.evaluate("window.__notifications")
        )
    )

    # when: the operator looks at the second request and the first visitor writes
    console.locator("#list-pending li").click()
    widget.locator("#baton-input").fill("Are you there?")
    widget.locator("#baton-input").press("Enter")

    # then: the message is notified, since its conversation is not the one on screen
    wait_until(
        lambda: any(
            note["body"] == "Are you there?" and note["title"].startswith("New message from")
            for note in console.evaluate("window.__notifications")
        )
    )

    # when: the console is loaded again
    console.reload()

    # then: the title counts at load the waiting request and the unread message
    expect(console).to_have_title(re.compile(r"^\(2\) "))

    # when: the operator mutes the sound
    sound = console.locator("#sound")
    expect(sound).to_have_attribute("aria-pressed", "true")
    sound.click()

    # then: it says so, and stays muted after a reload
    expect(sound).to_have_text("Sound off")
    expect(sound).to_have_attribute("aria-pressed", "false")
    console.reload()
    expect(console.locator("#sound")).to_have_text("Sound off")
