"""Messages while a request is open: the operator's replies, and what handoff does
when the visitor writes. Both are on every message's path, so each costs a fixed,
small number of statements (held by tests/handoff/test_message_path_queries.py)."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from chats.enums import AuthorKind
from chats.models import Dialog, Message
from chats.services import DialogClosed, message_post
from distributor.models import Operator
from handoff.enums import RequestStatus
from handoff.models import ConversationRead, HandoffSettings, Request
from handoff.realtime import inbox_message_publish
from handoff.registries import operator_surfaces
from handoff.services.errors import IllegalTransition, NotYourRequest
from handoff.services.handoff_settings import handoff_settings_for, settings_revision
from handoff.services.lifecycle import request_lock, settings_of


def operator_message_post(
    *,
    request: Request | int,
    operator: Operator,
    text: str,
    client_msg_id: str,
    attachments: list[dict] | None = None,
    dialog_id: int | None = None,
    visible_only: bool = False,
    co_answer: bool = False,
    now: datetime | None = None,
) -> tuple[Message, bool]:
    """An operator writes to the visitor "as {name}". Only the request's operator, only
    while it is accepted; with `co_answer`, also another operator (several answer in
    a backend group's topic: the request stays its operator's). Idempotent on
    client_msg_id, also after the request has changed: a resend of this operator's own
    stored reply (its ack was lost, then the request closed) returns (message, False)
    and writes nothing.

    `request` is an instance or an id (with `dialog_id` when known: no read before the
    locks); `visible_only` refuses a request of a chat the operator does not serve
    as Request.DoesNotExist."""
    now = now or timezone.now()
    if isinstance(request, int) and dialog_id is not None and not co_answer:
        try:
            return _reply_plain(
                request_id=request,
                dialog_id=dialog_id,
                operator=operator,
                text=text,
                client_msg_id=client_msg_id,
                attachments=attachments,
                visible_only=visible_only,
                now=now,
            )
        except _NotPlain:
            pass  # rolled back, nothing written: the full path below gives the answer
    with transaction.atomic():
        dialog, locked = request_lock(
            request, dialog_id=dialog_id, visible_to=operator if visible_only else None
        )
        writer_allowed = co_answer or locked.operator_id == operator.pk
        if not writer_allowed or locked.status != RequestStatus.ACCEPTED:
            stored = _own_reply(dialog, operator, client_msg_id)
            if stored is not None:
                return stored, False
            if not writer_allowed:
                raise NotYourRequest("only the operator who accepted the request can write")
            raise IllegalTransition(locked.status, "written to")
        # message_post returns a reply stored before under client_msg_id (a resend)
        message, created = _reply_post(dialog, operator, text, attachments, client_msg_id)
        if created:
            settings = settings_of(locked)
            locked.idle_deadline = now + timedelta(seconds=settings.operator_idle_seconds)
            locked.reply_deadline = now + timedelta(seconds=settings.reply_timeout_seconds)
            locked.save(update_fields=["idle_deadline", "reply_deadline"])
    return message, created


def _reply_post(
    dialog: Dialog,
    operator: Operator,
    text: str,
    attachments: list[dict] | None,
    client_msg_id: str,
) -> tuple[Message, bool]:
    """The operator's message as message_post stores it (both reply paths)."""
    return message_post(
        dialog=dialog,
        author_kind=AuthorKind.OPERATOR,
        author_name=operator.display_name,
        text=text,
        attachments=attachments,
        client_msg_id=client_msg_id,
    )


class _NotPlain(Exception):
    """The console's reply is not the plain case (a resend, a closed dialog, a request
    not this operator's to write in): its transaction is rolled back."""


# The console's reply (an id with its dialog id) in raw SQL, the ORM's compiling being
# most of its cost (issue 9): message_post's UPDATE locks the dialog, then this one
# locks the request (the order request_lock keeps) and sets its deadlines, checking
# that it is this operator's, accepted, in this dialog (and of a chat the operator
# serves). The deadlines come from the chat's timings this process saw last; the
# RETURNING tells whether they are still current (one more UPDATE when not).
# SQLite >= 3.35 and PostgreSQL; the optional part is a fixed string, never input.
REPLY_DEADLINES_SQL = """
UPDATE "{request}" SET "idle_deadline" = %s, "reply_deadline" = %s
WHERE "id" = %s AND "dialog_id" = %s AND "operator_id" = %s AND "status" = %s{served}
RETURNING "chat_id",
  (SELECT "{settings}"."revision" FROM "{settings}"
   WHERE "{settings}"."chat_id" = "{request}"."chat_id")
"""
SERVED_SQL = """ AND EXISTS (
  SELECT 1 FROM "{through}" WHERE "{through}"."{served_chat}" = "{request}"."chat_id"
  AND "{through}"."{served_operator}" = %s)"""

