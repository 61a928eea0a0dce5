"""Review of issue 13's merges: the console's list rows and the keyboard. Two branches
each gave the rows a keyboard (a11y.js rowsKeyboard on the lists, inbox.js rowDecorate on
every row): Enter opened a conversation twice (two watch frames), and every row was a Tab
stop again although a list is meant to be one (the selected row, else the first)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.handoff.test_console_browser import (
    demo_chat_with_handoff,
    operator_logs_in,
    visitor_opens_the_chat,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# records the frames the console sends on its socket
RECORD_FRAMES = """
(() => {
  window.__sent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    try { window.__sent.push(JSON.parse(data)); } catch { window.__sent.push(data); }
    return send.call(this, data);
  };
})();
"""


def sent_watches(page) -> list[int]:
    return page.evaluate(
        "() => window.__sent.filter((frame) => frame.type === 'watch').map((f) => f.request)"
    )


def test_a_list_is_one_tab_stop_and_enter_opens_a_row_once(daphne_server, new_page):
    # given: two visitors waiting for a person, in the operator's console
    demo_chat_with_handoff()
    console = new_page()
    console.add_init_script(RECORD_FRAMES)
    operator_logs_in(console, daphne_server)
    for _visitor in range(2):
        visitor_opens_the_chat(new_page(), daphne_server).locator("#baton-headset").click()
    rows = console.locator("#list-pending li[data-request]")
    expect(rows).to_have_count(2)

    # then: the waiting list is one Tab stop (its first row), not one per row
    assert console.evaluate(
        "() => [...document.querySelectorAll('#list-pending li[data-request]')]"
        ".map((row) => row.tabIndex)"
    ) == [0, -1]

    # when: the operator focuses the first row and presses Enter
    rows.first.focus()
    console.keyboard.press("Enter")

    # then: its conversation opens, asked for once
    expect(console.locator("#detail")).to_be_visible()
    opened = int(rows.first.get_attribute("data-request"))
    expect(console.locator("#detail-client")).not_to_have_text("")
    assert sent_watches(console) == [opened]


def test_on_a_phone_back_to_the_lists_counts_the_visitors_next_message_as_unread(
    daphne_server, new_page
):
    # given: the operator, on a phone, talks to a visitor
    from tests.browser_fixtures import PHONE
    from tests.handoff.test_console_outbox_browser import operator_accepts_a_visitor

    demo_chat_with_handoff()
    console = new_page()
    console.set_viewport_size(PHONE)
    operator_logs_in(console, daphne_server)
    widget = operator_accepts_a_visitor(console, new_page(), daphne_server)

    # when: the operator goes back to the lists, and the visitor writes
    console.locator("#back").click()
    expect(console.locator("#list-mine li")).to_have_count(1)
    widget.locator("#baton-input").fill("Are you still there?")
    widget.locator("#baton-input").press("Enter")

    # then: the operator's row shows the message and one unread
    row = console.locator("#list-mine li")
    expect(row.locator(".preview")).to_have_text("Are you still there?")
    expect(row.locator(".unread")).to_have_text("1")


def test_a_file_sent_while_another_conversation_is_open_is_not_drawn_in_it(
    daphne_server, new_page, settings, tmp_path
):
    # given: the operator holds two conversations, A and B, and has A open
    from chats.enums import AuthorKind
    from chats.models import Message
    from tests.chats import upload_files as files
    from tests.handoff.test_console_outbox_browser import operator_accepts_a_visitor
    from tests.servers import wait_until

    demo_chat_with_handoff()
    console = new_page()
    operator_logs_in(console, daphne_server)
    operator_accepts_a_visitor(console, new_page(), daphne_server)
    first = console.locator("#list-mine li").first.get_attribute("data-request")
    widget = visitor_opens_the_chat(new_page(), daphne_server)
    widget.locator("#baton-headset").click()
    console.locator("#list-pending li").click()
    console.locator("#accept").click()
    expect(console.locator("#list-mine li")).to_have_count(2)
    second = console.locator("#detail").evaluate("() => location.pathname")
    console.locator(f"#list-mine li[data-request='{first}']").click()
    expect(console).to_have_url(f"{daphne_server.http_url}/console/requests/{first}/")

    # when: a file is chosen in A, and B is opened while it uploads
    held = []
    console.route("**/uploads", lambda route: held.append(route))
    with console.expect_request("**/uploads"):
        console.locator("#reply-file").set_input_files(
            {"name": "offer.pdf", "mimeType": "application/pdf", "buffer": files.pdf()}
        )
    console.locator(f"#list-mine li[data-request='{second.split('/')[-2]}']").click()
    expect(console).to_have_url(f"{daphne_server.http_url}{second}")
    expect(console.locator("#detail-client")).not_to_have_text("")
    assert len(held) == 1
    held[0].continue_()

    # then: the reply with the file goes to A, and B's conversation shows no reply of it
    wait_until(
        lambda: Message.objects.filter(
            author_kind=AuthorKind.OPERATOR, attachments__0__kind="document"
        ).exists()
    )
    message = Message.objects.get(author_kind=AuthorKind.OPERATOR, attachments__0__kind="document")
    assert str(message.dialog.handoff_requests.get().pk) == first
    assert console.locator("#messages [data-pending]").count() == 0
    expect(console.locator("#messages .from-operator")).to_have_count(0)


def test_a_focused_search_result_keeps_the_focus_when_the_lists_are_redrawn(
    daphne_server, new_page
):
    # given: a visitor waiting who wrote a word, found by the operator's search
    demo_chat_with_handoff()
    console = new_page()
    operator_logs_in(console, daphne_server)
    widget = visitor_opens_the_chat(new_page(), daphne_server)
    widget.locator("#baton-headset").click()
    expect(console.locator("#list-pending li")).to_have_count(1)
    widget.locator("#baton-input").fill("pineapple")
    widget.locator("#baton-input").press("Enter")
    expect(console.locator("#list-pending li .preview")).to_have_text("pineapple")
    console.locator("#search").fill("pineapple")
    result = console.locator("#search-results li[data-request]")
    expect(result).to_have_count(1)
    found = result.get_attribute("data-request")
    result.focus()

    # when: the lists are drawn again (another visitor asks for a person)
    visitor_opens_the_chat(new_page(), daphne_server).locator("#baton-headset").click()
    expect(console.locator("#count-pending")).to_have_text("2")

    # then: the keyboard's focus is still on the result
    assert console.evaluate(
        "(id) => document.activeElement.matches(`#search-results li[data-request='${id}']`)",
        found,
    )
