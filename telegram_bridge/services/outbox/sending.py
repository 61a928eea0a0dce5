"""Sending the outbox: one sender per bot (a lease) sends pending rows in order per
Telegram chat, at most 30 calls a second per bot (BotPace spaces them, the sender's
SendRateLimiter caps them: telegram_bridge.runtime), 20 a minute per group and one a
second per private chat. A 429 stores `retry_after` as the row's `not_before` and the
chat waits; a user who blocked the bot is marked and skipped; an error is recorded on
the row and never blocks others.

The sender is a conveyor: it takes the next due rows while the previous ones are still
being sent, so the bot's pace has no pause between rounds, and records outcomes every
RECORD_EVERY seconds; a recording that fails (a database error) is tried again, and no
new rows are taken meanwhile.

The lease (TelegramBot.sending_until) is the sender's fencing token: renewed and let go
only by the holder that wrote its current value, and only sent under while it runs
(BotPace refuses a slot past it), so a stalled sender whose lease another process took
sends nothing more. Letting go leaves the instant of release in it: a sender of another
process that takes over within a second waits until that second is over, as the pacing
state (the last calls' instants) lives in the process that made them.

A broadcast's row is claimed (its recipient marked `sending`, committed) right before
its call, after its slot came; an answer that says it was not delivered (a 429, or no
connection made) puts the recipient back in the queue at once, in its own commit. So a
recipient found `sending` is the one ambiguous state: its call started and no answer
was recorded. Telegram has no idempotency key, so it may or may not have arrived; it is
failed as interrupted and never sent twice (telegram_bridge.services.broadcasts).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import httpx
from django.conf import settings
from django.db import DatabaseError, connection, transaction
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

# rows per batch (about 2 s of sending at 30/s); outcomes are recorded every
# RECORD_EVERY seconds while batches run, so a worker killed mid-batch resends only
# what was in flight or not yet recorded (a broadcast's recipient: never, see below)
BATCH = 60
# rows per chat per batch: with one message a second to a private chat, a batch stays
# well inside the wait below, so nothing is sent without being recorded
PER_CHAT = 10
ROUND_TIMEOUT = 300.0
# the next batch is taken when fewer rows than this (about a second of sending) are
# left to send, and at most IN_FLIGHT rows are sent at a time
LOW_WATER = 30
IN_FLIGHT = 2 * BATCH
# renewed while the holder sends (every LEASE_RENEW), so it is short: after a killed
# worker another sender takes over within LEASE. No call starts in the last
# LEASE_MARGIN of the lease as its holder last renewed it.
LEASE = timedelta(seconds=20)
LEASE_RENEW = 5.0
LEASE_MARGIN = 3.0
# after another process let go of the lease: its calls of the last second count
PACE_WINDOW = timedelta(seconds=1)
# the bot's slots are this much further apart than its limit allows, so a call that a
# slow claim (a database write) made late is absorbed, not pressed against the next
# ones (the sender's rate limiter would hold those back, claimed)
PACE_SLACK = 0.01
MAX_ATTEMPTS = 8
# how often outcomes are recorded while batches run; a sender whose recordings the
# database refuses for longer than RECORD_GIVE_UP stops (and lets go of the lease)
RECORD_EVERY = 0.2
RECORD_GIVE_UP = 30.0


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


class LeaseLost(Exception):
    """The bot's lease was taken by another sender (ours had run out): stop sending."""


@dataclass
class Lease:
    """A held sender lease: `until` is the value this holder wrote last (its token)."""

    bot_id: int
    until: datetime
    ends_at: float  # time.monotonic() at `until`, as seen when it was written


# per process: the instant each bot's lease was let go by this process, last time
_released: dict[int, datetime] = {}


def _lease_take(bot_id: int, now: datetime) -> Lease | None:
    """Take the bot's lease if it is free (never taken, let go, or run out); None if
    another sender holds it. Taken within a second of another process letting go (or
    its lease running out), no call starts before that second is over."""
    found = TelegramBot.objects.filter(pk=bot_id).values_list("sending_until", flat=True).first()
    if found is not None and found > now:
        return None
    until = now + LEASE
    free = TelegramBot.objects.filter(pk=bot_id)
    free = (
        free.filter(sending_until__isnull=True)
        if found is None
        else free.filter(sending_until=found)
    )
    if not free.update(sending_until=until):
        return None  # another sender took it meanwhile
    lease = Lease(bot_id, until, time.monotonic() + LEASE.total_seconds())
    if found is not None and _released.get(bot_id) != found:
        # the last sender was another process: its pace is unknown here
        bot_pace.hold(bot_id, time.monotonic() + (found + PACE_WINDOW - now).total_seconds())
    bot_pace.allow(bot_id, lease.ends_at - LEASE_MARGIN)
    return lease


