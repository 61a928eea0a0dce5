"""The widget's websocket: authorise at hello, then parse frames and call services —
chats' for messages and buttons, handoff's for the headset, forms, close and rating.
It is a surface above both apps, so it calls them directly. Delivery (in sequence,
each message once, gaps read from the database) is chats.streaming.DialogStreamMixin's."""

from __future__ import annotations

import logging
import time

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import override

from chats import selectors, services
from chats.enums import DialogStatus, Messenger
from chats.group_commit import ClientMessageNotStored, client_message_group_commit
from chats.models import Chat, Dialog
from chats.realtime import database_call, dialog_group_name, frame_encode, message_payload
from chats.services.uploads import UploadNotUsable, client_message_with_uploads
from chats.sockets import SocketConsumer
from chats.streaming import DialogStreamMixin
from chats.visitor_tokens import InvalidVisitorToken, visitor_token_read
from chats.widget_protocol import (
    ButtonPress,
    ClientText,
    CloseAsk,
    FormAnswers,
    FrameError,
    HandoffAsk,
    Hello,
    PageOpened,
    Ping,
    Rating,
    Typing,
    widget_frame_parse,
)
from handoff.live_signals import (
    TYPING_FROM_CLIENT,
    TYPING_FROM_OPERATOR,
    TypingThrottle,
    dialog_seen_sequence,
    typing_publish,
)
from handoff.services import (
    HandoffError,
    HandoffNotOffered,
    client_close,
    client_contact_submit,
    client_form_submit,
    request_open,
    request_rate,
)

logger = logging.getLogger(__name__)

CLOSE_UNKNOWN_CHAT = 4404
CLOSE_BAD_TOKEN = 4401
CLOSE_ABUSE = 4429
CLOSE_TRY_AGAIN = 1013
ABUSE_LIMIT = 50  # rate-limited frames before the socket is closed


class TokenBucket:
    def __init__(self, *, burst: int, per_second: float) -> None:
        self.capacity = burst
        self.tokens = float(burst)
        self.per_second = per_second
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def _message_with_uploads(*, language: str, **kwargs) -> services.ClientMessageResult:
    with override(language):
        return client_message_with_uploads(**kwargs)


