"""What the widget's and the operator console's websocket frames share
(chats.widget_protocol, handoff.console_protocol): the envelope, the error a frame is
refused with, and readers for the fields both sockets carry.

A surface's protocol is a table from a frame's wire `type` to a frozen dataclass whose
`from_body` reads the frame's fields with the readers below; `frame_body_parse` looks
the type up and builds the typed frame. A frame refused here changes nothing. Every
limit an error text names is read from the settings, or from the column that stores
the value, so the text always says what the server applies."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Protocol, Self, TypeVar

from django.conf import settings
from django.db import models

from chats.models import Message
from chats.validators import value_has_lone_surrogate, value_has_nul

CLIENT_MSG_ID_MAX_CHARS = Message._meta.get_field("client_msg_id").max_length
CLIENT_MSG_ID = re.compile(rf"[A-Za-z0-9_\-:.]{{1,{CLIENT_MSG_ID_MAX_CHARS}}}")
# the largest id or sequence number a column holds: a larger integer names nothing
FRAME_INT_MAX = models.BigIntegerField.MAX_BIGINT
# how much of an unknown type the error quotes back
UNKNOWN_TYPE_ECHO_CHARS = 40


class FrameError(Exception):
    """A frame refused before anything ran: the error frame's `code` and `detail`, and
    the frame's `client_msg_id` when it had a well-formed one (the client then drops
    that frame from its outbox)."""

    def __init__(self, code: str, detail: str, client_msg_id: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.client_msg_id = client_msg_id

    def as_frame(self) -> dict:
        frame = {"type": "error", "code": self.code, "detail": self.detail}
        if self.client_msg_id:
            frame["client_msg_id"] = self.client_msg_id
        return frame


class FrameKind(Protocol):
    """A typed frame: a frozen dataclass built from a frame's JSON object."""

    @classmethod
    def from_body(cls, body: dict) -> Self: ...


F = TypeVar("F", bound=FrameKind)


