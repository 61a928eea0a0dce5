"""Regression tests for the code review of issue 8 (Telegram)."""

from __future__ import annotations

import pytest

from chats.enums import HeadsetMode
from chats.models import Client, Dialog
from distributor.models import Customer, Operator
from handoff.enums import Fallback, FormFieldKind, RequestStatus
from handoff.models import DialogFormAnswers, FormField, HandoffSettings, Request
from telegram_bridge.models import (
    AlertState,
    FormProgress,
    OperatorAlert,
    TelegramUpdate,
    UpdateState,
)
from telegram_bridge.services.updates import MalformedUpdate, update_parse
from tests.telegram_bridge import test_operators as operators
from tests.telegram_bridge.test_clients import (
    CLIENT,
    buttons_of,
    chat_update,
    expire,
    form_filled_up_to_topic,
    handoff_form,
    handoff_update,
    message_id_of,
    press,
    say,
)

# --- review item 9: the update's lone-surrogate check is the shared iterative walk ------


def test_a_lone_surrogate_nested_deeper_than_the_recursion_limit_is_malformed():
    deep: object = "x\ud800"
    for _level in range(5_000):
        deep = [deep]
    payload = {"update_id": 1, "message": {"chat": {"id": 5}, "entities": deep}}
    with pytest.raises(MalformedUpdate, match="lone surrogate"):
        update_parse(payload)


def test_a_deep_update_without_a_lone_surrogate_is_parsed():
    deep: object = "fine"
    for _level in range(5_000):
        deep = [deep]
    payload = {"update_id": 1, "message": {"chat": {"id": 5}, "entities": deep}}
    assert update_parse(payload) == (1, 5)


# --- review item 6: a final refusal ends the form instead of asking forever -----------


def headset_hidden(world) -> None:
    chat_update(world, headset_mode=HeadsetMode.NEVER)


def answered_elsewhere(world) -> None:
    DialogFormAnswers.objects.create(dialog=Dialog.objects.get(), answers=[], contact={})


