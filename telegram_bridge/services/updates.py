"""Updates from the webhook: stored once, then fed to the bot's python-telegram-bot
Application in order, one chat at a time."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from telegram import Update

from chats.validators import text_has_lone_surrogate
from telegram_bridge.models import TelegramBot, TelegramChat, TelegramUpdate
from telegram_bridge.runtime import telegram_runtime
from telegram_bridge.services.scheduling import task_schedule, task_started

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
BATCH = 100


class MalformedUpdate(ValueError):
    """The body is not a Telegram update; nothing was stored."""


BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def _id(value: object) -> int:
    """A Telegram id as stored (64-bit); anything else is malformed."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedUpdate("ids are integers")
    if not BIGINT_MIN <= value <= BIGINT_MAX:
        raise MalformedUpdate("ids are 64-bit integers")
    return value


def _chat_of(payload: dict) -> int:
    """The Telegram chat an update belongs to (0 when it has none), for ordering."""
    for key in ("message", "edited_message", "channel_post", "my_chat_member", "chat_member"):
        item = payload.get(key)
        if isinstance(item, dict) and isinstance(item.get("chat"), dict):
            return _id(item["chat"].get("id") or 0)
    query = payload.get("callback_query")
    if isinstance(query, dict):
        message = query.get("message")
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return _id(message["chat"].get("id") or 0)
        if isinstance(query.get("from"), dict):
            return _id(query["from"].get("id") or 0)
    return 0


def update_parse(payload: object) -> tuple[int, int]:
    """(update_id, chat id) of a webhook body, or MalformedUpdate."""
    if not isinstance(payload, dict):
        raise MalformedUpdate("an update is a JSON object")
    update_id = payload.get("update_id")
    if (
        isinstance(update_id, bool)
        or not isinstance(update_id, int)
        or not 0 <= update_id <= BIGINT_MAX
    ):
        raise MalformedUpdate("update_id must be a non-negative 64-bit integer")
    try:
        chat_id = _chat_of(payload)
    except MalformedUpdate:
        raise MalformedUpdate("the update's chat id is not a 64-bit integer") from None
    # JSON can escape half of a UTF-16 pair ("\ud800"): such text cannot be written as
    # UTF-8 and would break every surface that shows it. Dumped without ASCII escapes,
    # every key and string of the update is in one text (a whole pair was decoded to
    # one character, so only a lone half is left as a surrogate).
    if text_has_lone_surrogate(json.dumps(payload, ensure_ascii=False)):
        raise MalformedUpdate("the update holds text that is not valid Unicode (a lone surrogate)")
    return update_id, chat_id


def update_store(*, bot: TelegramBot, payload: object) -> bool:
    """Store an update once; returns False for a replay (same update_id), which changes
    nothing. Processing is scheduled after commit."""
    update_id, chat_id = update_parse(payload)
    try:
        with transaction.atomic():
            TelegramUpdate.objects.create(
                bot=bot, update_id=update_id, telegram_chat_id=chat_id, payload=payload
            )
            TelegramChat.objects.get_or_create(bot=bot, telegram_chat_id=chat_id)
    except IntegrityError:
        return False
    transaction.on_commit(
        lambda: processing_schedule(bot_id=bot.pk, telegram_chat_id=chat_id), robust=True
    )
    return True


PROCESS_TASK = "telegram_bridge.process_updates"


def processing_schedule(*, bot_id: int, telegram_chat_id: int) -> None:
    """Ask a Celery worker to process the chat's updates (once while one is queued)."""
    task_schedule(PROCESS_TASK, [bot_id, telegram_chat_id])


def _lease_take(bot_id: int, chat_id: int) -> bool:
    now = timezone.now()
    return bool(
        TelegramChat.objects.filter(bot_id=bot_id, telegram_chat_id=chat_id)
        .filter(Q(processing_until__isnull=True) | Q(processing_until__lt=now))
        .update(processing_until=now + LEASE)
    )


def _lease_release(bot_id: int, chat_id: int) -> None:
    TelegramChat.objects.filter(bot_id=bot_id, telegram_chat_id=chat_id).update(
        processing_until=None
    )


def _pending(bot_id: int, chat_id: int):
    return TelegramUpdate.objects.filter(
        bot_id=bot_id, telegram_chat_id=chat_id, processed_at__isnull=True
    ).order_by("update_id")


async def _feed(bot: TelegramBot, payloads: list[dict]) -> dict[int, str]:
    """Feed updates to the bot's Application one after the other; return errors."""
    from telegram_bridge.handlers import application_build

    application = await telegram_runtime.application(bot.pk, bot.token, application_build)
    errors: dict[int, str] = application.bot_data.setdefault("errors", {})
    failures = {}
    for payload in payloads:
        update = Update.de_json(payload, application.bot)
        await application.process_update(update)
        if payload["update_id"] in errors:
            failures[payload["update_id"]] = errors.pop(payload["update_id"])
    return failures


def updates_process(*, bot_id: int, telegram_chat_id: int) -> int:
    """Process the chat's stored, unprocessed updates in update_id order. One processor
    per chat at a time (a lease); the holder looks again after letting go. A failing
    update is recorded with its error and not retried forever. Returns how many."""
    task_started(PROCESS_TASK, [bot_id, telegram_chat_id])
    processed = 0
    while _pending(bot_id, telegram_chat_id).exists():
        if not _lease_take(bot_id, telegram_chat_id):
            break
        try:
            bot = TelegramBot.objects.select_related("chat").get(pk=bot_id)
            while True:
                rows = list(_pending(bot_id, telegram_chat_id).values("pk", "payload")[:BATCH])
                if not rows:
                    break
                payloads = [row["payload"] for row in rows]
                failures = telegram_runtime.run(partial(_feed, bot, payloads), timeout=300)
                now = timezone.now()
                for row in rows:
                    error = failures.get(row["payload"]["update_id"], "")
                    TelegramUpdate.objects.filter(pk=row["pk"]).update(
                        processed_at=now, error=error[:500]
                    )
                processed += len(rows)
                TelegramChat.objects.filter(
                    bot_id=bot_id, telegram_chat_id=telegram_chat_id
                ).update(processing_until=timezone.now() + LEASE)
        finally:
            _lease_release(bot_id, telegram_chat_id)
    return processed


def stale_updates(*, older_than: timedelta = timedelta(seconds=30)) -> list[tuple[int, int]]:
    """(bot, chat) pairs with updates waiting longer than they should (a worker died or
    the broker was away): the sweep schedules them again."""
    return list(
        TelegramUpdate.objects.filter(
            processed_at__isnull=True, received_at__lt=timezone.now() - older_than
        )
        .values_list("bot_id", "telegram_chat_id")
        .distinct()
    )
