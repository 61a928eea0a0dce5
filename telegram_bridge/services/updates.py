"""Updates from the webhook: stored once, then read by python-telegram-bot
(Update.de_json) and routed (telegram_bridge.handlers) in order, one chat at a time,
in the worker's own thread. An update that fails is recorded with its error and tried
again by the sweep a bounded number of times, then skipped, so one bad update never
stalls its chat."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from functools import partial

from django.db import IntegrityError, connections, router, transaction
from django.db.models import F, Q
from django.utils import timezone
from telegram import Update

from chats.realtime import collecting_events, group_send_now
from chats.validators import value_has_lone_surrogate, value_has_nul
from telegram_bridge.handlers import update_acknowledge, update_route
from telegram_bridge.models import TelegramBot, TelegramChat, TelegramUpdate, UpdateState
from telegram_bridge.runtime import telegram_runtime
from telegram_bridge.services.clients import bot_at_work
from telegram_bridge.services.proxy.fanout import forwarding_schedule
from telegram_bridge.services.scheduling import task_schedule, task_started

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
PUBLISH_TIMEOUT = 10.0  # seconds for an update's dialog events to reach the channel layer
BATCH = 100
MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(seconds=10)  # the sweep tries again at its next run after this


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


def _chat_of(payload: dict) -> int | None:
    """The Telegram chat an update belongs to (None when it has none), for ordering."""
    for key in ("message", "edited_message", "channel_post", "my_chat_member", "chat_member"):
        item = payload.get(key)
        if isinstance(item, dict) and isinstance(item.get("chat"), dict):
            return _id_or_none(item["chat"].get("id"))
    query = payload.get("callback_query")
    if isinstance(query, dict):
        message = query.get("message")
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return _id_or_none(message["chat"].get("id"))
        if isinstance(query.get("from"), dict):
            return _id_or_none(query["from"].get("id"))
    return None


def _id_or_none(value: object) -> int | None:
    # Telegram has no chat 0: a missing or zero id is no chat
    return None if value is None or value == 0 else _id(value)


def update_parse(payload: object) -> tuple[int, int | None]:
    """(update_id, chat id or None) of a webhook body, or MalformedUpdate."""
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
    # UTF-8 and would break every surface that shows it (a whole pair was decoded to
    # one character, so only a lone half is left as a surrogate)
    if value_has_lone_surrogate(payload):
        raise MalformedUpdate("the update holds text that is not valid Unicode (a lone surrogate)")
    # "\u0000" is valid JSON, but PostgreSQL's jsonb cannot hold it (DataError)
    if value_has_nul(payload):
        raise MalformedUpdate("the update holds a NUL character (U+0000), which cannot be stored")
    return update_id, chat_id


def update_insert(*, bot_id: int, update_id: int, chat_id: int | None, payload: dict) -> bool:
    """Store a parsed update once: one INSERT ... ON CONFLICT DO NOTHING on the unique
    (bot, update_id), nothing else. True when it was new; a replay changes nothing.
    Whoever calls this schedules the processing (processing_schedule) when it was new.
    The chat's TelegramChat row is the processor's business (its lease), not the
    webhook's. Raises IntegrityError when the bot no longer exists."""
    connection = connections[router.db_for_write(TelegramUpdate)]
    columns = {
        "bot": bot_id,
        "update_id": update_id,
        "telegram_chat_id": chat_id,
        "payload": payload,
        "received_at": timezone.now(),
        "state": UpdateState.PENDING,
        "attempts": 0,
        "error": "",
        "forward_attempts": 0,
        "forward_error": "",
    }
    fields = [TelegramUpdate._meta.get_field(name) for name in columns]
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, columns.values(), strict=True)
    ]
    quote = connection.ops.quote_name
    # only names of ours go into the text; every value is a parameter
    statement = "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}, {}) DO NOTHING".format(  # noqa: S608
        quote(TelegramUpdate._meta.db_table),
        ", ".join(quote(field.column) for field in fields),
        ", ".join(["%s"] * len(fields)),
        quote("bot_id"),
        quote("update_id"),
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount == 1


def update_store(*, bot: TelegramBot | int, payload: object) -> bool:
    """Parse and store an update once; returns False for a replay (same update_id),
    which changes nothing. Processing is scheduled after commit."""
    update_id, chat_id = update_parse(payload)
    bot_id = bot if isinstance(bot, int) else bot.pk
    if not update_insert(bot_id=bot_id, update_id=update_id, chat_id=chat_id, payload=payload):
        return False
    transaction.on_commit(
        lambda: processing_schedule(bot_id=bot_id, telegram_chat_id=chat_id), robust=True
    )
    return True


PROCESS_TASK = "telegram_bridge.process_updates"


def processing_schedule(*, bot_id: int, telegram_chat_id: int | None) -> None:
    """Ask a Celery worker to process the chat's updates, or with None the updates of no
    chat (once while one is queued)."""
    task_schedule(PROCESS_TASK, [bot_id, telegram_chat_id])


def _lease_take(bot_id: int, chat_id: int) -> bool:
    now = timezone.now()
    if (
        TelegramChat.objects.filter(bot_id=bot_id, telegram_chat_id=chat_id)
        .filter(Q(processing_until__isnull=True) | Q(processing_until__lt=now))
        .update(processing_until=now + LEASE)
    ):
        return True
    # the webhook stores no TelegramChat row: the chat's first processor creates it,
    # leased; when it exists already, someone else holds the lease
    try:
        with transaction.atomic():
            TelegramChat.objects.create(
                bot_id=bot_id, telegram_chat_id=chat_id, processing_until=now + LEASE
            )
    except IntegrityError:
        return False
    return True


def _lease_renew(bot_id: int, chat_id: int) -> None:
    TelegramChat.objects.filter(bot_id=bot_id, telegram_chat_id=chat_id).update(
        processing_until=timezone.now() + LEASE
    )


def _lease_release(bot_id: int, chat_id: int) -> None:
    TelegramChat.objects.filter(bot_id=bot_id, telegram_chat_id=chat_id).update(
        processing_until=None
    )


def _unfinished(bot_id: int, chat_id: int | None):
    return TelegramUpdate.objects.filter(
        bot_id=bot_id, telegram_chat_id=chat_id, processed_at__isnull=True
    ).order_by("update_id")


def _due(now) -> Q:
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)


