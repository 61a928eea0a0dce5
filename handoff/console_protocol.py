"""The operator console websocket's frames (docs/handoff.md): one frozen dataclass per
frame, built by `from_body` with the readers in chats.frames, and CONSOLE_FRAMES from
wire type to class, as chats.widget_protocol does for the widget. A frame that fails
here produces an error frame and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from chats.frames import (
    FrameError,
    frame_body_load,
    frame_body_parse,
    frame_bool,
    frame_client_msg_id,
    frame_id,
    frame_id_or_none,
    frame_int,
    frame_string,
    frame_text_with_uploads,
)
from distributor.enums import Presence
from handoff.models import ConversationNote

# the search box: a query's length after trimming (handoff.selectors.requests_search)
SEARCH_MIN_CHARS = 2
SEARCH_MAX_CHARS = 200

# a transfer's reason: as handoff.services.transfer.TRANSFER_REASON_MAX (the event note holds
# "transferred to <name>: <reason>" in 300 characters)
TRANSFER_REASON_MAX_CHARS = 150


class ConsoleFrameError(FrameError):
    """A FrameError whose error frame always carries `request`: the request id the
    frame named (None when it named none, or not a well-formed one)."""

    def __init__(
        self,
        code: str,
        detail: str,
        request: int | None = None,
        client_msg_id: str | None = None,
    ) -> None:
        super().__init__(code, detail, client_msg_id)
        self.request = request

    def as_frame(self) -> dict:
        return {**super().as_frame(), "request": self.request}


@dataclass(frozen=True)
class Watch:
    request_id: int
    last_sequence: int

    @classmethod
    def from_body(cls, body: dict) -> Watch:
        return cls(
            request_id=frame_id(body, "request"),
            # a claim compared with what exists, never stored: any larger
            # number is taken as the last sequence there is
            last_sequence=frame_int(body, "last_sequence", maximum=None, default=0),
        )


@dataclass(frozen=True)
class Accept:
    request_id: int

    @classmethod
    def from_body(cls, body: dict) -> Accept:
        return cls(request_id=frame_id(body, "request"))


@dataclass(frozen=True)
class Reject:
    request_id: int

    @classmethod
    def from_body(cls, body: dict) -> Reject:
        return cls(request_id=frame_id(body, "request"))


@dataclass(frozen=True)
class Close:
    request_id: int

    @classmethod
    def from_body(cls, body: dict) -> Close:
        return cls(request_id=frame_id(body, "request"))


@dataclass(frozen=True)
class Reply:
    request_id: int
    client_msg_id: str
    text: str
    # tokens of files the operator uploaded for this request: then text may be ""
    uploads: tuple[str, ...] = ()

    @classmethod
    def from_body(cls, body: dict) -> Reply:
        client_msg_id = frame_client_msg_id(body)
        text, uploads = frame_text_with_uploads(body)
        return cls(
            client_msg_id=client_msg_id,
            text=text,
            request_id=frame_id(body, "request"),
            uploads=uploads,
        )


@dataclass(frozen=True)
class Refresh:
    @classmethod
    def from_body(cls, body: dict) -> Refresh:
        return cls()


@dataclass(frozen=True)
class Ping:
    @classmethod
    def from_body(cls, body: dict) -> Ping:
        return cls()


@dataclass(frozen=True)
class Unwatch:
    """Stop watching (the page went back to its lists): the request's later messages
    come as inbox entries and are not marked read. Nothing watched: nothing to do."""

    @classmethod
    def from_body(cls, body: dict) -> Unwatch:
        return cls()


@dataclass(frozen=True)
class Heartbeat:
    """The console is still open: its operator's presence is renewed (PRESENCE_TTL)."""

    @classmethod
    def from_body(cls, body: dict) -> Heartbeat:
        return cls()


@dataclass(frozen=True)
class SetPresence:
    """The header's toggle: online, away or offline."""

    presence: str

    @classmethod
    def from_body(cls, body: dict) -> SetPresence:
        value = body.get("presence")
        if not isinstance(value, str) or value not in Presence.values:
            choices = ", ".join(Presence.values)
            raise FrameError("malformed", f"'presence' must be one of: {choices}")
        return cls(presence=value)


@dataclass(frozen=True)
class TransferTargets:
    """Whom the operator may hand this request to: the answer is a transfer_targets frame."""

    request_id: int

    @classmethod
    def from_body(cls, body: dict) -> TransferTargets:
        return cls(request_id=frame_id(body, "request"))


