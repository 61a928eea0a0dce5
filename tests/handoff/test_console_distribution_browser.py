"""Presence and transfer in the console, as operators do it: Olga goes away with the
header's toggle (and stays away after a reload), then hands a visitor's conversation to
Ivan, who is online in his own browser. Three browsers against Daphne in a child process."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from chats.models import Chat
from distributor.models import Operator
from handoff.enums import RequestStatus
from handoff.models import Request, RequestEvent
from tests.handoff.test_console_browser import (
    demo_chat_with_handoff,
    operator_logs_in,
    visitor_opens_the_chat,
)
from tests.servers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IVAN_PASSWORD = "ivan-password"  # noqa: S105 - a test login


def second_operator(chat: Chat) -> Operator:
    user = get_user_model().objects.create_user("ivan", password=IVAN_PASSWORD)
    ivan = Operator.objects.create(user=user, display_name="Ivan")
    ivan.chats.add(chat)
    return ivan


def ivan_logs_in(page, server) -> None:
    page.goto(f"{server.http_url}/console/login/")
    page.locator("input[name=username]").fill("ivan")
    page.locator("input[name=password]").fill(IVAN_PASSWORD)
    page.locator("form.login-form button[type=submit]").click()
    expect(page).to_have_url(f"{server.http_url}/console/")
    expect(page.locator("#connection")).to_have_text("")


def presence_of(name: str) -> str:
    return Operator.objects.get(display_name=name).presence


def test_presence_toggle_and_a_transfer_between_two_operators(daphne_server, new_page):
    # given: the demo chat, Olga (the demo operator) and Ivan in their consoles
    chat = demo_chat_with_handoff()
    ivan = second_operator(chat)
    olga_page = new_page()
    alerts = operator_logs_in(olga_page, daphne_server)
    ivan_page = new_page()
    ivan_logs_in(ivan_page, daphne_server)

    # then: connecting made both online, and the toggle says so
    expect(olga_page.locator("#presence")).to_have_value("online")
    wait_until(lambda: presence_of("Olga") == "online" and presence_of("Ivan") == "online")

    # when: Olga goes away
    olga_page.locator("#presence").select_option("away")

    # then: stored, and still away after a reload (the page asks for it on connect)
    wait_until(lambda: presence_of("Olga") == "away")
    olga_page.reload()
    expect(olga_page.locator("#connection")).to_have_text("")
    expect(olga_page.locator("#presence")).to_have_value("away")
    assert presence_of("Olga") == "away"

    # when: a visitor asks for a person and Olga accepts
    visitor = new_page()
    widget = visitor_opens_the_chat(visitor, daphne_server)
    messages = widget.locator("#baton-messages")
    widget.locator("#baton-headset").click()
    olga_page.locator("#list-pending li").click()
    olga_page.locator("#accept").click()
    expect(messages.get_by_text("Connected to Olga", exact=True)).to_be_visible()
    expect(olga_page.locator("#transfer-open")).to_be_visible()

    # when: she opens Transfer
    olga_page.locator("#transfer-open").click()

    # then: Ivan is listed with his presence and load, and the bot
    target = olga_page.locator("#transfer-target")
    expect(target.locator("option")).to_have_text(["—", "Ivan · online · 0/5", "Back to the bot"])

    # when: she sends it without a reason, the page says what is missing
    target.select_option(str(ivan.pk))
    olga_page.locator("#transfer-send").click()
    expect(olga_page.locator("#transfer-error")).to_have_text("Write why you transfer it.")
    assert Request.objects.get(chat=chat).operator.display_name == "Olga"

    # when: with a reason
    olga_page.locator("#transfer-reason").fill("a billing question")
    olga_page.locator("#transfer-send").click()

    # then: Ivan's console gets the conversation (and who gave it, and why)
    expect(ivan_page.locator("#notices .notice")).to_contain_text(
        "Olga transferred a conversation to you: a billing question"
    )
    expect(ivan_page.locator("#list-mine li")).to_have_count(1)
    ivan_page.locator("#list-mine li").click()
    expect(ivan_page.locator("#reply")).to_be_visible()
    expect(ivan_page.locator("#messages .from-system .text").last).to_have_text("Connected to Ivan")

    # Olga's conversation is read-only with a note
    expect(olga_page.locator("#transferred-note")).to_have_text(
        "You transferred this conversation to Ivan."
    )
    expect(olga_page.locator("#reply")).to_be_hidden()
    expect(olga_page.locator("#transfer-open")).to_be_hidden()
    expect(olga_page.locator("#list-mine li")).to_have_count(0)

    # the visitor is told, and Ivan's reply reaches them
    expect(messages.get_by_text("Connected to Ivan", exact=True)).to_be_visible()
    ivan_page.locator("#reply-text").fill("Ivan here, about your bill")
    ivan_page.locator("#reply-text").press("Enter")
    expect(messages.locator(".from-operator .author").last).to_have_text("Ivan")

    request = Request.objects.get(chat=chat)
    assert (request.status, request.operator_id) == (RequestStatus.ACCEPTED, ivan.pk)
    assert RequestEvent.objects.filter(request=request).last().note == (
        "transferred to Ivan: a billing question"
    )
    assert alerts == []
    expect(olga_page).to_have_title(re.compile(r"^(?!\()"))
