"""Sending the outbox: one sender per bot (a lease) sends pending rows in order per
Telegram chat, through the bot's rate-limited Bot (telegram_bridge.runtime: 30/s
overall, 20/min per group) plus at most one message a second per private chat. A 429
stores `retry_after` as the row's `not_before` and the chat waits; a user who blocked
the bot is marked and skipped; an error is recorded on the row and never blocks others.
Outcomes are recorded while a round runs. A broadcast's row is claimed (its recipient
marked being sent, committed) just before its call and its result copied onto the
recipient: one found claimed already was interrupted by a killed worker and is not sent
twice (telegram_bridge.services.broadcasts).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from telegram_bridge.models import (
    Broadcast,
    BroadcastRecipient,
    BroadcastStatus,
    OperatorAlert,
    OutboundMessage,
    RecipientStatus,
    SendPurpose,
    SendStatus,
    TelegramBot,
    TelegramChat,
)
from telegram_bridge.runtime import telegram_runtime
from telegram_bridge.services.outbox.topics import topic_send, topic_states
from telegram_bridge.services.outbox.writing import DELIVER_TASK, delivery_schedule
from telegram_bridge.services.scheduling import (
    broadcast_feed_schedule,
    task_schedule_later,
    task_started,
)

logger = logging.getLogger(__name__)

# rows per round (about 2 s of sending at 30/s); outcomes are recorded every
# RECORD_EVERY seconds during the round, so a worker killed mid-round resends only
# what was in flight or not yet recorded (a broadcast's recipient: never, see below)
BATCH = 60
# rows per chat per round: with one message a second to a private chat, a round stays
# well inside the wait below, so nothing is sent without being recorded
PER_CHAT = 10
ROUND_TIMEOUT = 300.0
# renewed while the holder sends (every LEASE_RENEW, even mid-round), so it is short:
# after a killed worker another sender takes over within LEASE
LEASE = timedelta(seconds=20)
LEASE_RENEW = 5.0
MAX_ATTEMPTS = 8
# how often a round's outcomes are recorded while it runs
RECORD_EVERY = 0.2


# --- sending ----------------------------------------------------------------------


@dataclass
class Outcome:
    row_id: int
    status: str
    telegram_message_id: int | None = None
    error: str = ""
    retry_after: float | None = None
    blocked: bool = False


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    deferred: int = 0
    leased: bool = True
    outcomes: list[Outcome] = field(default_factory=list)


def _lease_take(bot_id: int, now) -> bool:
    return bool(
        TelegramBot.objects.filter(pk=bot_id)
        .filter(Q(sending_until__isnull=True) | Q(sending_until__lt=now))
        .update(sending_until=now + LEASE)
    )


def _lease_release(bot_id: int) -> None:
    TelegramBot.objects.filter(pk=bot_id).update(sending_until=None)


def _markup(rows: list[list[dict]] | None) -> InlineKeyboardMarkup | None:
    if rows is None:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(**button) for button in row] for row in rows]
    )


# media that an operator's topic message may carry besides photos and documents: sent
# by file_id (valid for the same bot in every chat); stickers and video notes take no
# caption, so the operator's name goes in a message before them (clients.channel)
FILE_METHODS = {
    "sendVoice": "send_voice",
    "sendAudio": "send_audio",
    "sendVideo": "send_video",
    "sendAnimation": "send_animation",
    "sendSticker": "send_sticker",
    "sendVideoNote": "send_video_note",
}
MEDIA_TYPES = {
    "photo": InputMediaPhoto,
    "document": InputMediaDocument,
    "video": InputMediaVideo,
    "audio": InputMediaAudio,
}


SINGLE_MEDIA = {
    "photo": "send_photo",
    "document": "send_document",
    "video": "send_video",
    "audio": "send_audio",
}


def _media(items: list[dict]) -> list:
    return [
        MEDIA_TYPES[item["type"]](item["media"], caption=item.get("caption") or None)
        for item in items
    ]


async def _call(bot: Bot, chat_id: int, method: str, payload: dict, message_id: int | None):
    markup = _markup(payload.get("keyboard"))
    reply = {"reply_to_message_id": payload["reply_to"]} if payload.get("reply_to") else {}
    if method == "sendMessage":
        return await bot.send_message(chat_id, payload["text"], reply_markup=markup, **reply)
    if method == "sendPhoto":
        return await bot.send_photo(
            chat_id, payload["photo"], caption=payload.get("caption") or None, reply_markup=markup
        )
    if method == "sendDocument" and payload.get("document_path"):
        # a file of ours (operators.documents): uploaded from disk at each attempt
        with open(payload["document_path"], "rb") as document:
            return await bot.send_document(
                chat_id,
                document,
                filename=payload.get("file_name") or None,
                caption=payload.get("caption") or None,
                reply_markup=markup,
            )
    if method == "sendDocument":
        return await bot.send_document(
            chat_id,
            payload["document"],
            caption=payload.get("caption") or None,
            reply_markup=markup,
        )
    if method == "editMessageText":
        return await bot.edit_message_text(
            payload["text"],
            chat_id=chat_id,
            message_id=message_id,
            reply_markup=markup,  # none: Telegram removes the buttons
        )
    if method in FILE_METHODS:
        caption = {"caption": payload["caption"]} if payload.get("caption") else {}
        return await getattr(bot, FILE_METHODS[method])(
            chat_id, payload["file"], reply_markup=markup, **caption
        )
    if method == "sendMediaGroup":
        items = payload["media"]
        if len(items) == 1:  # an album of one (the rest never came): a plain send
            item = items[0]
            send = SINGLE_MEDIA[item["type"]]
            return await getattr(bot, send)(chat_id, item["media"], caption=item.get("caption"))
        return await bot.send_media_group(chat_id, _media(items))
    if method == "editMessageCaption":
        return await bot.edit_message_caption(
            chat_id=chat_id, message_id=message_id, caption=payload.get("caption") or None
        )
    if method == "editMessageReplyMarkup":
        return await bot.edit_message_reply_markup(
            chat_id=chat_id, message_id=message_id, reply_markup=markup
        )
    raise ValueError(f"unknown outbound method {method}")


INTERRUPTED = "interrupted during its Bot API call; not sent again, it may have arrived"


def _broadcast_claim(row_id: int) -> str | None:
    """Mark the row's broadcast recipient `sending`, committed before its Bot API call,
    and return the status it had: a recipient found already `sending` was interrupted
    mid-call by a killed worker and is not sent a second time; one skipped was
    cancelled. Runs in a thread of the Telegram loop (a database call)."""
    try:
        with transaction.atomic():
            recipient = (
                BroadcastRecipient.objects.select_for_update(of=("self",))
                .filter(outbound_id=row_id)
                .values_list("pk", "status", "broadcast__status")
                .first()
            )
            if recipient is None:
                return None
            if recipient[2] != BroadcastStatus.SENDING:
                # cancelled while this row waited (a 429's retry_after, a network error)
                # after its recipient had been claimed, so the cancel left it queued
                return RecipientStatus.SKIPPED
            if recipient[1] == RecipientStatus.QUEUED:
                BroadcastRecipient.objects.filter(pk=recipient[0]).update(
                    status=RecipientStatus.SENDING
                )
            return recipient[1]
    finally:
        connection.close_if_unusable_or_obsolete()


def _broadcast_follow(row_id: int, outcome: Outcome, now) -> None:
    """Copy an outcome onto the row's broadcast recipient (inside _record's transaction)."""
    recipient = BroadcastRecipient.objects.filter(outbound_id=row_id)
    if outcome.status == SendStatus.SENT:
        recipient.update(
            status=RecipientStatus.SENT,
            sent_at=now,
            telegram_message_id=outcome.telegram_message_id,
            error="",
        )
    elif outcome.status == SendStatus.PENDING:  # a 429 or a network error: sent later
        recipient.filter(status=RecipientStatus.SENDING).update(
            status=RecipientStatus.QUEUED, error=outcome.error
        )
    elif outcome.blocked:
        recipient.update(status=RecipientStatus.BLOCKED, error=outcome.error)
    elif outcome.status == SendStatus.FAILED:
        recipient.update(status=RecipientStatus.FAILED, error=outcome.error)
    else:
        recipient.filter(status__in=[RecipientStatus.QUEUED, RecipientStatus.SENDING]).update(
            status=RecipientStatus.SKIPPED, error=outcome.error
        )


def _broadcasts_feed_after_commit(row_ids: list[int]) -> None:
    """The outbox has room again for the broadcasts of the bot whose rows were just
    recorded (they share one window: telegram_bridge.services.broadcasts)."""
    if not row_ids:
        return
    bot_ids = set(
        BroadcastRecipient.objects.filter(outbound_id__in=row_ids).values_list(
            "broadcast__bot_id", flat=True
        )
    )
    broadcast_ids = set(
        Broadcast.objects.filter(bot_id__in=bot_ids, status=BroadcastStatus.SENDING).values_list(
            "pk", flat=True
        )
    )
    for broadcast_id in broadcast_ids:
        transaction.on_commit(
            partial(broadcast_feed_schedule, broadcast_id=broadcast_id), robust=True
        )


def _seconds(error: RetryAfter) -> float:
    # the private timedelta: the public attribute warns until PTB makes it a timedelta
    retry_after = getattr(error, "_retry_after", None) or error.retry_after
    return retry_after.total_seconds() if isinstance(retry_after, timedelta) else float(retry_after)


class PrivateChatPace:
    """At most one message a second to a private chat, across this process's drains."""

    def __init__(self) -> None:
        self._last: dict[tuple[int, int], float] = {}

    async def wait(self, bot_id: int, chat_id: int) -> None:
        if chat_id < 0:  # groups are paced by AIORateLimiter's group limit
            return
        interval = settings.TELEGRAM_PRIVATE_CHAT_INTERVAL
        last = self._last.get((bot_id, chat_id))
        if last is not None:
            delay = last + interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        self.sent(bot_id, chat_id)

    def sent(self, bot_id: int, chat_id: int) -> None:
        """The chat was just sent to: its next message waits a whole interval from now.
        Called again when a call ends, as the bot's pace (and its rate limiter) may hold
        a message well after its chat's wait ended."""
        if chat_id < 0:
            return
        self._last[(bot_id, chat_id)] = time.monotonic()
        if len(self._last) > 10_000:
            interval = settings.TELEGRAM_PRIVATE_CHAT_INTERVAL
            horizon = time.monotonic() - interval
            self._last = {key: at for key, at in self._last.items() if at > horizon}