def _lease_renew(lease: Lease) -> None:
    """Extend the lease if it is still ours; raise LeaseLost if another sender took it."""
    now = timezone.now()
    ends_at = time.monotonic() + LEASE.total_seconds()
    if not TelegramBot.objects.filter(pk=lease.bot_id, sending_until=lease.until).update(
        sending_until=now + LEASE
    ):
        bot_pace.allow(lease.bot_id, None)
        raise LeaseLost(f"the sender lease of bot {lease.bot_id} was taken by another sender")
    lease.until, lease.ends_at = now + LEASE, ends_at
    bot_pace.allow(lease.bot_id, ends_at - LEASE_MARGIN)


def _lease_release(lease: Lease) -> None:
    """Let go of the lease if it is still ours, leaving the instant of release in it."""
    bot_pace.allow(lease.bot_id, None)
    now = timezone.now()
    if TelegramBot.objects.filter(pk=lease.bot_id, sending_until=lease.until).update(
        sending_until=now
    ):
        _released[lease.bot_id] = now


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
    if method == "sendPhoto" and payload.get("photo_path"):
        # a file of ours (chats.services.uploads): uploaded from disk at each attempt
        with open(payload["photo_path"], "rb") as photo:
            return await bot.send_photo(
                chat_id, photo, caption=payload.get("caption") or None, reply_markup=markup
            )
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
NO_ANSWER = "no answer to its Bot API call; not sent again, it may have arrived"


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


def _broadcast_unclaim(row_id: int, error: str) -> None:
    """Telegram's answer says the row's message was not delivered (a 429, or no
    connection was made): put its broadcast recipient back in the queue now, in its own
    commit, so a worker killed before the round's outcomes are recorded leaves it to be
    sent, not reported as interrupted. Runs in a thread of the Telegram loop."""
    try:
        BroadcastRecipient.objects.filter(
            outbound_id=row_id, status=RecipientStatus.SENDING
        ).update(status=RecipientStatus.QUEUED, error=error[:300])
    finally:
        connection.close_if_unusable_or_obsolete()


def _never_sent(error: TelegramError) -> bool:
    """Whether a failed call provably did not deliver: Telegram answered (an error
    status), or no connection was made. A timeout or a connection lost after the request
    went out may have delivered it."""
    cause = error.__cause__
    if cause is None:
        return True  # an answer from Telegram (a 5xx, an unexpected error code)
    return isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


async def _retry_outcome(row: dict, error: TelegramError, retry_after: float) -> Outcome:
    """The outcome of a call to try again later (a 429, a network error or a 5xx).
    A broadcast's recipient goes back to the queue at once if the call provably did not
    deliver, and is failed (never sent twice) if it may have."""
    if row["purpose"] == SendPurpose.BROADCAST:
        if not isinstance(error, RetryAfter) and not _never_sent(error):
            return Outcome(row["id"], SendStatus.FAILED, error=f"{NO_ANSWER}: {error}"[:300])
        await asyncio.to_thread(_broadcast_unclaim, row["id"], str(error))
    error_text = "" if isinstance(error, RetryAfter) else str(error)[:300]
    return Outcome(row["id"], SendStatus.PENDING, error=error_text, retry_after=retry_after)


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
    """At most one message a second to a private chat, across this process's drains
    (another process's last calls are waited out when the lease moves: _lease_take)."""

    def __init__(self) -> None:
        self._last: dict[tuple[int, int], float] = {}

    async def wait(self, bot_id: int, chat_id: int) -> None:
        if chat_id < 0:  # groups are paced by the sender's group limit
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
    apart, each reserved by a row before its call, one pace for all the batches of the
    process (so there is no pause between them). A broadcast recipient is claimed only
    after its slot has come, so a worker killed meanwhile leaves no recipient claimed
    that was still waiting its turn. A slot is given only while the sender's lease runs
    (`allow`), and not before another process's last second is over (`hold`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # `hold` and `allow` come from the sender's thread
        self._next: dict[int, float] = {}
        self._allowed: dict[int, float] = {}

    def hold(self, bot_id: int, until: float) -> None:
        with self._lock:
            self._next[bot_id] = max(self._next.get(bot_id, until), until)

    def allow(self, bot_id: int, until: float | None) -> None:
        """Slots may be given until `until` (time.monotonic()); None: no more."""
        with self._lock:
            if until is None:
                self._allowed.pop(bot_id, None)
            else:
                self._allowed[bot_id] = until

    def _refuse(self, bot_id: int, at: float) -> None:
        if at > self._allowed.get(bot_id, float("-inf")):
            raise LeaseLost(f"bot {bot_id}: no sender lease runs at this call's slot")

    async def wait(self, bot_id: int) -> None:
        interval = (1 + PACE_SLACK) / settings.TELEGRAM_MAX_MESSAGES_PER_SECOND
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(bot_id, now))
            self._refuse(bot_id, slot)
            self._next[bot_id] = slot + interval  # reserved before sleeping: no two share it
        if slot > now:
            await asyncio.sleep(slot - now)
        self._refuse(bot_id, time.monotonic())  # let go or lost while this one waited
        # the sender's hard cap, waited for here (before a broadcast recipient is
        # claimed), not after: its call then goes at once
        limiter = telegram_runtime.rate_limiter(bot_id)
        if limiter is not None:
            await limiter.reserve()
            self._refuse(bot_id, time.monotonic())


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
            outcomes.append(await _retry_outcome(row, error, _seconds(error)))
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
            outcomes.append(await _retry_outcome(row, error, -1))
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
        # one chat's failure (a database error claiming a row, the lease lost) ends that
        # chat's sending, never the others' while they are under way
        ended = await asyncio.wait_for(
            asyncio.gather(
                *(
                    _send_chat(sender, bot_id, chat, rows, outcomes)
                    for chat, rows in by_chat.items()
                ),
                return_exceptions=True,
            ),
            ROUND_TIMEOUT,
        )
    except TimeoutError:
        logger.warning("a Telegram send round of bot %s ran out of time", bot_id)
    else:
        for error in ended:
            if isinstance(error, LeaseLost):
                logger.info("%s", error)
            elif isinstance(error, BaseException):
                logger.error("sending to a chat of bot %s stopped", bot_id, exc_info=error)
    return outcomes


