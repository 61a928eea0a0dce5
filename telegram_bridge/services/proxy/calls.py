"""The parallel bot's Bot API calls: forwarded to Telegram (TELEGRAM_API_URL) unchanged
(method, query, body and its Content-Type), Telegram's answer returned unchanged (its
status, body and Content-Type). What a sending call put into a client's private chat is
then copied into the client's topic (group.copying.parallel_messages_copy). The
webhook methods and getUpdates are answered by Baton (parallel.py); logOut and close
are refused: they would log Baton out too.

Answers Baton gives itself are shaped like Telegram's: {"ok": false, "error_code",
"description"}. The token is in the path of every call: it is never logged (the view
marks its answers logged, so Django does not log the path either)."""

from __future__ import annotations

import asyncio
import hmac
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.db import transaction
from django.http.multipartparser import MultiPartParser
from telegram.error import TelegramError

from telegram_bridge.models import TelegramBot
from telegram_bridge.services.bots import bot_allowed_updates, bot_allowed_updates_widen
from telegram_bridge.services.group.copying import parallel_messages_copy
from telegram_bridge.services.proxy.parallel import (
    ParallelRefused,
    allowed_updates_parse,
    parallel_polling_check,
    parallel_types,
    parallel_types_store,
    parallel_updates_get,
    parallel_webhook_check,
    parallel_webhook_delete,
    parallel_webhook_info,
    parallel_webhook_set,
)

logger = logging.getLogger(__name__)

# Telegram takes uploads of up to 50 MB; a multipart body has a little more around them
MAX_BODY = 50 * 1024 * 1024 + 1024 * 1024
CHUNK = 256 * 1024
# connect, send (a 50 MB upload), Telegram's answer (it may take a while to store one)
TIMEOUT = httpx.Timeout(connect=10.0, write=120.0, read=120.0, pool=10.0)
# getUpdates waits for an update at most this long (Telegram's own limit is about 50 s)
MAX_POLL = 50.0
POLL_INTERVAL = 0.5
METHOD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
FILE_PATH = re.compile(r"[A-Za-z0-9_.\-/]{1,512}")

ANSWERED = frozenset({"setwebhook", "deletewebhook", "getwebhookinfo", "getupdates"})
REFUSED = frozenset({"logout", "close"})
# sending methods whose result is a MessageId (or a list of them): the chat is the
# call's chat_id, so their parameters are read
BY_CHAT_ID = frozenset({"copymessage", "copymessages", "forwardmessages"})


@dataclass(frozen=True)
class ProxyAnswer:
    status: int
    body: bytes
    content_type: str = "application/json"

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def _answer(status: int, document: dict) -> ProxyAnswer:
    return ProxyAnswer(status, json.dumps(document, ensure_ascii=False).encode())


def telegram_error(status: int, description: str) -> ProxyAnswer:
    return _answer(status, {"ok": False, "error_code": status, "description": description})


def telegram_ok(result: Any, description: str | None = None) -> ProxyAnswer:
    document: dict = {"ok": True, "result": result}
    if description:
        document["description"] = description
    return _answer(200, document)


def proxy_refusal(status: int) -> ProxyAnswer:
    """Telegram's answer for an unknown address (404) or a method it does not take (405)."""
    return telegram_error(status, "Not Found" if status == 404 else "Method Not Allowed")


@dataclass(frozen=True)
class Incoming:
    """A call as the parallel bot made it."""

    http_method: str  # GET or POST
    query: str
    content_type: str
    content_length: int | None
    read: Callable[[int], bytes]  # reads the body (blocking reads of a spooled file)


# -- Telegram ---------------------------------------------------------------------------------

# event loop -> its client. Under Daphne a process has one loop for its life; a view run
# by a WSGI server gets a loop per request (asgiref), so the clients of closed loops are
# dropped (a client holds its loop: a weak mapping would never let one go)
_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}


