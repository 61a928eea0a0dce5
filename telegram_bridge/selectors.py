from __future__ import annotations

from telegram_bridge.models import ConnectLink, TelegramBot


def bot_for_webhook(*, webhook_key: str) -> TelegramBot | None:
    return TelegramBot.objects.only("pk", "webhook_secret").filter(webhook_key=webhook_key).first()


def connect_link_exists(*, bot: TelegramBot, token: str) -> bool:
    """Whether `token` is one of this bot's connect links (used, expired or not)."""
    return ConnectLink.objects.filter(bot=bot, token=token[:64]).exists()