def _due_rows(
    bot_id: int, now, busy: set[int] = frozenset()
) -> tuple[dict[int, list[dict]], float | None]:
    """Pending rows grouped by chat, in id order, at most PER_CHAT per chat and BATCH in
    all. A chat whose next row waits for a 429's retry_after is left out entirely (its
    order is kept), and never holds up the chats behind it; so is a `busy` chat (its
    rows are being sent)."""
    pending = OutboundMessage.objects.filter(bot_id=bot_id, status=SendStatus.PENDING)
    deferred = list(
        pending.filter(not_before__gt=now).values_list("telegram_chat_id", "not_before")
    )
    waiting = {chat for chat, _at in deferred} | set(busy)
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


@dataclass
class _Batch:
    """Rows handed to the Telegram loop at once; their chats are busy until every
    outcome the batch appended is recorded."""

    future: concurrent.futures.Future
    rows: dict[int, dict]
    chats: set[int]
    outcomes: list[Outcome]
    deadline: float
    recorded: int = 0

    @property
    def finished(self) -> bool:
        return self.future.done() and self.recorded == len(self.outcomes)

    @property
    def unsent(self) -> int:
        return 0 if self.future.done() else len(self.rows) - len(self.outcomes)


def _skip_blocked(bot_id: int, report: DeliveryReport) -> None:
    """Rows to users who blocked the bot are skipped (their broadcast recipients
    recorded as blocked)."""
    blocked = set(
        TelegramChat.objects.filter(bot_id=bot_id, blocked_at__isnull=False).values_list(
            "telegram_chat_id", flat=True
        )
    )
    if not blocked:
        return
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


def _record_batches(bot: TelegramBot, batches: list[_Batch], report: DeliveryReport) -> bool:
    """Record the outcomes the batches appended since last time, in one transaction;
    False if the database refused (they are recorded next time instead)."""
    fresh: list[tuple[_Batch, int]] = []
    rows: dict[int, dict] = {}
    outcomes: list[Outcome] = []
    for batch in batches:
        count = len(batch.outcomes)  # appended by the loop thread meanwhile
        if count > batch.recorded:
            fresh.append((batch, count))
            rows.update(batch.rows)
            outcomes.extend(batch.outcomes[batch.recorded : count])
    if not outcomes:
        return True
    counted = DeliveryReport()  # added to the report once the transaction committed
    try:
        _record(bot, rows, outcomes, counted)
    except DatabaseError:
        logger.warning(
            "could not record %d Telegram send outcomes of bot %s; trying again",
            len(outcomes),
            bot.pk,
            exc_info=True,
        )
        return False
    for batch, count in fresh:
        batch.recorded = count
    report.sent += counted.sent
    report.failed += counted.failed
    report.skipped += counted.skipped
    report.deferred += counted.deferred
    report.outcomes.extend(counted.outcomes)
    return True


