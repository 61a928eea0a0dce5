from __future__ import annotations

from telegram_bridge.models import TelegramBot


def bot_for_webhook(*, webhook_key: str) -> TelegramBot | None:
    return TelegramBot.objects.only("pk", "webhook_secret").filter(webhook_key=webhook_key).first()
