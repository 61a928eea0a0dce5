"""Every update Baton stores, sent on to the parallel bot's webhook as Telegram would send
it: a POST of the update's JSON with X-Telegram-Bot-Api-Secret-Token, one at a time in
update_id order per bot, retried with backoff while the webhook fails (later updates
wait behind it, as behind Telegram's), given up a day after it arrived, as Telegram
keeps an update a day.

State lives on the TelegramUpdate rows (forwarded_at, forward_attempts,
forward_next_at, forward_error), so a worker restart loses nothing: the processing task
of each new update and the periodic sweep schedule the forwarder again. An update is
sent at least once (a worker killed between the POST and its recording sends it again
- Telegram's webhook does the same on a lost answer). Only updates stored after the
webhook was set are sent; what arrived while none was set was for getUpdates.

The address is checked as API bots' webhooks are (distributor.services.webhooks: no
loopback or private address unless BATON_WEBHOOK_ALLOW_PRIVATE), connecting to the
address checked.

A webhook may answer with a Bot API call (JSON with "method"), which Telegram makes for
it: so does Baton (its result goes nowhere, as at Telegram), copying what it sent to a
client into the topic like any call through the proxy."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone, translation

from distributor.services.webhooks import ADDRESS_REFUSED, webhook_transport, webhook_url_check
from telegram_bridge.models import TelegramBot, TelegramUpdate
from telegram_bridge.services.proxy.calls import (
    ANSWERED,
    METHOD,
    REFUSED,
    ProxyAnswer,
    parallel_sent_copy,
    sent_messages,
)
from telegram_bridge.services.proxy.parallel import (
    KEEP_FOR,
    parallel_types,
    retry_delay,
    update_type,
)
from telegram_bridge.services.scheduling import task_schedule, task_schedule_later, task_started

logger = logging.getLogger(__name__)

FORWARD_TASK = "telegram_bridge.forward_updates"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
# a claimed update is not claimed again for this long (a forwarder killed mid-POST
# leaves it to the next one after that)
CLAIM_LEASE = timedelta(seconds=60)
SEND_TIMEOUT = 15.0
# updates sent by one task before it hands over to a new one
BATCH = 200
ERROR_MAX = 300
# a webhook's answer longer than this is not read for a method call
REPLY_MAX = 1024 * 1024


def forwarding_schedule(*, bot_id: int) -> None:
    """Ask a worker to send the bot's waiting updates to the parallel bot's webhook (once
    while one is queued)."""
    task_schedule(FORWARD_TASK, [bot_id])


def _waiting(bot: TelegramBot):
    return TelegramUpdate.objects.filter(
        bot=bot, forwarded_at__isnull=True, received_at__gte=bot.parallel_webhook_set_at
    )


def _body(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _post(url: str, secret: str, payload: dict) -> tuple[str | None, dict | None]:
    """One try: (None, a method call the webhook answered with, if any) when it answered
    2xx, else (what went wrong, None)."""
    with translation.override("en"):  # told to the parallel bot by getWebhookInfo
        try:
            webhook_url_check(url)
        except ValidationError as refused:
            return f"refused: {refused.messages[0]}", None
    headers = {"Content-Type": "application/json"}
    if secret:
        headers[SECRET_HEADER] = secret
    try:
        with httpx.Client(
            timeout=SEND_TIMEOUT, follow_redirects=False, transport=webhook_transport()
        ) as client:
            response = client.post(url, content=_body(payload), headers=headers)
    except httpx.HTTPError as error:
        if str(error) == ADDRESS_REFUSED:
            return ADDRESS_REFUSED, None
        return f"{type(error).__name__}: {error}"[:ERROR_MAX] or type(error).__name__, None
    if 200 <= response.status_code < 300:
        return None, _reply_call(response)
    error = f"Wrong response from the webhook: {response.status_code} {response.reason_phrase}"
    return error, None


def _reply_call(response: httpx.Response) -> dict | None:
    """A Bot API call the webhook put in its answer (JSON with "method"), which Telegram
    makes for a webhook; None when there is none."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json" or not response.content or len(response.content) > REPLY_MAX:
        return None
    try:
        document = json.loads(response.content)
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("method"), str):
        return None
    return document