def _send_and_record(bot: TelegramBot, lease: Lease, report: DeliveryReport) -> float | None:
    """Send due rows until none are left, as a conveyor: the next batch is taken while
    the last one is still being sent (when fewer than LOW_WATER of its rows wait), so
    the bot's pace never pauses between batches; outcomes are recorded every
    RECORD_EVERY seconds, a failed recording is tried again (no new rows are taken
    until it succeeds), and the lease is renewed every LEASE_RENEW seconds (LeaseLost
    if another sender took it). Returns seconds until the next deferred row."""
    batches: list[_Batch] = []
    renewed = time.monotonic()
    refused_since: float | None = None
    try:
        while True:
            if time.monotonic() - renewed >= LEASE_RENEW:
                _lease_renew(lease)
                renewed = time.monotonic()
            recorded_ok = _record_batches(bot, batches, report)
            if recorded_ok:
                refused_since = None
            elif refused_since is None:
                refused_since = time.monotonic()
            elif time.monotonic() - refused_since > RECORD_GIVE_UP:
                raise DatabaseError(f"could not record the sends of bot {bot.pk}")
            for batch in batches:
                if batch.future.done() and not batch.future.cancelled():
                    batch.future.result()  # a batch that could not start (no sender): raise
            batches = [batch for batch in batches if not batch.finished]
            next_due = None
            if recorded_ok and sum(batch.unsent for batch in batches) < LOW_WATER:
                in_flight = sum(len(batch.rows) for batch in batches)
                if in_flight < IN_FLIGHT:
                    _skip_blocked(bot.pk, report)
                    busy = {chat for batch in batches for chat in batch.chats}
                    by_chat, next_due = _due_rows(bot.pk, timezone.now(), busy)
                    if by_chat:
                        outcomes: list[Outcome] = []
                        batches.append(
                            _Batch(
                                future=telegram_runtime.submit(
                                    partial(_send_all, bot.pk, bot.token, by_chat, outcomes)
                                ),
                                rows={row["id"]: row for rows in by_chat.values() for row in rows},
                                chats=set(by_chat),
                                outcomes=outcomes,
                                deadline=time.monotonic() + ROUND_TIMEOUT + 30,
                            )
                        )
                    elif not batches:
                        return next_due
            running = [batch.future for batch in batches if not batch.future.done()]
            for batch in batches:
                if not batch.future.done() and time.monotonic() > batch.deadline:
                    batch.future.cancel()
            if running:
                concurrent.futures.wait(
                    running, RECORD_EVERY, return_when=concurrent.futures.FIRST_COMPLETED
                )
            elif batches:  # all sent, not all recorded: the database refused
                time.sleep(RECORD_EVERY)
    finally:
        _batches_end(bot, lease, batches, report)


def _batches_end(
    bot: TelegramBot, lease: Lease, batches: list[_Batch], report: DeliveryReport
) -> None:
    """On the way out because of an error (or the lease lost): no new call starts, the
    calls under way get their answers (or are cancelled after ROUND_TIMEOUT), and what
    they appended is recorded if the database lets us."""
    if not batches:
        return
    bot_pace.allow(lease.bot_id, None)
    futures = [batch.future for batch in batches]
    done, running = concurrent.futures.wait(futures, ROUND_TIMEOUT + 30)
    for future in running:
        future.cancel()
    try:
        _record_batches(bot, batches, report)
    except Exception:
        logger.exception("could not record the last sends of bot %s", bot.pk)


def _drain(lease: Lease, report: DeliveryReport) -> float | None:
    """Send due rows until none are left; return seconds until the next deferred row."""
    bot = TelegramBot.objects.get(pk=lease.bot_id)
    return _send_and_record(bot, lease, report)


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
        lease = _lease_take(bot_id, timezone.now())
        if lease is None:
            report.leased = report.sent > 0 or report.deferred > 0
            if not report.leased:
                _deliver_after_lease(bot_id)
            break
        try:
            next_due = _drain(lease, report)
        except LeaseLost:
            logger.warning("bot %s: another sender took the lease; this one stops", bot_id)
            return report  # the rows are the new holder's now
        finally:
            _lease_release(lease)
        due_now, next_due = _due_rows(bot_id, timezone.now())
        if not due_now:
            break
    if next_due is not None:
        delivery_schedule(bot_id=bot_id, countdown=max(next_due, 0.05))
    return report
