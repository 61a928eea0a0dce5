"""Transfer from Telegram: the manager holding a conversation hands it to another
manager of the chat or back to the bot, with a reason.

The flow (docs/telegram.md): the conversation's "Transfer" button (or /transfer) lists
whom it may go to as buttons (the managers serving the chat and channel who are not
offline and under their cap, and "Back to the bot"); a tap asks for the reason; the
manager's next text message is the reason (it is not relayed to the client) and the
transfer is made through handoff's request_transfer, the service the console calls.
/cancel drops a transfer being written. Callback data: "t:<request>" lists the targets,
"tt:<request>:<operator id>|bot" chooses one."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import override

from distributor.models import Operator
from handoff.models import Request
from handoff.realtime import transfer_received_publish
from handoff.selectors import transfer_targets
from handoff.services import HandoffError, request_transfer
from telegram_bridge.models import OperatorAccount, TransferDraft
from telegram_bridge.selectors import request_held_by_account
from telegram_bridge.services.callback_numbers import callback_number
from telegram_bridge.services.operators.texts import client_label, operator_tell
from telegram_bridge.services.outbox import keyboard

TO_BOT = "bot"


def transfer_targets_offer(*, account: OperatorAccount, request_id: int | None) -> None:
    """Answer "Transfer" (or /transfer for the current conversation): the targets as
    buttons, or why there is nothing to transfer."""
    with override(account.bot.chat.language):
        request = request_held_by_account(account, request_id)
        if request is None:
            operator_tell(account, _("You have no open conversation to transfer."))
            return
        rows = [
            [
                {
                    "text": f"{target['name']} · {target['load']}/{target['max']}",
                    "callback_data": f"tt:{request.pk}:{target['id']}",
                }
            ]
            for target in transfer_targets(operator=account.operator, request=request)
            if target["available"]
        ]
        rows.append([{"text": _("Back to the bot"), "callback_data": f"tt:{request.pk}:{TO_BOT}"}])
        operator_tell(
            account,
            _("Transfer the conversation with %(client)s to:") % {"client": client_label(request)},
            request_id=request.pk,
            keyboard=keyboard(rows),
        )


def transfer_target_choose(*, account: OperatorAccount, request_id: int, target: str) -> None:
    """A target was tapped: remember it and ask for the reason."""
    with override(account.bot.chat.language):
        request = request_held_by_account(account, request_id)
        if request is None:
            operator_tell(account, _("You have no open conversation to transfer."))
            return
        to_operator = None
        if target != TO_BOT:
            target_id = callback_number(target)
            to_operator = (
                Operator.objects.filter(pk=target_id, chats=request.chat_id).first()
                if target_id is not None
                else None
            )
            if to_operator is None:
                operator_tell(account, _("This manager does not serve this chat."))
                return
        TransferDraft.objects.update_or_create(
            account=account, defaults={"request": request, "to_operator": to_operator}
        )
        whom = to_operator.display_name if to_operator else _("the bot")
        operator_tell(
            account,
            _(
                "Why do you transfer the conversation to %(whom)s? Send the reason as your "
                "next message (/cancel to keep the conversation)."
            )
            % {"whom": whom},
            request_id=request.pk,
        )


def transfer_draft_of(account: OperatorAccount) -> TransferDraft | None:
    return TransferDraft.objects.filter(account=account).select_related("to_operator").first()


def transfer_cancel(*, account: OperatorAccount) -> bool:
    """/cancel: drop the transfer being written, if any (and say so)."""
    deleted, _rows = TransferDraft.objects.filter(account=account).delete()
    if deleted:
        with override(account.bot.chat.language):
            operator_tell(account, _("Transfer cancelled: the conversation stays with you."))
    return bool(deleted)


def transfer_complete(*, account: OperatorAccount, draft: TransferDraft, reason: str) -> None:
    """The manager's message after choosing a target is the reason: make the transfer.
    A refusal (the target went offline or is full, the conversation is no longer theirs,
    a reason too long) is told as it is; the draft is dropped either way, so the next
    message goes to the client again."""
    TransferDraft.objects.filter(pk=draft.pk).delete()
    with override(account.bot.chat.language):
        try:
            with transaction.atomic():
                request = request_transfer(
                    request=draft.request_id,
                    operator=account.operator,
                    to_operator=draft.to_operator,
                    reason=reason,
                )
                if draft.to_operator is not None:
                    transfer_received_publish(
                        request=request, from_name=account.operator.display_name, reason=reason
                    )
        except (HandoffError, Request.DoesNotExist) as refusal:
            detail = str(refusal) if isinstance(refusal, HandoffError) else ""
            operator_tell(
                account,
                _("The conversation was not transferred: %(why)s")
                % {"why": detail or _("it is no longer open.")},
            )
            return
    # what happened next (the conversation closed back to the bot, or is now with the
    # other manager) is told by the surface (relay.TelegramSurface), as for a transfer
    # made in the console