def _reply_make(bot: TelegramBot, document: dict) -> None:
    """Make the webhook's answer's call as Telegram would (its result goes nowhere, as
    at Telegram); what it sent to a client is copied into the client's topic. Only a
    call forwarded through the proxy is made: not the webhook methods, logOut or close."""
    params = {key: value for key, value in document.items() if key != "method"}
    method = document["method"]
    if not METHOD.fullmatch(method) or method.lower() in ANSWERED | REFUSED:
        logger.warning(
            "bot %s: the parallel bot's webhook answered with %r: not made", bot.pk, method[:64]
        )
        return
    try:
        with httpx.Client(timeout=SEND_TIMEOUT, follow_redirects=False) as client:
            response = client.post(f"{settings.TELEGRAM_API_URL}{bot.token}/{method}", json=params)
        answer = ProxyAnswer(response.status_code, response.content)
    except Exception as error:  # network, or a body httpx cannot encode: its kind only
        logger.warning(
            "bot %s: the call in the parallel bot's webhook answer failed (%s)",
            bot.pk,
            type(error).__name__,
        )
        return
    sent = sent_messages(method=method, params=params, answer=answer)
    if sent:
        parallel_sent_copy(bot_id=bot.pk, sent=sent)


def _finish(row: TelegramUpdate, error: str = "") -> None:
    TelegramUpdate.objects.filter(pk=row.pk).update(
        forwarded_at=timezone.now(), forward_next_at=None, forward_error=error[:ERROR_MAX]
    )


def parallel_updates_forward(*, bot_id: int) -> int:
    """Send the bot's waiting updates to the parallel bot's webhook, in update_id order,
    until none is left or one fails (it is tried again after its backoff, by a task
    scheduled for then). Returns how many were delivered.

    Each update is claimed with a conditional UPDATE before its POST, so of two
    forwarders only one sends it; the other finds the head claimed and stops."""
    task_started(FORWARD_TASK, [bot_id])
    delivered = 0
    for _ in range(BATCH):
        bot = (
            TelegramBot.objects.filter(pk=bot_id)
            .only(
                "pk",
                "token",
                "parallel_webhook_url",
                "parallel_webhook_secret",
                "parallel_webhook_set_at",
                "parallel_allowed_updates",
            )
            .first()
        )
        if bot is None or not bot.parallel_webhook_url or bot.parallel_webhook_set_at is None:
            return delivered
        head = _waiting(bot).order_by("update_id").first()
        if head is None:
            return delivered
        now = timezone.now()
        if head.forward_next_at is not None and head.forward_next_at > now:
            # waiting for its retry, or being sent by another forwarder
            wait = (head.forward_next_at - now).total_seconds()
            task_schedule_later(FORWARD_TASK, [bot_id], countdown=wait)
            return delivered
        if head.received_at < now - KEEP_FOR:
            logger.warning(
                "update %s of bot %s not delivered to the parallel bot within a day: dropped",
                head.update_id,
                bot_id,
            )
            _finish(head, f"given up after {head.forward_attempts} tries: {head.forward_error}")
            continue
        if update_type(head.payload) not in parallel_types(None, bot.parallel_allowed_updates):
            _finish(head, "not asked for (allowed_updates)")
            continue
        claimed = TelegramUpdate.objects.filter(
            pk=head.pk, forwarded_at__isnull=True, forward_attempts=head.forward_attempts
        ).update(forward_attempts=head.forward_attempts + 1, forward_next_at=now + CLAIM_LEASE)
        if not claimed:
            return delivered
        attempts = head.forward_attempts + 1
        error, reply = _post(bot.parallel_webhook_url, bot.parallel_webhook_secret, head.payload)
        if error is None:
            _finish(head)
            delivered += 1
            if reply is not None:
                _reply_make(bot, reply)
            continue
        delay = retry_delay(attempts)
        logger.info(
            "update %s of bot %s: the parallel bot's webhook failed (try %s), again in %s s: %s",
            head.update_id,
            bot_id,
            attempts,
            delay.total_seconds(),
            error,
        )
        TelegramUpdate.objects.filter(pk=head.pk).update(
            forward_next_at=timezone.now() + delay, forward_error=error[:ERROR_MAX]
        )
        task_schedule_later(FORWARD_TASK, [bot_id], countdown=delay.total_seconds())
        return delivered
    forwarding_schedule(bot_id=bot_id)  # more waiting: a fresh task goes on
    return delivered


def forwarding_due_bots() -> list[int]:
    """Bots with an update waiting for the parallel bot's webhook whose try is due (the
    sweep schedules them: a task lost with a worker or the broker)."""
    now = timezone.now()
    due = []
    bots = TelegramBot.objects.exclude(parallel_webhook_url="").filter(
        parallel_webhook_set_at__isnull=False
    )
    for bot in bots.only("pk", "parallel_webhook_set_at"):
        if (
            _waiting(bot)
            .filter(Q(forward_next_at__isnull=True) | Q(forward_next_at__lte=now))
            .exists()
        ):
            due.append(bot.pk)
    return due
