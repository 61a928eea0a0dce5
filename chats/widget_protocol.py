"""Parsing and checking widget websocket frames (docs/protocol.md).

A frame that fails here produces an error frame and changes nothing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from chats.models import Message
from chats.validators import value_has_lone_surrogate

CLIENT_MSG_ID_MAX_CHARS = Message._meta.get_field("client_msg_id").max_length
CLIENT_MSG_ID = re.compile(rf"[A-Za-z0-9_\-:.]{{1,{CLIENT_MSG_ID_MAX_CHARS}}}")
# a form has a few fields; more answers than this is not a form
FORM_MAX_ANSWERS = 50
# no frame needs more than three levels (frame, answers, answer); deeper is an attack
FRAME_MAX_DEPTH = 8


class FrameError(Exception):
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


@dataclass(frozen=True)
class Hello:
    token: str
    last_sequence: int
    dialog: str | None


@dataclass(frozen=True)
class ClientText:
    client_msg_id: str
    text: str


@dataclass(frozen=True)
class ButtonPress:
    client_msg_id: str
    button_id: int


@dataclass(frozen=True)
class HandoffAsk:
    pass


@dataclass(frozen=True)
class PageOpened:
    url: str
    title: str
    visited_at: datetime | None


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class FormAnswers:
    """The pre-handoff form ("form") or the contact form after nobody accepted ("contact")."""

    form: str
    answers: dict


@dataclass(frozen=True)
class CloseAsk:
    pass


@dataclass(frozen=True)
class Rating:
    request_id: int
    score: int


Frame = (
    Hello
    | ClientText
    | ButtonPress
    | HandoffAsk
    | PageOpened
    | Ping
    | FormAnswers
    | CloseAsk
    | Rating
)


def _non_negative_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FrameError("malformed", f"'{name}' must be a non-negative integer")
    return value


def _client_msg_id(body: dict) -> str:
    value = body.get("client_msg_id")
    if not isinstance(value, str) or not CLIENT_MSG_ID.fullmatch(value):
        raise FrameError(
            "malformed",
            f"'client_msg_id' must be 1-{CLIENT_MSG_ID_MAX_CHARS} characters of letters, "
            "digits, _-:.",
        )
    return value


def _depth_check(body: dict) -> None:
    """Refuse nesting deeper than FRAME_MAX_DEPTH. Iterative, so no depth that
    json.loads accepted can exhaust the stack here."""
    pending: list[tuple[object, int]] = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > FRAME_MAX_DEPTH:
            raise FrameError("malformed", f"frames nest at most {FRAME_MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                pending.append((key, depth + 1))
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)


def _strings_check(body: dict) -> None:
    """Refuse too deep a frame (malformed), then any lone surrogate in a key or string
    (invalid): such text can be neither stored nor sent."""
    _depth_check(body)
    if value_has_lone_surrogate(body):
        raise FrameError(
            "invalid",
            "the frame holds text that cannot be encoded (a lone surrogate)",
            _client_msg_id_or_none(body),
        )


def _client_msg_id_or_none(body: dict) -> str | None:
    value = body.get("client_msg_id")
    return value if isinstance(value, str) and CLIENT_MSG_ID.fullmatch(value) else None


def frame_object_load(raw: str) -> dict:
    """One JSON object with a string 'type', of sane depth and encodable text, or
    FrameError: `malformed` for what is not such an object (however deeply nested),
    `invalid` (with the frame's client_msg_id when it has a good one) for a lone
    surrogate anywhere. Shared by the widget and the operator console."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise FrameError("malformed", "a frame is one JSON object") from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise FrameError("malformed", "a frame is a JSON object with a string 'type'")
    _strings_check(body)
    return body


def frame_parse(raw: str) -> Frame:
    if len(raw.encode(errors="surrogatepass")) > settings.BATON_WIDGET_MAX_FRAME_BYTES:
        raise FrameError(
            "frame_too_large",
            f"frames may be at most {settings.BATON_WIDGET_MAX_FRAME_BYTES} bytes",
        )
    body = frame_object_load(raw)
    kind = body["type"]
    if kind == "hello":
        dialog = body.get("dialog")
        if dialog is not None and not isinstance(dialog, str):
            raise FrameError("malformed", "'dialog' must be a string")
        return Hello(
            token=body.get("token"),
            last_sequence=_non_negative_int(body.get("last_sequence", 0), "last_sequence"),
            dialog=dialog,
        )
    if kind == "message":
        client_msg_id = _client_msg_id(body)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise FrameError("malformed", "'text' must be a non-empty string", client_msg_id)
        if len(text) > settings.BATON_WIDGET_MAX_TEXT_CHARS:
            raise FrameError(
                "text_too_long",
                f"a message may be at most {settings.BATON_WIDGET_MAX_TEXT_CHARS} characters",
                client_msg_id,
            )
        return ClientText(client_msg_id=client_msg_id, text=text)
    if kind == "button":
        client_msg_id = _client_msg_id(body)
        try:
            button_id = _non_negative_int(body.get("button_id"), "button_id")
        except FrameError as error:
            error.client_msg_id = client_msg_id
            raise
        return ButtonPress(client_msg_id=client_msg_id, button_id=button_id)
    if kind == "handoff":
        return HandoffAsk()
    if kind == "page":
        url, title = body.get("url"), body.get("title", "")
        if not isinstance(url, str) or not isinstance(title, str):
            raise FrameError("malformed", "'url' and 'title' must be strings")
        visited_at = None
        if "visited_at" in body:
            millis = _non_negative_int(body["visited_at"], "visited_at")
            try:
                visited_at = datetime.fromtimestamp(millis / 1000, tz=UTC)
            except (OverflowError, OSError, ValueError):
                raise FrameError("malformed", "'visited_at' is not a time") from None
        return PageOpened(url=url, title=title, visited_at=visited_at)
    if kind == "ping":
        return Ping()
    if kind in ("form", "contact"):
        answers = body.get("answers")
        if (
            not isinstance(answers, dict)
            or len(answers) > FORM_MAX_ANSWERS
            or not all(
                isinstance(key, str) and isinstance(value, str) for key, value in answers.items()
            )
        ):
            raise FrameError(
                "malformed", f"'answers' must be an object of at most {FORM_MAX_ANSWERS} strings"
            )
        return FormAnswers(form=kind, answers=answers)
    if kind == "close":
        return CloseAsk()
    if kind == "rate":
        return Rating(
            request_id=_non_negative_int(body.get("request"), "request"),
            score=_non_negative_int(body.get("score"), "score"),
        )
    raise FrameError("unknown_type", f"unknown frame type '{kind[:40]}'")