private_chat_pace = PrivateChatPace()


class BotPace:
    """A bot's overall limit (TELEGRAM_MAX_MESSAGES_PER_SECOND) as slots one interval
    apart, each reserved by a row before its call. The bot's AIORateLimiter keeps the
    same limit, but waits inside the call: a broadcast recipient is claimed only after
    its slot has come, so a worker killed meanwhile leaves no recipient claimed that was
    still waiting its turn."""

    def __init__(self) -> None:
        self._next: dict[int, float] = {}

    async def wait(self, bot_id: int) -> None:
        interval = 1 / settings.TELEGRAM_MAX_MESSAGES_PER_SECOND
        now = time.monotonic()
        slot = max(now, self._next.get(bot_id, now))
        self._next[bot_id] = slot + interval  # reserved before sleeping: no two share it
        if slot > now:
            await asyncio.sleep(slot - now)


bot_pace = BotPace()


async def _send_chat(
    bot: Bot, bot_id: int, chat_id: int, rows: list[dict], outcomes: list[Outcome]
) -> None:
    """Send one chat's due rows in order, appending each outcome as it happens; stop at
    the first 429 or block."""
    alert_message_ids: dict[int, int] = {}
    for index, row in enumerate(rows):
        message_id = row["payload"].get("message_id")
        topic_row = row["purpose"] == SendPurpose.TOPIC  # outbox.topics finds its ids
        if row["method"].startswith("edit") and message_id is None and not topic_row:
            message_id = alert_message_ids.get(row["alert_id"]) or row["alert_message_id"]
            if message_id is None:
                outcomes.append(Outcome(row["id"], SendStatus.SKIPPED, error="nothing to edit"))
                continue
        await private_chat_pace.wait(bot_id, chat_id)
        await bot_pace.wait(bot_id)
        if row["purpose"] == SendPurpose.BROADCAST:
            found = await asyncio.to_thread(_broadcast_claim, row["id"])
            if found == RecipientStatus.SENDING:
                outcomes.append(Outcome(row["id"], SendStatus.FAILED, error=INTERRUPTED))
                continue
            if found != RecipientStatus.QUEUED:  # cancelled meanwhile
                outcomes.append(Outcome(row["id"], SendStatus.SKIPPED, error="cancelled"))
                continue
        try:
            try:
                if row["purpose"] == SendPurpose.TOPIC:
                    result = await topic_send(bot, chat_id, row)
                else:
                    result = await _call(bot, chat_id, row["method"], row["payload"], message_id)
            finally:
                private_chat_pace.sent(bot_id, chat_id)
        except RetryAfter as error:
            outcomes.append(Outcome(row["id"], SendStatus.PENDING, retry_after=_seconds(error)))
            return
        except Forbidden as error:
            # blocked by the user, kicked from the group: nothing more goes to this chat
            for rest in rows[index:]:
                outcomes.append(
                    Outcome(
                        rest["id"],
                        SendStatus.SKIPPED if chat_id > 0 else SendStatus.FAILED,
                        error=str(error)[:300],
                        blocked=chat_id > 0,
                    )
                )
            return
        except BadRequest as error:
            if "not modified" in str(error).lower():
                outcomes.append(Outcome(row["id"], SendStatus.SENT, message_id))
            else:
                outcomes.append(Outcome(row["id"], SendStatus.FAILED, error=str(error)[:300]))
            continue
        except (NetworkError, TelegramError) as error:  # timeouts, 5xx: try again later
            outcomes.append(
                Outcome(row["id"], SendStatus.PENDING, error=str(error)[:300], retry_after=-1)
            )
            return
        except OSError as error:  # a file to upload is gone: sending again will not help
            outcomes.append(
                Outcome(row["id"], SendStatus.FAILED, error=f"file unreadable: {error}"[:300])
            )
            continue
        except Exception as error:  # a bug must not stop the other chats' messages
            logger.exception("Telegram send %s failed", row["id"])
            outcomes.append(Outcome(row["id"], SendStatus.FAILED, error=repr(error)[:300]))
            continue
        telegram_message_id = getattr(result, "message_id", None)
        if row["alert_id"] and telegram_message_id and not row["method"].startswith("edit"):
            alert_message_ids[row["alert_id"]] = telegram_message_id
        outcomes.append(Outcome(row["id"], SendStatus.SENT, telegram_message_id))


