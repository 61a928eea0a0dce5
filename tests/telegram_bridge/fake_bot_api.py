"""A fake Telegram Bot API server on localhost, for tests.

    with FakeBotApi() as api:
        api.add_bot("123:ABC", bot_id=123, username="baton_bot")
        bot = telegram.Bot("123:ABC", base_url=api.base_url, base_file_url=api.base_file_url)
        ...
        api.wait_for("sendMessage", chat_id=5)[0].params["text"]

It answers the methods the bridge uses with realistic Bot API objects, records every
request as a `Call` (parameters decoded: ids to int, JSON-valued parameters to objects,
everything else left a string, as Telegram receives it) and can be told to fail the next
calls of a method the way Telegram does (`fail_flood`, `fail_blocked`, `fail_bad_request`).
File downloads (`GET /file/bot<token>/<file_path>`) are recorded as method "downloadFile".
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import mimetypes
import re
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "allowed_updates",
        "entities",
        "caption_entities",
        "media",
        "link_preview_options",
        "reply_parameters",
        "message_ids",
    }
)
INT_PARAMS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "user_id",
        "reply_to_message_id",
        "message_thread_id",
        "max_connections",
        "offset",
        "limit",
        "cache_time",
    }
)
DOWNLOAD = "downloadFile"

_INTEGER = re.compile(r"-?\d+")
_METHOD_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[^/]+)/?$")
_FILE_PATH = re.compile(r"^/file/bot(?P<token>[^/]+)/(?P<path>.+)$")


@dataclass(frozen=True)
class Call:
    token: str
    method: str
    params: dict[str, Any]
    files: dict[str, dict[str, Any]]  # param name -> {"filename", "content", "content_type"}
    failed: bool
    error_code: int | None
    at: float  # time.monotonic()

    def matches(self, method: str | None, match: dict[str, Any]) -> bool:
        if method is not None and self.method.lower() != method.lower():
            return False
        return all(key in self.params and self.params[key] == value for key, value in match.items())

    def describe(self) -> str:
        status = f"FAILED {self.error_code}" if self.failed else "ok"
        files = f" files={sorted(self.files)}" if self.files else ""
        return f"{self.method} [{status}] token={self.token} params={self.params}{files}"


@dataclass
class _Bot:
    token: str
    bot_id: int
    username: str
    first_name: str
    webhook: dict[str, Any] = field(default_factory=dict)

    def user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }


@dataclass
class _Failure:
    method: str
    error_code: int
    description: str
    retry_after: int | None
    remaining: int  # -1: forever
    chat_id: int | str | None

    def applies_to(self, method: str, params: dict[str, Any]) -> bool:
        if self.method.lower() != method.lower():
            return False
        return self.chat_id is None or params.get("chat_id") == self.chat_id


@dataclass
class _File:
    file_id: str
    content: bytes
    file_name: str | None = None
    mime_type: str | None = None


class ApiError(Exception):
    def __init__(self, error_code: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def decode_param(key: str, value: Any) -> Any:
    """A parameter as the Bot API understands it: JSON-valued ones parsed, ids as int."""
    if not isinstance(value, str):
        return value
    if key in JSON_PARAMS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if key in INT_PARAMS and _INTEGER.fullmatch(value.strip()):
        return int(value)
    return value


def unique_id(file_id: str) -> str:
    return "AQAD" + hashlib.sha1(file_id.encode()).hexdigest()[:12]  # noqa: S324


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, dict]]:
    """Fields and uploaded files of a multipart/form-data body, byte-exact."""
    header = BytesHeaderParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    )
    boundary = header.get_param("boundary")
    if not boundary:
        raise ApiError(400, "Bad Request: multipart body without boundary")
    fields: dict[str, str] = {}
    files: dict[str, dict] = {}
    delimiter = b"\r\n--" + str(boundary).encode("latin-1")
    for section in (b"\r\n" + body).split(delimiter)[1:]:
        if section.startswith(b"--"):
            break
        head, _, content = section.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        part = BytesHeaderParser(policy=policy.HTTP).parsebytes(head + b"\r\n\r\n")
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        filename = part.get_filename()
        if filename is None:
            fields[str(name)] = content.decode("utf-8")
        else:
            files[str(name)] = {
                "filename": filename,
                "content": content,
                "content_type": part.get_content_type(),
            }
    return fields, files


class FakeBotApi:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._lock = threading.RLock()
        self._bots: dict[str, _Bot] = {}
        self._calls: list[Call] = []
        self._failures: list[_Failure] = []
        self._files: dict[str, _File] = {}
        self._messages: dict[tuple[str, int | str, int], dict[str, Any]] = {}
        self._last_message_id: dict[tuple[str, int | str], int] = {}
        self._file_numbers = itertools.count(1)
        # forum topics: (token, chat_id) -> thread id -> {"name", "closed", "deleted"}
        self._topics: dict[tuple[str, int | str], dict[int, dict[str, Any]]] = {}
        self._thread_numbers = itertools.count(1001)
        self._pins: dict[tuple[str, int | str], list[int]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeBotApi:
        api = self

        class Handler(_Handler):
            fake = api

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-bot-api-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self.host}:{self.port}/file/bot"

    # -- setup -----------------------------------------------------------------------------

    def add_bot(self, token: str, *, bot_id: int, username: str, first_name: str = "Baton") -> None:
        with self._lock:
            self._bots[token] = _Bot(token, bot_id, username, first_name)

    def add_file(
        self,
        file_id: str,
        content: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> None:
        with self._lock:
            self._files[file_id] = _File(file_id, bytes(content), file_name, mime_type)

    def webhook(self, token: str) -> dict[str, Any]:
        """What the last setWebhook for this bot set ({} when none / after deleteWebhook)."""
        with self._lock:
            return dict(self._bots[token].webhook)

    # -- recording -------------------------------------------------------------------------

    def calls(self, method: str | None = None, **match: Any) -> list[Call]:
        with self._lock:
            return [call for call in self._calls if call.matches(method, match)]

    def succeeded(self, method: str | None = None, **match: Any) -> list[Call]:
        return [call for call in self.calls(method, **match) if not call.failed]

    def wait_for(
        self, method: str, count: int = 1, timeout: float = 10.0, **match: Any
    ) -> list[Call]:
        """Blocks until at least `count` successful matching calls were recorded."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.succeeded(method, **match)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(method, count, timeout, match, found))
            time.sleep(0.01)

    async def wait_for_async(
        self, method: str, count: int = 1, timeout: float = 10.0, **match: Any
    ) -> list[Call]:
        """`wait_for` that yields to the event loop (for calls made on the same loop)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.succeeded(method, **match)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(method, count, timeout, match, found))
            await asyncio.sleep(0.01)

    def _timeout_message(
        self, method: str, count: int, timeout: float, match: dict, found: list[Call]
    ) -> str:
        recorded = self.calls()
        listing = "\n".join(f"  {call.describe()}" for call in recorded[-50:]) or "  (none)"
        return (
            f"expected {count} successful {method} call(s) matching {match} within {timeout}s, "
            f"got {len(found)}; {len(recorded)} call(s) recorded:\n{listing}"
        )

    def clear(self) -> None:
        """Forgets recorded calls (not bots, files, messages or failures)."""
        with self._lock:
            self._calls.clear()

    # -- failure injection -----------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """The next `times` calls of `method` (for `chat_id` only, when given) fail;
        `times=-1` fails them until `clear_failures()`."""
        if times == 0 or times < -1:
            raise ValueError("times must be positive or -1")
        with self._lock:
            self._failures.append(
                _Failure(method, error_code, description, retry_after, times, chat_id)
            )

    def fail_flood(
        self, method: str, retry_after: int = 1, times: int = 1, chat_id: int | str | None = None
    ) -> None:
        self.fail(
            method,
            error_code=429,
            description=f"Too Many Requests: retry after {retry_after}",
            retry_after=retry_after,
            times=times,
            chat_id=chat_id,
        )

    def fail_blocked(self, method: str, chat_id: int | str | None = None, times: int = 1) -> None:
        self.fail(
            method,
            error_code=403,
            description="Forbidden: bot was blocked by the user",
            times=times,
            chat_id=chat_id,
        )

    def fail_bad_request(
        self,
        method: str,
        description: str = "Bad Request: chat not found",
        chat_id: int | str | None = None,
        times: int = 1,
    ) -> None:
        self.fail(method, error_code=400, description=description, times=times, chat_id=chat_id)

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    # -- request handling (called from handler threads) ------------------------------------

    def handle_method(
        self, token: str, method: str, params: dict[str, Any], files: dict[str, dict]
    ) -> tuple[int, dict[str, Any]]:
        at = time.monotonic()
        with self._lock:
            try:
                bot = self._bots.get(token)
                if bot is None:
                    raise ApiError(401, "Unauthorized")
                self._injected_failure(method, params)
                handler = getattr(self, f"_api_{method.lower()}", None)
                if handler is None:
                    raise ApiError(404, "Not Found")
                result = handler(bot, params, files)
            except ApiError as error:
                self._calls.append(Call(token, method, params, files, True, error.error_code, at))
                return error.error_code, error.body()
            self._calls.append(Call(token, method, params, files, False, None, at))
        if method.lower() == "getupdates":
            time.sleep(min(float(params.get("timeout") or 0), 0.2))
        return 200, {"ok": True, "result": result}

    def handle_download(self, token: str, path: str) -> tuple[int, bytes | dict[str, Any]]:
        at = time.monotonic()
        params = {"file_path": path}
        with self._lock:
            try:
                if token not in self._bots:
                    raise ApiError(401, "Unauthorized")
                self._injected_failure(DOWNLOAD, params)
                stored = self._files.get(path.removeprefix("files/")) or self._files.get(path)
                if stored is None:
                    raise ApiError(404, "Not Found")
            except ApiError as error:
                self._calls.append(Call(token, DOWNLOAD, params, {}, True, error.error_code, at))
                return error.error_code, error.body()
            self._calls.append(Call(token, DOWNLOAD, params, {}, False, None, at))
            return 200, stored.content

    def record_unroutable(self, path: str) -> None:
        with self._lock:
            self._calls.append(Call("", "", {"path": path}, {}, True, 404, time.monotonic()))

    def _injected_failure(self, method: str, params: dict[str, Any]) -> None:
        for failure in self._failures:
            if failure.applies_to(method, params):
                if failure.remaining > 0:
                    failure.remaining -= 1
                    if failure.remaining == 0:
                        self._failures.remove(failure)
                raise ApiError(failure.error_code, failure.description, failure.retry_after)

    # -- Bot API objects -------------------------------------------------------------------

    @staticmethod
    def _chat(chat_id: int | str) -> dict[str, Any]:
        if isinstance(chat_id, str):  # "@channelusername"
            name = chat_id.lstrip("@")
            return {"id": -1001000000001, "type": "channel", "title": name, "username": name}
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Ann"}
        return {"id": chat_id, "type": "supergroup", "title": f"Group {abs(chat_id)}"}

    @staticmethod
    def _require(params: dict[str, Any], key: str, description: str) -> Any:
        value = params.get(key)
        if value is None or value == "":
            raise ApiError(400, f"Bad Request: {description}")
        return value

    def _chat_id(self, params: dict[str, Any]) -> int | str:
        return self._require(params, "chat_id", "chat_id is empty")

    def _new_message(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        key = (bot.token, chat_id)
        thread_id = params.get("message_thread_id")
        if thread_id is not None:
            topic = self._topics.get(key, {}).get(thread_id)
            if topic is None or topic["deleted"]:
                raise ApiError(400, "Bad Request: message thread not found")
        message_id = self._last_message_id.get(key, 0) + 1
        self._last_message_id[key] = message_id
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": bot.user(),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }
        if "message_thread_id" in params:
            message["message_thread_id"] = params["message_thread_id"]
        if isinstance(params.get("reply_markup"), dict):
            message["reply_markup"] = params["reply_markup"]
        return message

    def _store(self, bot: _Bot, message: dict[str, Any]) -> dict[str, Any]:
        self._messages[(bot.token, message["chat"]["id"], message["message_id"])] = message
        return dict(message)

    def _upload_or_file_id(
        self, params: dict[str, Any], files: dict[str, dict], name: str, kind: str
    ) -> _File:
        upload = files.get(name)
        value = params.get(name)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
        if upload is not None:
            file_id = f"fake-{kind}-{next(self._file_numbers)}"
            stored = _File(
                file_id,
                upload["content"],
                upload["filename"],
                upload.get("content_type") or mimetypes.guess_type(upload["filename"])[0],
            )
            self._files[file_id] = stored
            return stored
        if not value:
            raise ApiError(400, f"Bad Request: there is no {name} in the request")
        return self._files.get(value) or _File(value, b"")

    # -- forum topics (tests) ----------------------------------------------------------------

    def topics(self, chat_id: int, token: str | None = None) -> dict[int, dict[str, Any]]:
        """The group's topics: thread id -> {"name", "closed", "deleted"}."""
        with self._lock:
            found: dict[int, dict[str, Any]] = {}
            for (bot_token, chat), threads in self._topics.items():
                if chat == chat_id and token in (None, bot_token):
                    found.update({thread: dict(topic) for thread, topic in threads.items()})
            return found

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """Someone deleted the topic in Telegram (as deleteForumTopic does)."""
        with self._lock:
            for (_token, chat), threads in self._topics.items():
                if chat == chat_id and thread_id in threads:
                    threads[thread_id]["deleted"] = True

    def pinned(self, chat_id: int) -> list[int]:
        with self._lock:
            return [m for (_t, chat), ids in self._pins.items() if chat == chat_id for m in ids]

    def message(self, token: str, chat_id: int, message_id: int) -> dict[str, Any] | None:
        with self._lock:
            found = self._messages.get((token, chat_id, message_id))
            return dict(found) if found else None

    def _topic(self, bot: _Bot, params: dict) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        thread_id = self._require(params, "message_thread_id", "message thread not found")
        topic = self._topics.get((bot.token, chat_id), {}).get(thread_id)
        if topic is None or topic["deleted"]:
            raise ApiError(400, "Bad Request: message thread not found")
        return topic

    def _api_createforumtopic(self, bot: _Bot, params: dict, files: dict) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        name = self._require(params, "name", "topic name is empty")
        if len(name) > 128:
            raise ApiError(400, "Bad Request: TOPIC_NAME_INVALID")
        if not isinstance(chat_id, int) or chat_id > 0:
            raise ApiError(400, "Bad Request: the chat is not a forum")
        thread_id = next(self._thread_numbers)
        self._topics.setdefault((bot.token, chat_id), {})[thread_id] = {
            "name": name,
            "closed": False,
            "deleted": False,
        }
        return {"message_thread_id": thread_id, "name": name, "icon_color": 7322096}

    def _api_editforumtopic(self, bot: _Bot, params: dict, files: dict) -> bool:
        topic = self._topic(bot, params)
        if params.get("name"):
            topic["name"] = params["name"]
        return True

    def _api_closeforumtopic(self, bot: _Bot, params: dict, files: dict) -> bool:
        topic = self._topic(bot, params)
        if topic["closed"]:
            raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic["closed"] = True
        return True

    def _api_reopenforumtopic(self, bot: _Bot, params: dict, files: dict) -> bool:
        topic = self._topic(bot, params)
        if not topic["closed"]:
            raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic["closed"] = False
        return True

    def _api_deleteforumtopic(self, bot: _Bot, params: dict, files: dict) -> bool:
        self._topic(bot, params)["deleted"] = True
        return True

    def _api_pinchatmessage(self, bot: _Bot, params: dict, files: dict) -> bool:
        chat_id = self._chat_id(params)
        message_id = self._require(params, "message_id", "message identifier is not specified")
        if (bot.token, chat_id, message_id) not in self._messages:
            raise ApiError(400, "Bad Request: message to pin not found")
        self._pins.setdefault((bot.token, chat_id), []).append(message_id)
        return True

    def _copy_one(self, bot: _Bot, params: dict, from_chat_id: int, message_id: int) -> int:
        original = self._messages.get((bot.token, from_chat_id, message_id), {})
        message = self._new_message(bot, params)
        for key in ("text", "caption", "photo", "document", "voice", "sticker", "media_group_id"):
            if key in original:
                message[key] = original[key]
        if "caption" in params:
            message["caption"] = params["caption"]
        self._store(bot, message)
        return message["message_id"]

    def _api_copymessages(self, bot: _Bot, params: dict, files: dict) -> list[dict[str, int]]:
        from_chat_id = self._require(params, "from_chat_id", "chat_id is empty")
        ids = params.get("message_ids")
        if isinstance(ids, str):
            ids = json.loads(ids)
        if not isinstance(ids, list) or not ids or len(ids) > 100:
            raise ApiError(400, "Bad Request: message identifiers are invalid")
        return [{"message_id": self._copy_one(bot, params, from_chat_id, int(i))} for i in ids]

    def _api_sendmediagroup(self, bot: _Bot, params: dict, files: dict) -> list[dict[str, Any]]:
        media = params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media in the group")
        group = f"fake-group-{next(self._file_numbers)}"
        sent = []
        for item in media:
            message = self._new_message(bot, params)
            message["media_group_id"] = group
            kind, file_id = item.get("type", "photo"), item.get("media")
            sent_file = {"file_id": file_id, "file_unique_id": unique_id(str(file_id))}
            if kind == "photo":  # as Telegram answers: the sizes of the photo, a list
                message["photo"] = [{**sent_file, "width": 1280, "height": 960}]
            else:
                message[kind] = sent_file
            if item.get("caption"):
                message["caption"] = item["caption"]
            sent.append(self._store(bot, message))
        return sent

    def _send_file_kind(self, bot: _Bot, params: dict, files: dict, kind: str) -> dict[str, Any]:
        stored = self._upload_or_file_id(params, files, kind, kind)
        message = self._new_message(bot, params)
        message[kind] = {"file_id": stored.file_id, "file_unique_id": unique_id(stored.file_id)}
        return self._store(bot, self._with_caption(message, params))

    def _api_sendvoice(self, bot: _Bot, params: dict, files: dict) -> dict[str, Any]:
        return self._send_file_kind(bot, params, files, "voice")

    def _api_sendsticker(self, bot: _Bot, params: dict, files: dict) -> dict[str, Any]:
        return self._send_file_kind(bot, params, files, "sticker")

    def _api_sendvideo(self, bot: _Bot, params: dict, files: dict) -> dict[str, Any]:
        return self._send_file_kind(bot, params, files, "video")

    def _api_sendaudio(self, bot: _Bot, params: dict, files: dict) -> dict[str, Any]:
        return self._send_file_kind(bot, params, files, "audio")

    def _api_sendanimation(self, bot: _Bot, params: dict, files: dict) -> dict[str, Any]:
        return self._send_file_kind(bot, params, files, "animation")

    # -- methods ---------------------------------------------------------------------------

    def _api_getme(self, bot: _Bot, params: dict, files: dict) -> dict[str, Any]:
        return {
            **bot.user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _api_setwebhook(self, bot: _Bot, params: dict, files: dict) -> bool:
        bot.webhook = {
            "url": self._require(params, "url", "bad webhook: An HTTPS URL must be provided"),
            **{
                key: params[key]
                for key in ("secret_token", "allowed_updates", "max_connections")
                if key in params
            },
        }
        return True

    def _api_deletewebhook(self, bot: _Bot, params: dict, files: dict) -> bool:
        bot.webhook = {}
        return True

    def _api_getwebhookinfo(self, bot: _Bot, params: dict, files: dict) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": bot.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }
        if bot.webhook:
            info["max_connections"] = bot.webhook.get("max_connections", 40)
            info["ip_address"] = "127.0.0.1"
            if "allowed_updates" in bot.webhook:
                info["allowed_updates"] = bot.webhook["allowed_updates"]
        return info

    def _api_getupdates(self, bot: _Bot, params: dict, files: dict) -> list:
        return []

    def _api_sendmessage(self, bot: _Bot, params: dict, files: dict) -> dict[str, Any]:
        text = self._require(params, "text", "message text is empty")
        message = self._new_message(bot, params)
        message["text"] = text
        if isinstance(params.get("entities"), list):
            message["entities"] = params["entities"]
        return self._store(bot, message)

    def _api_sendphoto(self, bot: _Bot, params: dict, files: dict) -> dict[str, Any]:
        photo = self._upload_or_file_id(params, files, "photo", "photo")
        message = self._new_message(bot, params)
        message["photo"] = [
            {
                "file_id": photo.file_id,
                "file_unique_id": unique_id(photo.file_id),
                "width": 1280,
                "height": 960,
                "file_size": len(photo.content) or 102400,
            }
        ]
        return self._store(bot, self._with_caption(message, params))

    def _api_senddocument(self, bot: _Bot, params: dict, files: dict) -> dict[str, Any]:
        document = self._upload_or_file_id(params, files, "document", "document")
        message = self._new_message(bot, params)
        file_name = document.file_name or "document"
        message["document"] = {
            "file_id": document.file_id,
            "file_unique_id": unique_id(document.file_id),
            "file_name": file_name,
            "mime_type": document.mime_type
            or mimetypes.guess_type(file_name)[0]
            or "application/octet-stream",
            "file_size": len(document.content) or 2048,
        }
        return self._store(bot, self._with_caption(message, params))

    @staticmethod
    def _with_caption(message: dict[str, Any], params: dict) -> dict[str, Any]:
        if params.get("caption"):
            message["caption"] = params["caption"]
            if isinstance(params.get("caption_entities"), list):
                message["caption_entities"] = params["caption_entities"]
        return message

    def _api_copymessage(self, bot: _Bot, params: dict, files: dict) -> dict[str, int]:
        from_chat_id = self._require(params, "from_chat_id", "chat_id is empty")
        message_id = self._require(params, "message_id", "message identifier is not specified")
        return {"message_id": self._copy_one(bot, params, from_chat_id, message_id)}

    def _edited(self, bot: _Bot, params: dict) -> dict[str, Any] | None:
        """The stored message being edited (None for inline messages), marked edited."""
        if params.get("inline_message_id"):
            return None
        chat_id = self._chat_id(params)
        message_id = self._require(params, "message_id", "message identifier is not specified")
        message = self._messages.get((bot.token, chat_id, message_id)) or {
            "message_id": message_id,
            "from": bot.user(),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }
        message = dict(message, edit_date=int(time.time()))
        # Like Telegram: an edit without reply_markup removes the inline keyboard.
        message.pop("reply_markup", None)
        if isinstance(params.get("reply_markup"), dict):
            message["reply_markup"] = params["reply_markup"]
        return message

    def _api_editmessagetext(self, bot: _Bot, params: dict, files: dict) -> dict | bool:
        text = self._require(params, "text", "message text is empty")
        message = self._edited(bot, params)
        if message is None:
            return True
        message["text"] = text
        message.pop("entities", None)
        if isinstance(params.get("entities"), list):
            message["entities"] = params["entities"]
        return self._store(bot, message)

    def _api_editmessagecaption(self, bot: _Bot, params: dict, files: dict) -> dict | bool:
        message = self._edited(bot, params)
        if message is None:
            return True
        message.pop("caption", None)
        message.pop("caption_entities", None)
        return self._store(bot, self._with_caption(message, params))

    def _api_editmessagereplymarkup(self, bot: _Bot, params: dict, files: dict) -> dict | bool:
        message = self._edited(bot, params)
        if message is None:
            return True
        return self._store(bot, message)

    def _api_answercallbackquery(self, bot: _Bot, params: dict, files: dict) -> bool:
        self._require(params, "callback_query_id", "query is too old and response timeout expired")
        return True

    def _api_deletemessage(self, bot: _Bot, params: dict, files: dict) -> bool:
        chat_id = self._chat_id(params)
        message_id = self._require(params, "message_id", "message identifier is not specified")
        self._messages.pop((bot.token, chat_id, message_id), None)
        return True

    def _api_getfile(self, bot: _Bot, params: dict, files: dict) -> dict[str, Any]:
        file_id = self._require(params, "file_id", "invalid file_id")
        stored = self._files.get(file_id)
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": unique_id(file_id),
            "file_size": len(stored.content),
            "file_path": f"files/{file_id}",
        }

    def _api_getchat(self, bot: _Bot, params: dict, files: dict) -> dict[str, Any]:
        return {
            **self._chat(self._chat_id(params)),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _api_sendchataction(self, bot: _Bot, params: dict, files: dict) -> bool:
        self._chat_id(params)
        return True

    def _api_setmycommands(self, bot: _Bot, params: dict, files: dict) -> bool:
        return True

    def _api_deletemycommands(self, bot: _Bot, params: dict, files: dict) -> bool:
        return True


class _Handler(BaseHTTPRequestHandler):
    fake: FakeBotApi

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        body = self._read_body()
        if match := _FILE_PATH.match(path):
            status, payload = self.fake.handle_download(match["token"], match["path"])
            if isinstance(payload, bytes):
                self._send(status, payload, "application/octet-stream")
            else:
                self._send_json(status, payload)
            return
        match = _METHOD_PATH.match(path)
        if match is None:
            self.fake.record_unroutable(path)
            self._send_json(404, ApiError(404, "Not Found").body())
            return
        try:
            params, files = self._params(url.query, body)
        except (ApiError, ValueError) as error:
            description = getattr(error, "description", f"Bad Request: {error}")
            self._send_json(400, ApiError(400, description).body())
            return
        status, payload = self.fake.handle_method(match["token"], match["method"], params, files)
        self._send_json(status, payload)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _params(self, query: str, body: bytes) -> tuple[dict[str, Any], dict[str, dict]]:
        raw: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        files: dict[str, dict] = {}
        content_type = self.headers.get("Content-Type", "")
        kind = content_type.split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            fields, files = parse_multipart(body, content_type)
            raw.update(fields)
        elif kind == "application/json" or (body.strip()[:1] == b"{" and not kind):
            document = json.loads(body or b"{}")
            if not isinstance(document, dict):
                raise ApiError(400, "Bad Request: JSON body must be an object")
            raw.update(document)
        elif body:
            raw.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        return {key: decode_param(key, value) for key, value in raw.items()}, files

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
