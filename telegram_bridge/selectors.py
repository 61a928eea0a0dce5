from __future__ import annotations

from handoff.enums import RequestStatus
from handoff.models import Request
from telegram_bridge.models import ConnectLink, OperatorAccount, TelegramBot


def bot_for_webhook(*, webhook_key: str) -> TelegramBot | None:
    return TelegramBot.objects.only("pk", "webhook_secret").filter(webhook_key=webhook_key).first()


def connect_link_exists(*, bot: TelegramBot, token: str) -> bool:
    """Whether `token` is one of this bot's connect links (used, expired or not)."""
    return ConnectLink.objects.filter(bot=bot, token=token[:64]).exists()


def request_for_account(account: OperatorAccount, request_id: int) -> Request | None:
    """A request of the chat this operator's bot serves (with its client, chat and
    operator), or None."""
    return (
        Request.objects.select_related("dialog__client", "chat", "operator")
        .filter(pk=request_id, chat_id=account.bot.chat_id)
        .first()
    )


def request_held_by_account(account: OperatorAccount, request_id: int | None) -> Request | None:
    """The request if this operator holds it now (accepted by them), else None."""
    if request_id is None:
        return None
    request = request_for_account(account, request_id)
    if request is None or request.status != RequestStatus.ACCEPTED:
        return None
    return request if request.operator_id == account.operator_id else None
