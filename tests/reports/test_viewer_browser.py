"""The dialog viewer in a real browser: an analyst logs in, filters by messenger and
status and sees the count change, opens a dialog and copies its permanent link; the
link opened by another analyst without a grant for the chat is "not found"."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from chats.enums import AuthorKind, DialogStatus, Messenger
from chats.models import Message
from reports.access import ANALYST_GROUP
from reports.models import AnalystChatGrant
from tests.browser_fixtures import *  # noqa: F403 - the shared browser fixtures
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "operator-password"  # UserFactory's


def analyst(username: str, chats=()):
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get_or_create(name=ANALYST_GROUP)[0])
    for chat in chats:
        AnalystChatGrant.objects.create(user=user, chat=chat)
    return user


def shop_with_dialogs():
    chat = ChatFactory(name="Shop")
    started = datetime.datetime(2026, 3, 1, 10, tzinfo=datetime.UTC)
    wanted = DialogFactory(
        client__chat=chat,
        client__messenger=Messenger.TELEGRAM,
        client__name="Tg Closed",
        status=DialogStatus.CLOSED,
        started_at=started,
    )
    Message.objects.create(
        dialog=wanted, sequence=1, author_kind=AuthorKind.CLIENT, text="<b>where is it?</b>"
    )
    DialogFactory(client__chat=chat, client__messenger=Messenger.TELEGRAM)  # still open
    for _ in range(2):
        DialogFactory(
            client__chat=chat, client__messenger=Messenger.WEB, status=DialogStatus.CLOSED
        )
    return chat, wanted


def logs_in(page, base: str, username: str, then: str) -> None:
    page.goto(f"{base}{then}")
    expect(page).to_have_url(f"{base}/reports/login/?next={then}")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_an_analyst_filters_opens_a_dialog_and_copies_its_link(daphne_server, new_page):
    # given: a chat with four dialogs, granted to Ann only
    chat, wanted = shop_with_dialogs()
    analyst("ann", chats=[chat])
    analyst("bob")
    base = daphne_server.http_url
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)

    # when: Ann logs in and filters Telegram, closed
    logs_in(page, base, "ann", "/reports/dialogs/")
    expect(page.locator("#dialog-total")).to_have_text("4 dialogs")
    page.get_by_label("Telegram").check()
    page.get_by_label("Status").select_option("closed")
    page.get_by_role("button", name="Show").click()

    # then: one dialog is left, and the filters are in the address
    expect(page.locator("#dialog-total")).to_have_text("1 dialog")
    assert "messenger=telegram" in page.url and "status=closed" in page.url
    expect(page.locator("table.dialogs tbody tr")).to_have_count(1)
    expect(page.get_by_label("Telegram")).to_be_checked()

    # when: she opens it and copies its link
    page.locator("table.dialogs tbody a").first.click()
    permalink = f"{base}/reports/dialogs/{wanted.session_id}/"
    expect(page).to_have_url(permalink)
    expect(page.locator(".message .text")).to_have_text("<b>where is it?</b>")
    page.get_by_role("button", name="Copy link").click()

    # then: the clipboard holds the permanent link
    expect(page.locator("#copy-status")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == permalink

    # and: Bob, an analyst without this chat, gets "not found" for it
    other = new_page()
    logs_in(other, base, "bob", f"/reports/dialogs/{wanted.session_id}/")
    expect(other).to_have_url(permalink)
    response = other.goto(permalink)
    assert response.status == 404
    expect(other.locator("body")).not_to_contain_text("where is it")


def test_without_the_clipboard_the_link_is_selected_to_copy(daphne_server, new_page):
    # given: a browser that offers no clipboard API (an http page elsewhere, an old browser)
    chat, wanted = shop_with_dialogs()
    analyst("ann", chats=[chat])
    base = daphne_server.http_url
    page = new_page()
    page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    logs_in(page, base, "ann", f"/reports/dialogs/{wanted.session_id}/")

    # when: Ann clicks "copy link"
    page.get_by_role("button", name="Copy link").click()

    # then: the link's text is selected in its field, ready for Ctrl+C
    selected = page.evaluate(
        """() => {
            const input = document.getElementById("permalink");
            return document.activeElement === input
                ? input.value.slice(input.selectionStart, input.selectionEnd) : null;
        }"""
    )
    assert selected == f"{base}/reports/dialogs/{wanted.session_id}/"
    expect(page.locator("#copy-status")).not_to_be_empty()
