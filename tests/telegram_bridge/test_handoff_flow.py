"""A Telegram client and a Telegram operator, end to end through the real services:
updates are stored, fed to python-telegram-bot's Application, and what the bot says
goes out through the outbox to the fake Bot API."""

from __future__ import annotations

import pytest

from chats.enums import AuthorKind
from chats.models import Message
from handoff.enums import RequestStatus
from handoff.models import Feedback, Request
from telegram_bridge.models import AlertState, OperatorAlert
from telegram_bridge.services.operators import connect_link_create
from tests.distributor.factories import OperatorFactory
from tests.telegram_bridge.telegram_updates import callback_update, text_update

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 501
OPERATOR_USER = 601


def connect_operator(world, user_id: int, name: str = "Olga"):
    operator = OperatorFactory(display_name=name, chats=[world.bot.chat])
    link = connect_link_create(bot=world.bot, operator=operator)
    world.receive(text_update(world.next_update_id(), user_id=user_id, text=f"/start {link.token}"))
    world.settle()
    return operator


def test_telegram_client_and_operator_talk_and_close(telegram_world):
    world = telegram_world
    operator = connect_operator(world, OPERATOR_USER)
    # given a client who asks for a human
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="hello"))
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="/human"))
    world.settle()
    request = Request.objects.get()
    assert request.status == RequestStatus.PENDING
    alert = world.api.succeeded("sendMessage", chat_id=OPERATOR_USER)[-1]
    assert "hello" in alert.params["text"]
    buttons = alert.params["reply_markup"]["inline_keyboard"][0]
    assert [button["callback_data"] for button in buttons] == [
        f"a:{request.pk}",
        f"x:{request.pk}",
    ]
    # when the operator accepts and they talk
    world.receive(
        callback_update(
            world.next_update_id(),
            user_id=OPERATOR_USER,
            data=f"a:{request.pk}",
            message_id=alert.params.get("message_id", 1),
        )
    )
    world.settle()
    request.refresh_from_db()
    assert request.status == RequestStatus.ACCEPTED
    assert request.operator == operator
    assert OperatorAlert.objects.get().state == AlertState.ACCEPTED
    assert world.api.succeeded("answerCallbackQuery")
    assert "Connected to Olga" in world.texts_to(CLIENT)
    world.receive(
        text_update(world.next_update_id(), user_id=OPERATOR_USER, text="How can I help?")
    )
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="My order is late"))
    world.settle()
    assert "Olga: How can I help?" in world.texts_to(CLIENT)
    assert any(text.endswith(": My order is late") for text in world.texts_to(OPERATOR_USER))
    # then /done closes; the client is asked to rate and rates
    world.receive(text_update(world.next_update_id(), user_id=OPERATOR_USER, text="/done"))
    world.settle()
    request.refresh_from_db()
    assert request.status == RequestStatus.CLOSED
    rating = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    scores = [
        button["callback_data"]
        for row in rating.params["reply_markup"]["inline_keyboard"]
        for button in row
    ]
    assert scores[-1] == f"r:{request.pk}:{world.bot.chat.handoff_settings.feedback_scale}"
    world.receive(callback_update(world.next_update_id(), user_id=CLIENT, data=f"r:{request.pk}:1"))
    world.settle()
    feedback = Feedback.objects.get()
    assert (feedback.score, feedback.operator_name) == (1, "Olga")
    operator_lines = Message.objects.filter(author_kind=AuthorKind.OPERATOR)
    assert [message.text for message in operator_lines] == ["How can I help?"]