# chat id -> (operator_idle_seconds, reply_timeout_seconds) as last read
_reply_timings: dict[int, tuple[int, int]] = {}


@functools.cache
def _reply_deadlines_sql(*, served: bool) -> str:
    through = Operator.chats.through._meta
    names = {
        "request": Request._meta.db_table,
        "settings": HandoffSettings._meta.db_table,
        "through": through.db_table,
        "served_chat": through.get_field("chat").column,
        "served_operator": through.get_field("operator").column,
    }
    return REPLY_DEADLINES_SQL.format(served=SERVED_SQL.format(**names) if served else "", **names)


def _deadline_values(now: datetime, timings: tuple[int, int]) -> list:
    idle_seconds, reply_seconds = timings
    field = Request._meta.get_field("idle_deadline")
    return [
        field.get_db_prep_save(now + timedelta(seconds=idle_seconds), connection),
        field.get_db_prep_save(now + timedelta(seconds=reply_seconds), connection),
    ]


def _reply_plain(
    *,
    request_id: int,
    dialog_id: int,
    operator: Operator,
    text: str,
    client_msg_id: str,
    attachments: list[dict] | None,
    visible_only: bool,
    now: datetime,
) -> tuple[Message, bool]:
    """operator_message_post's plain case, written with no read: the dialog's UPDATE,
    the message's INSERT and the request's UPDATE in one transaction. Anything else
    raises _NotPlain with the transaction rolled back."""
    with transaction.atomic():
        dialog = Dialog(pk=dialog_id)
        try:
            message, created = _reply_post(dialog, operator, text, attachments, client_msg_id)
        except DialogClosed:
            raise _NotPlain from None
        if not created:
            raise _NotPlain
        guess = _reply_timings.get(dialog.chat_id, (0, 0))
        params = [
            *_deadline_values(now, guess),
            request_id,
            dialog_id,
            operator.pk,
            RequestStatus.ACCEPTED.value,
        ]
        if visible_only:
            params.append(operator.pk)
        with connection.cursor() as cursor:
            cursor.execute(_reply_deadlines_sql(served=visible_only), params)
            row = cursor.fetchone()
        if row is None:
            raise _NotPlain  # rolls back the message
        chat_id, revision = row
        settings = handoff_settings_for(
            chat_id, revision=uuid.UUID(str(revision)) if revision is not None else None
        )
        timings = (settings.operator_idle_seconds, settings.reply_timeout_seconds)
        if timings != guess or chat_id not in _reply_timings:
            _reply_timings[chat_id] = timings
            Request.objects.filter(pk=request_id).update(
                idle_deadline=now + timedelta(seconds=settings.operator_idle_seconds),
                reply_deadline=now + timedelta(seconds=settings.reply_timeout_seconds),
            )
    return message, created


def _own_reply(dialog: Dialog, operator: Operator, client_msg_id: str) -> Message | None:
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
    timeout counts from this message, and the other operator surfaces get it (a
    Telegram operator's session relays it to whoever holds the request, the backend
    group copies it into the client's topic, also while the request waits). Runs
    inside the transaction that stored the message, which holds the dialog's lock: one
    read and at most one write."""
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
        # a waiting request's messages too: the backend group's topic shows them
        operator_surfaces.client_message(request, message)
    if request.status != RequestStatus.ACCEPTED:
        return
    settings = settings_of(request)
    Request.objects.filter(pk=request.pk).update(
        reply_deadline=now + timedelta(seconds=settings.reply_timeout_seconds)
    )


def conversation_read_mark(*, operator: Operator, dialog_id: int, sequence: int) -> None:
    """This operator has read the dialog up to `sequence`; the mark never moves back."""
    mark, created = ConversationRead.objects.get_or_create(
        operator=operator, dialog_id=dialog_id, defaults={"last_read_sequence": sequence}
    )
    if not created and mark.last_read_sequence < sequence:
        ConversationRead.objects.filter(pk=mark.pk, last_read_sequence__lt=sequence).update(
            last_read_sequence=sequence
        )