async def _send_all(
    bot_id: int, token: str, by_chat: dict[int, list[dict]], outcomes: list[Outcome]
) -> list[Outcome]:
    """One round: every chat's rows concurrently, each chat in order, each outcome
    appended to `outcomes` as it happens (the caller records them while the round goes
    on). A round that outlasts ROUND_TIMEOUT is cancelled and what was sent until then
    is still returned, so it is recorded and not sent again."""
    sender = await telegram_runtime.sender(bot_id, token)
    try:
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    _send_chat(sender, bot_id, chat, rows, outcomes)
                    for chat, rows in by_chat.items()
                )
            ),
            ROUND_TIMEOUT,
        )
    except TimeoutError:
        logger.warning("a Telegram send round of bot %s ran out of time", bot_id)
    return outcomes


def _due_rows(bot_id: int, now) -> tuple[dict[int, list[dict]], float | None]:
    """Pending rows grouped by chat, in id order, at most PER_CHAT per chat and BATCH in
    all. A chat whose next row waits for a 429's retry_after is left out entirely (its
    order is kept), and never holds up the chats behind it."""
    pending = OutboundMessage.objects.filter(bot_id=bot_id, status=SendStatus.PENDING)
    deferred = list(
        pending.filter(not_before__gt=now).values_list("telegram_chat_id", "not_before")
    )
    waiting = {chat for chat, _at in deferred}
    next_due = min(((at - now).total_seconds() for _chat, at in deferred), default=None)
    by_chat: dict[int, list[dict]] = defaultdict(list)
    taken = 0
    last_id = 0
    for _page in range(10):
        page = list(
            pending.filter(id__gt=last_id)
            .exclude(telegram_chat_id__in=waiting)
            .order_by("id")
            .values(
                "id",
                "telegram_chat_id",
                "method",
                "payload",
                "purpose",
                "alert_id",
                "not_before",
                "attempts",
            )[:BATCH]
        )
        for row in page:
            last_id = row["id"]
            chat_rows = by_chat[row["telegram_chat_id"]]
            if len(chat_rows) < PER_CHAT and taken < BATCH:
                chat_rows.append(row)
                taken += 1
        if len(page) < BATCH or taken >= BATCH:
            break
    alert_ids = {row["alert_id"] for rows in by_chat.values() for row in rows if row["alert_id"]}
    alert_message_ids = dict(
        OperatorAlert.objects.filter(pk__in=alert_ids).values_list("pk", "telegram_message_id")
    )
    for chat_rows in by_chat.values():
        for row in chat_rows:
            row["alert_message_id"] = alert_message_ids.get(row["alert_id"])
    topic_states([row for chat_rows in by_chat.values() for row in chat_rows])
    return {chat: rows for chat, rows in by_chat.items() if rows}, next_due