@pytest.mark.parametrize(
    ("meanwhile", "refusal"),
    [
        (headset_hidden, "This chat does not connect you to a person now."),
        (answered_elsewhere, "This form has been answered."),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_a_final_refusal_of_the_form_ends_it_and_tells_the_client_why(
    telegram_world, meanwhile, refusal
):
    world = telegram_world
    form_filled_up_to_topic(world)
    press(world, "f:2:1")
    assert world.texts_to(CLIENT)[-1] == "(4/4) Your phone?"
    meanwhile(world)
    # when the last answer submits the form
    press(world, "f:3:skip")
    # then
    assert not FormProgress.objects.exists()
    assert not Request.objects.exists()
    assert world.texts_to(CLIENT)[-1] == refusal
    # and the next message is a message, not another answer to the dead form
    told = len(world.texts_to(CLIENT))
    say(world, "Are you there?")
    assert not FormProgress.objects.exists()
    assert "(4/4) Your phone?" not in world.texts_to(CLIENT)[told:]


@pytest.mark.django_db(transaction=True)
def test_an_invalid_form_answer_still_asks_the_question_again(telegram_world):
    world = telegram_world
    handoff_form(world)
    say(world, "hello")
    say(world, "/human")
    say(world, "Ann Lee")
    # when
    say(world, "not-an-email")
    # then
    assert world.texts_to(CLIENT)[-1] == "Enter a valid e-mail address.\n(2/4) Your e-mail?"
    assert FormProgress.objects.get().position == 1


# --- review item 11: the contact form offers what the visitor typed before ---------------


def contact_form_after_typing(world, **typed) -> None:
    """A pre-handoff form asking name and phone (answered with `typed`), nobody accepts,
    and the chat's fallback offers the contact form."""
    settings = HandoffSettings.objects.get(chat_id=world.bot.chat_id)
    FormField.objects.create(
        settings=settings, position=0, label="Name?", kind=FormFieldKind.NAME, required=False
    )
    FormField.objects.create(
        settings=settings, position=1, label="Phone?", kind=FormFieldKind.PHONE, required=False
    )
    handoff_update(world, fallback=Fallback.FORM, accept_timeout_seconds=1)
    say(world, "hello")
    say(world, "/human")
    for label in ("name", "phone"):
        if typed.get(label):
            say(world, typed[label])
        else:
            press(world, f"f:{0 if label == 'name' else 1}:skip")
    expire(world, Request.objects.get())


HINT = "Tap what you wrote before to use it, or type another answer."


@pytest.mark.django_db(transaction=True)
def test_the_contact_form_offers_the_typed_name_and_phone_as_buttons(telegram_world):
    world = telegram_world
    contact_form_after_typing(world, name="Ann Lee", phone="+39 333 123 4567")
    question = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    assert question.params["text"] == f"(1/2) Your name?\n{HINT}"
    assert buttons_of(question) == [
        [{"text": "Use “Ann Lee”", "callback_data": "f:0:u0"}],
        [{"text": "Skip", "callback_data": "f:0:skip"}],
    ]
    # when the client taps what they typed, twice
    press(world, "f:0:u0", message_id=message_id_of(world, question))
    question = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    assert question.params["text"] == f"(2/2) Your phone number or e-mail?\n{HINT}"
    assert buttons_of(question) == [[{"text": "Use “+393331234567”", "callback_data": "f:1:u0"}]]
    press(world, "f:1:u0", message_id=message_id_of(world, question))
    # then
    customer = Customer.objects.get()
    assert (customer.name, customer.phone, customer.email) == ("Ann Lee", "+393331234567", None)
    assert Client.objects.get().customer_binding.customer == customer
    assert not FormProgress.objects.exists()
    assert world.texts_to(CLIENT)[-1] == "Thank you! We will get back to you soon."


@pytest.mark.django_db(transaction=True)
def test_typing_another_answer_overrides_the_offered_one(telegram_world):
    world = telegram_world
    contact_form_after_typing(world, name="Ann Lee", phone="+39 333 123 4567")
    # when
    say(world, "Ann Smith")
    say(world, "ann@example.com")
    # then
    customer = Client.objects.get().customer_binding.customer
    assert (customer.name, customer.email, customer.phone) == (
        "Ann Smith",
        "ann@example.com",
        None,
    )


@pytest.mark.django_db(transaction=True)
def test_nothing_typed_before_means_plain_questions(telegram_world):
    world = telegram_world
    contact_form_after_typing(world)
    question = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    assert question.params["text"] == "(1/2) Your name?"
    assert buttons_of(question) == [[{"text": "Skip", "callback_data": "f:0:skip"}]]
    # a suggestion button that was never offered does nothing
    press(world, "f:0:u0")
    assert FormProgress.objects.get().position == 0


# --- review item 7: Accept on a dead request settles the alert, even at the cap ------------


@pytest.mark.django_db(transaction=True)
def test_accept_on_a_closed_request_at_the_cap_settles_the_alert(telegram_world):
    world = telegram_world
    # given Olga may hold one conversation and holds one
    olga = operators.connect(world, operators.OLGA, "Olga")
    Operator.objects.filter(pk=olga.pk).update(max_simultaneous_dialogs=1)
    alice = operators.ask_for_human(world, user_id=operators.CLIENT, first_name="Alice")
    operators.accept(world, operators.OLGA, alice)
    bob = operators.ask_for_human(world, user_id=operators.OTHER_CLIENT, first_name="Bob")
    # Bob gives up; the edit of Olga's alert was lost, so it still shows Accept
    operators.say(world, "/end", user_id=operators.OTHER_CLIENT, first_name="Bob")
    bob.refresh_from_db()
    assert bob.status == RequestStatus.CLOSED
    OperatorAlert.objects.filter(request=bob).update(state=AlertState.OPEN)
    told = len(world.texts_to(operators.OLGA))
    # when she taps Accept on Bob's alert
    operators.accept(world, operators.OLGA, bob)
    # then the alert loses its buttons, and she is not told about her cap
    alert = OperatorAlert.objects.get(request=bob, account__telegram_user_id=operators.OLGA)
    assert alert.state == AlertState.CLOSED
    after = world.texts_to(operators.OLGA)[told:]
    assert after[-1].endswith("\n\nThis request is no longer open.")
    assert not any("your limit is" in text for text in after)
    tap = TelegramUpdate.objects.order_by("update_id").last()
    assert (tap.state, tap.error) == (UpdateState.PROCESSED, "")