def _client() -> httpx.AsyncClient:
    """The event loop's client (keeps connections to Telegram open between calls)."""
    for loop in [loop for loop in _clients if loop.is_closed()]:
        _clients.pop(loop, None)
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = _clients[loop] = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
    return client


async def _telegram(
    bot_id: int, method: str, url: str, *, content=None, headers: dict | None = None
) -> ProxyAnswer:
    try:
        response = await _client().request(method, url, content=content, headers=headers)
    except (httpx.HTTPError, OSError) as error:  # OSError: reading the bot's body
        # the error's text may hold the URL, and so the token: its kind only
        logger.warning(
            "Bot API proxy of bot %s: Telegram did not answer (%s)", bot_id, type(error).__name__
        )
        return telegram_error(502, "Bad Gateway: Telegram did not answer")
    content_type = response.headers.get("content-type", "application/json")
    return ProxyAnswer(response.status_code, response.content, content_type)


# -- the bot ----------------------------------------------------------------------------------


def _bot_of(webhook_key: str) -> tuple[int, str] | None:
    found = TelegramBot.objects.filter(webhook_key=webhook_key).values_list("pk", "token").first()
    return found


async def _authorised(webhook_key: str, token: str) -> int | ProxyAnswer:
    """The bot's id, or Telegram's answer: 404 for an unknown key, 401 for a token that
    is not the bot's (compared in constant time)."""
    found = await sync_to_async(_bot_of)(webhook_key=webhook_key)
    if found is None:
        return proxy_refusal(404)
    bot_id, bot_token = found
    if not hmac.compare_digest(token.encode("utf-8", "replace"), bot_token.encode()):
        logger.warning("Bot API proxy of bot %s: a call with a wrong token refused", bot_id)
        return telegram_error(401, "Unauthorized")
    return bot_id


# -- parameters -------------------------------------------------------------------------------


class _Unreadable(ValueError):
    pass


def params_parse(*, query: str, body: bytes, content_type: str) -> dict[str, Any]:
    """A call's parameters as Telegram reads them: the query string, then a JSON object,
    a urlencoded or a multipart body (a file's parameter is True). _Unreadable when the
    body is none of these."""
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if not body:
        return params
    kind = content_type.split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            document = json.loads(body)
            if not isinstance(document, dict):
                raise _Unreadable("a JSON body is an object")
            params.update(document)
        elif kind in ("application/x-www-form-urlencoded", ""):
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        elif kind == "multipart/form-data":
            meta = {"CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body))}
            handler = MemoryFileUploadHandler()
            fields, files = MultiPartParser(meta, io.BytesIO(body), [handler], "utf-8").parse()
            if not fields and not files:  # Django's parser skips what it cannot read
                raise _Unreadable("no parameters in the multipart body")
            params.update(fields.dict())
            params.update(dict.fromkeys(files, True))
        else:
            raise _Unreadable("unsupported content type")
    except _Unreadable:
        raise
    except Exception as error:  # JSON, UTF-8 and multipart errors alike
        raise _Unreadable(type(error).__name__) from None
    return params


def _int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ParallelRefused(400, "Bad Request: a number was expected")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ParallelRefused(400, "Bad Request: a number was expected") from None


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return value is True or value == 1


# -- copies into topics -----------------------------------------------------------------------


def _chat_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,20}", value.strip()):
        return int(value)
    return None  # "@channel"


def sent_messages(*, method: str, params: dict, answer: ProxyAnswer) -> dict[int, list[int]]:
    """The messages an ok sending call put into private chats: chat id -> message ids.
    A Message (send*, forwardMessage) or a list of them (sendMediaGroup) carries its
    chat; a MessageId (copyMessage) or a list of them (copyMessages, forwardMessages)
    is in the call's chat_id."""
    method = method.lower()
    if answer.status != 200 or not method.startswith(("send", "forward", "copy")):
        return {}
    try:
        document = answer.json
    except ValueError:
        return {}
    if not isinstance(document, dict) or document.get("ok") is not True:
        return {}
    result = document.get("result")
    items = result if isinstance(result, list) else [result]
    sent: dict[int, list[int]] = {}
    for item in items:
        if not isinstance(item, dict) or isinstance(item.get("message_id"), bool):
            continue
        message_id = item.get("message_id")
        if not isinstance(message_id, int):
            continue
        if method in BY_CHAT_ID:
            chat_id = _chat_id(params.get("chat_id"))
        elif isinstance(item.get("chat"), dict):
            chat_id = _chat_id(item["chat"].get("id"))
        else:
            chat_id = None
        if chat_id is not None and chat_id > 0:
            sent.setdefault(chat_id, []).append(message_id)
    return sent


