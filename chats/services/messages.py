"""Writing messages. Every message is committed with its per-dialog sequence
before anyone is told about it."""

from __future__ import annotations

import functools
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from django.utils.translation import gettext as _

from chats.enums import AuthorKind, DialogStatus
from chats.models import Dialog, Message
from chats.realtime import (
    dialog_headset_publish,
    dialog_message_publish,
    dialog_status_publish,
)
from chats.registries import outbound_channels
from chats.services.billing import message_direction, price_lookup_sql
from chats.validators import validate_encodable

COST_QUANTUM = Decimal("0.0001")  # Dialog.cost's decimal places


class DialogClosed(Exception):
    """The dialog is closed: nothing more is written to it."""


def dialog_lock(*, dialog: Dialog) -> Dialog:
    """Re-read the dialog under a row lock; callers are inside transaction.atomic."""
    return Dialog.objects.select_for_update().get(pk=dialog.pk)


# Raw SQL because the ORM has no UPDATE ... RETURNING: one statement locks the dialog
# row, hands out the sequence, adds the message's price to the dialog's cost (the
# price of its messenger and direction at the message's time, chats.services.billing)
# and reads what the rest of the message needs (SQLite >= 3.35 and PostgreSQL). The
# optional parts are fixed strings, never input.
MESSAGE_PRICE_SQL = price_lookup_sql(
    messenger='"chats_dialog"."messenger"', direction="%s", at="%s"
)
ALLOCATE_SQL = """
UPDATE "chats_dialog"
SET "last_sequence" = "last_sequence" + 1, "last_message_at" = %s{client_count},
  "cost" = "cost" + COALESCE({price}, 0)
WHERE "id" = %s AND "status" <> %s{not_stored}
RETURNING "last_sequence", "status", "client_message_count", "fallback_count",
  "headset_revealed", "chat_id", "messenger",
  (SELECT "scripts_version" FROM "chats_chat" WHERE "chats_chat"."id" = "chats_dialog"."chat_id"),
  (SELECT "name" FROM "chats_client" WHERE "chats_client"."id" = "chats_dialog"."client_id"),
  "cost"
"""
CLIENT_COUNT_SQL = ', "client_message_count" = "client_message_count" + {step}'
NOT_STORED_SQL = """ AND NOT EXISTS (
  SELECT 1 FROM "chats_message" WHERE "dialog_id" = %s AND "client_msg_id" = %s)"""

INSERT_FIELDS = (
    "dialog_id",
    "sequence",
    "author_kind",
    "author_name",
    "text",
    "buttons",
    "attachments",
    "created_at",
    "channel_message_id",
    "client_msg_id",
)
INSERT_SQL = """
INSERT INTO "chats_message" ({columns}) VALUES ({values})
ON CONFLICT ("dialog_id", "client_msg_id") WHERE "client_msg_id" IS NOT NULL DO NOTHING
RETURNING "id"
""".format(
    columns=", ".join(f'"{name}"' for name in INSERT_FIELDS),
    values=", ".join(["%s"] * len(INSERT_FIELDS)),
)

# gives back the sequence and the price a losing duplicate took (the row lock is
# still ours; the price is looked up for the same time as the allocation's)
RELEASE_SQL = """
UPDATE "chats_dialog"
SET "last_sequence" = "last_sequence" - 1{client_count},
  "cost" = "cost" - COALESCE({price}, 0),
  "last_message_at" = (
    SELECT "created_at" FROM "chats_message" WHERE "dialog_id" = %s
    ORDER BY "sequence" DESC LIMIT 1)
WHERE "id" = %s
"""


@functools.cache
def _allocate_sql(*, client: bool, client_msg_id: bool) -> str:
    return ALLOCATE_SQL.format(
        price=MESSAGE_PRICE_SQL,
        client_count=CLIENT_COUNT_SQL.format(step="1") if client else "",
        not_stored=NOT_STORED_SQL if client_msg_id else "",
    )


def _prepared(model, column: str, value):
    field = next(field for field in model._meta.concrete_fields if field.column == column)
    return field.get_db_prep_save(value, connection)


def _stored_cost(value) -> Decimal:
    # SQLite hands a NUMERIC column back as a float or an int
    return Decimal(str(value)).quantize(COST_QUANTUM)


def _stored_duplicate(dialog: Dialog, client_msg_id: str | None) -> Message | None:
    if client_msg_id is None:
        return None
    return Message.objects.filter(dialog=dialog, client_msg_id=client_msg_id).first()


