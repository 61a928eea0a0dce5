"""Who is writing: an operator (their Telegram account is connected to this bot) or a
client. The router (telegram_bridge.handlers) calls these with the bot (its chat
loaded) and plain values parsed from the update.

Each runs in the transaction of the update's processing (telegram_bridge.services.
updates, which marks the update processed in it): an update whose handling fails
leaves nothing behind, so trying it again starts clean."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from telegram_bridge.models import OperatorAccount, SendPurpose, TelegramBot, TelegramChat
from telegram_bridge.selectors import connect_link_exists
from telegram_bridge.services.callback_numbers import callback_number
from telegram_bridge.services.clients import (
    TelegramUser,
    client_callback_receive,
    client_message_receive,
)
from telegram_bridge.services.operators import (
    ConnectRefused,
    connect_link_redeem,
    operator_accept,
    operator_message_receive,
    operator_reject,
    transfer_target_choose,
    transfer_targets_offer,
)
from telegram_bridge.services.outbox import outbound_enqueue


def _account(bot: TelegramBot, user: TelegramUser) -> OperatorAccount | None:
    account = (
        OperatorAccount.objects.select_related("operator")
        .filter(bot=bot, telegram_user_id=user.id, active=True)
        .first()
    )
    if account is not None:
        account.bot = bot  # with its chat, read once for the whole update
    return account


def _unblock(bot: TelegramBot, chat_id: int) -> None:
    """Someone who writes to the bot has not blocked it (any more)."""
    TelegramChat.objects.filter(bot=bot, telegram_chat_id=chat_id, blocked_at__isnull=False).update(
        blocked_at=None
    )


@transaction.atomic(savepoint=False)  # inside the update's transaction: no savepoint
def private_message_handle(
    *,
    bot: TelegramBot,
    update_id: int,
    chat_id: int,
    user: TelegramUser,
    text: str,
    command: str | None,
    command_argument: str,
    attachments: list[dict],
    reply_to: int | None,
) -> None:
    _unblock(bot, chat_id)
    # /start <token> connects an operator; any other deep link (t.me/bot?start=site) is a
    # client starting, greeted as usual
    if (
        command == "start"
        and command_argument
        and connect_link_exists(bot=bot, token=command_argument)
    ):
        try:
            connect_link_redeem(bot=bot, token=command_argument, user=user)
        except ConnectRefused as refusal:
            outbound_enqueue(
                bot=bot,
                telegram_chat_id=chat_id,
                method="sendMessage",
                payload={"text": str(refusal)},
                purpose=SendPurpose.OPERATOR,
            )
        return
    account = _account(bot, user)
    if account is not None:
        operator_message_receive(
            account=account,
            update_id=update_id,
            text=text,
            command=command,
            attachments=attachments,
            reply_to=reply_to,
        )
        return
    client_message_receive(
        bot=bot,
        update_id=update_id,
        chat_id=chat_id,
        user=user,
        text=text,
        command=command,
        attachments=attachments,
    )


@transaction.atomic(savepoint=False)  # inside the update's transaction: no savepoint
def callback_handle(
    *,
    bot: TelegramBot,
    update_id: int,
    chat_id: int,
    user: TelegramUser,
    data: str,
    message_id: int | None,
) -> None:
    kind, _sep, rest = data.partition(":")
    if kind in ("a", "x"):
        account = _account(bot, user)
        request_id = callback_number(rest)
        if account is None or request_id is None:
            return
        if kind == "a":
            operator_accept(account=account, request_id=request_id)
        else:
            operator_reject(account=account, request_id=request_id)
        return
    if kind in ("t", "tt"):
        # the conversation's Transfer button, then a target in the list it answered
        account = _account(bot, user)
        request_part, _sep, target = rest.partition(":")
        request_id = callback_number(request_part)
        if account is None or request_id is None:
            return
        if kind == "t":
            transfer_targets_offer(account=account, request_id=request_id)
        elif target:
            transfer_target_choose(account=account, request_id=request_id, target=target)
        return
    client_callback_receive(
        bot=bot,
        update_id=update_id,
        chat_id=chat_id,
        user=user,
        data=data,
        message_id=message_id,
    )


@transaction.atomic(savepoint=False)  # inside the update's transaction: no savepoint
def member_status_handle(*, bot: TelegramBot, chat_id: int, status: str) -> None:
    """The user blocked the bot (kicked) or came back (member); in the notice group, the
    bot was removed (the admin is told) or added back."""
    blocked_at = timezone.now() if status in ("kicked", "left") else None
    if chat_id < 0:
        removed = "the bot was removed from the group" if blocked_at else ""
        TelegramBot.objects.filter(pk=bot.pk, notice_group_id=chat_id).update(
            notice_group_error=removed, notice_group_error_at=blocked_at
        )
        return
    with transaction.atomic():
        TelegramChat.objects.update_or_create(
            bot=bot, telegram_chat_id=chat_id, defaults={"blocked_at": blocked_at}
        )


@transaction.atomic(savepoint=False)  # inside the update's transaction: no savepoint
def group_command_handle(*, bot: TelegramBot, chat_id: int, command: str) -> None:
    """In a group the bot only answers /groupid, to help an admin fill in the setting."""
    if command != "groupid":
        return
    with override(bot.chat.language):
        text = _("This group's id is %(id)s.") % {"id": chat_id}
    outbound_enqueue(
        bot=bot,
        telegram_chat_id=chat_id,
        method="sendMessage",
        payload={"text": text},
        purpose=SendPurpose.GROUP_NOTICE,
    )