def _record(bot: TelegramBot, rows: dict[int, dict], outcomes: list[Outcome], report) -> None:
    now = timezone.now()
    broadcast_rows: list[int] = []
    with transaction.atomic():
        for outcome in outcomes:
            row = rows[outcome.row_id]
            update: dict = {"attempts": row["attempts"] + 1, "error": outcome.error}
            if outcome.status == SendStatus.SENT:
                update.update(
                    status=SendStatus.SENT,
                    sent_at=now,
                    telegram_message_id=outcome.telegram_message_id,
                    not_before=None,
                )
                report.sent += 1
                if row["alert_id"] and outcome.telegram_message_id and row["method"][:4] == "send":
                    OperatorAlert.objects.filter(pk=row["alert_id"]).update(
                        telegram_message_id=outcome.telegram_message_id
                    )
                if row["purpose"] == SendPurpose.GROUP_NOTICE:
                    TelegramBot.objects.filter(pk=bot.pk).exclude(notice_group_error="").update(
                        notice_group_error="", notice_group_error_at=None
                    )
                if row["purpose"] == SendPurpose.TOPIC and bot.forum_group_error:
                    TelegramBot.objects.filter(pk=bot.pk).update(forum_group_error="")
                    bot.forum_group_error = ""
            elif outcome.status == SendStatus.PENDING:
                if outcome.retry_after is not None and outcome.retry_after >= 0:
                    wait = outcome.retry_after  # Telegram's own figure, honoured as given
                else:
                    wait = min(2 ** update["attempts"], 300)
                update["not_before"] = now + timedelta(seconds=wait)
                if update["attempts"] >= MAX_ATTEMPTS and outcome.retry_after == -1:
                    update["status"] = SendStatus.FAILED
                    report.failed += 1
                else:
                    report.deferred += 1
            else:
                update["status"] = outcome.status
                if outcome.status == SendStatus.FAILED:
                    report.failed += 1
                else:
                    report.skipped += 1
                if row["purpose"] == SendPurpose.GROUP_NOTICE:
                    TelegramBot.objects.filter(pk=bot.pk).update(
                        notice_group_error=outcome.error or "the group refused the message",
                        notice_group_error_at=now,
                    )
                if (
                    row["purpose"] == SendPurpose.TOPIC
                    and outcome.status == SendStatus.FAILED
                    and not row["method"].startswith("edit")  # a message gone: no group fault
                ):
                    # shown in Admin: no rights to manage topics, not a forum, removed…
                    bot.forum_group_error = outcome.error or "the group refused the message"
                    TelegramBot.objects.filter(pk=bot.pk).update(
                        forum_group_error=bot.forum_group_error
                    )
            OutboundMessage.objects.filter(pk=outcome.row_id).update(**update)
            if row["purpose"] == SendPurpose.BROADCAST:
                _broadcast_follow(outcome.row_id, outcome, now)
                broadcast_rows.append(outcome.row_id)
            if outcome.blocked:
                TelegramChat.objects.update_or_create(
                    bot=bot,
                    telegram_chat_id=row["telegram_chat_id"],
                    defaults={"blocked_at": now},
                )
            report.outcomes.append(outcome)
        _broadcasts_feed_after_commit(broadcast_rows)


