"""What an update's handling publishes (the dialog's doorbell for the consoles and
widgets watching it) goes out after its commit from the worker's Telegram loop, in one
go: not through async_to_sync per event (a new thread, event loop and Redis connection
each time)."""

from __future__ import annotations

import threading

import pytest
from channels.layers import get_channel_layer

from chats.models import Dialog
from chats.realtime import dialog_group_name
from telegram_bridge.services.updates import updates_process
from tests.telegram_bridge.telegram_updates import text_update

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 504


@pytest.fixture
def recorded_sends(monkeypatch):
    layer = get_channel_layer()
    original = layer.group_send
    sends = []

    async def recording_group_send(group, event):
        sends.append((group, event["type"], threading.current_thread().name))
        await original(group, event)

    monkeypatch.setattr(layer, "group_send", recording_group_send)
    return sends


def test_a_client_message_rings_its_dialog_from_the_telegram_loop(telegram_world, recorded_sends):
    world = telegram_world
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="hello"))

    assert updates_process(bot_id=world.bot.pk, telegram_chat_id=CLIENT) == 1

    group = dialog_group_name(Dialog.objects.get().pk)
    # the client's message and the bot's greeting, after the commit, from the loop
    assert recorded_sends == [(group, "dialog.message", "telegram-loop")] * 2
