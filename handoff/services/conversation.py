"""Messages while a request is open: the operator's replies, and what handoff does
when the visitor writes. Both are on every message's path, so each costs a fixed,
small number of statements (held by tests/handoff/test_message_path_queries.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from chats.enums import AuthorKind
from chats.models import Dialog, Message
from chats.services import message_post
from distributor.models import Manager
from handoff.enums import RequestStatus
from handoff.models import ConversationRead, Request
from handoff.realtime import inbox_message_publish
from handoff.registries import operator_surfaces
from handoff.services.errors import IllegalTransition, NotYourRequest
from handoff.services.handoff_settings import settings_revision
from handoff.services.lifecycle import request_lock, settings_of


def operator_message_post(
    *,
    request: Request | int,
    operator: Manager,
    text: str,
    client_msg_id: str,
    attachments: list[dict] | None = None,
    dialog_id: int | None = None,
    visible_only: bool = False,
    now: datetime | None = None,
) -> tuple[Message, bool]:
    """An operator writes to the visitor "as {name}". Only the request's operator, only
    while it is accepted. Idempotent on client_msg_id, also after the request has
    changed: a resend of this operator's own stored reply (its ack was lost, then the
    request closed) returns (message, False) and writes nothing.

    `request` is an instance or an id (with `dialog_id` when known: no read before the
    locks); `visible_only` refuses a request of a chat the operator does not serve
    as Request.DoesNotExist."""
    now = now or timezone.now()
    with transaction.atomic():
        dialog, locked = request_lock(
            request, dialog_id=dialog_id, visible_to=operator if visible_only else None
        )
        if locked.operator_id != operator.pk or locked.status != RequestStatus.ACCEPTED:
            stored = _own_reply(dialog, operator, client_msg_id)
            if stored is not None:
                return stored, False
            if locked.operator_id != operator.pk:
                raise NotYourRequest("only the operator who accepted the request can write")
            raise IllegalTransition(locked.status, "written to")
        # message_post returns a reply stored before under client_msg_id (a resend)
        message, created = message_post(
            dialog=dialog,
            author_kind=AuthorKind.OPERATOR,
            author_name=operator.display_name,
            text=text,
            attachments=attachments,
            client_msg_id=client_msg_id,
            dialog_locked=True,
        )
        if created:
            settings = settings_of(locked)
            locked.idle_deadline = now + timedelta(seconds=dialog.chat.operator_idle_seconds)
            locked.reply_deadline = now + timedelta(seconds=settings.reply_timeout_seconds)
            locked.save(update_fields=["idle_deadline", "reply_deadline"])
    return message, created


def _own_reply(dialog: Dialog, operator: Manager, client_msg_id: str) -> Message | None:
    """The reply this operator already stored in this dialog under client_msg_id, if any
    (an id used by anyone else is not theirs to read back)."""
    message = Message.objects.filter(dialog=dialog, client_msg_id=client_msg_id).first()
    if (
        message is None
        or message.author_kind != AuthorKind.OPERATOR
        or message.author_name != operator.display_name
        or not Request.objects.filter(dialog=dialog, operator=operator).exists()
    ):
        return None
    return message


def request_note_client_message(
    *, dialog: Dialog, message: Message | None = None, now: datetime | None = None
) -> None:
    """A client wrote in a dialog with an open request: the consoles that own it or
    may accept it see the message in their inbox; in an accepted request the reply
    timeout counts from this message, and the other operator surfaces relay it to
    whoever holds the request. Runs inside the transaction that stored the message,
    which holds the dialog's lock: one read and at most one write."""
    now = now or timezone.now()
    request = (
        Request.objects.select_related("operator", "chat", *operator_surfaces.request_related)
        .annotate(settings_revision=settings_revision())
        .filter(dialog=dialog, status__in=Request.OPEN_STATUSES)
        .first()
    )
    if request is None:
        return
    request.dialog = dialog
    if message is not None:
        inbox_message_publish(request=request, message=message)
    if request.status != RequestStatus.ACCEPTED:
        return
    settings = settings_of(request)
    Request.objects.filter(pk=request.pk).update(
        reply_deadline=now + timedelta(seconds=settings.reply_timeout_seconds)
    )
    if message is not None:
        operator_surfaces.client_message(request, message)


def conversation_read_mark(*, manager: Manager, dialog_id: int, sequence: int) -> None:
    """This operator has read the dialog up to `sequence`; the mark never moves back."""
    mark, created = ConversationRead.objects.get_or_create(
        manager=manager, dialog_id=dialog_id, defaults={"last_read_sequence": sequence}
    )
    if not created and mark.last_read_sequence < sequence:
        ConversationRead.objects.filter(pk=mark.pk, last_read_sequence__lt=sequence).update(
            last_read_sequence=sequence
        )