def parallel_sent_copy(*, bot_id: int, sent: dict[int, list[int]]) -> int:
    """Copy what the parallel bot sent into the clients' topics, each chat in its own
    transaction; a failure is logged and changes nothing of the call's answer."""
    bot = TelegramBot.objects.filter(pk=bot_id).first()
    copied = 0
    for chat_id, message_ids in sent.items():
        try:
            with transaction.atomic():
                copied += parallel_messages_copy(bot=bot, chat_id=chat_id, message_ids=message_ids)
        except Exception:
            logger.exception("Bot API proxy of bot %s: a copy into a topic failed", bot_id)
    return copied


# -- the calls Baton answers ------------------------------------------------------------------


async def _types_take(bot_id: int, requested: list[str] | None) -> None:
    """Keep the update types the parallel bot asked for; when Baton's webhook does not
    ask Telegram for them yet, it is set again asking for them too."""
    bot = await sync_to_async(TelegramBot.objects.get)(pk=bot_id)
    types = parallel_types(requested, bot.parallel_allowed_updates)
    if sorted(types) == sorted(bot.parallel_allowed_updates):
        return
    if not set(types) <= set(bot_allowed_updates(bot=bot)):
        try:
            await sync_to_async(bot_allowed_updates_widen, thread_sensitive=False)(
                token=bot.token,
                webhook_key=bot.webhook_key,
                webhook_secret=bot.webhook_secret,
                allowed_updates=bot_allowed_updates(bot=bot, parallel=types),
            )
        except (TelegramError, TimeoutError) as error:
            logger.warning(
                "Bot API proxy of bot %s: Baton's webhook could not be widened (%s)",
                bot_id,
                type(error).__name__,
            )
            raise ParallelRefused(
                502, "Bad Gateway: Baton could not ask Telegram for these update types"
            ) from None
    await sync_to_async(parallel_types_store)(bot_id=bot_id, types=types)


async def _get_updates(bot_id: int, params: dict) -> ProxyAnswer:
    offset = _int(params.get("offset"), 0)
    limit = _int(params.get("limit"), 100)
    timeout = min(max(_int(params.get("timeout"), 0), 0), MAX_POLL)
    requested = allowed_updates_parse(params.get("allowed_updates"))
    await sync_to_async(parallel_polling_check)(bot_id=bot_id)
    await _types_take(bot_id, requested)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        updates = await sync_to_async(parallel_updates_get)(
            bot_id=bot_id, offset=offset, limit=limit
        )
        if updates or asyncio.get_running_loop().time() >= deadline:
            return telegram_ok(updates)
        # the offset is confirmed; looked at again from the same place
        await asyncio.sleep(POLL_INTERVAL)


async def _answered(bot_id: int, method: str, params: dict) -> ProxyAnswer:
    if method == "setwebhook":
        requested = allowed_updates_parse(params.get("allowed_updates"))
        has_certificate = bool(params.get("certificate"))
        if params.get("url"):
            # checked before Baton's own webhook is widened for it
            await sync_to_async(parallel_webhook_check)(
                url=params.get("url"),
                secret_token=params.get("secret_token"),
                has_certificate=has_certificate,
            )
            await _types_take(bot_id, requested)
        description = await sync_to_async(parallel_webhook_set)(
            bot_id=bot_id,
            url=params.get("url"),
            secret_token=params.get("secret_token"),
            drop_pending_updates=_bool(params.get("drop_pending_updates")),
            has_certificate=has_certificate,
        )
        return telegram_ok(True, description)
    if method == "deletewebhook":
        description = await sync_to_async(parallel_webhook_delete)(
            bot_id=bot_id, drop_pending_updates=_bool(params.get("drop_pending_updates"))
        )
        return telegram_ok(True, description)
    if method == "getwebhookinfo":
        return telegram_ok(await sync_to_async(parallel_webhook_info)(bot_id=bot_id))
    return await _get_updates(bot_id, params)


