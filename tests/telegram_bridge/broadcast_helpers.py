"""Building broadcast test data: Telegram clients of a bot's chat with dialogs, markers,
customers; and driving a broadcast with the services a Celery worker runs."""

from __future__ import annotations

import time
from datetime import datetime

from django.db.models import Min
from django.utils import timezone

from chats.enums import Messenger
from chats.models import Client, MarkerHit
from distributor.models import CustomerBinding
from telegram_bridge.models import (
    Broadcast,
    BroadcastStatus,
    OutboundMessage,
    SendStatus,
    TelegramBot,
    TelegramChat,
)
from telegram_bridge.services.broadcasts import broadcast_feed
from telegram_bridge.services.outbox import outbox_deliver
from tests.chats.factories import ClientFactory, DialogFactory
from tests.distributor.factories import CustomerFactory


def telegram_client(
    bot: TelegramBot,
    user_id: int,
    *,
    last_message_at: datetime | None = None,
    started_at: datetime | None = None,
    marker: str = "",
    bound: bool = False,
    dialog: bool = True,
) -> Client:
    client = ClientFactory(
        chat=bot.chat, messenger=Messenger.TELEGRAM, external_id=str(user_id), name=f"u{user_id}"
    )
    if dialog:
        made = DialogFactory(
            client=client,
            status="closed",
            started_at=started_at or timezone.now(),
            last_message_at=last_message_at,
        )
        if marker:
            MarkerHit.objects.create(dialog=made, marker=marker)
    if bound:
        CustomerBinding.objects.create(client=client, customer=CustomerFactory())
    return client


def blocked(bot: TelegramBot, user_id: int) -> None:
    TelegramChat.objects.create(bot=bot, telegram_chat_id=user_id, blocked_at=timezone.now())


def broadcast_make(bot: TelegramBot, **fields) -> Broadcast:
    return Broadcast.objects.create(bot=bot, text=fields.pop("text", "Hello all"), **fields)


def drive(bot: TelegramBot, broadcast: Broadcast, rounds: int = 60) -> Broadcast:
    """What the worker does: feed, send, feed… until the broadcast is finished; waits
    for a 429's retry_after (never asserts on how long anything took)."""
    for _round in range(rounds):
        broadcast_feed(broadcast_id=broadcast.pk)
        outbox_deliver(bot_id=bot.pk)
        broadcast.refresh_from_db()
        if broadcast.status != BroadcastStatus.SENDING:
            return broadcast
        due = OutboundMessage.objects.filter(bot=bot, status=SendStatus.PENDING).aggregate(
            due=Min("not_before")
        )["due"]
        if due is not None and due > timezone.now():
            time.sleep(min((due - timezone.now()).total_seconds() + 0.05, 3))
    raise AssertionError(f"broadcast {broadcast.pk} still {broadcast.status}")
