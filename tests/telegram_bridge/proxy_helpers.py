"""The parallel bot of the Bot API proxy tests: a real python-telegram-bot Bot whose base
URL is Baton's proxy (served by pytest-django's live server), and what it needs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from telegram import Bot

from chats.enums import Messenger
from handoff.models import Request
from telegram_bridge.models import ClientTopic, TelegramBot
from tests.chats.factories import ClientFactory, DialogFactory
from tests.telegram_bridge.conftest import TelegramWorld

FORUM = -1001234567890


@dataclass
class Proxy:
    world: TelegramWorld
    base: str  # <live server>/telegram/proxy/<webhook_key>/

    @property
    def bot(self) -> TelegramBot:
        return self.world.bot

    @property
    def token(self) -> str:
        return self.world.bot.token

    def url(self, method: str, *, token: str | None = None) -> str:
        return f"{self.base}bot{token or self.token}/{method}"

    def other_bot(self) -> Bot:
        return Bot(self.token, base_url=self.base + "bot", base_file_url=self.base + "file/bot")

    def run(self, call: Callable[[Bot], Awaitable[Any]]) -> Any:
        """`call` made by the parallel bot (through Baton), from this thread."""

        async def made() -> Any:
            async with self.other_bot() as bot:
                return await call(bot)

        return asyncio.run(made())

    def post(self, method: str, **kwargs) -> httpx.Response:
        token = kwargs.pop("token", None)
        return httpx.post(self.url(method, token=token), timeout=30, **kwargs)

    def fresh(self) -> TelegramBot:
        return TelegramBot.objects.get(pk=self.bot.pk)


def proxy_for(world: TelegramWorld, live_server_url: str) -> Proxy:
    TelegramBot.objects.filter(pk=world.bot.pk).update(forum_group_id=FORUM)
    world.bot.refresh_from_db()
    return Proxy(world, f"{live_server_url}/telegram/proxy/{world.bot.webhook_key}/")


def open_topic(bot: TelegramBot, user_id: int) -> ClientTopic:
    client = ClientFactory(
        chat=bot.chat, messenger=Messenger.TELEGRAM, external_id=str(user_id), name=f"u{user_id}"
    )
    # a topic shows a request (group.copying copies only into one that does)
    dialog = DialogFactory(client=client)
    request = Request.objects.create(dialog=dialog, chat=bot.chat, reason="headset")
    return ClientTopic.objects.create(
        bot=bot,
        client=client,
        group_id=FORUM,
        name=f"u{user_id} · Telegram",
        message_thread_id=7,
        request=request,
    )
