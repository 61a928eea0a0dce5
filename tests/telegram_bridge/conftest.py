"""Telegram fixtures: python-telegram-bot pointed at a fake Bot API server on localhost,
a chat with a connected bot, and helpers that run the real processing and sending
services (the same ones the Celery tasks call)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from chats.enums import HeadsetMode
from handoff.models import HandoffSettings
from telegram_bridge.models import OutboundMessage, SendStatus, TelegramBot, TelegramUpdate
from telegram_bridge.runtime import telegram_runtime
from telegram_bridge.services.outbox import outbox_deliver
from telegram_bridge.services.updates import update_store, updates_process
from tests.chats.factories import ChatFactory
from tests.telegram_bridge.fake_bot_api import FakeBotApi

_bot_numbers = itertools.count(1)


@pytest.fixture
def fake_api(settings):
    api = FakeBotApi().start()
    settings.TELEGRAM_API_URL = api.base_url
    settings.TELEGRAM_FILE_URL = api.base_file_url
    # pacing has its own test; elsewhere it would only make the suite slower
    settings.TELEGRAM_PRIVATE_CHAT_INTERVAL = 0
    yield api
    telegram_runtime.shutdown()
    api.stop()


@dataclass
class TelegramWorld:
    """A chat with a connected bot, and the steps a Celery worker would take."""

    api: FakeBotApi
    bot: TelegramBot
    update_ids: itertools.count

    def next_update_id(self) -> int:
        return next(self.update_ids)

    def receive(self, payload: dict) -> bool:
        """What the webhook view does: store the update once."""
        return update_store(bot=self.bot, payload=payload)

    def settle(self, rounds: int = 10) -> None:
        """Process every stored update and send every due outbound row, until quiet."""
        for _round in range(rounds):
            chats = set(
                TelegramUpdate.objects.filter(bot=self.bot, processed_at__isnull=True).values_list(
                    "telegram_chat_id", flat=True
                )
            )
            for chat_id in chats:
                updates_process(bot_id=self.bot.pk, telegram_chat_id=chat_id)
            outbox_deliver(bot_id=self.bot.pk)
            busy = (
                TelegramUpdate.objects.filter(bot=self.bot, processed_at__isnull=True).exists()
                or OutboundMessage.objects.filter(
                    bot=self.bot, status=SendStatus.PENDING, not_before__isnull=True
                ).exists()
            )
            if not busy:
                return

    def texts_to(self, chat_id: int) -> list[str]:
        """Texts the bot sent to a chat, in order (new messages, photo captions, edits)."""
        texts = []
        for call in self.api.succeeded():
            if call.params.get("chat_id") != chat_id:
                continue
            if call.method in ("sendMessage", "editMessageText"):
                texts.append(call.params["text"])
            elif call.method in ("sendPhoto", "sendDocument"):
                texts.append(call.params.get("caption", ""))
        return texts


@pytest.fixture
def telegram_world(fake_api) -> TelegramWorld:
    number = next(_bot_numbers)
    chat = ChatFactory(headset_mode=HeadsetMode.ALWAYS, language="en")
    HandoffSettings.objects.get_or_create(chat=chat)
    token = f"{7000 + number}:test-token-{number}"
    bot = TelegramBot.objects.create(
        chat=chat, token=token, username=f"baton_test_{number}_bot", telegram_id=7000 + number
    )
    fake_api.add_bot(token, bot_id=7000 + number, username=bot.username)
    return TelegramWorld(api=fake_api, bot=bot, update_ids=itertools.count(1000))
