"""What an operator reads on Telegram: who the client is, who wrote each line, the
conversation summary an alert carries, and the one way to tell an operator something."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.enums import AuthorKind
from chats.models import Message
from handoff.models import Request
from telegram_bridge.models import OperatorAccount, OutboundMessage, SendPurpose
from telegram_bridge.services.outbox import outbound_enqueue

SUMMARY_MESSAGES = 6


def operator_tell(
    account: OperatorAccount, text: str, *, request_id: int | None = None, **extra
) -> OutboundMessage:
    return outbound_enqueue(
        bot=account.bot_id,
        telegram_chat_id=account.telegram_user_id,
        method="sendMessage",
        payload={"text": text, **extra},
        purpose=SendPurpose.OPERATOR,
        request_id=request_id,
    )


def client_label(request: Request) -> str:
    client = request.dialog.client
    return client.name or f"{client.messenger} {client.external_id[:8]}"


def alert_text(request: Request) -> str:
    """The conversation summary an operator decides on: who, where, the form, the last
    messages."""
    dialog = request.dialog
    with override(request.chat.language):
        lines = [
            _("New request in “%(chat)s”") % {"chat": request.chat.name},
            _("Client: %(client)s (%(messenger)s)")
            % {"client": client_label(request), "messenger": dialog.get_messenger_display()},
        ]
        if request.form_answers:
            lines.append("")
            lines.extend(
                f"• {answer['label']}: {answer['value'] or '—'}" for answer in request.form_answers
            )
        recent = list(
            Message.objects.filter(dialog=dialog)
            .exclude(author_kind=AuthorKind.SYSTEM)
            .order_by("-sequence")[:SUMMARY_MESSAGES]
        )
        if recent:
            lines.append("")
            for message in reversed(recent):
                lines.append(f"{author_label(request, message)}: {message.text[:300]}")
    return "\n".join(lines)


def author_label(request: Request, message: Message) -> str:
    if message.author_kind == AuthorKind.CLIENT:
        return client_label(request)
    if message.author_name:
        return message.author_name
    return _("Bot") if message.author_kind == AuthorKind.BOT else _("Operator")