def _head(bot_id: int, chat_id: int) -> TelegramUpdate | None:
    """The chat's first unfinished update when it may be tried now: not waiting for a
    retry, and not leased by a processor that may still be at it."""
    head = _unfinished(bot_id, chat_id).first()
    if head is None or not (head.next_attempt_at is None or head.next_attempt_at <= timezone.now()):
        return None
    return head


def _feed(bot: TelegramBot, row: TelegramUpdate) -> tuple[str, bool]:
    """Route one update in this thread and mark it processed in the same transaction:
    (error or "", whether trying again could help)."""
    try:
        update = Update.de_json(row.payload, None)
    except Exception as error:  # what python-telegram-bot cannot read it never will
        return f"python-telegram-bot cannot read this update: {error!r}", False
    try:
        update_acknowledge(bot=bot, update=update)  # a network call: no transaction open
        # the dialog events its commit publishes are sent below from the Telegram loop,
        # not each through async_to_sync (a new thread, loop and Redis connection)
        with collecting_events() as events, transaction.atomic(), bot_at_work(bot):
            update_route(bot=bot, update=update)
            TelegramUpdate.objects.filter(pk=row.pk).update(
                state=UpdateState.PROCESSED, processed_at=timezone.now(), next_attempt_at=None
            )
    except Exception as error:
        logger.error("Telegram update failed", exc_info=True)
        return repr(error), True
    if events:
        _events_publish(events)
    return "", True


def _events_publish(events: list[tuple[str, dict]]) -> None:
    """Ring the doorbells of what the update changed (the consoles and widgets watching
    its dialog); they catch up from the database if this fails."""
    try:
        telegram_runtime.run(partial(group_send_now, events), PUBLISH_TIMEOUT)
    except Exception:
        logger.warning("dialog events of a Telegram update not published", exc_info=True)


