from __future__ import annotations

from django.db.models import CharField, Count, Exists, Max, OuterRef, QuerySet
from django.db.models.functions import Cast, Coalesce

from chats.enums import Messenger
from chats.models import Client, MarkerHit
from handoff.enums import RequestStatus
from handoff.models import Request
from telegram_bridge.models import (
    Broadcast,
    BroadcastRecipient,
    ConnectLink,
    CustomerBound,
    OperatorAccount,
    RecipientStatus,
    TelegramBot,
    TelegramChat,
)


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


# --- broadcasts -----------------------------------------------------------------------


def _blocked_chats(bot_id: int) -> QuerySet[TelegramChat]:
    """The bot's private chats whose user blocked it, matched to a client's external id
    (a Telegram client's external_id is its user id, which is its private chat id)."""
    return TelegramChat.objects.filter(
        bot_id=bot_id,
        blocked_at__isnull=False,
        telegram_chat_id__gt=0,
    ).annotate(external_id=Cast("telegram_chat_id", CharField()))


def broadcast_segment(*, broadcast: Broadcast, include_blocked: bool = False) -> QuerySet[Client]:
    """The clients a broadcast's filters select: the Telegram clients of its bot's chat
    (web visitors cannot be sent a push), narrowed by marker hit, last activity (the
    latest message, or the start, of any of the client's dialogs) and customer binding.
    Users who blocked the bot are left out unless `include_blocked`."""
    clients = Client.objects.filter(
        chat_id=broadcast.bot.chat_id, messenger=Messenger.TELEGRAM, external_id__regex=r"^[0-9]+$"
    )
    if broadcast.marker:
        clients = clients.filter(
            Exists(
                MarkerHit.objects.filter(dialog__client_id=OuterRef("pk"), marker=broadcast.marker)
            )
        )
    if broadcast.active_after or broadcast.active_before:
        clients = clients.annotate(
            last_activity=Max(Coalesce("dialogs__last_message_at", "dialogs__started_at"))
        )
        if broadcast.active_after:
            clients = clients.filter(last_activity__gte=broadcast.active_after)
        if broadcast.active_before:
            clients = clients.filter(last_activity__lt=broadcast.active_before)
    if broadcast.customer_bound == CustomerBound.BOUND:
        clients = clients.filter(customer_binding__isnull=False)
    elif broadcast.customer_bound == CustomerBound.UNBOUND:
        clients = clients.filter(customer_binding__isnull=True)
    if not include_blocked:
        clients = clients.exclude(
            Exists(_blocked_chats(broadcast.bot_id).filter(external_id=OuterRef("external_id")))
        )
    return clients


def broadcast_recipients_count(*, broadcast: Broadcast) -> tuple[int, int]:
    """(recipients the segment has now, users of it left out because they blocked the
    bot): what the admin sees before sending."""
    everyone = broadcast_segment(broadcast=broadcast, include_blocked=True).count()
    recipients = broadcast_segment(broadcast=broadcast).count()
    return recipients, everyone - recipients


def broadcast_progress(*, broadcast: Broadcast) -> dict[str, int | str]:
    """The broadcast's status and its recipients counted by status (every status present,
    zero when none), plus `total` and `done` (those with a final result)."""
    counts = dict.fromkeys(RecipientStatus.values, 0)
    for status, number in (
        BroadcastRecipient.objects.filter(broadcast=broadcast)
        .order_by()
        .values_list("status")
        .annotate(number=Count("id"))
    ):
        counts[status] = number
    waiting = (RecipientStatus.PENDING, RecipientStatus.QUEUED, RecipientStatus.SENDING)
    total = sum(counts.values())
    return {
        "status": broadcast.status,
        **counts,
        "total": total,
        "done": total - sum(counts[status] for status in waiting),
    }
