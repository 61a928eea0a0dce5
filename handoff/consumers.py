"""The operator console's websocket: authorise at connect (a logged-in operator), join
the operator's group and the groups of the chats they serve, then parse frames
(handoff.console_protocol) and call services.

Access is re-read when the user's access group rings (chats served changed, the
account or operator profile switched off or moved, a logout, a password change): the
socket leaves what it lost, or closes. Every frame is checked against the session
first (still logged in, same user, active, still this operator's profile), so a
session that ended without an event (expired, deleted) serves nothing more. That
check runs on the database thread in the same call as the frame's service, and costs
one indexed read while nothing changed (selectors.console_session_confirm).

The live inbox: every message of a request the operator owns or may accept arrives
as one console.inbox event per console (handoff.realtime), sent to the browser as an
"inbox" frame for its list row. The watched dialog is streamed from the dialog's own
group (every message, whoever wrote it, in sequence order); its inbox events are
dropped here, so the browser gets each message once.

A console streams a request's dialog only while the request may become or is its
operator's: once another operator holds it (its console.request event, or this
socket's accept refused as already taken) or this operator rejects it, the socket
leaves the dialog's group, whatever the browser does next; a watch of such a request
is refused.

Presence (docs/handoff.md "Presence and transfer"): connecting sets the operator's
presence to the one the page asks for in its URL (`?presence=`, the header's toggle as the
browser remembers it; online when absent or unknown) for PRESENCE_TTL seconds, and the
page's `heartbeat` frame (every HEARTBEAT_SECONDS) renews it; a console that goes away
stops renewing and the sweep turns the presence offline when it expires. Closing one tab
changes nothing at once: another tab of the same operator may still be open.

Automatic distribution: a waiting request offered to another operator is not this
console's to see (handoff.selectors): its request_changed becomes a `request_withdrawn`
frame (with `offer_moved` when it had been offered to this operator), and its messages
go to the offered operator's group only (handoff.realtime.inbox_group).

Eligibility (both modes): a request nobody holds is only for the managers eligible for
its channel and route. Its change names them (`audience`): any other console drops it
(a console that showed it gets `request_withdrawn`), and drops the messages the chat's
group carries for a waiting request it does not show. A change of a request somebody
holds reaches the page only where it was shown, or for its holder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from chats.enums import AuthorKind
from chats.realtime import (
    database_call,
    dialog_group_name,
    frame_encode,
    message_payload,
    user_access_group,
)
from chats.services import DialogClosed
from chats.services.uploads import UploadNotUsable
from chats.sockets import SocketConsumer
from chats.streaming import DialogStreamMixin
from distributor.enums import Presence
from distributor.models import Operator
from distributor.services import operator_presence_renew, operator_presence_set
from handoff import selectors, selectors_conversation, services
from handoff.access import ConsoleSession, session_digest
from handoff.console_accepts import ConsoleAcceptsMixin, settled_refuse
from handoff.console_protocol import (
    Accept,
    Close,
    ClosedPage,
    ConsoleFrame,
    ConsoleFrameError,
    Heartbeat,
    Note,
    Ping,
    Refresh,
    Reject,
    Reply,
    Search,
    SetPresence,
    Transfer,
    TransferTargets,
    Typing,
    Unwatch,
    VisitorPanel,
    Watch,
    console_frame_parse,
)
from handoff.enums import CloseReason, RequestStatus
from handoff.live_signals import (
    TYPING_FROM_CLIENT,
    TYPING_FROM_OPERATOR,
    TypingThrottle,
    conversation_read_mark_and_tell,
    typing_publish,
)
from handoff.models import Request
from handoff.realtime import (
    console_chat_group,
    console_operator_group,
    console_request_group,
    presence_changed_publish,
    request_summary,
    transfer_received_publish,
)
from handoff.services.attachments import operator_message_with_uploads
from handoff.settled import settled_note

CLOSE_NOT_LOGGED_IN = 4401
CLOSE_NOT_OPERATOR = 4403

# a console's presence lasts this long unless its heartbeat renews it; the page sends a
# heartbeat every HEARTBEAT_SECONDS (static/console/console.js), so two heartbeats may be
# lost before the presence expires
PRESENCE_TTL = timedelta(seconds=90)
HEARTBEAT_SECONDS = 30


class AccessEnded(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _checked(
    session: ConsoleSession, service: Callable[..., Any] | None, kwargs: dict[str, Any]
) -> tuple[Operator, Any]:
    """On the database thread: confirm the session, then run the frame's service as
    the operator it confirmed (one thread hop for both). An accept of a request that
    became settled while the call waited for the thread is refused before any query."""
    if service is services.request_accept and kwargs.get("dialog_id") is not None:
        # (a request this socket was shown: its dialog id came from a summary)
        settled_refuse(kwargs["request"])
    operator, logged_in = selectors.console_session_confirm(session=session)
    if operator is None:
        raise AccessEnded(CLOSE_NOT_OPERATOR if logged_in else CLOSE_NOT_LOGGED_IN)
    if service is None:
        return operator, None
    return operator, service(operator=operator, **kwargs)


class ConsoleConsumer(ConsoleAcceptsMixin, DialogStreamMixin, SocketConsumer):
    chat_ids: tuple[int, ...] = ()
    user_id: int | None = None
    session: ConsoleSession | None = None
    operator: Operator | None = None
    watched: dict | None = None  # the watched request's summary
    in_dialog_group = False
    ended = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.operator = await database_sync_to_async(selectors.operator_for_user)(user)
        if self.operator is None:
            logged_in = user is not None and user.is_authenticated
            await self.close(code=CLOSE_NOT_OPERATOR if logged_in else CLOSE_NOT_LOGGED_IN)
            return
        scope_session = self.scope.get("session")
        self.user_id = self.operator.user_id
        self.session = ConsoleSession(
            session_key=scope_session.session_key if scope_session is not None else None,
            user_id=self.user_id,
            operator_id=self.operator.pk,
        )
        # requests' dialogs, from the summaries sent on this socket (never change)
        self.dialog_of: dict[int, int] = {}
        self.accepts_start()
        # requests this socket rejected: their messages are not its to see (the list
        # leaves them out too)
        self.rejected: set[int] = set()
        # the operator's typing, per request they type in (handoff.live_signals)
        self.typing: dict[int, TypingThrottle] = {}
        # the dialog each request's "typing" went to: its "stopped" goes there too
        self.typing_dialogs: dict[int, int] = {}
        # the presence the page asks for, set before this socket joins its operator's
        # group: the other consoles of the operator are told, this one reads it in its
        # snapshot
        await database_call(
            _presence_choose, operator=self.operator, presence=self.presence_asked()
        )
        # join first, read second: a change committed in between rings this group
        await self.channel_layer.group_add(user_access_group(self.user_id), self.channel_name)
        await self.channel_layer.group_add(
            console_operator_group(self.operator.pk), self.channel_name
        )
        await self.chats_follow(
            await database_sync_to_async(selectors.served_chat_ids)(operator=self.operator)
        )
        # requests this socket was shown as offered to its operator: when the offer
        # moves on, the page is told so (request_withdrawn with offer_moved)
        self.offered_here: set[int] = set()
        # requests whose offer to this operator moved on (they are in its rejected_by):
        # their later changes and messages are not this console's while they wait
        self.withdrawn: set[int] = set()
        # waiting requests this console shows (its snapshot's, and those whose change
        # named this operator eligible): the only ones whose messages sent to the chat's
        # group it passes on (handoff.realtime)
        self.waiting_shown: set[int] = set()
        await self.accept()
        await self.send_snapshot()

    def presence_asked(self) -> str:
        """The presence the page asks for in its URL (?presence=), online by default."""
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        asked = (query.get("presence") or [Presence.ONLINE])[0]
        return asked if asked in Presence.values else Presence.ONLINE

    async def chats_follow(self, chat_ids: list[int] | tuple[int, ...]) -> None:
        """Be in the console groups of exactly these chats."""
        for chat_id in set(self.chat_ids) - set(chat_ids):
            await self.channel_layer.group_discard(console_chat_group(chat_id), self.channel_name)
        for chat_id in set(chat_ids) - set(self.chat_ids):
            await self.channel_layer.group_add(console_chat_group(chat_id), self.channel_name)
        self.chat_ids = tuple(chat_ids)

    async def unwatch(self) -> None:
        await self.dialog_group_leave()
        if self.watched is not None:
            await self.channel_layer.group_discard(
                console_request_group(self.watched["id"]), self.channel_name
            )
        if self.stream_dialog_id is not None and self.operator is not None and not self.ended:
            await database_call(
                conversation_read_mark_and_tell,
                operator=self.operator,
                dialog_id=self.stream_dialog_id,
                sequence=self.last_sent,
            )
        self.stream_dialog_id = None
        self.watched = None

    async def unwatch_request(self, request_id: int) -> None:
        """Stop streaming this request's dialog, if it is the one watched."""
        if self.watched is not None and self.watched["id"] == request_id:
            await self.unwatch()

    async def dialog_group_leave(self) -> None:
        if self.in_dialog_group and self.stream_dialog_id is not None:
            await self.channel_layer.group_discard(
                dialog_group_name(self.stream_dialog_id), self.channel_name
            )
        self.in_dialog_group = False

    async def disconnect(self, code: int) -> None:
        self.accepts_cancel()
        await self.groups_leave()

    async def groups_leave(self) -> None:
        await self.chats_follow([])
        if self.user_id is not None:
            await self.channel_layer.group_discard(
                user_access_group(self.user_id), self.channel_name
            )
        if self.operator is not None:
            await self.channel_layer.group_discard(
                console_operator_group(self.operator.pk), self.channel_name
            )
        await self.unwatch()

    async def end(self, code: int) -> None:
        """Access is lost: leave every group at once (no event reaches this socket
        any more), ignore what the client still sends, and close with `code`."""
        self.ended = True
        await self.groups_leave()
        await self.close(code=code)

    async def send_json(self, frame: dict) -> None:
        await self.send(text_data=frame_encode(frame))

    def summaries_seen(self, summaries: list[dict]) -> None:
        for summary in summaries:
            self.dialog_of[summary["id"]] = summary["dialog_id"]
            if self.operator is not None and summary.get("offered_to_id") == self.operator.pk:
                self.offered_here.add(summary["id"])

    async def send_snapshot(self) -> None:
        snapshot = await database_sync_to_async(selectors.inbox_snapshot)(operator=self.operator)
        items = snapshot["items"]
        # colleagues' conversations ("all my chats"): their later changes reach the page
        self.summaries_seen([*items, *snapshot["others"]])
        self.waiting_shown = {
            item["id"] for item in items if item["status"] in Request.WAITING_STATUSES
        }
        await self.send_json(
            {
                "type": "requests",
                "me": self.operator.pk,
                "my_name": self.operator.display_name,
                "presence": self.operator.presence,
                "items": items,
                "others": snapshot["others"],
                "closed_next": snapshot["closed_next"],
                "sla": snapshot["sla"],
            }
        )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Accepts are queued for the socket's accept workers and this returns at once,
        so that this socket's events (another operator took a request) are never
        queued behind its own accepts waiting for the database thread; any other frame
        first waits for the accepts sent before it, so every frame still acts in the
        order it was sent."""
        if self.ended:
            return
        try:
            frame = console_frame_parse(text_data)
        except ConsoleFrameError as error:
            await self.send_json(error.as_frame())
            return
        if isinstance(frame, Accept):
            await self.accept_enqueue(frame)
            return
        await self.accepts_finish()
        await self.run(frame)

    async def run(self, frame: ConsoleFrame) -> None:
        if self.ended:
            return
        try:
            await self.handle(frame)
        except ConsoleFrameError as error:
            await self.send_json(error.as_frame())
        except AccessEnded as ended:
            if not self.ended:
                await self.end(ended.code)

    async def handle(self, frame: ConsoleFrame) -> None:
        if isinstance(frame, Accept):
            await self.handle_accept(frame)
        elif isinstance(frame, Reply):
            await self.handle_reply(frame)
        elif isinstance(frame, Watch):
            await self.handle_watch(frame)
        elif isinstance(frame, Reject):
            await self.call(frame.request_id, services.request_reject)
            self.rejected.add(frame.request_id)
            await self.unwatch_request(frame.request_id)
            await self.send_snapshot()
        elif isinstance(frame, Close):
            await self.call(frame.request_id, _close_as_operator)
        elif isinstance(frame, Refresh):
            await self.call(None, None)
            await self.send_snapshot()
        elif isinstance(frame, Ping):
            await self.call(None, None)
            await self.send_json({"type": "pong"})
        elif isinstance(frame, Heartbeat):
            await self.send_json(await self.session_call(_presence_heartbeat))
        elif isinstance(frame, SetPresence):
            await self.session_call(_presence_choose, presence=frame.presence)
        elif isinstance(frame, TransferTargets):
            targets = await self.call(frame.request_id, _transfer_targets)
            await self.send_json(
                {"type": "transfer_targets", "request": frame.request_id, **targets}
            )
        elif isinstance(frame, Transfer):
            await self.handle_transfer(frame)
        elif isinstance(frame, Note):
            await self.handle_note(frame)
        elif isinstance(frame, VisitorPanel):
            panel, notes = await self.call(frame.request_id, _visitor_panel)
            await self.send_json(
                {
                    "type": "visitor_panel",
                    "request": frame.request_id,
                    "panel": panel,
                    "notes": notes,
                }
            )
        elif isinstance(frame, ClosedPage):
            page = await self.session_call(_closed_page, after=frame.after)
            self.summaries_seen(page["items"])
            await self.send_json({"type": "closed_page", "after": frame.after, **page})
        elif isinstance(frame, Search):
            items = await self.session_call(selectors.requests_search, query=frame.query)
            await self.send_json({"type": "search_results", "query": frame.query, "items": items})
        elif isinstance(frame, Typing):
            await self.handle_typing(frame)
        elif isinstance(frame, Unwatch):
            await self.unwatch()

    async def handle_typing(self, frame: Typing) -> None:
        """The operator types in their accepted request: the visitor is told (never
        stored); any other request is refused like a reply would be. The "stopped" of
        a "typing" this socket passed on goes to the same dialog even when the request
        left the operator meanwhile (the visitor ended it, it was transferred): the
        visitor's line clears, and the operator's page gets no error for it."""
        throttle = self.typing.get(frame.request_id)
        if not frame.typing and throttle is not None and throttle.typing:
            dialog_id = self.typing_dialogs[frame.request_id]
        else:
            dialog_id = await self.call(frame.request_id, _typing_dialog)
            throttle = self.typing.setdefault(frame.request_id, TypingThrottle())
            self.typing_dialogs[frame.request_id] = dialog_id
        if throttle.allows(frame.typing):
            await typing_publish(
                dialog_id=dialog_id,
                side=TYPING_FROM_OPERATOR,
                typing=frame.typing,
                name=self.operator.display_name,
            )

    async def session_call(self, service: Callable[..., Any], **kwargs: Any) -> Any:
        """Confirm the session and run `service` (taking the operator) in one database
        call, for a frame that names no request."""
        operator, result = await database_call(
            _checked, session=self.session, service=service, kwargs=kwargs
        )
        self.operator = operator
        return result

    async def handle_transfer(self, frame: Transfer) -> None:
        """Hand the request on; the page is answered `transferred`, and the request's
        request_changed (another operator holds it, or it closed) makes it read-only."""
        request = await self.call(
            frame.request_id,
            _transfer,
            to_operator_id=frame.to_operator_id,
            reason=frame.reason,
        )
        await self.unwatch_request(frame.request_id)
        await self.send_json(
            {
                "type": "transferred",
                "request": frame.request_id,
                "to": request.operator.display_name if frame.to_operator_id else None,
                "to_id": frame.to_operator_id,
            }
        )

    async def call(
        self,
        request_id: int | None,
        service: Callable[..., Any] | None,
        *,
        reply_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Confirm the session and run `service` (taking the operator as `operator`)
        for the request in one database call; a refusal becomes a ConsoleFrameError
        naming the request (and the reply, `reply_id`, it refused)."""
        if service is not None:
            kwargs.update(
                request=request_id, dialog_id=self.dialog_of.get(request_id), visible_only=True
            )
        try:
            operator, result = await database_call(
                _checked, session=self.session, service=service, kwargs=kwargs
            )
        except Request.DoesNotExist:
            raise ConsoleFrameError("not_found", "no such request", request_id) from None
        except services.HandoffError as error:
            raise ConsoleFrameError(error.code, str(error), request_id, reply_id) from None
        except (DialogClosed, ValidationError) as error:
            raise ConsoleFrameError("refused", str(error), request_id, reply_id) from None
        self.operator = operator
        return result

    async def handle_reply(self, frame: Reply) -> None:
        if frame.uploads:
            message, created = await self.reply_with_uploads(frame)
        else:
            message, created = await self.call(
                frame.request_id,
                services.operator_message_post,
                reply_id=frame.client_msg_id,
                client_msg_id=frame.client_msg_id,
                text=frame.text,
            )
        await self.send_json(
            {
                "type": "ack",
                "client_msg_id": frame.client_msg_id,
                "sequence": message.sequence,
                "duplicate": not created,
            }
        )
        if message.dialog_id == self.stream_dialog_id:
            await self.deliver(message_payload(message))

    async def handle_note(self, frame: Note) -> None:
        """Store the private note (once per client_msg_id) and answer with it; the
        consoles watching the request, this one too, get it as a `note` frame."""
        try:
            note, created = await self.call(
                frame.request_id,
                _note_add,
                reply_id=frame.client_msg_id,
                client_msg_id=frame.client_msg_id,
                text=frame.text,
            )
        except ConsoleFrameError as error:
            error.client_msg_id = error.client_msg_id or frame.client_msg_id
            raise
        await self.send_json(
            {
                "type": "note",
                "request": frame.request_id,
                "note": selectors_conversation.note_payload(note),
                "client_msg_id": frame.client_msg_id,
                "duplicate": not created,
            }
        )

    async def reply_with_uploads(self, frame: Reply) -> tuple:
        """A reply naming the operator's uploads (handoff.services.attachments)."""
        try:
            return await self.call(
                frame.request_id,
                operator_message_with_uploads,
                reply_id=frame.client_msg_id,
                client_msg_id=frame.client_msg_id,
                text=frame.text,
                tokens=list(frame.uploads),
            )
        except UploadNotUsable as refusal:
            raise ConsoleFrameError(
                refusal.code, refusal.message, frame.request_id, frame.client_msg_id
            ) from None

    async def handle_watch(self, frame: Watch) -> None:
        operator, summary = await database_call(
            _checked,
            session=self.session,
            service=_watch_open,
            kwargs={"request_id": frame.request_id},
        )
        self.operator = operator
        if summary is None:
            raise ConsoleFrameError("not_found", "no such request", frame.request_id)
        refusal = summary.pop("refusal")
        if refusal is not None:
            await self.unwatch()
            raise ConsoleFrameError(refusal.code, str(refusal), frame.request_id)
        await self.unwatch()
        self.summaries_seen([summary])
        self.stream_dialog_id = summary["dialog_id"]
        self.watched = summary
        # a claim beyond what exists would make deliver() drop every later message
        self.last_sent = min(frame.last_sequence, summary["last_sequence"])
        await self.channel_layer.group_add(
            dialog_group_name(self.stream_dialog_id), self.channel_name
        )
        self.in_dialog_group = True
        # private notes: for the consoles watching the request only (never the dialog's
        # group, which the visitor's widget is in)
        await self.channel_layer.group_add(
            console_request_group(frame.request_id), self.channel_name
        )
        canned_replies = summary.pop("canned_replies")
        await self.send_json({"type": "watching", "request": summary})
        # the watched request's chat's canned replies only (the "/" picker, issue 13)
        await self.send_json(
            {"type": "canned_replies", "request": summary["id"], "replies": canned_replies}
        )
        await self.catch_up()
        await database_call(
            conversation_read_mark_and_tell,
            operator=self.operator,
            dialog_id=self.stream_dialog_id,
            sequence=self.last_sent,
        )

    # --- events: one handler per type in chats.realtime.EVENT_TYPES -------------
    async def dialog_message(self, event: dict) -> None:
        """Stream the message; a visitor's message shown to the watching operator is
        read (the visitor's widget is told: "Seen")."""
        before = self.last_sent
        await super().dialog_message(event)
        if (
            self.watched is not None
            and not self.ended
            and self.last_sent > before
            and event["message"]["author_kind"] == AuthorKind.CLIENT
        ):
            await database_call(
                conversation_read_mark_and_tell,
                operator=self.operator,
                dialog_id=self.stream_dialog_id,
                sequence=self.last_sent,
            )

    async def dialog_typing(self, event: dict) -> None:
        """The visitor of the watched dialog types: shown to this operator. Operators'
        typing (their own, a colleague's) is not shown in consoles."""
        if (
            self.watched is not None
            and event["dialog_id"] == self.stream_dialog_id
            and event["from"] == TYPING_FROM_CLIENT
        ):
            await self.send_json(
                {"type": "typing", "request": self.watched["id"], "typing": event["typing"]}
            )

    async def dialog_seen(self, event: dict) -> None:
        """How far operators read the dialog: for the visitor's widget only."""

    async def console_request(self, event: dict) -> None:
        summary = event["request"]
        settled_note(summary["id"], summary["status"], summary["operator"])
        me = self.operator.pk if self.operator is not None else None
        waiting = summary["status"] in Request.WAITING_STATUSES
        request_id = summary["id"]
        if waiting and request_id in self.withdrawn:
            self.waiting_shown.discard(request_id)
            return  # its offer moved on from this operator: no longer theirs to see
        taken_from_me = waiting and me is not None and summary.get("offer_withdrawn_from") == me
        if taken_from_me or (me is not None and _offered_elsewhere(summary, me)):
            # offered to someone else, or the offer to this operator timed out or was
            # passed on: not this console's to see any more (or at all)
            self.waiting_shown.discard(request_id)
            await self.unwatch_request(request_id)
            # (no notice when this operator passed on it from this console: they know)
            offered_here = taken_from_me or request_id in self.offered_here
            moved = offered_here and request_id not in self.rejected
            self.offered_here.discard(request_id)
            if taken_from_me:
                self.withdrawn.add(request_id)
            if moved or request_id in self.dialog_of:
                await self.send_json(
                    {"type": "request_withdrawn", "request": request_id, "offer_moved": moved}
                )
            return
        audience = event.get("audience")
        if audience is not None and me not in audience:
            # nobody holds it, and this operator is not eligible for its channel or
            # route (now): not this console's; one that showed it is told it is gone
            self.waiting_shown.discard(request_id)
            await self.unwatch_request(request_id)
            if self.dialog_of.pop(request_id, None) is not None:
                await self.send_json(
                    {"type": "request_withdrawn", "request": request_id, "offer_moved": False}
                )
            return
        if audience is None and request_id not in self.dialog_of and summary["operator_id"] != me:
            return  # held by another operator, and never shown here
        self.summaries_seen([summary])
        if waiting:
            self.waiting_shown.add(request_id)
        else:
            self.waiting_shown.discard(request_id)
        if self.operator is not None and _held_by_another(summary, self.operator.pk):
            await self.unwatch_request(summary["id"])
        await self.send_json({"type": "request_changed", "request": summary})

    async def console_inbox(self, event: dict) -> None:
        if event.get("chat_id") not in self.chat_ids:
            # an owner's inbox follows them, not their chats: an accepted request of a
            # chat taken away from them since is no longer theirs to see
            return
        if event["request"] in self.rejected or event["request"] in self.withdrawn:
            return
        if event.get("waiting") and event["request"] not in self.waiting_shown:
            # a waiting request's message, sent to its chat's group: for the consoles
            # showing it only (the eligible ones; handoff.realtime)
            return
        if event["dialog_id"] == self.stream_dialog_id:
            # the watched dialog's messages come from its own group (every message,
            # whoever wrote it): the browser gets each once, as a "message" frame
            return
        await self.send_json(
            {"type": "inbox", "request": event["request"], "message": event["message"]}
        )

    async def console_presence(self, event: dict) -> None:
        await self.send_json(
            {"type": "presence", "presence": event["presence"], "expires_at": event["expires_at"]}
        )

    async def console_transfer(self, event: dict) -> None:
        if event.get("chat_id") not in self.chat_ids:
            return
        await self.send_json(
            {
                "type": "transfer_received",
                "request": event["request"],
                "from": event["from"],
                "reason": event["reason"],
            }
        )

    async def dialog_status(self, event: dict) -> None:
        await self.send_json({"type": "dialog_status", "status": event["status"]})

    async def console_note(self, event: dict) -> None:
        """A private note on the watched request (from this or another console)."""
        note = event["note"]
        if self.watched is not None and note.get("request") == self.watched["id"]:
            await self.send_json({"type": "note", "request": note["request"], "note": note})

    async def dialog_queue(self, event: dict) -> None:
        """The visitor's place in the queue: the console shows the request's status."""

    async def dialog_headset(self, event: dict) -> None:
        """The visitor's headset button appeared: nothing to show an operator."""

    async def access_changed(self, event: dict) -> None:
        """Re-read who this socket serves: close when this session is logged out or
        the user is no longer this operator, else follow exactly the chats served now,
        stop watching a request of a chat no longer served, and send a fresh list.
        A logout names its session (Django rings before it flushes the session, so
        the store may not show it yet)."""
        ended = event.get("session_ended")
        if ended is not None and ended == session_digest(self.session.session_key):
            await self.end(CLOSE_NOT_LOGGED_IN)
            return
        # something about this user changed: check in full, not from what was seen
        self.session.seen = None
        try:
            await self.call(None, None)
        except AccessEnded as access:
            await self.end(access.code)
            return
        await self.chats_follow(
            await database_sync_to_async(selectors.served_chat_ids)(operator=self.operator)
        )
        if self.watched is not None and self.watched["chat_id"] not in self.chat_ids:
            await self.unwatch()
        await self.send_snapshot()


