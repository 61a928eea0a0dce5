"""The Bot API proxy for a parallel bot (telegram_bridge.services.proxy): it sets its
base URL to <Baton>/telegram/proxy/<webhook_key>/bot and its file URL to
<Baton>/telegram/proxy/<webhook_key>/file/bot.

The token is in every path here: each answer is marked logged, so Django never logs
the path of a refused call (it logs "Unauthorized: <path>" otherwise)."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from telegram_bridge.services.proxy import ProxyAnswer, proxy_call, proxy_download, proxy_refusal
from telegram_bridge.services.proxy.calls import Incoming, telegram_error

logger = logging.getLogger(__name__)


def _response(answer: ProxyAnswer) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    response._has_been_logged = True  # noqa: SLF001 (Django's own flag: the path holds the token)
    response["Cache-Control"] = "no-store"
    return response


def _content_length(request: HttpRequest) -> int | None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return length if length >= 0 else None


@csrf_exempt
async def telegram_proxy(
    request: HttpRequest, webhook_key: str, token: str, method: str
) -> HttpResponse:
    if request.method not in ("GET", "POST"):
        return _response(proxy_refusal(405))
    incoming = Incoming(
        http_method=request.method,
        query=request.META.get("QUERY_STRING", ""),
        content_type=request.META.get("CONTENT_TYPE", ""),
        content_length=_content_length(request),
        read=request.read,
    )
    try:
        answer = await proxy_call(
            webhook_key=webhook_key, token=token, method=method, incoming=incoming
        )
    except Exception as error:
        # answered here: Django's 500 would log the path, and with it the token
        logger.error("Bot API proxy: a call failed (%s)", type(error).__name__, exc_info=True)
        answer = telegram_error(500, "Internal Server Error")
    return _response(answer)


@csrf_exempt
async def telegram_proxy_file(
    request: HttpRequest, webhook_key: str, token: str, file_path: str
) -> HttpResponse:
    if request.method != "GET":
        return _response(proxy_refusal(405))
    try:
        answer = await proxy_download(webhook_key=webhook_key, token=token, file_path=file_path)
    except Exception as error:
        logger.error("Bot API proxy: a download failed (%s)", type(error).__name__, exc_info=True)
        answer = telegram_error(500, "Internal Server Error")
    return _response(answer)


@csrf_exempt
async def telegram_proxy_unknown(request: HttpRequest, rest: str) -> HttpResponse:
    """Any other address under the proxy: Telegram's 404, never Django's (which logs it)."""
    return _response(proxy_refusal(404))