def _send_and_record(
    bot: TelegramBot, by_chat: dict[int, list[dict]], rows: dict[int, dict], report
) -> None:
    """Send one round on the Telegram loop and record its outcomes every RECORD_EVERY
    seconds while it runs, so a worker killed mid-round sends again (or, for a
    broadcast, reports as interrupted) only what was in flight, not the whole round."""
    outcomes: list[Outcome] = []
    future = telegram_runtime.submit(partial(_send_all, bot.pk, bot.token, by_chat, outcomes))
    deadline = time.monotonic() + ROUND_TIMEOUT + 30
    renewed = time.monotonic()
    recorded = 0
    finished = False
    while not finished:
        try:
            future.result(RECORD_EVERY)
            finished = True
        except TimeoutError:
            if time.monotonic() > deadline:
                future.cancel()
                raise
        if time.monotonic() - renewed >= LEASE_RENEW:
            TelegramBot.objects.filter(pk=bot.pk).update(sending_until=timezone.now() + LEASE)
            renewed = time.monotonic()
        fresh = outcomes[recorded:]  # appended by the loop thread meanwhile
        recorded += len(fresh)
        if fresh:
            _record(bot, rows, fresh, report)


def _drain(bot_id: int, report: DeliveryReport) -> float | None:
    """Send due rows until none are left; return seconds until the next deferred row."""
    bot = TelegramBot.objects.get(pk=bot_id)
    while True:
        now = timezone.now()
        blocked = set(
            TelegramChat.objects.filter(bot_id=bot_id, blocked_at__isnull=False).values_list(
                "telegram_chat_id", flat=True
            )
        )
        if blocked:
            with transaction.atomic():
                to_blocked = OutboundMessage.objects.filter(
                    bot_id=bot_id, status=SendStatus.PENDING, telegram_chat_id__in=blocked
                )
                broadcast_rows = list(
                    to_blocked.filter(purpose=SendPurpose.BROADCAST).values_list("pk", flat=True)
                )
                report.skipped += to_blocked.update(
                    status=SendStatus.SKIPPED, error="the user blocked the bot"
                )
                BroadcastRecipient.objects.filter(
                    outbound_id__in=broadcast_rows,
                    status__in=[RecipientStatus.QUEUED, RecipientStatus.SENDING],
                ).update(status=RecipientStatus.BLOCKED, error="the user blocked the bot")
                _broadcasts_feed_after_commit(broadcast_rows)
        by_chat, next_due = _due_rows(bot_id, now)
        if not by_chat:
            return next_due
        rows = {row["id"]: row for chat_rows in by_chat.values() for row in chat_rows}
        _send_and_record(bot, by_chat, rows, report)
        TelegramBot.objects.filter(pk=bot_id).update(sending_until=timezone.now() + LEASE)