def _note_add(
    *, operator: Operator, request: int, client_msg_id: str, text: str, **_kwargs: Any
) -> tuple[Any, bool]:
    return services.conversation_note_add(
        request_id=request, operator=operator, text=text, client_msg_id=client_msg_id
    )


def _visitor_panel(*, operator: Operator, request: int, **_kwargs: Any) -> tuple[dict, list[dict]]:
    """The side panel of a request the operator may open, and its private notes."""
    panel = selectors_conversation.visitor_panel(operator=operator, request_id=request)
    return panel, selectors_conversation.conversation_notes(request_id=request)


def _close_as_operator(*, operator: Operator, **kwargs: Any) -> Request:
    return services.request_close(actor=operator, reason=CloseReason.OPERATOR, **kwargs)


def _closed_page(*, operator: Operator, after: int) -> dict:
    """The closed list's page after `after`; a cursor that is not a closed request of
    this operator's list is not_found (ConsoleFrameError naming no request)."""
    try:
        return selectors.closed_page(operator=operator, after=after)
    except Request.DoesNotExist:
        raise ConsoleFrameError("not_found", "no such closed request", None) from None


def _offered_elsewhere(summary: dict, operator_id: int) -> bool:
    return (
        summary["status"] in Request.WAITING_STATUSES
        and summary.get("offered_to_id") is not None
        and summary["offered_to_id"] != operator_id
    )


