"""The webhook: check the secret, store the update once, acknowledge. Processing happens
after the response, in a Celery worker (telegram_bridge.tasks)."""

from __future__ import annotations

import hmac
import json
import logging

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from telegram_bridge import selectors
from telegram_bridge.services.files import FileUnavailable, file_fetch
from telegram_bridge.services.updates import MalformedUpdate, update_store

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)


@csrf_exempt
@require_POST
def telegram_webhook(request: HttpRequest, webhook_key: str) -> JsonResponse:
    bot = selectors.bot_for_webhook(webhook_key=webhook_key)
    if bot is None:
        logger.warning("Telegram webhook for an unknown bot")
        return JsonResponse({"ok": False, "error": "unknown bot"}, status=404)
    secret = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(secret.encode(), bot.webhook_secret.encode()):
        logger.warning("Telegram webhook with a wrong secret for bot %s", bot.pk)
        return JsonResponse({"ok": False, "error": "forbidden"}, status=403)
    try:
        payload = json.loads(request.body)
        created = update_store(bot=bot, payload=payload)
    except (ValueError, UnicodeDecodeError, RecursionError, RequestDataTooBig) as error:
        # MalformedUpdate is a ValueError, like a JSON syntax error
        logger.warning("malformed Telegram update refused for bot %s: %s", bot.pk, error)
        detail = str(error) if isinstance(error, MalformedUpdate) else "the body is not JSON"
        return JsonResponse({"ok": False, "error": detail}, status=400)
    return JsonResponse({"ok": True, "duplicate": not created})


@require_GET
def telegram_file(request: HttpRequest, signed: str) -> HttpResponse:
    """A photo or document from Telegram, for the widget and the console. Photos are
    JPEG; anything else is a download, never rendered as a page of ours."""
    try:
        telegram_file = file_fetch(signed=signed)
    except FileUnavailable as error:
        raise Http404(str(error)) from None
    if telegram_file.kind == "photo":
        response = HttpResponse(telegram_file.content, content_type="image/jpeg")
    else:
        response = HttpResponse(telegram_file.content, content_type="application/octet-stream")
        name = telegram_file.file_name or "document"
        response["Content-Disposition"] = content_disposition_header(True, name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=86400"
    return response
