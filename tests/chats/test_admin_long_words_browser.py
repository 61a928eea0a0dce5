"""A word with no spaces (a long URL, a pasted token) in a message wraps in the admin's
dialog page: the messages table stays as wide as the window."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from chats.enums import Messenger
from chats.models import Chat
from chats.services import dialog_receive_client_message, dialog_start_or_resume
from handoff.management.commands.load_demo import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.browser_fixtures import *  # noqa: F403 - the shared browser fixtures
from tests.handoff.test_console_inbox_browser import in_another_thread

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_WORD = "Supercalifragilisticexpialidocious" * 8
SCREEN = {"width": 1300, "height": 800}


def visitor_writes_a_long_word(chat: Chat):
    dialog, _created = dialog_start_or_resume(
        chat=chat, messenger=Messenger.WEB, external_id="long-words", name="Ann"
    )
    dialog_receive_client_message(dialog=dialog, text=LONG_WORD, client_msg_id="long-1")
    return dialog


def test_a_long_word_in_a_message_wraps_in_the_dialog_page(daphne_server, page):
    # given: a dialog with a message that is one long word
    in_another_thread(lambda: call_command("load_demo"))
    chat = Chat.objects.get(public_key="demo")
    dialog = in_another_thread(lambda: visitor_writes_a_long_word(chat))
    page.set_viewport_size(SCREEN)
    base = daphne_server.http_url
    page.goto(f"{base}/admin/login/")
    page.locator("input[name=username]").fill(ADMIN_USERNAME)
    page.locator("input[name=password]").fill(ADMIN_PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page).to_have_url(f"{base}/admin/")

    # when: the admin opens the dialog
    page.goto(f"{base}/admin/chats/dialog/{dialog.pk}/change/")

    # then: the message is shown, and wraps: neither the page nor its table scrolls sideways
    text = page.locator("td.field-text", has_text=LONG_WORD)
    expect(text).to_have_count(1)
    assert page.evaluate("() => document.scrollingElement.scrollWidth") <= SCREEN["width"]
    table = page.locator("table", has=text)
    assert table.evaluate("(element) => element.scrollWidth <= element.clientWidth")
    box = text.bounding_box()
    assert box["x"] + box["width"] <= SCREEN["width"]
    scroller = text.evaluate(
        """(element) => {
            for (let node = element.parentElement; node; node = node.parentElement) {
                if (node.scrollWidth > node.clientWidth) return node.tagName + "." + node.className;
            }
            return null;
        }"""
    )
    assert scroller is None