# -- the entry points -------------------------------------------------------------------------


def _read_all(incoming: Incoming, limit: int) -> bytes | None:
    """The whole body, or None when it is over `limit` bytes."""
    if incoming.content_length is not None and incoming.content_length > limit:
        return None
    chunks, size = [], 0
    while True:
        chunk = incoming.read(CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


async def _streamed(incoming: Incoming, length: int) -> AsyncIterator[bytes]:
    remaining = length
    while remaining > 0:
        chunk = incoming.read(min(CHUNK, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def _too_large() -> ProxyAnswer:
    return telegram_error(413, "Request Entity Too Large")


async def proxy_call(
    *, webhook_key: str, token: str, method: str, incoming: Incoming
) -> ProxyAnswer:
    """One Bot API call of the parallel bot, answered as Telegram answers it."""
    bot_id = await _authorised(webhook_key, token)
    if isinstance(bot_id, ProxyAnswer):
        return bot_id
    if not METHOD.fullmatch(method):
        return proxy_refusal(404)
    name = method.lower()
    if name in REFUSED:
        return telegram_error(
            400, f"Bad Request: Baton shares this bot's token and does not forward {method}"
        )
    url = f"{settings.TELEGRAM_API_URL}{token}/{method}"
    if incoming.query:
        url += "?" + incoming.query
    headers = {"Content-Type": incoming.content_type} if incoming.content_type else {}
    params: dict = {}
    if name in ANSWERED or name in BY_CHAT_ID:
        # small calls: read whole, their parameters wanted
        body = _read_all(incoming, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or MAX_BODY)
        if body is None:
            return _too_large()
        try:
            params = params_parse(
                query=incoming.query, body=body, content_type=incoming.content_type
            )
        except _Unreadable:
            if name in ANSWERED:
                return telegram_error(400, "Bad Request: can't parse the request")
        if name in ANSWERED:
            try:
                return await _answered(bot_id, name, params)
            except ParallelRefused as refused:
                return telegram_error(refused.status, refused.description)
        content = body
    elif incoming.http_method == "GET" or incoming.content_length == 0:
        content = None
    elif incoming.content_length is not None:
        if incoming.content_length > MAX_BODY:
            return _too_large()
        content = _streamed(incoming, incoming.content_length)
        headers["Content-Length"] = str(incoming.content_length)
    else:  # no length given (chunked): read, within the limit
        content = _read_all(incoming, MAX_BODY)
        if content is None:
            return _too_large()
    answer = await _telegram(bot_id, incoming.http_method, url, content=content, headers=headers)
    sent = sent_messages(method=name, params=params, answer=answer)
    if sent:
        await sync_to_async(parallel_sent_copy)(bot_id=bot_id, sent=sent)
    return answer


async def proxy_download(*, webhook_key: str, token: str, file_path: str) -> ProxyAnswer:
    """A file download (GET <file URL>/bot<token>/<file_path>), forwarded to Telegram."""
    bot_id = await _authorised(webhook_key, token)
    if isinstance(bot_id, ProxyAnswer):
        return bot_id
    if not FILE_PATH.fullmatch(file_path) or ".." in file_path.split("/"):
        return proxy_refusal(404)
    url = f"{settings.TELEGRAM_FILE_URL}{token}/{quote(file_path, safe='/')}"
    return await _telegram(bot_id, "GET", url)
