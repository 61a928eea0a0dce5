"""The widget's outbox and its forms in a real browser (issue 8, items 4, 15, 20): a
message the server refuses leaves the outbox and is shown as refused, and forms
already answered are not drawn again after a reload."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from django.db import connections
from playwright.sync_api import expect

from chats.enums import AuthorKind
from chats.models import Dialog, Message
from chats.services import message_post
from handoff.enums import Fallback, FormFieldKind
from handoff.models import FormField, HandoffSettings, Request
from tests.browser_fixtures import *  # noqa: F403 - the shared browser fixtures
from tests.handoff.test_console_browser import (
    add_pre_handoff_form,
    demo_chat_with_handoff,
    let_the_accept_deadline_pass,
    sweep_in_another_thread,
)
from tests.servers import wait_until

GREETING = re.compile(r"^Hi! I am the demo shop's assistant")
OUTBOX_KEY = "baton.demo.outbox"
AFTER_THE_REFUSED_ONE = "Is this one delivered?"
ONE_MORE = "And this one too?"
THANKS = "Thank you! We will get back to you soon."

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def visitor_opens_the_chat(page, server):
    page.goto(f"{server.http_url}/demo/")
    page.locator("#baton-launcher").click()
    widget = page.frame_locator("#baton-frame")
    expect(widget.locator("#baton-messages .from-bot .text")).to_have_text([GREETING])
    return widget


def widget_sockets(page) -> list[str]:
    """The widget websockets the page opens from now on."""
    opened: list[str] = []
    page.on(
        "websocket",
        lambda socket: opened.append(socket.url) if "/ws/widget/" in socket.url else None,
    )
    return opened


def post_in_another_thread(**kwargs) -> Message:
    """chats.services.message_post as another process would call it: not on this thread,
    where Playwright's event loop makes the after-commit publish refuse to run."""

    def post() -> Message:
        try:
            return message_post(**kwargs)[0]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(post).result()


def stored_outbox(widget) -> str | None:
    return widget.locator("body").evaluate("(_body, key) => localStorage.getItem(key)", OUTBOX_KEY)


def client_texts() -> list[str]:
    return list(
        Message.objects.filter(author_kind=AuthorKind.CLIENT)
        .order_by("sequence")
        .values_list("text", flat=True)
    )


# --- item 4: a refused frame leaves the outbox ---------------------------------------


def test_a_refused_message_in_the_outbox_leaves_it_on_reconnect_and_the_next_is_delivered(
    daphne_server, page
):
    # given: the visitor's outbox holds a message the server refuses (a lone surrogate)
    # and a good one after it, as a widget that lost its connection leaves it
    call_command("load_demo")
    widget = visitor_opens_the_chat(page, daphne_server)
    outbox = [
        ["refused-1", {"type": "message", "client_msg_id": "refused-1", "text": "a\ud800b"}],
        [
            "good-2",
            {"type": "message", "client_msg_id": "good-2", "text": AFTER_THE_REFUSED_ONE},
        ],
    ]
    widget.locator("body").evaluate(
        "(_body, [key, value]) => localStorage.setItem(key, value)",
        [OUTBOX_KEY, json.dumps(outbox)],
    )
    sockets = widget_sockets(page)

    # when: the page is reloaded (the widget reconnects and resends its outbox)
    page.reload()

    # then: the good message is delivered, the refused one is marked with the reason
    messages = widget.locator("#baton-messages")
    expect(messages.locator(".from-client[data-sequence] .text")).to_have_text(
        [AFTER_THE_REFUSED_ONE]
    )
    refused = messages.locator(".from-client.failed[data-refused]")
    expect(refused).to_have_count(1)
    expect(refused.locator(".refusal")).to_have_text(re.compile(r"\S"))
    expect(messages.locator("[data-pending]")).to_have_count(0)
    assert stored_outbox(widget) == "[]"

    # and: the same socket goes on carrying messages (no reconnect loop)
    widget.locator("#baton-input").fill(ONE_MORE)
    widget.locator("#baton-input").press("Enter")
    expect(messages.locator(".from-client[data-sequence] .text")).to_have_text(
        [AFTER_THE_REFUSED_ONE, ONE_MORE]
    )
    assert len(sockets) == 1
    assert client_texts() == [AFTER_THE_REFUSED_ONE, ONE_MORE]


def test_a_message_refused_while_connected_is_marked_and_the_next_is_delivered(daphne_server, page):
    # given
    call_command("load_demo")
    widget = visitor_opens_the_chat(page, daphne_server)
    sockets = widget_sockets(page)
    messages = widget.locator("#baton-messages")

    # when: the visitor sends a text the server refuses, then a good one
    widget.locator("#baton-form").evaluate(
        """(form) => {
          form.querySelector("#baton-input").value = "a\\ud800b";
          form.requestSubmit();
        }"""
    )
    expect(messages.locator(".from-client.failed[data-refused]")).to_have_count(1)
    widget.locator("#baton-input").fill(AFTER_THE_REFUSED_ONE)
    widget.locator("#baton-input").press("Enter")

    # then
    expect(messages.locator(".from-client[data-sequence] .text")).to_have_text(
        [AFTER_THE_REFUSED_ONE]
    )
    expect(messages.locator(".from-client.failed .refusal")).to_have_text(re.compile(r"\S"))
    assert stored_outbox(widget) == "[]"
    assert sockets == []
    assert client_texts() == [AFTER_THE_REFUSED_ONE]


# --- items 15 and 20: answered forms, pre-filled contact form ---------------------------