def _presence_choose(*, operator: Operator, presence: str) -> None:
    """Set the presence the console chose: online and away for PRESENCE_TTL (the
    heartbeat renews it), offline until changed. Every console of the operator is told."""
    expires_at = None if presence == Presence.OFFLINE else timezone.now() + PRESENCE_TTL
    with transaction.atomic():
        operator_presence_set(operator=operator, presence=presence, expires_at=expires_at)
        presence_changed_publish(operator_id=operator.pk, presence=presence, expires_at=expires_at)


def _presence_heartbeat(*, operator: Operator) -> dict:
    """Renew the console's presence; the page is answered with the presence now (offline
    when it was turned offline meanwhile: the page's toggle then shows it)."""
    until = timezone.now() + PRESENCE_TTL
    operator_presence_renew(operator=operator, until=until)
    fresh = Operator.objects.only("presence", "presence_expires_at").get(pk=operator.pk)
    expires_at = fresh.presence_expires_at
    presence = fresh.presence
    if expires_at is not None and expires_at <= timezone.now():
        presence, expires_at = Presence.OFFLINE, None  # expired: the sweep has not run yet
    return {
        "type": "heartbeat",
        "presence": presence,
        "expires_at": expires_at.isoformat() if expires_at else None,
    }


def _transfer_targets(*, operator: Operator, request: int, **_kwargs: Any) -> dict:
    """Whom the operator may hand their request to (handoff.selectors.transfer_targets)."""
    found = selectors.request_get_for_operator(operator=operator, request_id=request)
    if found.status != RequestStatus.ACCEPTED or found.operator_id != operator.pk:
        raise services.NotYourRequest("only the operator who holds a conversation can transfer it")
    return {
        "operators": selectors.transfer_targets(operator=operator, request=found),
        "bot": True,
    }


