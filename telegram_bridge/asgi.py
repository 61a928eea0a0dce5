"""The webhook at the ASGI level, ahead of Django's middleware.

A Telegram POST needs none of the middleware (sessions, auth, CSRF, CSP, locale,
static files, login throttling); most of it is synchronous, so under Daphne each
request would hop to the process's one sync thread and back for it, and again for
the request_started / request_finished signals. Here the body is read and checked
on the event loop and the database is visited once, for the INSERT
(telegram_bridge.views.webhook_answer, the same answer the Django view gives).

What of the middleware guards the view is done here too, with Django's own request
code: the Host must be one of ALLOWED_HOSTS (else 400, as CommonMiddleware answers), and
with SECURE_SSL_REDIRECT a request that did not come over https (SECURE_PROXY_SSL_HEADER
honoured) is refused with 403 where SecurityMiddleware would redirect: Telegram only
posts to https and follows no redirect.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest

from telegram_bridge.views import SECRET_HEADER, webhook_answer

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger(__name__)
# the logger Django reports a bad Host to, so its logging settings apply here too
_disallowed_host_logger = logging.getLogger("django.security.DisallowedHost")

WEBHOOK_PATH = re.compile(r"^/telegram/webhook/(?P<webhook_key>[^/]+)/$")
_SECRET = SECRET_HEADER.lower().encode("latin-1")


class _Disconnected(Exception):
    pass


async def _body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None when it is over `limit` bytes (read to the end
    anyway, so the connection stays usable)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks) if size <= limit else None


async def _respond(send: Send, status: int, answer: dict, extra: list | None = None) -> None:
    body = json.dumps(answer).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _middleware_refusal(scope: Scope) -> tuple[int, dict] | None:
    """(status, answer) when Django's middleware would not let the request reach the
    view: a Host not in ALLOWED_HOSTS (DEBUG's defaults for an empty list included), or
    plain http while SECURE_SSL_REDIRECT asks for https (SECURE_REDIRECT_EXEMPT kept)."""
    request = ASGIRequest(scope, io.BytesIO())  # headers only: the body is not read
    try:
        request.get_host()
    except DisallowedHost as error:
        _disallowed_host_logger.error(
            str(error), exc_info=error, extra={"status_code": 400, "request": request}
        )
        return 400, {"ok": False, "error": "bad request"}
    if settings.SECURE_SSL_REDIRECT and not request.is_secure():
        path = request.path.lstrip("/")
        if not any(re.search(pattern, path) for pattern in settings.SECURE_REDIRECT_EXEMPT):
            logger.warning("Telegram webhook over plain http refused (SECURE_SSL_REDIRECT)")
            return 403, {"ok": False, "error": "https only"}
    return None


async def webhook_application(scope: Scope, receive: Receive, send: Send, webhook_key: str):
    refusal = _middleware_refusal(scope)
    if refusal is not None:
        await _respond(send, *refusal)
        return
    if scope["method"] != "POST":
        await _respond(send, 405, {"ok": False, "error": "POST only"}, [(b"allow", b"POST")])
        return
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        body = await _body(receive, limit if limit is not None else 2**62)
    except _Disconnected:
        return
    secret = next((value for name, value in scope["headers"] if name == _SECRET), b"")
    status, answer = await webhook_answer(
        webhook_key=webhook_key, secret=secret.decode("latin-1"), body=body
    )
    await _respond(send, status, answer)


def webhook_first(application: ASGIApp) -> ASGIApp:
    """`application` with POSTs to /telegram/webhook/<key>/ answered before it."""

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match = WEBHOOK_PATH.match(scope["path"])
            if match is not None:
                await webhook_application(scope, receive, send, match["webhook_key"])
                return
        await application(scope, receive, send)

    return route
