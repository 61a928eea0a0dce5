"""Reads of the chats app."""

from __future__ import annotations

from django.db.models import Count

from chats.models import Chat, Message
from chats.realtime import message_payload

RESUME_BATCH = 500


def chat_get_by_public_key(*, public_key: str) -> Chat | None:
    return Chat.objects.filter(public_key=public_key).prefetch_related("messenger_links").first()


def messages_after(*, dialog_id: int, sequence: int, limit: int = RESUME_BATCH) -> list[dict]:
    """Payloads of the dialog's messages after `sequence`, oldest first."""
    messages = Message.objects.filter(dialog_id=dialog_id, sequence__gt=sequence).order_by(
        "sequence"
    )[:limit]
    return [message_payload(message) for message in messages]


def chat_deletion_summary(*, chat: Chat) -> dict[str, int]:
    """What goes with a chat when it is deleted (shown on the confirmation page)."""
    counts = Chat.objects.filter(pk=chat.pk).aggregate(
        scripts=Count("scripts", distinct=True),
        clients=Count("clients", distinct=True),
        dialogs=Count("dialogs", distinct=True),
    )
    counts["messages"] = Message.objects.filter(dialog__chat=chat).count()
    return counts