class WidgetConsumer(DialogStreamMixin, SocketConsumer):
    chat: Chat | None = None
    dialog: Dialog | None = None
    not_stored = False  # a message of this socket was not stored: it is closing

    async def connect(self) -> None:
        public_key = self.scope["url_route"]["kwargs"]["public_key"]
        self.chat = await database_sync_to_async(selectors.chat_get_by_public_key)(
            public_key=public_key
        )
        if self.chat is None:
            await self.close(code=CLOSE_UNKNOWN_CHAT)
            return
        self.dialog = None
        self.last_sent = 0
        self.rate_limited = 0
        self.typing = TypingThrottle()
        self.bucket = TokenBucket(
            burst=settings.BATON_WIDGET_RATE_BURST,
            per_second=settings.BATON_WIDGET_RATE_PER_SECOND,
        )
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.dialog is not None:
            await self.channel_layer.group_discard(
                dialog_group_name(self.dialog.pk), self.channel_name
            )

    async def send_json(self, frame: dict) -> None:
        await self.send(text_data=frame_encode(frame))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.not_stored:  # closing: the widget resends from its outbox
            return
        if not self.bucket.take():
            self.rate_limited += 1
            if self.rate_limited > ABUSE_LIMIT:
                await self.close(code=CLOSE_ABUSE)
                return
            await self.send_json(
                {
                    "type": "error",
                    "code": "rate_limited",
                    "detail": (
                        f"too many frames: at most {settings.BATON_WIDGET_RATE_BURST} at once "
                        f"and {settings.BATON_WIDGET_RATE_PER_SECOND} a second; slow down"
                    ),
                }
            )
            return
        try:
            frame = widget_frame_parse(text_data)
            if isinstance(frame, Hello):
                await self.handle_hello(frame)
            elif self.dialog is None:
                raise FrameError("hello_required", "say hello with your token first")
            else:
                await self.handle_frame(frame)
        except FrameError as error:
            await self.send_json(error.as_frame())

    async def handle_hello(self, frame: Hello) -> None:
        if self.dialog is not None:
            raise FrameError("already_greeted", "this connection has said hello already")
        try:
            visitor_id = visitor_token_read(public_key=self.chat.public_key, token=frame.token)
        except InvalidVisitorToken:
            await self.send_json(
                {"type": "error", "code": "bad_token", "detail": "the visitor token is not valid"}
            )
            await self.close(code=CLOSE_BAD_TOKEN)
            return
        dialog, _created = await database_call(
            services.dialog_start_or_resume,
            chat=self.chat,
            messenger=Messenger.WEB,
            external_id=visitor_id,
        )
        # join first, read second: nothing committed in between can fall through
        await self.channel_layer.group_add(dialog_group_name(dialog.pk), self.channel_name)
        self.dialog = dialog
        self.stream_dialog_id = dialog.pk
        same_dialog = frame.dialog == dialog.session_id
        # a claim beyond what exists would make deliver() drop every later message
        self.last_sent = min(frame.last_sequence, dialog.last_sequence) if same_dialog else 0
        seen = await database_call(dialog_seen_sequence, dialog_id=dialog.pk)
        await self.send_json(
            {
                "type": "welcome",
                "dialog": dialog.session_id,
                "status": dialog.status,
                "last_sequence": dialog.last_sequence,
                "headset": dialog.headset_visible,
                "seen": seen,
            }
        )
        await self.catch_up()

    async def handle_frame(self, frame) -> None:
        if isinstance(frame, ClientText) and frame.uploads:
            await self.handle_message_with_uploads(frame)
        elif isinstance(frame, ClientText):
            await self.handle_client_message(frame.client_msg_id, frame.text)
        elif isinstance(frame, ButtonPress):
            await self.handle_button(frame)
        elif isinstance(frame, HandoffAsk):
            await self.handle_handoff()
        elif isinstance(frame, PageOpened):
            await self.handle_page(frame)
        elif isinstance(frame, Ping):
            await self.catch_up()
            await self.send_json({"type": "pong"})
        elif isinstance(frame, Typing):
            await self.handle_typing(frame)
        else:
            await self.handle_handoff_frame(frame)

    async def acknowledge(self, client_msg_id: str, result: services.ClientMessageResult) -> None:
        await self.send_json(
            {
                "type": "ack",
                "client_msg_id": client_msg_id,
                "sequence": result.message.sequence,
                "duplicate": not result.created,
            }
        )
        # what this call wrote goes out now; a gap (another writer, a handoff notice)
        # is read from the database by deliver()
        for message in [result.message, *result.answers]:
            await self.deliver(message_payload(message))
        if self.dialog.last_sequence > self.last_sent:
            await self.catch_up()

    async def handle_client_message(self, client_msg_id: str, text: str) -> None:
        try:
            # committed together with what other sockets of this process sent meanwhile
            result = await client_message_group_commit().store(
                dialog=self.dialog, text=text, client_msg_id=client_msg_id
            )
        except services.DialogClosed:
            raise FrameError("dialog_closed", "this dialog is closed", client_msg_id) from None
        except ValidationError as error:
            raise FrameError("invalid", " ".join(error.messages), client_msg_id) from None
        except ClientMessageNotStored:
            # the widget keeps it and sends its outbox again, in order, on reconnecting;
            # frames behind it on this socket are not taken (they would overtake it)
            self.not_stored = True
            await self.send_json(
                FrameError("not_stored", "not stored; send it again", client_msg_id).as_frame()
            )
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        await self.acknowledge(client_msg_id, result)

    async def handle_message_with_uploads(self, frame: ClientText) -> None:
        """A message naming the visitor's uploads: stored (not group-committed) with the
        claim of its files, refusals in the chat's language."""
        try:
            result = await database_call(
                _message_with_uploads,
                dialog=self.dialog,
                language=self.chat.language,
                text=frame.text,
                client_msg_id=frame.client_msg_id,
                tokens=list(frame.uploads),
            )
        except UploadNotUsable as refusal:
            raise FrameError(refusal.code, refusal.message, frame.client_msg_id) from None
        except services.DialogClosed:
            raise FrameError(
                "dialog_closed", "this dialog is closed", frame.client_msg_id
            ) from None
        except ValidationError as error:
            raise FrameError("invalid", " ".join(error.messages), frame.client_msg_id) from None
        await self.acknowledge(frame.client_msg_id, result)

    async def handle_button(self, frame: ButtonPress) -> None:
        try:
            result = await database_call(
                services.bot_button_press,
                dialog=self.dialog,
                button_id=frame.button_id,
                client_msg_id=frame.client_msg_id,
            )
        except services.UnknownButton:
            raise FrameError(
                "unknown_button", "no such button in this chat", frame.client_msg_id
            ) from None
        except services.DialogClosed:
            raise FrameError(
                "dialog_closed", "this dialog is closed", frame.client_msg_id
            ) from None
        await self.acknowledge(frame.client_msg_id, result)

    async def handle_handoff(self) -> None:
        # handoff's request_reason_check decides on the stored dialog (this socket's
        # copy may have missed the trigger's reveal)
        try:
            await database_call(request_open, dialog=self.dialog, reason="headset")
        except HandoffNotOffered as refusal:  # its detail is in the chat's language
            raise FrameError(refusal.code, refusal.detail) from None
        except services.DialogClosed:
            raise FrameError("handoff_unavailable", "no operator can be asked now") from None
        await self.catch_up()

    def _handoff_call(self, frame) -> None:
        if isinstance(frame, FormAnswers) and frame.form == "form":
            client_form_submit(dialog=self.dialog, answers=frame.answers)
        elif isinstance(frame, FormAnswers):
            client_contact_submit(dialog=self.dialog, answers=frame.answers)
        elif isinstance(frame, CloseAsk):
            client_close(dialog=self.dialog)
        elif isinstance(frame, Rating):
            request_rate(dialog=self.dialog, request_id=frame.request_id, score=frame.score)

    async def handle_handoff_frame(self, frame) -> None:
        """Forms, close and rating: handoff's services, refusals in the chat's language."""
        try:
            await database_call(self._handoff_call, frame=frame)
        except HandoffError as refusal:
            raise FrameError(refusal.code, refusal.detail) from None
        except services.DialogClosed:
            raise FrameError("handoff_unavailable", "no operator can be asked now") from None
        await self.catch_up()
        wire_type = (
            frame.form
            if isinstance(frame, FormAnswers)
            else ("close" if isinstance(frame, CloseAsk) else "rate")
        )
        await self.send_json({"type": "done", "of": wire_type})

    async def handle_page(self, frame: PageOpened) -> None:
        try:
            await database_call(
                services.page_visit_record,
                dialog=self.dialog,
                url=frame.url,
                title=frame.title,
                visited_at=frame.visited_at,
            )
        except ValidationError as error:
            raise FrameError("invalid", " ".join(error.messages)) from None

    async def handle_typing(self, frame: Typing) -> None:
        """Passed on (never stored) only while a person may be reading: the request
        waits or an operator holds it; with the bot nobody is told, and no error."""
        if self.dialog.status not in (DialogStatus.WAITING, DialogStatus.OPERATOR):
            return
        if self.typing.allows(frame.typing):
            await typing_publish(
                dialog_id=self.dialog.pk, side=TYPING_FROM_CLIENT, typing=frame.typing
            )

    # --- events: one handler per type in chats.realtime.EVENT_TYPES -------------
    async def dialog_typing(self, event: dict) -> None:
        """The operator's typing goes to the visitor; the visitor's own (from another
        tab of theirs) is not shown back to them."""
        if (
            self.dialog is not None
            and event["dialog_id"] == self.dialog.pk
            and event["from"] == TYPING_FROM_OPERATOR
        ):
            await self.send_json(
                {"type": "typing", "name": event["name"], "typing": event["typing"]}
            )

    async def dialog_seen(self, event: dict) -> None:
        if self.dialog is not None and event["dialog_id"] == self.dialog.pk:
            await self.send_json({"type": "seen", "sequence": event["sequence"]})

    async def dialog_queue(self, event: dict) -> None:
        if self.dialog is not None:
            await self.send_json({"type": "queue", "position": event["position"]})

    async def dialog_headset(self, event: dict) -> None:
        if self.dialog is not None:
            self.dialog.headset_revealed = True
            await self.send_json({"type": "headset", "visible": True})

    async def dialog_status(self, event: dict) -> None:
        if self.dialog is not None:
            self.dialog.status = event["status"]
            await self.send_json({"type": "status", "status": event["status"]})

    async def console_request(self, event: dict) -> None:
        """Operators' request lists: nothing for a visitor."""

    async def console_inbox(self, event: dict) -> None:
        """Operators' live inbox: nothing for a visitor."""

    async def access_changed(self, event: dict) -> None:
        """Operators' access: nothing for a visitor."""

    async def console_presence(self, event: dict) -> None:
        """An operator's presence: nothing for a visitor."""

    async def console_transfer(self, event: dict) -> None:
        """A conversation handed to an operator: nothing for a visitor."""

    async def console_note(self, event: dict) -> None:
        """An operator's private note: never for a visitor (and never sent to a dialog's
        group; handoff.realtime.note_added_publish)."""