HANDOFF_FORM = {
    "kind": "handoff_form",
    "fields": [
        {"id": 1, "label": "Your name", "kind": "text", "required": True, "choices": []},
        {"id": 2, "label": "Topic", "kind": "choice", "required": False, "choices": ["Billing"]},
    ],
}
ANSWERS = [{"label": "Your name", "value": "Ann Example"}, {"label": "Topic", "value": "Billing"}]


def answers_of(form: str, answers: list[dict]) -> dict:
    return {"kind": "form_answers", "of": form, "answers": answers}


def the_visitors_dialog() -> Dialog:
    return wait_until(lambda: Dialog.objects.order_by("-pk").first())


def test_an_answered_pre_handoff_form_is_read_only_after_a_reload(daphne_server, page):
    # given: a chat with a pre-handoff form, and a visitor who asked for a human
    chat = demo_chat_with_handoff()
    name, topic = add_pre_handoff_form(chat)
    widget = visitor_opens_the_chat(page, daphne_server)
    messages = widget.locator("#baton-messages")
    widget.locator("#baton-headset").click()

    # when: the visitor answers the form, then reloads the page
    form = messages.locator("form.form-form")
    form.locator(f"[name='{name.pk}']").fill("Ann Example")
    form.locator(f"[name='{topic.pk}']").select_option("Billing")
    form.locator("button[type=submit]").click()
    answers = messages.locator(".from-client .answers")
    expect(answers.locator("dd")).to_have_text(["Ann Example", "Billing"])
    expect(messages.locator("form")).to_have_count(0)
    page.reload()

    # then: no form to send again; the answers are a read-only list
    expect(answers.locator("dt")).to_have_text(["Your name", "Topic"])
    expect(answers.locator("dd")).to_have_text(["Ann Example", "Billing"])
    expect(messages.locator("form")).to_have_count(0)
    expect(messages.locator(".from-client .text")).to_have_count(0)
    assert Request.objects.filter(chat=chat).count() == 1


def test_a_form_is_settled_live_by_its_answers_and_a_later_one_stays_open(daphne_server, page):
    # given: a pre-handoff form on screen, answered, and then a new one (a second request)
    call_command("load_demo")
    widget = visitor_opens_the_chat(page, daphne_server)
    messages = widget.locator("#baton-messages")
    dialog = the_visitors_dialog()
    post_in_another_thread(
        dialog=dialog, author_kind=AuthorKind.SYSTEM, text="Tell us", attachments=[HANDOFF_FORM]
    )
    expect(messages.locator("form.form-form")).to_have_count(1)

    # when: the answers arrive live, then another form
    post_in_another_thread(
        dialog=dialog,
        author_kind=AuthorKind.CLIENT,
        text="Your name: Ann Example",
        attachments=[answers_of("handoff_form", ANSWERS[:1])],
        client_msg_id="form-answers-1",
    )
    expect(messages.locator("form.form-form")).to_have_count(0)
    post_in_another_thread(
        dialog=dialog, author_kind=AuthorKind.SYSTEM, text="Again", attachments=[HANDOFF_FORM]
    )

    # then: the new form can be answered, after a reload too
    expect(messages.locator("form.form-form")).to_have_count(1)
    page.reload()
    expect(messages.locator(".from-client .answers dd")).to_have_text(["Ann Example"])
    expect(messages.locator("form.form-form")).to_have_count(1)
    expect(messages.locator("form.form-form button[type=submit]")).to_be_visible()


def test_the_contact_form_is_pre_filled_from_the_form_and_read_only_once_answered(
    daphne_server, page
):
    # given: a pre-handoff form asking for a name and an e-mail, and nobody to accept
    chat = demo_chat_with_handoff(accept_timeout_seconds=1, fallback=Fallback.FORM)
    settings = HandoffSettings.objects.get(chat=chat)
    name = FormField.objects.create(
        settings=settings, position=0, label="Your name", kind=FormFieldKind.NAME, required=True
    )
    email = FormField.objects.create(
        settings=settings, position=1, label="E-mail", kind=FormFieldKind.EMAIL, required=False
    )
    widget = visitor_opens_the_chat(page, daphne_server)
    messages = widget.locator("#baton-messages")
    widget.locator("#baton-headset").click()
    form = messages.locator("form.form-form")
    form.locator(f"[name='{name.pk}']").fill("Ann Example")
    form.locator(f"[name='{email.pk}']").fill("ann@example.com")
    form.locator("button[type=submit]").click()
    expect(messages.locator("form")).to_have_count(0)

    # when: nobody accepts in time
    let_the_accept_deadline_pass(chat)
    sweep_in_another_thread()

    # then: the contact form holds what the visitor typed
    contact = messages.locator("form.contact-form")
    expect(contact.locator("[name=name]")).to_have_value("Ann Example")
    expect(contact.locator("[name=phone]")).to_have_value("")
    expect(contact.locator("[name=email]")).to_have_value("ann@example.com")

    # when: the visitor adds a phone, sends it and reloads
    contact.locator("[name=phone]").fill("+44 (20) 7946-0958")
    contact.locator("button[type=submit]").click()
    expect(messages.get_by_text(THANKS, exact=True)).to_be_visible()
    page.reload()

    # then: neither form is drawn again; both answers are read-only lists
    expect(messages.get_by_text(THANKS, exact=True)).to_be_visible()
    expect(messages.locator(".from-client .answers")).to_have_count(2)
    expect(messages.locator(".from-client .answers").last.locator("dd")).to_have_text(
        ["Ann Example", "+442079460958", "ann@example.com"]
    )
    expect(messages.locator("form")).to_have_count(0)
