"""The webhook: check the secret, store the update once, acknowledge. Processing happens
after the response, in a Celery worker (telegram_bridge.tasks)."""

from __future__ import annotations

import hmac
import json
import logging

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from telegram_bridge import selectors
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
    except (ValueError, UnicodeDecodeError, RequestDataTooBig) as error:
        # MalformedUpdate is a ValueError, like a JSON syntax error
        logger.warning("malformed Telegram update refused for bot %s: %s", bot.pk, error)
        detail = str(error) if isinstance(error, MalformedUpdate) else "the body is not JSON"
        return JsonResponse({"ok": False, "error": detail}, status=400)
    return JsonResponse({"ok": True, "duplicate": not created})
