"""Regression tests for the code review of issue 8 (Telegram)."""

from __future__ import annotations

import pytest

from chats.enums import HeadsetMode
from chats.models import Dialog
from handoff.models import DialogFormAnswers, Request
from telegram_bridge.models import FormProgress
from telegram_bridge.services.updates import MalformedUpdate, update_parse
from tests.telegram_bridge.test_clients import (
    CLIENT,
    chat_update,
    form_filled_up_to_topic,
    handoff_form,
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
