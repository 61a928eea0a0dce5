"""Connecting a chat's Telegram bot: the token is checked with getMe, the webhook is set
with the generated secret and the updates we handle."""

from __future__ import annotations

from django.utils import timezone
from telegram import BotCommand
from telegram.error import InvalidToken, TelegramError

from telegram_bridge.models import TelegramBot
from telegram_bridge.runtime import bot_for_token, telegram_runtime

ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]


class BotRefused(Exception):
    """Telegram refused the token or the call; the message says why, for the admin."""


def bot_token_check(*, token: str) -> tuple[int, str]:
    """(bot id, username) for a token Telegram accepts; BotRefused otherwise."""
    token = token.strip()
    if not token or ":" not in token or len(token) > 100:
        raise BotRefused(
            "This does not look like a bot token (it is “123456:ABC…” from BotFather)."
        )

    async def get_me():
        async with bot_for_token(token) as bot:
            return bot.bot

    try:
        user = telegram_runtime.run(get_me, timeout=30)
    except InvalidToken:
        raise BotRefused("Telegram does not accept this token.") from None
    except TelegramError as error:
        raise BotRefused(f"Could not reach Telegram to check the token: {error}") from None
    return user.id, user.username or ""


def bot_allowed_updates(*, bot: TelegramBot, parallel: list[str] | None = None) -> list[str]:
    """The update types Baton's webhook asks Telegram for: ours, and what the parallel
    bot (telegram_bridge.services.proxy) asked for, so it gets them too."""
    wanted = set(ALLOWED_UPDATES)
    wanted.update(bot.parallel_allowed_updates if parallel is None else parallel)
    return sorted(wanted)


def bot_allowed_updates_widen(
    *, token: str, webhook_key: str, webhook_secret: str, allowed_updates: list[str]
) -> bool:
    """Make Baton's webhook ask for `allowed_updates` too (the parallel bot asked for
    more than Baton does): set again at the address Telegram has, when that address is
    Baton's webhook of this bot. Returns whether it was set again; False when Telegram
    already sends these, or Baton's webhook is not set (setting it from Admin asks for
    them: bot_webhook_set). TelegramError when Telegram refuses."""

    async def widen() -> bool:
        async with bot_for_token(token) as telegram_bot:
            info = await telegram_bot.get_webhook_info()
            if not info.url.endswith(f"/telegram/webhook/{webhook_key}/"):
                return False
            have = set(info.allowed_updates or ())
            if set(allowed_updates) <= have:
                return False
            await telegram_bot.set_webhook(
                url=info.url,
                secret_token=webhook_secret,
                allowed_updates=sorted(have | set(allowed_updates)),
                max_connections=info.max_connections or 40,
            )
            return True

    return telegram_runtime.run(widen, timeout=30)


def webhook_url(*, bot: TelegramBot, public_url: str) -> str:
    return f"{public_url.rstrip('/')}/telegram/webhook/{bot.webhook_key}/"


def bot_webhook_set(*, bot: TelegramBot, public_url: str, language: str = "en") -> str:
    """Point the bot's webhook at us with the secret and our allowed updates, and list
    the client commands in Telegram's menu. Records the outcome on the bot."""
    url = webhook_url(bot=bot, public_url=public_url)

    async def set_webhook():
        async with bot_for_token(bot.token) as telegram_bot:
            await telegram_bot.set_webhook(
                url=url,
                secret_token=bot.webhook_secret,
                allowed_updates=bot_allowed_updates(bot=bot),
                max_connections=40,
            )
            await telegram_bot.set_my_commands(
                [
                    BotCommand("start", "Start over"),
                    BotCommand("human", "Talk to a person"),
                    BotCommand("end", "End the conversation with a person"),
                ]
            )

    try:
        telegram_runtime.run(set_webhook, timeout=30)
    except TelegramError as error:
        TelegramBot.objects.filter(pk=bot.pk).update(webhook_error=str(error)[:300])
        raise BotRefused(f"Telegram refused the webhook: {error}") from None
    TelegramBot.objects.filter(pk=bot.pk).update(webhook_set_at=timezone.now(), webhook_error="")
    return url
