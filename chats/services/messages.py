"""Writing messages. Every message is committed with its per-dialog sequence
before anyone is told about it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chats.enums import AuthorKind, DialogStatus
from chats.models import Client, Dialog, Message
from chats.realtime import (
    dialog_headset_publish,
    dialog_message_publish,
    dialog_status_publish,
)
from chats.registries import outbound_channels
from chats.validators import validate_encodable


class DialogClosed(Exception):
    """The dialog is closed: nothing more is written to it."""


def dialog_lock(*, dialog: Dialog) -> Dialog:
    """Re-read the dialog under a row lock; callers are inside transaction.atomic."""
    return Dialog.objects.select_for_update().get(pk=dialog.pk)


def message_post(
    *,
    dialog: Dialog,
    author_kind: AuthorKind,
    text: str = "",
    author_name: str = "",
    buttons: list[dict] | None = None,
    attachments: list[dict] | None = None,
    client_msg_id: str | None = None,
    dialog_locked: bool = False,
) -> tuple[Message, bool]:
    """Store a message and publish it after commit; return (message, created).

    Idempotent on `client_msg_id`: a repeated id returns the stored message and
    `created=False`, writing nothing. Raises DialogClosed on a closed dialog. A client's
    message carries the client's current name as its author_name.

    `dialog_locked=True`: the caller already holds the dialog's row lock in its open
    transaction and passes that fresh, locked instance; it is neither locked nor read
    again (one lock per row per transaction), and it is kept current.
    """
    if author_kind == AuthorKind.CLIENT and not text.strip() and not attachments:
        raise ValidationError(_("A message needs text."), code="empty_message")
    validate_encodable([text, author_name, attachments, buttons])
    with transaction.atomic():
        locked = dialog if dialog_locked else dialog_lock(dialog=dialog)
        if client_msg_id is not None:
            existing = Message.objects.filter(dialog=locked, client_msg_id=client_msg_id).first()
            if existing is not None:
                return existing, False
        if locked.status == DialogStatus.CLOSED:
            raise DialogClosed(locked.session_id)
        now = timezone.now()
        locked.last_sequence += 1
        locked.last_message_at = now
        update_fields = ["last_sequence", "last_message_at"]
        if author_kind == AuthorKind.CLIENT:
            locked.client_message_count += 1
            update_fields.append("client_message_count")
            if not author_name:
                # the client's name as it is now (a form may have named them since the
                # caller read the client); messages stored before keep theirs
                author_name = Client.objects.values_list("name", flat=True).get(pk=locked.client_id)
        locked.save(update_fields=update_fields)
        message = Message.objects.create(
            dialog=locked,
            sequence=locked.last_sequence,
            author_kind=author_kind,
            author_name=author_name,
            text=text,
            buttons=buttons or [],
            attachments=attachments or [],
            created_at=now,
            client_msg_id=client_msg_id,
        )
        dialog_message_publish(message=message)
        channel = outbound_channels.channel_for(locked.messenger)
        if channel is not None and author_kind != AuthorKind.CLIENT:
            message.dialog = locked
            channel.deliver(message)
    # keep the caller's instance current
    dialog.last_sequence = locked.last_sequence
    dialog.last_message_at = locked.last_message_at
    dialog.client_message_count = locked.client_message_count
    dialog.status = locked.status
    return message, True


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


def dialog_status_set(*, dialog: Dialog, status: DialogStatus) -> Dialog:
    """Move a dialog to another status and tell its watchers after commit.

    The dialog's status has two owners only, both inside the transaction that makes
    the change: handoff's request transitions (bot -> waiting -> operator -> bot) and
    dialog_close (-> closed). Nothing else calls this."""
    with transaction.atomic():
        locked = dialog_lock(dialog=dialog)
        if locked.status == DialogStatus.CLOSED:
            raise DialogClosed(locked.session_id)
        locked.status = status
        fields = ["status"]
        if status == DialogStatus.CLOSED:
            locked.closed_at = timezone.now()
            fields.append("closed_at")
        locked.save(update_fields=fields)
        dialog_status_publish(dialog=locked)
    dialog.status = locked.status
    dialog.closed_at = locked.closed_at
    return locked


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
        dialog_status_set(dialog=locked, status=DialogStatus.CLOSED)
    dialog.status = locked.status
    dialog.closed_at = locked.closed_at
    dialog.last_sequence = locked.last_sequence
    return True
