"""Telegram users as clients: what they write reaches the bot engine and handoff like
a web visitor's frames (receiving, forms); what the bot, operators and the system
write to them goes out through the outbox (channel, sending)."""

from telegram_bridge.services.clients.channel import TelegramChannel
from telegram_bridge.services.clients.receiving import (
    TelegramUser,
    client_callback_receive,
    client_message_receive,
)
from telegram_bridge.services.clients.sending import MEDIA_KINDS, bot_at_work, bot_of_chat

__all__ = [
    "MEDIA_KINDS",
    "TelegramChannel",
    "TelegramUser",
    "bot_at_work",
    "bot_of_chat",
    "client_callback_receive",
    "client_message_receive",
]
