"""The webhook: check the secret, store the update once, acknowledge. Processing happens
after the response, in a Celery worker (telegram_bridge.tasks).

In production the webhook is served by telegram_bridge.asgi ahead of Django's
middleware (none of which a Telegram POST needs); this view serves the same answer
through Django's stack, for the test client and for a deployment without our ASGI entry."""

from __future__ import annotations

import hmac
import json
import logging
import time

from asgiref.sync import sync_to_async
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, close_old_connections, connections, router
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chats.enums import AttachmentKind
from telegram_bridge import selectors
from telegram_bridge.models import TelegramUpdate
from telegram_bridge.services.files import FileUnavailable, file_fetch
from telegram_bridge.services.updates import (
    MalformedUpdate,
    processing_schedule,
    update_insert,
    update_parse,
)

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)

# webhook key -> (bot id, secret, when this process read them). A secret changed in the
# database (rotated after a leak) is read again at once when a request brings another
# one, and in any case SECRET_RECHECK seconds after the last read, so a process accepts
# a replaced secret (or a replaced key) for at most that long. A deleted bot's entry is
# dropped when it is read again or when its INSERT fails.
SECRET_RECHECK = 60.0
_webhook_bots: dict[str, tuple[int, str, float]] = {}
_clock = time.monotonic  # tests move it forward


async def _bot_read(webhook_key: str) -> tuple[int, str, float] | None:
    """The bot's id and secret as the database holds them now, kept for the next request."""
    bot = await sync_to_async(_housekept)(selectors.bot_for_webhook, webhook_key=webhook_key)
    if bot is None:
        _webhook_bots.pop(webhook_key, None)
        return None
    known = _webhook_bots[webhook_key] = (bot.pk, bot.webhook_secret, _clock())
    return known


def _secret_matches(secret: str, bot_secret: str) -> bool:
    return hmac.compare_digest(secret.encode(), bot_secret.encode())


async def _webhook_bot(webhook_key: str, secret: str) -> tuple[int, bool] | None:
    """(bot id, whether `secret` is its secret), or None for an unknown key. The database
    is asked only when this process has not read the bot for SECRET_RECHECK seconds or
    the secret does not match what it read: a good request costs no query here."""
    known = _webhook_bots.get(webhook_key)
    fresh = known is None or _clock() - known[2] > SECRET_RECHECK
    if fresh:
        known = await _bot_read(webhook_key)
        if known is None:
            return None
    if _secret_matches(secret, known[1]):
        return known[0], True
    if not fresh:
        # the secret may have been changed since this process read it: ask once
        known = await _bot_read(webhook_key)
        if known is None:
            return None
    return known[0], _secret_matches(secret, known[1])


def _housekept(function, **kwargs):
    """`function` on the database thread, with the connection housekeeping Django's
    request signals do (close_old_connections before and after), except inside a
    transaction someone else holds (the test client's)."""
    connection = connections[router.db_for_write(TelegramUpdate)]
    if not connection.in_atomic_block:
        close_old_connections()
    try:
        return function(**kwargs)
    finally:
        if not connection.in_atomic_block:
            close_old_connections()


async def webhook_answer(*, webhook_key: str, secret: str, body: bytes | None) -> tuple[int, dict]:
    """(status, JSON answer) for one POST to the webhook; `body` is None when it was over
    DATA_UPLOAD_MAX_MEMORY_SIZE. A good new update, and a replay, costs one INSERT (and
    the SELECT of the bot's secret the first time a process sees the bot and every
    SECRET_RECHECK seconds after); a wrong secret costs that SELECT (the secret may have
    been changed), garbage with the right secret nothing."""
    known = await _webhook_bot(webhook_key, secret)
    if known is None:
        logger.warning("Telegram webhook for an unknown bot")
        return 404, {"ok": False, "error": "unknown bot"}
    bot_id, secret_matches = known
    if not secret_matches:
        logger.warning("Telegram webhook with a wrong secret for bot %s", bot_id)
        return 403, {"ok": False, "error": "forbidden"}
    try:
        if body is None:
            raise RequestDataTooBig("the body is over the upload limit")
        payload = json.loads(body)
        update_id, chat_id = update_parse(payload)
    except (ValueError, UnicodeDecodeError, RecursionError, RequestDataTooBig) as error:
        # MalformedUpdate is a ValueError, like a JSON syntax error
        logger.warning("malformed Telegram update refused for bot %s: %s", bot_id, error)
        detail = str(error) if isinstance(error, MalformedUpdate) else "the body is not JSON"
        return 400, {"ok": False, "error": detail}
    try:
        created = await sync_to_async(_housekept)(
            update_insert, bot_id=bot_id, update_id=update_id, chat_id=chat_id, payload=payload
        )
    except IntegrityError:  # the bot was deleted since this process read its secret
        _webhook_bots.pop(webhook_key, None)
        logger.warning("Telegram webhook for a deleted bot %s", bot_id)
        return 404, {"ok": False, "error": "unknown bot"}
    if created:
        # the broker call runs off the database thread, so it holds up no other request
        await sync_to_async(processing_schedule, thread_sensitive=False)(
            bot_id=bot_id, telegram_chat_id=chat_id
        )
    return 200, {"ok": True, "duplicate": not created}


@csrf_exempt
@require_POST
async def telegram_webhook(request: HttpRequest, webhook_key: str) -> JsonResponse:
    try:
        body = request.body
    except RequestDataTooBig:
        body = None
    status, answer = await webhook_answer(
        webhook_key=webhook_key, secret=request.headers.get(SECRET_HEADER, ""), body=body
    )
    return JsonResponse(answer, status=status)


@require_GET
def telegram_file(request: HttpRequest, signed: str) -> HttpResponse:
    """A photo or document from Telegram, for the widget and the console. Photos are
    JPEG; anything else is a download, never rendered as a page of ours."""
    try:
        telegram_file = file_fetch(signed=signed)
    except FileUnavailable as error:
        raise Http404(str(error)) from None
    if telegram_file.kind == AttachmentKind.PHOTO:
        response = HttpResponse(telegram_file.content, content_type="image/jpeg")
    else:
        response = HttpResponse(telegram_file.content, content_type="application/octet-stream")
        name = telegram_file.file_name or "document"
        response["Content-Disposition"] = content_disposition_header(True, name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=86400"
    return response
