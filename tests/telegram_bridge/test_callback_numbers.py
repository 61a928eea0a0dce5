"""Callback data is whatever a client sends: numbers in it are read strictly, so a
"²" (str.isdigit() says yes, int() says no) or a number past a bigint is ignored
instead of failing the update (which would hold the chat's later updates back)."""

from __future__ import annotations

import pytest

from telegram_bridge.models import TelegramUpdate
from telegram_bridge.services.callback_numbers import callback_number
from tests.telegram_bridge.telegram_updates import callback_update

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 501


@pytest.mark.parametrize("text", ["", "²", "١٢", "-1", "1.5", "9" * 19, " 1"])
def test_what_is_not_a_plain_number_is_none(text):
    assert callback_number(text) is None


def test_a_plain_number_is_read():
    assert callback_number("42") == 42
    assert callback_number("9" * 18) == 10**18 - 1


@pytest.mark.parametrize(
    "data", ["a:²", "x:²", "t:²", "tt:1:²", "b:²", "r:²:1", "r:1:²", "f:0:²", "f:0:u²"]
)
def test_a_button_with_a_strange_number_is_ignored_not_failed(telegram_world, data):
    # given a client (a stranger to the managers' buttons) pressing a forged button
    world = telegram_world
    # when the update is processed
    world.receive(callback_update(world.next_update_id(), user_id=CLIENT, data=data))
    world.settle()
    # then it was processed, not failed and retried
    update = TelegramUpdate.objects.get()
    assert update.processed_at is not None
    assert update.error == ""