@dataclass(frozen=True)
class Transfer:
    """Hand an accepted request to another operator (`to`: their id) or back to the bot
    (`to`: "bot"), with a reason."""

    request_id: int
    to_operator_id: int | None  # None: back to the bot
    reason: str

    @classmethod
    def from_body(cls, body: dict) -> Transfer:
        request_id = frame_id(body, "request")
        target = body.get("to")
        if target == "bot":
            to_operator_id = None
        else:
            try:
                to_operator_id = frame_id(body, "to")
            except FrameError:
                raise FrameError("malformed", "'to' must be an operator's id or \"bot\"") from None
        reason = (frame_string(body, "reason") or "").strip()
        if not reason:
            raise FrameError("malformed", "'reason' must be a non-empty string")
        if len(reason) > TRANSFER_REASON_MAX_CHARS:
            raise FrameError(
                "text_too_long",
                f"a transfer's reason may be at most {TRANSFER_REASON_MAX_CHARS} characters",
            )
        return cls(request_id=request_id, to_operator_id=to_operator_id, reason=reason)


@dataclass(frozen=True)
class Note:
    """A private note on a conversation (operators only): stored once per client_msg_id."""

    request_id: int
    client_msg_id: str
    text: str

    @classmethod
    def from_body(cls, body: dict) -> Note:
        client_msg_id = frame_client_msg_id(body)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise FrameError("malformed", "'text' must be a non-empty string")
        if len(text) > ConversationNote.TEXT_MAX_CHARS:
            raise FrameError(
                "text_too_long",
                f"a note may be at most {ConversationNote.TEXT_MAX_CHARS} characters",
            )
        return cls(request_id=frame_id(body, "request"), client_msg_id=client_msg_id, text=text)


@dataclass(frozen=True)
class VisitorPanel:
    """Ask for the side panel of a request the console watches (and its notes)."""

    request_id: int

    @classmethod
    def from_body(cls, body: dict) -> VisitorPanel:
        return cls(request_id=frame_id(body, "request"))


@dataclass(frozen=True)
class ClosedPage:
    """The closed list's next page, after the closed request `after` (the cursor the
    snapshot's `closed_next` or the previous page's `next` gave)."""

    after: int

    @classmethod
    def from_body(cls, body: dict) -> ClosedPage:
        return cls(after=frame_id(body, "after"))


@dataclass(frozen=True)
class Search:
    """The search box: visitors' names, customers' phones and e-mails, message text."""

    query: str

    @classmethod
    def from_body(cls, body: dict) -> Search:
        query = body.get("query")
        if not isinstance(query, str):
            raise FrameError("malformed", "'query' must be a string")
        query = query.strip()
        if len(query) < SEARCH_MIN_CHARS:
            raise FrameError(
                "query_too_short", f"a search needs at least {SEARCH_MIN_CHARS} characters"
            )
        if len(query) > SEARCH_MAX_CHARS:
            raise FrameError(
                "query_too_long", f"a search may be at most {SEARCH_MAX_CHARS} characters"
            )
        return cls(query=query)


@dataclass(frozen=True)
class Typing:
    """The operator started (true) or stopped (false) typing a reply in their accepted
    request: passed on to the visitor, never stored (handoff.live_signals)."""

    request_id: int
    typing: bool

    @classmethod
    def from_body(cls, body: dict) -> Typing:
        return cls(request_id=frame_id(body, "request"), typing=frame_bool(body, "typing"))


ConsoleFrame = (
    Watch
    | Accept
    | Reject
    | Close
    | Reply
    | Refresh
    | Ping
    | Heartbeat
    | SetPresence
    | TransferTargets
    | Transfer
    | Note
    | VisitorPanel
    | ClosedPage
    | Search
    | Typing
    | Unwatch
)

CONSOLE_FRAMES: dict[str, type[ConsoleFrame]] = {
    "watch": Watch,
    "accept": Accept,
    "reject": Reject,
    "close": Close,
    "message": Reply,
    "refresh": Refresh,
    "ping": Ping,
    "heartbeat": Heartbeat,
    "presence": SetPresence,
    "transfer_targets": TransferTargets,
    "transfer": Transfer,
    "note": Note,
    "visitor_panel": VisitorPanel,
    "closed_page": ClosedPage,
    "search": Search,
    "typing": Typing,
    "unwatch": Unwatch,
}


def console_frame_parse(raw: str | None) -> ConsoleFrame:
    """The typed frame `raw` (a text frame; None for a binary one) is, or
    ConsoleFrameError naming the frame's request when it named a well-formed one."""
    body = None
    try:
        body = frame_body_load(raw)
        return frame_body_parse(body, CONSOLE_FRAMES)
    except FrameError as error:
        raise ConsoleFrameError(
            error.code, error.detail, frame_id_or_none(body, "request"), error.client_msg_id
        ) from None