def frame_body_load(raw: str | None) -> dict:
    """One JSON object with a string 'type', within BATON_WIDGET_MAX_FRAME_BYTES and
    BATON_FRAME_MAX_DEPTH; else FrameError: `malformed` (a binary frame, not JSON, not
    such an object, too deep) or `frame_too_large`."""
    if raw is None:
        raise FrameError("malformed", "binary frames are not accepted")
    max_bytes = settings.BATON_WIDGET_MAX_FRAME_BYTES
    if len(raw.encode(errors="surrogatepass")) > max_bytes:
        raise FrameError("frame_too_large", f"frames may be at most {max_bytes} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise FrameError("malformed", "a frame is one JSON object") from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise FrameError("malformed", "a frame is a JSON object with a string 'type'")
    _depth_check(body)
    return body


def frame_body_parse(body: dict, kinds: Mapping[str, type[F]]) -> F:
    """The typed frame for a body from frame_body_load, or FrameError: `invalid` for a
    lone surrogate or a NUL in any key or string (nothing could store or send it),
    `unknown_type` for a type not in `kinds`, or what the frame's `from_body` refuses;
    every refusal carries the frame's client_msg_id when it is well-formed."""
    try:
        if value_has_lone_surrogate(body):
            raise FrameError(
                "invalid", "the frame holds text that cannot be encoded (a lone surrogate)"
            )
        if value_has_nul(body):
            raise FrameError(
                "invalid", "the frame holds a NUL character (U+0000), which cannot be stored"
            )
        kind = kinds.get(body["type"])
        if kind is None:
            quoted = body["type"][:UNKNOWN_TYPE_ECHO_CHARS]
            raise FrameError("unknown_type", f"unknown frame type '{quoted}'")
        return kind.from_body(body)
    except FrameError as error:
        error.client_msg_id = error.client_msg_id or frame_client_msg_id_or_none(body)
        raise


def _depth_check(body: dict) -> None:
    """Refuse nesting deeper than BATON_FRAME_MAX_DEPTH. Iterative, so no depth that
    json.loads accepted can exhaust the stack here."""
    max_depth = settings.BATON_FRAME_MAX_DEPTH
    pending: list[tuple[object, int]] = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > max_depth:
            raise FrameError("malformed", f"frames nest at most {max_depth} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                pending.append((key, depth + 1))
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)


# --- field readers: each returns the field's value or raises FrameError `malformed` --


def frame_int(
    body: dict,
    name: str,
    *,
    minimum: int = 0,
    maximum: int | None = FRAME_INT_MAX,
    default: int | None = None,
) -> int:
    """An integer from `minimum` to `maximum` (None: no upper bound); a bool is not one.
    `default` when the field is absent and a default is given."""
    if name not in body and default is not None:
        return default
    value = body.get(name)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
        raise FrameError("malformed", f"'{name}' must be an integer {bounds}")
    return value


def frame_bool(body: dict, name: str) -> bool:
    """A JSON true or false (not 0, 1 or a string)."""
    value = body.get(name)
    if not isinstance(value, bool):
        raise FrameError("malformed", f"'{name}' must be true or false")
    return value


def frame_id(body: dict, name: str) -> int:
    """The id of a stored row (a request, a button): a positive integer."""
    return frame_int(body, name, minimum=1)


def frame_id_or_none(body: dict | None, name: str) -> int | None:
    try:
        return frame_id(body, name) if body is not None else None
    except FrameError:
        return None


def frame_string(
    body: dict, name: str, *, default: str | None = None, nullable: bool = False
) -> str | None:
    """A string; `default` when the field is absent and a default is given; None for
    null when `nullable`."""
    if name not in body and default is not None:
        return default
    value = body.get(name)
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise FrameError("malformed", f"'{name}' must be a string")
    return value


def frame_message_text(body: dict) -> str:
    """A message's 'text': not blank, at most BATON_WIDGET_MAX_TEXT_CHARS characters
    (`text_too_long` beyond)."""
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise FrameError("malformed", "'text' must be a non-empty string")
    max_chars = settings.BATON_WIDGET_MAX_TEXT_CHARS
    if len(text) > max_chars:
        raise FrameError("text_too_long", f"a message may be at most {max_chars} characters")
    return text


def frame_client_msg_id(body: dict) -> str:
    value = frame_client_msg_id_or_none(body)
    if value is None:
        raise FrameError(
            "malformed",
            f"'client_msg_id' must be 1-{CLIENT_MSG_ID_MAX_CHARS} characters of letters, "
            "digits, _-:.",
        )
    return value


def frame_client_msg_id_or_none(body: dict) -> str | None:
    value = body.get("client_msg_id")
    return value if isinstance(value, str) and CLIENT_MSG_ID.fullmatch(value) else None


# an upload's token (chats.models.new_upload_token: URL-safe base64)
UPLOAD_TOKEN = re.compile(r"[A-Za-z0-9_\-]{1,40}")
MAX_ATTACHMENTS = 10


def frame_upload_tokens(body: dict) -> tuple[str, ...]:
    """A message's 'attachments': absent, or a list of at most MAX_ATTACHMENTS objects
    {"upload": token} naming files uploaded over HTTP (chats.services.uploads)."""
    if "attachments" not in body:
        return ()
    items = body["attachments"]
    if (
        not isinstance(items, list)
        or len(items) > MAX_ATTACHMENTS
        or not all(
            isinstance(item, dict)
            and set(item) == {"upload"}
            and isinstance(item["upload"], str)
            and UPLOAD_TOKEN.fullmatch(item["upload"])
            for item in items
        )
    ):
        raise FrameError(
            "malformed",
            f"'attachments' must be a list of at most {MAX_ATTACHMENTS} objects "
            '{"upload": "<token>"}',
        )
    return tuple(item["upload"] for item in items)


def frame_text_with_uploads(body: dict) -> tuple[str, tuple[str, ...]]:
    """A message's text and uploads: the text may be empty (or absent) when the message
    carries files, else as frame_message_text."""
    uploads = frame_upload_tokens(body)
    if not uploads:
        return frame_message_text(body), ()
    text = body.get("text", "")
    if not isinstance(text, str):
        raise FrameError("malformed", "'text' must be a string")
    max_chars = settings.BATON_WIDGET_MAX_TEXT_CHARS
    if len(text) > max_chars:
        raise FrameError("text_too_long", f"a message may be at most {max_chars} characters")
    return text, uploads
