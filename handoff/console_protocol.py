"""Parsing and checking the operator console's websocket frames: one typed frame per
kind, in the style of chats.widget_protocol (whose envelope check it shares). A frame
that fails here produces an error frame and changes nothing. Limits come from the
settings, and the error texts say them."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from chats.widget_protocol import CLIENT_MSG_ID, FrameError, frame_object_load


class ConsoleFrameError(FrameError):
    """A frame refused before anything ran; `request` is the request id it named."""

    def __init__(
        self,
        code: str,
        detail: str,
        request: object = None,
        client_msg_id: str | None = None,
    ) -> None:
        super().__init__(code, detail, client_msg_id)
        self.request = request

    def as_frame(self) -> dict:
        frame = {"type": "error", "code": self.code, "detail": self.detail}
        frame["request"] = self.request
        if self.client_msg_id:
            frame["client_msg_id"] = self.client_msg_id
        return frame


@dataclass(frozen=True)
class Watch:
    request_id: int
    last_sequence: int


@dataclass(frozen=True)
class Accept:
    request_id: int


@dataclass(frozen=True)
class Reject:
    request_id: int


@dataclass(frozen=True)
class Close:
    request_id: int


@dataclass(frozen=True)
class Reply:
    request_id: int
    client_msg_id: str
    text: str


@dataclass(frozen=True)
class Refresh:
    pass


@dataclass(frozen=True)
class Ping:
    pass


ConsoleFrame = Watch | Accept | Reject | Close | Reply | Refresh | Ping

# frames that change something or read the operator's data: the session is checked first
SESSION_CHECKED = (Watch, Accept, Reject, Close, Reply, Refresh, Ping)


def _request_id(body: dict) -> int:
    value = body.get("request")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConsoleFrameError("not_found", "no such request", value)
    return value


def _client_msg_id(body: dict) -> str:
    value = body.get("client_msg_id")
    if not isinstance(value, str) or not CLIENT_MSG_ID.fullmatch(value):
        raise ConsoleFrameError(
            "malformed", "'client_msg_id' is 1-64 of letters, digits, _-:.", body.get("request")
        )
    return value


def console_frame_parse(raw: str | None) -> ConsoleFrame:
    limit = settings.BATON_WIDGET_MAX_FRAME_BYTES
    if raw is None or len(raw.encode(errors="surrogatepass")) > limit:
        raise ConsoleFrameError("malformed", f"frames are JSON text of at most {limit} bytes")
    try:
        body = frame_object_load(raw)
    except FrameError as error:
        raise ConsoleFrameError(
            error.code, error.detail, client_msg_id=error.client_msg_id
        ) from None
    kind = body["type"]
    if kind == "watch":
        request_id = _request_id(body)
        last_sequence = body.get("last_sequence", 0)
        if (
            isinstance(last_sequence, bool)
            or not isinstance(last_sequence, int)
            or last_sequence < 0
        ):
            raise ConsoleFrameError(
                "malformed", "'last_sequence' must be a non-negative integer", request_id
            )
        return Watch(request_id=request_id, last_sequence=last_sequence)
    if kind == "accept":
        return Accept(request_id=_request_id(body))
    if kind == "reject":
        return Reject(request_id=_request_id(body))
    if kind == "close":
        return Close(request_id=_request_id(body))
    if kind == "message":
        client_msg_id = _client_msg_id(body)
        text = body.get("text")
        chars = settings.BATON_WIDGET_MAX_TEXT_CHARS
        if not isinstance(text, str) or not text.strip() or len(text) > chars:
            raise ConsoleFrameError(
                "malformed", f"'text' is 1-{chars} characters", body.get("request"), client_msg_id
            )
        try:
            request_id = _request_id(body)
        except ConsoleFrameError as error:
            error.client_msg_id = client_msg_id
            raise
        return Reply(request_id=request_id, client_msg_id=client_msg_id, text=text)
    if kind == "refresh":
        return Refresh()
    if kind == "ping":
        return Ping()
    raise ConsoleFrameError("unknown_type", "unknown frame type")
