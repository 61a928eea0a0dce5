"""A word with no spaces (a long URL, a pasted token) in a visitor's message, name or
form answer wraps inside the console: the page stays as wide as the window, and the
Accept button and the header's Log out stay on screen."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from chats.enums import Messenger
from chats.models import Chat
from chats.services import dialog_receive_client_message, dialog_start_or_resume
from handoff.enums import FormFieldKind
from handoff.models import FormField, HandoffSettings
from handoff.services import request_open
from handoff.services.forms import handoff_form_submit
from tests.handoff.test_console_browser import operator_logs_in
from tests.handoff.test_console_inbox_browser import in_another_thread

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_WORD = "Supercalifragilisticexpialidocious" * 8
LONG_URL = "https://shop.example.com/track?parcel=" + "0123456789abcdef" * 20
LONG_NAME = "Ann" + "Longname" * 24  # a client name holds at most 200 characters
SCREEN = {"width": 1300, "height": 800}


def visitor_writes_long_words_and_answers_the_form(chat: Chat) -> int:
    """A visitor writes a long word, asks for a human and answers the form with a long
    URL: the pending request's id."""
    FormField.objects.create(
        settings=HandoffSettings.objects.get_or_create(chat=chat)[0],
        position=0,
        label="Order link",
        kind=FormFieldKind.TEXT,
        required=True,
    )
    field = FormField.objects.get(settings__chat=chat)
    dialog, _created = dialog_start_or_resume(
        chat=chat, messenger=Messenger.WEB, external_id="long-words", name=LONG_NAME
    )
    dialog_receive_client_message(dialog=dialog, text=LONG_WORD, client_msg_id="long-1")
    assert request_open(dialog=dialog, reason="script") is None  # the form is offered
    request = handoff_form_submit(dialog=dialog, answers={str(field.pk): LONG_URL})
    return request.pk


def inside_the_window(page, locator) -> bool:
    box = locator.bounding_box()
    width = page.evaluate("() => window.innerWidth")
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_long_words_wrap_and_keep_the_console_as_wide_as_the_window(daphne_server, page):
    # given: a request whose message, name and form answer are words with no spaces,
    # and the operator's console on a 1300 px wide screen
    in_another_thread(lambda: call_command("load_demo"))
    chat = Chat.objects.get(public_key="demo")
    request_id = in_another_thread(lambda: visitor_writes_long_words_and_answers_the_form(chat))
    page.set_viewport_size(SCREEN)
    operator_logs_in(page, daphne_server)
    row = page.locator(f'#list-pending li[data-request="{request_id}"]')
    expect(row.locator(".client")).to_have_text(LONG_NAME)

    # when: the operator opens it
    row.click()

    # then: everything is shown, and wraps within the window
    expect(page.locator("#messages .from-client").first).to_contain_text(LONG_WORD)
    expect(page.locator("#form-answers dd")).to_have_text([LONG_URL])
    expect(page.locator("#accept")).to_be_visible()
    scroll_width = page.evaluate("() => document.scrollingElement.scrollWidth")
    assert scroll_width <= SCREEN["width"]
    assert inside_the_window(page, page.locator("#accept"))
    assert inside_the_window(page, page.locator("#reject"))
    assert inside_the_window(page, page.locator("#logout"))
    assert inside_the_window(page, page.locator("#messages .from-client").first)
    assert inside_the_window(page, page.locator("#form-answers dd"))
    # the name wraps in its row too: the request list does not scroll sideways
    lists = page.locator("nav.lists")
    assert lists.evaluate("(element) => element.scrollWidth <= element.clientWidth")
