"""Baton as a Bot API proxy for a parallel bot: another program on the same token (the
customer's existing bot) sets its Bot API base URL to Baton
(/telegram/proxy/<webhook_key>/bot<token>/<method>). Its calls are forwarded to Telegram
unchanged and Telegram's answers returned unchanged (calls.py); what it sends to a
client's private chat is copied into the client's topic. Telegram allows one webhook
per token and Baton owns it, so the parallel bot's setWebhook / deleteWebhook /
getWebhookInfo / getUpdates are answered by Baton (parallel.py), and every update Baton
stores is sent on to the parallel bot's webhook (fanout.py)."""

from telegram_bridge.models import TelegramBot
from telegram_bridge.services.proxy.calls import (
    ProxyAnswer,
    proxy_call,
    proxy_download,
    proxy_refusal,
)
from telegram_bridge.services.proxy.fanout import (
    FORWARD_TASK,
    forwarding_due_bots,
    forwarding_schedule,
    parallel_updates_forward,
)
from telegram_bridge.services.proxy.parallel import (
    callback_query_is_parallel,
    parallel_bot_connected,
)


def proxy_base_urls(*, bot: TelegramBot, public_url: str) -> tuple[str, str]:
    """(base URL, file base URL) the parallel bot is given (docs/telegram.md)."""
    base = f"{public_url.rstrip('/')}/telegram/proxy/{bot.webhook_key}/"
    return base + "bot", base + "file/bot"


__all__ = [
    "FORWARD_TASK",
    "ProxyAnswer",
    "callback_query_is_parallel",
    "forwarding_due_bots",
    "forwarding_schedule",
    "parallel_bot_connected",
    "parallel_updates_forward",
    "proxy_base_urls",
    "proxy_call",
    "proxy_download",
    "proxy_refusal",
]
