"""With a parallel bot connected, a button press on a message the parallel bot sent is
its own: Baton neither answers the callback query (Telegram takes one answer) nor acts
on it. A press on Baton's own message is Baton's as before."""

from __future__ import annotations

import pytest

from handoff.models import Request
from telegram_bridge.models import OutboundMessage, SendPurpose, SendStatus
from tests.telegram_bridge.telegram_updates import callback_update

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 501


def press(world, message_id: int) -> None:
    world.receive(
        callback_update(world.next_update_id(), user_id=CLIENT, data="h", message_id=message_id)
    )
    world.settle()


@pytest.fixture
def world(telegram_world):
    telegram_world.bot.parallel_allowed_updates = ["message", "callback_query"]
    telegram_world.bot.save(update_fields=["parallel_allowed_updates"])
    OutboundMessage.objects.create(
        bot=telegram_world.bot,
        telegram_chat_id=CLIENT,
        method="sendMessage",
        payload={"text": "Would you like to talk to a person?"},
        purpose=SendPurpose.CLIENT,
        status=SendStatus.SENT,
        telegram_message_id=78,
    )
    return telegram_world


def test_a_press_on_the_parallel_bots_message_is_left_to_it(world):
    press(world, 77)
    assert not world.api.calls("answerCallbackQuery")
    assert not Request.objects.exists()


def test_a_press_on_batons_own_message_is_answered_and_handled(world):
    press(world, 78)
    assert world.api.succeeded("answerCallbackQuery")
    assert Request.objects.get().is_open


def test_without_a_parallel_bot_every_press_is_batons(telegram_world):
    press(telegram_world, 77)
    assert telegram_world.api.succeeded("answerCallbackQuery")
    assert Request.objects.get().is_open
