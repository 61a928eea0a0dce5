"""What Baton answers itself for the parallel bot: Telegram allows one webhook per token
and Baton owns it, so the parallel bot's setWebhook / deleteWebhook / getWebhookInfo are
kept on its TelegramBot row (updates are then sent to its webhook by fanout.py), and
getUpdates is emulated from the updates Baton stored."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone, translation
from telegram import Update

from distributor.services.webhooks import webhook_url_check
from telegram_bridge.models import OutboundMessage, TelegramBot, TelegramUpdate

# Telegram keeps an update for getUpdates (or its webhook's retries) this long
KEEP_FOR = timedelta(hours=24)
# the update types Telegram knows; what the parallel bot asks for is kept to these
UPDATE_TYPES = frozenset(str(kind) for kind in Update.ALL_TYPES)
# what Telegram sends when allowed_updates is not given (or is []): every type but these
TELEGRAM_DEFAULT_UPDATES = sorted(
    UPDATE_TYPES - {"chat_member", "message_reaction", "message_reaction_count"}
)
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
# the webhook's backoff after the n-th failed try: FIRST_RETRY * 2**(n-1), at most
# MAX_RETRY (fanout.py)
FIRST_RETRY = timedelta(seconds=1)
MAX_RETRY = timedelta(minutes=5)


def retry_delay(attempts: int) -> timedelta:
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY)


GET_UPDATES_LIMIT = 100


class ParallelRefused(Exception):
    """A call Telegram would refuse: the status and description Telegram would give."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def update_type(payload: object) -> str | None:
    """The kind of an update ("message", "callback_query", ...): its key besides update_id."""
    if not isinstance(payload, dict):
        return None
    return next((key for key in payload if key != "update_id"), None)


