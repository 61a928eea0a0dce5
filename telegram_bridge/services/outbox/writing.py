"""Writing what must be sent to Telegram: an OutboundMessage in the transaction that
decided it, and the bot's sender scheduled after commit (telegram_bridge.services.
outbox.sending sends it)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from telegram_bridge.models import (
    OperatorAlert,
    OutboundMessage,
    SendPurpose,
    SendStatus,
    TelegramBot,
)
from telegram_bridge.services.scheduling import task_schedule

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


def keyboard(rows: list[list[dict]]) -> list[list[dict]]:
    """Inline keyboard rows as stored in a payload: {"text", "callback_data"|"url"}."""
    return [[dict(button) for button in row] for row in rows if row]


def outbound_enqueue(
    *,
    bot: TelegramBot | int,
    telegram_chat_id: int,
    method: str,
    payload: dict,
    purpose: SendPurpose | str,
    alert: OperatorAlert | None = None,
    request_id: int | None = None,
    message_id: int | None = None,
) -> OutboundMessage:
    """Record one Bot API call to make and schedule the bot's sender after commit."""
    bot_id = bot if isinstance(bot, int) else bot.pk
    if "text" in payload:
        payload["text"] = payload["text"][:TEXT_LIMIT] or "…"
    if "caption" in payload:
        payload["caption"] = payload["caption"][:CAPTION_LIMIT]
    row = OutboundMessage.objects.create(
        bot_id=bot_id,
        telegram_chat_id=telegram_chat_id,
        method=method,
        payload=payload,
        purpose=purpose,
        alert=alert,
        request_id=request_id,
        message_id=message_id,
    )
    transaction.on_commit(lambda: delivery_schedule(bot_id=bot_id), robust=True)
    return row


DELIVER_TASK = "telegram_bridge.deliver_outbox"


def delivery_schedule(*, bot_id: int, countdown: float = 0) -> None:
    """Ask a Celery worker to run the bot's sender (once while one is queued)."""
    task_schedule(DELIVER_TASK, [bot_id], countdown=countdown)


# the items of an album arrive as separate updates: the album's send waits ALBUM_WAIT
# for the rest, and an item joins it only while ALBUM_JOIN_MARGIN of that wait is left,
# so a row the sender may have taken is never changed
ALBUM_WAIT = timedelta(seconds=1.5)
ALBUM_JOIN_MARGIN = timedelta(seconds=0.3)


def album_row_waiting(
    *, bot_id: int, telegram_chat_id: int, method: str, media_group: str, **payload: object
) -> OutboundMessage | None:
    """The pending send of an album (its payload's "media_group") that an item may still
    join, locked; `payload` narrows it by more of its payload's keys."""
    return (
        OutboundMessage.objects.select_for_update()
        .filter(
            bot_id=bot_id,
            telegram_chat_id=telegram_chat_id,
            status=SendStatus.PENDING,
            method=method,
            not_before__gt=timezone.now() + ALBUM_JOIN_MARGIN,
            payload__media_group=media_group,
            **{f"payload__{key}": value for key, value in payload.items()},
        )
        .order_by("-id")
        .first()
    )


def album_wait(row: OutboundMessage) -> None:
    """Hold an album's first send back while its other items arrive."""
    row.not_before = timezone.now() + ALBUM_WAIT
    row.save(update_fields=["not_before"])
