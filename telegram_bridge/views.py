"""The webhook: check the secret, store the update once, acknowledge. Processing happens
after the response, in a Celery worker (telegram_bridge.tasks).

In production the webhook is served by telegram_bridge.asgi ahead of Django's
middleware (none of which a Telegram POST needs); this view serves the same answer
through Django's stack, for the test client and for a deployment without our ASGI entry."""

from __future__ import annotations

import hmac
import json
import logging

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

# webhook key -> (bot id, secret); neither ever changes for a bot, so once read they
# are kept for the process's life (a deleted bot's key is dropped when its INSERT fails)
_webhook_bots: dict[str, tuple[int, str]] = {}


async def _webhook_bot(webhook_key: str) -> tuple[int, str] | None:
    known = _webhook_bots.get(webhook_key)
    if known is None:
        bot = await sync_to_async(selectors.bot_for_webhook)(webhook_key=webhook_key)
        if bot is None:
            return None
        known = _webhook_bots[webhook_key] = (bot.pk, bot.webhook_secret)
    return known


def _update_insert(**kwargs) -> bool:
    """update_insert on the database thread, with the connection housekeeping Django's
    request signals do (close_old_connections before and after), except inside a
    transaction someone else holds (the test client's)."""
    connection = connections[router.db_for_write(TelegramUpdate)]
    if not connection.in_atomic_block:
        close_old_connections()
    try:
        return update_insert(**kwargs)
    finally:
        if not connection.in_atomic_block:
            close_old_connections()


async def webhook_answer(*, webhook_key: str, secret: str, body: bytes | None) -> tuple[int, dict]:
    """(status, JSON answer) for one POST to the webhook; `body` is None when it was over
    DATA_UPLOAD_MAX_MEMORY_SIZE. A good new update costs one INSERT (and, the first time
    a process sees the bot, the SELECT of its secret); everything else is refused before
    the database is asked."""
    known = await _webhook_bot(webhook_key)
    if known is None:
        logger.warning("Telegram webhook for an unknown bot")
        return 404, {"ok": False, "error": "unknown bot"}
    bot_id, bot_secret = known
    if not hmac.compare_digest(secret.encode(), bot_secret.encode()):
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
        created = await sync_to_async(_update_insert)(
            bot_id=bot_id, update_id=update_id, chat_id=chat_id, payload=payload
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