def allowed_updates_parse(value: object) -> list[str] | None:
    """allowed_updates as given (a JSON array, or its text in a form or query): None when
    not given, else the known types asked for, in Telegram's order ([] is the default)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ParallelRefused(400, "Bad Request: can't parse allowed updates") from None
    if not isinstance(value, list) or not all(isinstance(kind, str) for kind in value):
        raise ParallelRefused(400, "Bad Request: allowed updates must be an array of strings")
    wanted = set(value) & UPDATE_TYPES
    return sorted(wanted)


def parallel_types(requested: list[str] | None, stored: list[str]) -> list[str]:
    """The types the parallel bot gets after a call that asked for `requested`: as
    Telegram, a call without allowed_updates keeps what was asked before, [] is the
    default, and nothing asked ever is the default too."""
    if requested is None:
        return list(stored) or list(TELEGRAM_DEFAULT_UPDATES)
    return requested or list(TELEGRAM_DEFAULT_UPDATES)


def parallel_types_store(*, bot_id: int, types: list[str]) -> None:
    TelegramBot.objects.filter(pk=bot_id).update(parallel_allowed_updates=sorted(types))


def _url_check(url: object) -> str:
    """The webhook address, as Telegram checks it (https; http too with
    TELEGRAM_PROXY_ALLOW_HTTP), and not into Baton's own network (the API bots' rule:
    BATON_WEBHOOK_ALLOW_PRIVATE)."""
    if not isinstance(url, str) or len(url) > 500 or not url.isascii() or url != url.strip():
        raise ParallelRefused(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
    schemes = ("https://", "http://") if settings.TELEGRAM_PROXY_ALLOW_HTTP else ("https://",)
    if not url.lower().startswith(schemes):
        raise ParallelRefused(
            400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
        )
    public = settings.BATON_PUBLIC_URL
    if public and url.lower().startswith(f"{public.lower()}/telegram/"):
        # Baton's own webhook or proxy: every update would come back to Baton
        raise ParallelRefused(400, "Bad Request: bad webhook: that is Baton's own address")
    with translation.override("en"):  # the Bot API speaks English
        try:
            return webhook_url_check(url)
        except ValidationError as refused:
            description = f"Bad Request: bad webhook: {refused.messages[0]}"
            raise ParallelRefused(400, description) from None


def _drop_pending(bot: TelegramBot, now) -> None:
    """drop_pending_updates: nothing stored so far goes to the webhook or getUpdates."""
    TelegramUpdate.objects.filter(
        bot=bot, forwarded_at__isnull=True, received_at__gte=now - KEEP_FOR
    ).update(forwarded_at=now, forward_error="dropped (drop_pending_updates)", forward_next_at=None)
    last = TelegramUpdate.objects.filter(bot=bot).aggregate(last=Max("update_id"))["last"]
    if last is not None and last + 1 > bot.parallel_updates_offset:
        bot.parallel_updates_offset = last + 1


def parallel_webhook_check(
    *, url: object, secret_token: object, has_certificate: bool
) -> tuple[str, str]:
    """(url, secret) of a setWebhook with an address, checked as Telegram checks them;
    ParallelRefused otherwise."""
    url = _url_check(url)
    if has_certificate:
        raise ParallelRefused(
            400,
            "Bad Request: Baton does not take a self-signed certificate: give the webhook "
            "a certificate of a public authority",
        )
    secret = "" if secret_token is None else secret_token
    if secret != "" and (not isinstance(secret, str) or not SECRET_TOKEN.fullmatch(secret)):
        raise ParallelRefused(400, "Bad Request: secret token contains unallowed characters")
    return url, secret


CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)


def parallel_polling_check(*, bot_id: int) -> None:
    """ParallelRefused (409, as Telegram) when the parallel bot has a webhook set."""
    if TelegramBot.objects.filter(pk=bot_id).exclude(parallel_webhook_url="").exists():
        raise ParallelRefused(409, CONFLICT)


# what setWebhook and deleteWebhook change on the bot
WEBHOOK_FIELDS = [
    "parallel_webhook_url",
    "parallel_webhook_secret",
    "parallel_webhook_set_at",
    "parallel_updates_offset",
]


def parallel_webhook_set(
    *,
    bot_id: int,
    url: object,
    secret_token: object,
    drop_pending_updates: bool,
    has_certificate: bool,
) -> str:
    """The parallel bot's setWebhook: checked as Telegram checks it, stored, and its
    description returned ("Webhook was set"). An empty url deletes it, as at Telegram.
    Updates stored from the first setWebhook on are sent there (fanout.py); updates
    stored while none was set are not (they were for getUpdates)."""
    if url is None or url == "":
        return parallel_webhook_delete(bot_id=bot_id, drop_pending_updates=drop_pending_updates)
    url, secret = parallel_webhook_check(
        url=url, secret_token=secret_token, has_certificate=has_certificate
    )
    now = timezone.now()
    with transaction.atomic():
        bot = TelegramBot.objects.select_for_update().get(pk=bot_id)
        unchanged = bot.parallel_webhook_url == url and bot.parallel_webhook_secret == secret
        if not bot.parallel_webhook_url or bot.parallel_webhook_set_at is None:
            bot.parallel_webhook_set_at = now
        bot.parallel_webhook_url = url
        bot.parallel_webhook_secret = secret
        if drop_pending_updates:
            _drop_pending(bot, now)
        bot.save(update_fields=WEBHOOK_FIELDS)
    return "Webhook is already set" if unchanged else "Webhook was set"


def parallel_webhook_delete(*, bot_id: int, drop_pending_updates: bool) -> str:
    """The parallel bot's deleteWebhook: updates are no longer sent to it; from now on
    what is stored is for its getUpdates."""
    now = timezone.now()
    with transaction.atomic():
        bot = TelegramBot.objects.select_for_update().get(pk=bot_id)
        had = bool(bot.parallel_webhook_url)
        bot.parallel_webhook_url = ""
        bot.parallel_webhook_secret = ""
        bot.parallel_webhook_set_at = None
        if drop_pending_updates:
            _drop_pending(bot, now)
        bot.save(update_fields=WEBHOOK_FIELDS)
    return "Webhook was deleted" if had else "Webhook is already deleted"


def _queue(bot: TelegramBot, now):
    """What getUpdates would give: stored, not sent to a webhook, at most a day old."""
    return TelegramUpdate.objects.filter(
        bot=bot, forwarded_at__isnull=True, received_at__gte=now - KEEP_FOR
    )


def parallel_webhook_info(*, bot_id: int) -> dict:
    """getWebhookInfo as Telegram answers it, from what the parallel bot set."""
    bot = TelegramBot.objects.get(pk=bot_id)
    now = timezone.now()
    if bot.parallel_webhook_url and bot.parallel_webhook_set_at is not None:
        pending = _queue(bot, now).filter(received_at__gte=bot.parallel_webhook_set_at)
    else:
        pending = _queue(bot, now).filter(update_id__gte=bot.parallel_updates_offset)
    info: dict = {
        "url": bot.parallel_webhook_url,
        "has_custom_certificate": False,
        "pending_update_count": pending.count(),
    }
    if bot.parallel_webhook_url:
        info["max_connections"] = 1  # sent one at a time, in order
        head = (
            pending.order_by("update_id")
            .only("forward_error", "forward_attempts", "forward_next_at")
            .first()
        )
        if head is not None and head.forward_error and head.forward_next_at is not None:
            # the next try was set at the failure, its backoff ahead
            failed_at = head.forward_next_at - retry_delay(head.forward_attempts)
            info["last_error_date"] = int(failed_at.timestamp())
            info["last_error_message"] = head.forward_error
    if bot.parallel_allowed_updates:
        info["allowed_updates"] = bot.parallel_allowed_updates
    return info


def parallel_updates_get(*, bot_id: int, offset: int, limit: int) -> list[dict]:
    """One look of getUpdates (the caller waits and looks again for `timeout`): the
    stored updates from `offset` on, of the types the bot asked for, in update_id order.
    As at Telegram, an offset confirms every update before it (they are not given
    again), a negative offset gives the last -offset updates and forgets the ones
    before, and a webhook set makes it a 409 Conflict."""
    now = timezone.now()
    limit = min(max(limit, 1), GET_UPDATES_LIMIT)
    bot = TelegramBot.objects.get(pk=bot_id)
    if bot.parallel_webhook_url:
        raise ParallelRefused(409, CONFLICT)
    queue = _queue(bot, now).filter(update_id__gte=bot.parallel_updates_offset)
    confirmed = bot.parallel_updates_offset
    if offset < 0:
        last = list(queue.order_by("-update_id").values_list("update_id", flat=True)[:-offset])
        if last:
            confirmed = min(last)
    elif offset > confirmed:
        confirmed = offset
    if confirmed != bot.parallel_updates_offset:
        # only ever forward (no lock: a poll that raced another confirms no less)
        TelegramBot.objects.filter(pk=bot.pk, parallel_updates_offset__lt=confirmed).update(
            parallel_updates_offset=confirmed
        )
    wanted = Q()
    for kind in parallel_types(None, bot.parallel_allowed_updates):
        wanted |= Q(payload__has_key=kind)
    rows = queue.filter(wanted, update_id__gte=confirmed).order_by("update_id")
    return [row.payload for row in rows.only("payload")[:limit]]


def parallel_bot_connected(*, bot: TelegramBot) -> bool:
    """Whether a parallel bot has been connected through the proxy: it set a webhook or
    polled getUpdates (both record the update types it wants)."""
    return bool(bot.parallel_webhook_url or bot.parallel_allowed_updates)


def callback_query_is_parallel(
    *, bot: TelegramBot, chat_id: int | None, message_id: int | None
) -> bool:
    """Whether a button press belongs to the parallel bot: one is connected, and the
    button is on a message Baton did not send (no outbox row sent it), or on an inline
    message. Baton must then neither answer the callback query (a query is answered
    once: the parallel bot's answerCallbackQuery would fail) nor handle it.
    For telegram_bridge.handlers (update_acknowledge and update_route)."""
    if not parallel_bot_connected(bot=bot):
        return False
    if chat_id is None or message_id is None:
        return True
    return not OutboundMessage.objects.filter(
        bot=bot, telegram_chat_id=chat_id, telegram_message_id=message_id
    ).exists()
