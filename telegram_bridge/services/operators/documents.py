"""A file from our own disk sent to an operator on Telegram as a document (a scheduled
report, for instance). The outbox row keeps the file's path, never its bytes: the
sender opens the file when it sends (telegram_bridge.services.outbox.sending), so the
file must still be there then, and a retried send uploads it again."""

from __future__ import annotations

from pathlib import Path

from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from distributor.models import Operator
from telegram_bridge.models import OperatorAccount, OutboundMessage, SendPurpose, TelegramChat
from telegram_bridge.services.outbox import outbound_enqueue

# the Bot API's limit for a document a bot uploads
UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024


class DocumentRefused(Exception):
    """The document cannot be sent; the message says why, in the admin's words."""


def operator_account_for_documents(operator: Operator) -> OperatorAccount | None:
    """The operator's active Telegram account that has not blocked its bot, the most
    recently connected one if they connected through several chats' bots."""
    blocked = TelegramChat.objects.filter(
        bot_id=OuterRef("bot_id"),
        telegram_chat_id=OuterRef("telegram_user_id"),
        blocked_at__isnull=False,
    )
    return (
        OperatorAccount.objects.filter(operator=operator, active=True)
        .exclude(Exists(blocked))
        .order_by("-connected_at", "-pk")
        .first()
    )


def operator_document_send(
    *, operator: Operator, path: Path | str, file_name: str, caption: str = "", reference: str = ""
) -> OutboundMessage:
    """Queue `path` for the operator's Telegram as a document named `file_name`.
    `reference` is kept on the row (payload "reference") so the caller can find out
    later how the send went. Raises DocumentRefused when the operator has no active,
    unblocked account or the file is missing or too large for Telegram."""
    account = operator_account_for_documents(operator)
    if account is None:
        raise DocumentRefused(
            _(
                "%(operator)s has no active Telegram account (or blocked the bot): "
                "send them a connect link."
            )
            % {"operator": operator}
        )
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise DocumentRefused(_("The file to send no longer exists.")) from None
    if size > UPLOAD_LIMIT_BYTES:
        raise DocumentRefused(
            _("The file is %(size)d MB; Telegram takes documents up to %(limit)d MB.")
            % {"size": size // (1024 * 1024), "limit": UPLOAD_LIMIT_BYTES // (1024 * 1024)}
        )
    return outbound_enqueue(
        bot=account.bot_id,
        telegram_chat_id=account.telegram_user_id,
        method="sendDocument",
        payload={
            "document_path": str(path),
            "file_name": file_name,
            "caption": caption,
            "reference": reference,
        },
        purpose=SendPurpose.OPERATOR,
    )