def message_post(
    *,
    dialog: Dialog,
    author_kind: AuthorKind,
    text: str = "",
    author_name: str = "",
    buttons: list[dict] | None = None,
    attachments: list[dict] | None = None,
    client_msg_id: str | None = None,
) -> tuple[Message, bool]:
    """Store a message and publish it after commit; return (message, created).

    Idempotent on `client_msg_id`: a repeated id returns the stored message and
    `created=False`, writing nothing. Raises DialogClosed on a closed dialog. A client's
    message carries the client's current name as its author_name.

    Two statements: one UPDATE takes the dialog's row lock, hands out the next
    sequence (refusing a closed dialog and a client_msg_id already stored), adds the
    message's price to the dialog's cost (chats.services.billing) and returns
    the dialog's state, the chat's bot version (kept on `dialog.bot_version`) and the
    client's name; one INSERT stores the message. The caller's `dialog` is kept
    current and never read again, so a caller holding the dialog's row lock passes its
    locked instance as it is. A `Dialog(pk=...)` with nothing else read is enough: the
    UPDATE returns its chat_id and messenger too (an outbound channel then reads what
    else it needs).
    """
    if author_kind == AuthorKind.CLIENT and not text.strip() and not attachments:
        raise ValidationError(_("A message needs text."), code="empty_message")
    validate_encodable([text, author_name, attachments, buttons])
    client = author_kind == AuthorKind.CLIENT
    now = timezone.now()
    at = _prepared(Dialog, "last_message_at", now)
    price_params = [message_direction(author_kind).value, at, at]
    params = [at, *price_params, dialog.pk, DialogStatus.CLOSED.value]
    if client_msg_id is not None:
        params += [dialog.pk, client_msg_id]
    # no savepoint: nothing below raises inside the block but a database error, which
    # fails the caller's transaction anyway; DialogClosed is raised after it
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(
            _allocate_sql(client=client, client_msg_id=client_msg_id is not None),
            params,
        )
        row = cursor.fetchone()
        message = None
        if row is not None:
            (sequence, status, client_count, fallback_count, headset, chat_id, messenger) = row[:7]
            bot_version, name, cost = row[7:]
            if client and not author_name:
                # the client's name as it is now (a form may have named them since the
                # caller read the client); messages stored before keep theirs
                author_name = name
            message = Message(
                dialog=dialog,
                sequence=sequence,
                author_kind=author_kind,
                author_name=author_name,
                text=text,
                buttons=buttons or [],
                attachments=attachments or [],
                created_at=now,
                client_msg_id=client_msg_id,
            )
            cursor.execute(
                INSERT_SQL,
                [_prepared(Message, column, getattr(message, column)) for column in INSERT_FIELDS],
            )
            inserted = cursor.fetchone()
            if inserted is None:  # lost a race to a duplicate of the same client_msg_id
                release = RELEASE_SQL.format(
                    price=MESSAGE_PRICE_SQL,
                    client_count=CLIENT_COUNT_SQL.format(step="-1") if client else "",
                )
                cursor.execute(release, [*price_params, dialog.pk, dialog.pk])
                message = None
            else:
                message.pk = inserted[0]
                message._state.adding = False
                message._state.db = connection.alias
                dialog.last_sequence = sequence
                dialog.last_message_at = now
                dialog.status = status
                dialog.client_message_count = client_count
                dialog.fallback_count = fallback_count
                dialog.headset_revealed = bool(headset)
                dialog.chat_id = chat_id
                dialog.messenger = messenger
                dialog.bot_version = bot_version
                dialog.cost = _stored_cost(cost)
                dialog_message_publish(message=message)
                channel = outbound_channels.channel_for(dialog.messenger)
                if channel is not None and not client:
                    channel.deliver(message)
    if message is not None:
        return message, True
    existing = _stored_duplicate(dialog, client_msg_id)
    if existing is not None:
        return existing, False
    raise DialogClosed(dialog.session_id)


def dialog_headset_reveal(*, dialog: Dialog) -> bool:
    """Show the headset in this dialog from now on (the trigger decided). Returns
    whether anything changed; the widget is told after commit."""
    with transaction.atomic():
        changed = Dialog.objects.filter(pk=dialog.pk, headset_revealed=False).update(
            headset_revealed=True
        )
        if changed:
            dialog_headset_publish(dialog=dialog)
            channel = outbound_channels.channel_for(dialog.messenger)
            if channel is not None:
                channel.headset_revealed(dialog)
    dialog.headset_revealed = True
    return bool(changed)


def dialog_status_set(
    *, dialog: Dialog, status: DialogStatus, dialog_locked: bool = False
) -> Dialog:
    """Move a dialog to another status and tell its watchers after commit.

    The dialog's status has two owners only, both inside the transaction that makes
    the change: handoff's request transitions (bot -> waiting -> operator -> bot) and
    dialog_close (-> closed). Nothing else calls this.

    `dialog_locked=True`: the caller already holds the dialog's row lock in its open
    transaction and passes that fresh, locked instance: one UPDATE, no re-read and no
    savepoint (a closed dialog raises DialogClosed before anything is written)."""
    if dialog_locked:
        if not connection.in_atomic_block:
            raise TransactionManagementError("dialog_locked=True needs the caller's transaction")
        _status_write(dialog, status)
        return dialog
    with transaction.atomic():
        locked = dialog_lock(dialog=dialog)
        _status_write(locked, status)
    dialog.status = locked.status
    dialog.closed_at = locked.closed_at
    return locked


def _status_write(locked: Dialog, status: DialogStatus) -> None:
    if locked.status == DialogStatus.CLOSED:
        raise DialogClosed(locked.session_id)
    locked.status = status
    fields = ["status"]
    if status == DialogStatus.CLOSED:
        locked.closed_at = timezone.now()
        fields.append("closed_at")
    locked.save(update_fields=fields)
    dialog_status_publish(dialog=locked)


def dialog_close(*, dialog: Dialog, notice: str = "") -> bool:
    """Close a dialog: nothing more is written to it, and the client's next message
    starts a new dialog. Only a dialog the bot has (no open request: its status says
    so) is closed; returns whether it was. `notice`, when given, is posted first."""
    with transaction.atomic():
        locked = dialog_lock(dialog=dialog)
        if locked.status != DialogStatus.BOT:
            return False
        if notice:
            message_post(dialog=locked, author_kind=AuthorKind.SYSTEM, text=notice)
        dialog_status_set(dialog=locked, status=DialogStatus.CLOSED, dialog_locked=True)
    dialog.status = locked.status
    dialog.closed_at = locked.closed_at
    dialog.last_sequence = locked.last_sequence
    return True
