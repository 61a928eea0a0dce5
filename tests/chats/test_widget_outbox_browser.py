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
from tests.browser_fixtures import *  # noqa: F403 - the shared browser fixtures
from tests.servers import wait_until

GREETING = re.compile(r"^Hi! I am the demo shop's assistant")
OUTBOX_KEY = "baton.demo.outbox"
AFTER_THE_REFUSED_ONE = "Is this one delivered?"
ONE_MORE = "And this one too?"

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
    # given: the visitor's dialog holds a pre-handoff form and, later, its answers
    call_command("load_demo")
    widget = visitor_opens_the_chat(page, daphne_server)
    dialog = the_visitors_dialog()
    post_in_another_thread(
        dialog=dialog, author_kind=AuthorKind.SYSTEM, text="Tell us", attachments=[HANDOFF_FORM]
    )
    post_in_another_thread(
        dialog=dialog,
        author_kind=AuthorKind.CLIENT,
        text="Your name: Ann Example\nTopic: Billing",
        attachments=[answers_of("handoff_form", ANSWERS)],
        client_msg_id="form-answers-1",
    )

    # when
    page.reload()

    # then: no form to send again; the answers are a read-only list
    messages = widget.locator("#baton-messages")
    answers = messages.locator(".from-client .answers")
    expect(answers.locator("dt")).to_have_text(["Your name", "Topic"])
    expect(answers.locator("dd")).to_have_text(["Ann Example", "Billing"])
    expect(messages.locator("form")).to_have_count(0)
    expect(messages.locator(".from-client .text")).to_have_count(0)


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


def test_an_answered_contact_form_is_read_only_after_a_reload_and_a_new_one_is_pre_filled(
    daphne_server, page
):
    # given: a contact form answered, and a second one carrying what the visitor typed
    call_command("load_demo")
    widget = visitor_opens_the_chat(page, daphne_server)
    dialog = the_visitors_dialog()
    post_in_another_thread(
        dialog=dialog,
        author_kind=AuthorKind.SYSTEM,
        text="Leave your details",
        attachments=[{"kind": "contact_form"}],
    )
    post_in_another_thread(
        dialog=dialog,
        author_kind=AuthorKind.CLIENT,
        text="Phone: +442079460958",
        attachments=[answers_of("contact_form", [{"label": "Phone", "value": "+442079460958"}])],
        client_msg_id="contact-answers-1",
    )
    post_in_another_thread(
        dialog=dialog,
        author_kind=AuthorKind.SYSTEM,
        text="Leave your details",
        attachments=[
            {
                "kind": "contact_form",
                "values": {"name": "Ann Example", "phone": "", "email": "ann@example.com"},
            }
        ],
    )

    # when
    page.reload()

    # then: the first form is settled, the second is pre-filled
    messages = widget.locator("#baton-messages")
    expect(messages.locator(".from-client .answers dd")).to_have_text(["+442079460958"])
    contact = messages.locator("form.contact-form")
    expect(contact).to_have_count(1)
    expect(contact.locator("[name=name]")).to_have_value("Ann Example")
    expect(contact.locator("[name=phone]")).to_have_value("")
    expect(contact.locator("[name=email]")).to_have_value("ann@example.com")
