"""A visitor asks for a human in the widget and an operator answers in the console:
two browsers (their own cookies and storage) against Daphne in a child process.
Deadlines are swept by the test itself instead of Celery beat."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

from chats.models import Chat, Client
from distributor.models import Customer, Operator
from handoff.enums import Fallback, FormFieldKind
from handoff.models import Feedback, FormField, HandoffSettings, Request
from handoff.services import deadlines_sweep
from tests.servers import wait_until

GREETING = re.compile(r"^Hi! I am the demo shop's assistant")
XSS_PAYLOAD = '<img src=x onerror="window.__pwned=1">'
VISITOR_NAME = "Ann Example"
OPERATOR_REPLY = "Hello Ann, your parcel leaves today."
VISITOR_REPLY = "Great, thank you!"
OPERATOR_NAME = "Olga"
QUEUE_NOTICE = "You are number 1 in the queue"
LEAD_FORM_TEXT = "Our operators are busy. Leave your contact details and we will get back to you."
UNAVAILABLE_TEXT = "Sorry, no operator is available right now. Please try again later."

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# --- helpers ----------------------------------------------------------------------


def demo_chat_with_handoff(**handoff_settings) -> Chat:
    call_command("load_demo")
    chat = Chat.objects.get(public_key="demo")
    HandoffSettings.objects.update_or_create(chat=chat, defaults=handoff_settings)
    return chat


def add_pre_handoff_form(chat: Chat) -> tuple[FormField, FormField]:
    settings = HandoffSettings.objects.get(chat=chat)
    name = FormField.objects.create(
        settings=settings, position=0, label="Your name", kind=FormFieldKind.TEXT, required=True
    )
    topic = FormField.objects.create(
        settings=settings,
        position=1,
        label="Topic",
        kind=FormFieldKind.CHOICE,
        required=False,
        choices="Billing\nDelivery",
    )
    return name, topic


def visitor_opens_the_chat(page, server):
    """The demo host page with the chat open and greeted; returns the widget frame."""
    page.goto(f"{server.http_url}/demo/")
    page.locator("#baton-launcher").click()
    widget = page.frame_locator("#baton-frame")
    expect(widget.locator("#baton-messages .from-bot .text")).to_have_text([GREETING])
    return widget


def operator_logs_in(page, server) -> list[str]:
    """The demo operator in the console, its live socket open. Returns the alerts the
    console shows (its error frames), which Playwright would otherwise dismiss unseen."""
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    page.goto(f"{server.http_url}/console/login/")
    page.locator("input[name=username]").fill("operator")
    page.locator("input[name=password]").fill("baton-operator")
    page.locator("form.login-form button[type=submit]").click()
    expect(page).to_have_url(f"{server.http_url}/console/")
    expect(page.locator("#connection")).to_have_text("")
    return alerts


def sweep_in_another_thread() -> int:
    """Run the deadline sweep as Celery beat would. Not on this thread: Playwright's
    event loop runs here, and asgiref's async_to_sync (the channel-layer publish after
    commit) refuses to run on a thread with a running loop."""

    def sweep() -> int:
        try:
            return deadlines_sweep()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(sweep).result()


def let_the_accept_deadline_pass(chat: Chat) -> None:
    wait_until(lambda: Request.objects.filter(chat=chat).exists())
    request = Request.objects.get(chat=chat)
    wait_until(lambda: timezone.now() > request.accept_deadline)


def pwned(page, widget) -> list[str]:
    """`typeof window.__pwned` in the host page and in the widget frame."""
    return [
        page.evaluate("() => typeof window.__pwned"),
        widget.locator("body").evaluate("() => typeof window.__pwned"),
    ]


# --- tests ------------------------------------------------------------------------


def test_operator_accepts_talks_and_closes_and_the_visitor_rates(daphne_server, new_page):
    # given: the demo chat with a pre-handoff form, and the operator in the console
    chat = demo_chat_with_handoff()
    name_field, topic_field = add_pre_handoff_form(chat)
    console = new_page()
    alerts = operator_logs_in(console, daphne_server)
    visitor = new_page()
    widget = visitor_opens_the_chat(visitor, daphne_server)
    messages = widget.locator("#baton-messages")

    # when: the visitor asks for a human and answers the form
    widget.locator("#baton-headset").click()
    form = messages.locator("form.form-form")
    form.locator(f"[name='{name_field.pk}']").fill(VISITOR_NAME)
    form.locator(f"[name='{topic_field.pk}']").select_option("Delivery")
    form.locator("button[type=submit]").click()

    # then: the console shows the new request live, with a badge in the title
    pending = console.locator("#list-pending li")
    expect(pending).to_have_count(1)
    expect(console.locator("#count-pending")).to_have_text("1")
    expect(console).to_have_title(re.compile(r"^\(1\) "))

    # when: the operator opens it
    pending.click()

    # then: the form answers are shown
    expect(console.locator("#form-answers dt")).to_have_text(["Your name", "Topic"])
    expect(console.locator("#form-answers dd")).to_have_text([VISITOR_NAME, "Delivery"])

    # when: the operator accepts
    console.locator("#accept").click()

    # then: the visitor is connected to Olga
    expect(messages.get_by_text(f"Connected to {OPERATOR_NAME}", exact=True)).to_be_visible()
    expect(console.locator("#list-mine li")).to_have_count(1)
    expect(console.locator("#reply")).to_be_visible()

    # when: the operator replies
    console.locator("#reply-text").fill(OPERATOR_REPLY)
    console.locator("#reply-text").press("Enter")

    # then: the visitor reads it from Olga
    from_operator = messages.locator(".from-operator")
    expect(from_operator.locator(".author")).to_have_text([OPERATOR_NAME])
    expect(from_operator.locator(".text")).to_have_text([OPERATOR_REPLY])
    expect(console.locator("#messages .from-operator .text")).to_have_text([OPERATOR_REPLY])

    # when: the visitor replies
    widget.locator("#baton-input").fill(VISITOR_REPLY)
    widget.locator("#baton-input").press("Enter")

    # then: the operator sees it live
    expect(console.locator("#messages .from-client .text")).to_have_text([VISITOR_REPLY])

    # when: the operator presses Close and confirms
    console.locator("#close-request").click()
    console.locator("#close-confirm-yes").click()

    # then: the console turns read-only and the visitor is asked for a rating
    expect(console.locator("#readonly")).to_be_visible()
    expect(console.locator("#list-closed li")).to_have_count(1)
    expect(console.locator("#list-mine li")).to_have_count(0)
    expect(
        messages.get_by_text("The conversation with the operator has ended.", exact=True)
    ).to_be_visible()
    rating = messages.get_by_role("radio")
    expect(rating).to_have_count(5)  # stars on the 5-point scale (issue 13)

    # when: the visitor rates 5
    messages.get_by_role("radio", name="5 stars").click()

    # then: the feedback is stored against Olga
    expect(messages.locator(".rating")).to_have_count(0)
    feedback = wait_until(lambda: Feedback.objects.filter(score=5).first())
    assert feedback.operator_name == OPERATOR_NAME
    assert Feedback.objects.count() == 1
    assert alerts == []
    expect(console.locator("#notices .notice")).to_have_count(0)
    expect(messages.locator(".notice")).to_have_count(0)


@pytest.mark.parametrize(
    ("fallback", "notice"),
    [
        (Fallback.QUEUE, re.compile(re.escape(QUEUE_NOTICE))),
        (Fallback.FORM, re.compile(f"^{re.escape(LEAD_FORM_TEXT)}$")),
        (Fallback.MESSAGE, re.compile(f"^{re.escape(UNAVAILABLE_TEXT)}$")),
    ],
)
def test_when_nobody_accepts_in_time_the_visitor_gets_the_fallback(
    daphne_server, page, fallback, notice
):
    # given: a one-second accept timeout
    chat = demo_chat_with_handoff(accept_timeout_seconds=1, fallback=fallback)
    widget = visitor_opens_the_chat(page, daphne_server)
    messages = widget.locator("#baton-messages")

    # when: the visitor taps the headset, nobody accepts and the sweep runs
    widget.locator("#baton-headset").click()
    let_the_accept_deadline_pass(chat)
    acted = sweep_in_another_thread()

    # then
    assert acted == 1
    expect(messages.locator(".from-system .text").filter(has_text=notice)).to_have_count(1)


def test_visitor_leaves_a_phone_in_the_contact_form_when_nobody_accepts(daphne_server, page):
    # given: nobody accepted, and the contact form is shown
    chat = demo_chat_with_handoff(accept_timeout_seconds=1, fallback=Fallback.FORM)
    widget = visitor_opens_the_chat(page, daphne_server)
    messages = widget.locator("#baton-messages")
    widget.locator("#baton-headset").click()
    let_the_accept_deadline_pass(chat)
    sweep_in_another_thread()
    contact = messages.locator("form.contact-form")
    expect(contact).to_be_visible()

    # when
    contact.locator("[name=phone]").fill("+44 (20) 7946-0958")
    contact.locator("button[type=submit]").click()

    # then: the customer is stored with the normalised phone and bound to the visitor
    expect(
        messages.get_by_text("Thank you! We will get back to you soon.", exact=True)
    ).to_be_visible()
    expect(messages.locator("form.contact-form")).to_have_count(0)
    customer = wait_until(lambda: Customer.objects.filter(phone="+442079460958").first())
    assert Client.objects.get(chat=chat).customer_binding.customer_id == customer.pk


def test_html_from_visitor_operator_and_form_is_shown_as_text(daphne_server, new_page):
    # given: an operator whose display name, a form answer and a message are markup
    chat = demo_chat_with_handoff()
    name_field, _topic_field = add_pre_handoff_form(chat)
    Operator.objects.filter(user__username="operator").update(display_name=XSS_PAYLOAD)
    console = new_page()
    alerts = operator_logs_in(console, daphne_server)
    visitor = new_page()
    widget = visitor_opens_the_chat(visitor, daphne_server)
    messages = widget.locator("#baton-messages")

    # when: the visitor answers the form with markup, the operator accepts and replies,
    # and the visitor writes markup
    widget.locator("#baton-headset").click()
    form = messages.locator("form.form-form")
    form.locator(f"[name='{name_field.pk}']").fill(XSS_PAYLOAD)
    form.locator("button[type=submit]").click()
    console.locator("#list-pending li").click()
    expect(console.locator("#form-answers dd")).to_have_text([XSS_PAYLOAD])  # blank left out
    console.locator("#accept").click()
    expect(console.locator("#reply")).to_be_visible()
    console.locator("#reply-text").fill(OPERATOR_REPLY)
    console.locator("#reply-text").press("Enter")
    expect(messages.locator(".from-operator .text")).to_have_text([OPERATOR_REPLY])
    widget.locator("#baton-input").fill(XSS_PAYLOAD)
    widget.locator("#baton-input").press("Enter")

    # then: every piece is text in both pages, and nothing ran: the form's answers (in
    # the request's details, and as the visitor's form_answers message in both
    # transcripts), the visitor's message, the operator's name
    answers_message = ["Your name", XSS_PAYLOAD]  # the blank Topic is left out
    expect(console.locator("#form-answers dd")).to_have_text([XSS_PAYLOAD])
    expect(console.locator("#messages .from-client .answers > *")).to_have_text(answers_message)
    expect(messages.locator(".from-client[data-sequence] .answers > *")).to_have_text(
        answers_message
    )
    expect(console.locator("#messages .from-client .text")).to_have_text([XSS_PAYLOAD])
    expect(console.locator(".me")).to_contain_text(XSS_PAYLOAD)
    expect(console.locator("#list-mine li .sub")).to_contain_text(XSS_PAYLOAD)
    expect(messages.locator(".from-operator .author")).to_have_text([XSS_PAYLOAD])
    expect(messages.get_by_text(f"Connected to {XSS_PAYLOAD}", exact=True)).to_be_visible()
    expect(messages.locator(".from-client[data-sequence] .text")).to_have_text([XSS_PAYLOAD])
    expect(console.locator("img")).to_have_count(0)
    expect(messages.locator("img:not(.avatar)")).to_have_count(0)
    assert console.evaluate("() => typeof window.__pwned") == "undefined"
    assert pwned(visitor, widget) == ["undefined", "undefined"]
    assert alerts == []
    expect(console.locator("#notices .notice")).to_have_count(0)


def test_reply_form_shows_only_once_the_operator_has_accepted(daphne_server, new_page):
    # given: the operator in the console, nothing picked yet
    demo_chat_with_handoff()
    console = new_page()
    operator_logs_in(console, daphne_server)
    assert console.locator("#detail").is_hidden()

    # when: a visitor asks for a human and the operator opens the request
    widget = visitor_opens_the_chat(new_page(), daphne_server)
    widget.locator("#baton-headset").click()
    console.locator("#list-pending li").click()
    expect(console.locator("#accept")).to_be_visible()

    # then: there is nothing to reply to before accepting
    assert console.locator("#reply").is_hidden()
