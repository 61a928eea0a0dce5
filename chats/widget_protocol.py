"""The widget websocket's frames (docs/protocol.md): one frozen dataclass per frame,
built by `from_body` with the readers in chats.frames, and WIDGET_FRAMES from wire type
to class. A frame that fails here produces an error frame and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from chats.frames import (
    FrameError,
    frame_body_load,
    frame_body_parse,
    frame_bool,
    frame_client_msg_id,
    frame_id,
    frame_int,
    frame_string,
    frame_text_with_uploads,
)


@dataclass(frozen=True)
class Hello:
    # checked by chats.visitor_tokens: a bad one is `bad_token` and closes the socket
    token: object
    last_sequence: int
    dialog: str | None

    @classmethod
    def from_body(cls, body: dict) -> Hello:
        return cls(
            token=body.get("token"),
            # a claim compared with what exists, never stored: any larger
            # number is taken as the last sequence there is
            last_sequence=frame_int(body, "last_sequence", maximum=None, default=0),
            dialog=frame_string(body, "dialog", nullable=True),
        )


@dataclass(frozen=True)
class ClientText:
    client_msg_id: str
    text: str
    # tokens of files the visitor uploaded (chats.services.uploads): then text may be ""
    uploads: tuple[str, ...] = ()

    @classmethod
    def from_body(cls, body: dict) -> ClientText:
        client_msg_id = frame_client_msg_id(body)
        text, uploads = frame_text_with_uploads(body)
        return cls(client_msg_id=client_msg_id, text=text, uploads=uploads)


@dataclass(frozen=True)
class ButtonPress:
    client_msg_id: str
    button_id: int

    @classmethod
    def from_body(cls, body: dict) -> ButtonPress:
        return cls(client_msg_id=frame_client_msg_id(body), button_id=frame_id(body, "button_id"))


@dataclass(frozen=True)
class HandoffAsk:
    @classmethod
    def from_body(cls, body: dict) -> HandoffAsk:
        return cls()


@dataclass(frozen=True)
class PageOpened:
    url: str
    title: str
    visited_at: datetime | None

    @classmethod
    def from_body(cls, body: dict) -> PageOpened:
        visited_at = None
        if "visited_at" in body:
            millis = frame_int(body, "visited_at")
            try:
                visited_at = datetime.fromtimestamp(millis / 1000, tz=UTC)
            except (OverflowError, OSError, ValueError):
                raise FrameError("malformed", "'visited_at' is not a time") from None
        return cls(
            url=frame_string(body, "url"),
            title=frame_string(body, "title", default=""),
            visited_at=visited_at,
        )


@dataclass(frozen=True)
class Ping:
    @classmethod
    def from_body(cls, body: dict) -> Ping:
        return cls()


@dataclass(frozen=True)
class FormAnswers:
    """The pre-handoff form ("form") or the contact form after nobody accepted ("contact")."""

    form: str
    answers: dict

    @classmethod
    def from_body(cls, body: dict) -> FormAnswers:
        answers = body.get("answers")
        max_answers = settings.BATON_WIDGET_MAX_FORM_ANSWERS
        if (
            not isinstance(answers, dict)
            or len(answers) > max_answers
            or not all(isinstance(value, str) for value in answers.values())
        ):
            raise FrameError(
                "malformed", f"'answers' must be an object of at most {max_answers} strings"
            )
        return cls(form=body["type"], answers=answers)


@dataclass(frozen=True)
class CloseAsk:
    @classmethod
    def from_body(cls, body: dict) -> CloseAsk:
        return cls()


@dataclass(frozen=True)
class Rating:
    request_id: int
    score: int

    @classmethod
    def from_body(cls, body: dict) -> Rating:
        return cls(request_id=frame_id(body, "request"), score=frame_int(body, "score"))


@dataclass(frozen=True)
class Typing:
    """The visitor started (true) or stopped (false) typing: passed on to the operators
    watching, never stored (handoff.live_signals)."""

    typing: bool

    @classmethod
    def from_body(cls, body: dict) -> Typing:
        return cls(typing=frame_bool(body, "typing"))


WidgetFrame = (
    Hello
    | ClientText
    | ButtonPress
    | HandoffAsk
    | PageOpened
    | Ping
    | FormAnswers
    | CloseAsk
    | Rating
    | Typing
)

WIDGET_FRAMES: dict[str, type[WidgetFrame]] = {
    "hello": Hello,
    "message": ClientText,
    "button": ButtonPress,
    "handoff": HandoffAsk,
    "page": PageOpened,
    "ping": Ping,
    "form": FormAnswers,
    "contact": FormAnswers,
    "close": CloseAsk,
    "rate": Rating,
    "typing": Typing,
}


def widget_frame_parse(raw: str | None) -> WidgetFrame:
    """The typed frame `raw` (a text frame; None for a binary one) is, or FrameError."""
    return frame_body_parse(frame_body_load(raw), WIDGET_FRAMES)