def _deliver_after_lease(bot_id: int) -> None:
    """Another sender holds the lease: if it was killed, nobody would send until the
    sweep after the lease ends, so look again just after it ends (once per bot)."""
    until = TelegramBot.objects.filter(pk=bot_id).values_list("sending_until", flat=True).first()
    if until is not None:
        countdown = max((until - timezone.now()).total_seconds(), 0) + 0.5
        task_schedule_later(DELIVER_TASK, [bot_id], countdown=countdown)


def outbox_deliver(*, bot_id: int) -> DeliveryReport:
    """Send the bot's pending rows. One sender per bot at a time (a lease); safe to call
    as often as wanted: a second caller returns at once, and the holder looks again
    after letting go, so a row written meanwhile is not stranded. Rows waiting for a
    429's retry_after stay pending and a delivery is scheduled for when they are due."""
    task_started(DELIVER_TASK, [bot_id])
    report = DeliveryReport()
    next_due: float | None = None
    while True:
        if not _lease_take(bot_id, timezone.now()):
            report.leased = report.sent > 0 or report.deferred > 0
            if not report.leased:
                _deliver_after_lease(bot_id)
            break
        try:
            next_due = _drain(bot_id, report)
        finally:
            _lease_release(bot_id)
        due_now, next_due = _due_rows(bot_id, timezone.now())
        if not due_now:
            break
    if next_due is not None:
        delivery_schedule(bot_id=bot_id, countdown=max(next_due, 0.05))
    return report
