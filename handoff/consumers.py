"""The operator console's websocket: authorise at connect (a logged-in operator),
join the groups of the chats they serve, then parse frames and call services.

Access is re-read when the user's access group rings (chats served changed, the
account or operator profile switched off or moved, a logout, a password change): the
socket leaves what it lost, or closes. Before every frame that changes something, and on
refresh and ping, the session is checked again (still logged in, same user, active,
still this operator's profile), so a session that ended without an event (expired,
deleted) serves nothing more; the selectors then authorise the frame itself."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError

from chats.realtime import (
    database_call,
    dialog_group_name,
    frame_encode,
    message_payload,
    user_access_group,
)
from chats.services import DialogClosed
from chats.streaming import DialogStreamMixin
from chats.widget_protocol import CLIENT_MSG_ID, FrameError, frame_object_load
from handoff import selectors, services
from handoff.access import session_digest
from handoff.enums import CloseReason
from handoff.models import Request
from handoff.realtime import console_chat_group, request_summary

CLOSE_NOT_LOGGED_IN = 4401
CLOSE_NOT_OPERATOR = 4403


class ConsoleError(Exception):
    def __init__(
        self,
        code: str,
        detail: str,
        request_id: object = None,
        client_msg_id: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.frame = {"type": "error", "code": code, "detail": detail, "request": request_id}
        if client_msg_id:
            self.frame["client_msg_id"] = client_msg_id


class ConsoleConsumer(DialogStreamMixin, AsyncWebsocketConsumer):
    chat_ids: tuple[int, ...] = ()
    user_id: int | None = None
    session_key: str | None = None
    watched_chat_id: int | None = None
    # frames checked against the session before they run (refresh and ping: an idle
    # console notices an expired session)
    SESSION_CHECKED = frozenset(
        {"watch", "accept", "reject", "message", "close", "refresh", "ping"}
    )
    ended = False

    async def connect(self) -> None:
        self.manager = await database_sync_to_async(selectors.manager_for_user)(
            self.scope.get("user")
        )
        if self.manager is None:
            user = self.scope.get("user")
            logged_in = user is not None and user.is_authenticated
            await self.close(code=CLOSE_NOT_OPERATOR if logged_in else CLOSE_NOT_LOGGED_IN)
            return
        session = self.scope.get("session")
        self.session_key = session.session_key if session is not None else None
        # join first, read second: a change committed in between rings this group
        self.user_id = self.manager.user_id
        await self.channel_layer.group_add(user_access_group(self.user_id), self.channel_name)
        await self.chats_follow(
            await database_sync_to_async(selectors.served_chat_ids)(manager=self.manager)
        )
        await self.accept()
        await self.send_snapshot()

    async def chats_follow(self, chat_ids: list[int] | tuple[int, ...]) -> None:
        """Be in the console groups of exactly these chats."""
        for chat_id in set(self.chat_ids) - set(chat_ids):
            await self.channel_layer.group_discard(console_chat_group(chat_id), self.channel_name)
        for chat_id in set(chat_ids) - set(self.chat_ids):
            await self.channel_layer.group_add(console_chat_group(chat_id), self.channel_name)
        self.chat_ids = tuple(chat_ids)

    async def unwatch(self) -> None:
        if self.stream_dialog_id is not None:
            await self.channel_layer.group_discard(
                dialog_group_name(self.stream_dialog_id), self.channel_name
            )
        self.stream_dialog_id = None
        self.watched_chat_id = None

    async def disconnect(self, code: int) -> None:
        await self.groups_leave()

    async def groups_leave(self) -> None:
        await self.chats_follow([])
        if self.user_id is not None:
            await self.channel_layer.group_discard(
                user_access_group(self.user_id), self.channel_name
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

    async def send_snapshot(self) -> None:
        items = await database_sync_to_async(selectors.requests_for_manager)(manager=self.manager)
        await self.send_json(
            {
                "type": "requests",
                "me": self.manager.pk,
                "my_name": self.manager.display_name,
                "items": items,
            }
        )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.ended:
            return
        try:
            frame = self.parse(text_data)
            handler = {
                "watch": self.handle_watch,
                "accept": self.handle_accept,
                "reject": self.handle_reject,
                "message": self.handle_message,
                "close": self.handle_close,
                "refresh": lambda _frame: self.send_snapshot(),
                "ping": lambda _frame: self.send_json({"type": "pong"}),
            }.get(frame["type"])
            if handler is None:
                raise ConsoleError("unknown_type", "unknown frame type")
            if frame["type"] in self.SESSION_CHECKED and not await self.access_confirm():
                return
            await handler(frame)
        except ConsoleError as error:
            await self.send_json(error.frame)

    def parse(self, text_data: str | None) -> dict:
        if (
            text_data is None
            or len(text_data.encode(errors="surrogatepass")) > settings.BATON_WIDGET_MAX_FRAME_BYTES
        ):
            raise ConsoleError("malformed", "frames are JSON text of at most 16 KiB")
        try:
            return frame_object_load(text_data)
        except FrameError as error:
            raise ConsoleError(
                error.code, error.detail, client_msg_id=error.client_msg_id
            ) from None

    async def request_for(self, frame: dict) -> Request:
        try:
            return await database_sync_to_async(selectors.request_get_for_manager)(
                manager=self.manager, request_id=frame.get("request")
            )
        except Request.DoesNotExist:
            raise ConsoleError("not_found", "no such request", frame.get("request")) from None

    async def call(self, frame: dict, service, **kwargs):
        request = await self.request_for(frame)
        try:
            return await database_call(service, request=request, **kwargs)
        except services.HandoffError as error:
            raise ConsoleError(error.code, str(error), request.pk) from None
        except (DialogClosed, ValidationError) as error:
            raise ConsoleError("refused", str(error), request.pk) from None

    async def handle_watch(self, frame: dict) -> None:
        request = await self.request_for(frame)
        last_sequence = frame.get("last_sequence", 0)
        if (
            isinstance(last_sequence, bool)
            or not isinstance(last_sequence, int)
            or last_sequence < 0
        ):
            raise ConsoleError("malformed", "'last_sequence' must be a non-negative integer")
        await self.unwatch()
        await self.channel_layer.group_add(dialog_group_name(request.dialog_id), self.channel_name)
        self.stream_dialog_id = request.dialog_id
        self.watched_chat_id = request.chat_id
        # a claim beyond what exists would make deliver() drop every later message
        self.last_sent = min(last_sequence, request.dialog.last_sequence)
        summary = await database_sync_to_async(request_summary)(request)
        await self.send_json({"type": "watching", "request": summary})
        await self.catch_up()

    async def handle_accept(self, frame: dict) -> None:
        await self.call(frame, services.request_accept, operator=self.manager)

    async def handle_reject(self, frame: dict) -> None:
        await self.call(frame, services.request_reject, operator=self.manager)
        await self.send_snapshot()

    async def handle_close(self, frame: dict) -> None:
        await self.call(
            frame, services.request_close, reason=CloseReason.OPERATOR, actor=self.manager
        )

    async def handle_message(self, frame: dict) -> None:
        client_msg_id, text = frame.get("client_msg_id"), frame.get("text")
        if not isinstance(client_msg_id, str) or not CLIENT_MSG_ID.fullmatch(client_msg_id):
            raise ConsoleError("malformed", "'client_msg_id' is 1-64 of letters, digits, _-:.")
        if (
            not isinstance(text, str)
            or not text.strip()
            or len(text) > settings.BATON_WIDGET_MAX_TEXT_CHARS
        ):
            raise ConsoleError("malformed", "'text' is 1-4000 characters")
        try:
            message, created = await self.call(
                frame,
                services.operator_message_post,
                operator=self.manager,
                text=text,
                client_msg_id=client_msg_id,
            )
        except ConsoleError as error:
            # the console's outbox drops the reply the server refused (and shows which)
            error.frame["client_msg_id"] = client_msg_id
            raise
        await self.send_json(
            {
                "type": "ack",
                "client_msg_id": client_msg_id,
                "sequence": message.sequence,
                "duplicate": not created,
            }
        )
        if message.dialog_id == self.stream_dialog_id:
            await self.deliver(message_payload(message))

    # --- events: one handler per type in chats.realtime.EVENT_TYPES -------------
    async def console_request(self, event: dict) -> None:
        await self.send_json({"type": "request_changed", "request": event["request"]})

    async def dialog_status(self, event: dict) -> None:
        await self.send_json({"type": "dialog_status", "status": event["status"]})

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
        if ended is not None and ended == session_digest(self.session_key):
            await self.end(CLOSE_NOT_LOGGED_IN)
            return
        if not await self.access_confirm():
            return
        await self.chats_follow(
            await database_sync_to_async(selectors.served_chat_ids)(manager=self.manager)
        )
        if self.stream_dialog_id is not None and self.watched_chat_id not in self.chat_ids:
            await self.unwatch()
        await self.send_snapshot()

    async def access_confirm(self) -> bool:
        """Is this socket's session still this operator's? Else close (4401: logged
        out, expired, password changed, account switched off; 4403: the operator
        profile is gone or now another user's) and say no. Read afresh each time:
        a few indexed reads per frame an operator sends by hand."""
        manager, logged_in = await database_sync_to_async(selectors.console_access_get)(
            session_key=self.session_key, user_id=self.user_id, manager_id=self.manager.pk
        )
        if manager is None:
            await self.end(CLOSE_NOT_OPERATOR if logged_in else CLOSE_NOT_LOGGED_IN)
            return False
        self.manager = manager
        return True