def _transfer(
    *,
    operator: Operator,
    request: int,
    to_operator_id: int | None,
    reason: str,
    dialog_id: int | None = None,
    visible_only: bool = True,
) -> Request:
    """The transfer, and (after the same commit) the note to the receiving consoles."""
    to_operator = None
    if to_operator_id is not None:
        to_operator = Operator.objects.filter(pk=to_operator_id).first()
        if to_operator is None:
            raise ConsoleFrameError("not_found", "no such operator", request)
    with transaction.atomic():
        transferred = services.request_transfer(
            request=request,
            operator=operator,
            to_operator=to_operator,
            reason=reason,
            visible_only=visible_only,
        )
        if to_operator is not None:
            transfer_received_publish(
                request=transferred, from_name=operator.display_name, reason=reason
            )
    return transferred


def _typing_dialog(*, operator: Operator, request: int, **_kwargs: Any) -> int:
    """The dialog of the request the operator types in: only their accepted one."""
    found = selectors.request_get_for_operator(operator=operator, request_id=request)
    if found.status != RequestStatus.ACCEPTED or found.operator_id != operator.pk:
        raise services.NotYourRequest("only the operator who holds a conversation can type in it")
    return found.dialog_id


def _held_by_another(summary: dict, operator_id: int) -> bool:
    return summary["status"] == RequestStatus.ACCEPTED and summary["operator_id"] != operator_id


def _watch_open(*, operator: Operator, request_id: int) -> dict | None:
    """The request's summary with its dialog's last sequence, if the operator may see
    it, and under "refusal" why it may not be watched (None when it may): another
    operator holds it, or this one rejected it."""
    try:
        request = selectors.request_get_for_operator(operator=operator, request_id=request_id)
    except Request.DoesNotExist:
        return None
    summary = request_summary(request)
    summary["last_sequence"] = request.dialog.last_sequence
    summary["canned_replies"] = selectors.canned_replies_for_operator(
        operator=operator, chat_id=request.chat_id
    )
    summary["refusal"] = None
    if _held_by_another(summary, operator.pk):
        summary["refusal"] = services.RequestAlreadyTaken(request.status, summary["operator"])
    elif request.status in Request.WAITING_STATUSES and selectors.request_rejected_by(
        request=request, operator=operator
    ):
        summary["refusal"] = services.NotYourRequest("you rejected this request")
    return summary