def _attempt(bot: TelegramBot, row: TelegramUpdate) -> bool:
    """Try one update once; True when it is finished (processed, or failed for good).

    The attempt is counted before the update is fed, so a worker killed while at it
    (its lease runs out with the update still "processing") has used up a try: an update
    that kills its worker every time is skipped too. The claim is conditional on what
    was read, so of two processors only one tries it."""
    now = timezone.now()
    error = row.error
    if row.state == UpdateState.PROCESSING:
        error = "interrupted: the worker stopped while processing it"
        if row.attempts >= MAX_ATTEMPTS:
            return _give_up(row, error)
    claimed = TelegramUpdate.objects.filter(
        pk=row.pk, state=row.state, attempts=row.attempts, processed_at__isnull=True
    ).update(
        state=UpdateState.PROCESSING,
        attempts=F("attempts") + 1,
        next_attempt_at=now + LEASE,
        error=error[:500],
    )
    if not claimed:
        return False
    row.attempts += 1
    failure, retryable = _feed(bot, row)
    if not failure:
        return True
    if not retryable or row.attempts >= MAX_ATTEMPTS:
        return _give_up(row, failure)
    logger.warning(
        "Telegram update %s of bot %s failed (try %s of %s), tried again later: %s",
        row.update_id,
        row.bot_id,
        row.attempts,
        MAX_ATTEMPTS,
        failure,
    )
    TelegramUpdate.objects.filter(pk=row.pk).update(
        state=UpdateState.PENDING,
        next_attempt_at=timezone.now() + RETRY_AFTER,
        error=failure[:500],
    )
    return False


def _give_up(row: TelegramUpdate, error: str) -> bool:
    logger.error(
        "Telegram update %s of bot %s skipped after %s tries: %s",
        row.update_id,
        row.bot_id,
        row.attempts,
        error,
    )
    TelegramUpdate.objects.filter(pk=row.pk).update(
        state=UpdateState.FAILED,
        processed_at=timezone.now(),
        next_attempt_at=None,
        error=error[:500],
    )
    return True


def updates_process(*, bot_id: int, telegram_chat_id: int | None) -> int:
    """Process the chat's stored, unfinished updates in update_id order, or with None
    the updates of no chat. Returns how many were finished (processed or skipped).

    One processor per chat at a time (a lease); the holder looks again after letting go.
    A failed update holds its chat back (order is kept) until it is tried again after
    RETRY_AFTER by the sweep; after MAX_ATTEMPTS tries, or at once when
    python-telegram-bot cannot read it, it is marked failed and the chat goes on."""
    task_started(PROCESS_TASK, [bot_id, telegram_chat_id])
    bot = TelegramBot.objects.select_related("chat").filter(pk=bot_id).first()
    if bot is None:
        return 0
    if bot.parallel_webhook_url:
        # the parallel bot gets the new updates too (Bot API proxy)
        forwarding_schedule(bot_id=bot_id)
    if telegram_chat_id is None:
        return _process_without_chat(bot)
    finished = 0
    while _lease_take(bot_id, telegram_chat_id):
        try:
            finished += _process_leased(bot, telegram_chat_id)
        finally:
            _lease_release(bot_id, telegram_chat_id)
        # an update stored while the lease was held found its task turned away: look again
        if _head(bot_id, telegram_chat_id) is None:
            break
    return finished


def _process_leased(bot: TelegramBot, chat_id: int) -> int:
    """With the chat's lease: its unfinished updates, read a batch at a time, in order,
    until one has to wait (for its retry) or none is left."""
    finished = 0
    renewed = time.monotonic()
    while True:
        rows = list(_unfinished(bot.pk, chat_id)[:BATCH])
        for row in rows:
            if row.next_attempt_at is not None and row.next_attempt_at > timezone.now():
                return finished  # it waits for its retry, and the chat behind it
            if not _attempt(bot, row):
                return finished  # it waits for its retry (or someone else has it)
            finished += 1
            if time.monotonic() - renewed > LEASE.total_seconds() / 4:
                _lease_renew(bot.pk, chat_id)
                renewed = time.monotonic()
        if len(rows) < BATCH:
            return finished


def _process_without_chat(bot: TelegramBot) -> int:
    """Updates of no chat have no order to keep: each is claimed on its own, so one that
    fails or is slow holds up none of the others."""
    finished = 0
    while True:
        rows = list(_unfinished(bot.pk, None).filter(_due(timezone.now()))[:BATCH])
        if not rows:
            return finished
        # every row read is now finished, waiting for a retry, or claimed by another
        # processor: none of them is read again by this loop
        finished += sum(_attempt(bot, row) for row in rows)


def stale_updates(*, older_than: timedelta = timedelta(seconds=30)) -> list[tuple[int, int | None]]:
    """(bot, chat) pairs with updates waiting longer than they should (a worker died or
    the broker was away) or due for another try: the sweep schedules them again."""
    now = timezone.now()
    return list(
        TelegramUpdate.objects.filter(processed_at__isnull=True)
        .filter(
            Q(next_attempt_at__isnull=True, received_at__lt=now - older_than)
            | Q(next_attempt_at__lte=now)
        )
        .values_list("bot_id", "telegram_chat_id")
        .distinct()
    )
