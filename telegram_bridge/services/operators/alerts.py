"""Alerts: every eligible operator on Telegram is told of a waiting request, with Accept
and Reject; the alerts are settled (buttons removed, who took it) when it is accepted
or closed, from any surface. Accept and Reject go through handoff's services, the same
ones the console calls, so the first accept wins once."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.enums import AuthorKind
from chats.models import Message
from distributor.enums import DistributionMode
from distributor.models import ChatDistribution
from distributor.selectors import eligible_filter
from handoff.enums import RequestStatus
from handoff.models import Request
from handoff.services import (
    HandoffError,
    IllegalTransition,
    NotYourRequest,
    RequestAlreadyTaken,
    handoff_settings_for,
    request_accept,
    request_reject,
    working_hours_for,
)
from telegram_bridge.models import (
    AlertState,
    OperatorAccount,
    OperatorAlert,
    OperatorSession,
    OutboundMessage,
    SendPurpose,
    TelegramBot,
    TelegramChat,
)
from telegram_bridge.selectors import request_for_account
from telegram_bridge.services.operators.texts import (
    SUMMARY_MESSAGES,
    alert_text,
    author_label,
    client_label,
    operator_tell,
)
from telegram_bridge.services.outbox import TEXT_LIMIT, keyboard, outbound_enqueue


def transfer_button(request: Request) -> list[list[dict]]:
    """The keyboard under a conversation's first message: one "Transfer" button
    (telegram_bridge.services.operators.transfers)."""
    return keyboard([[{"text": _("Transfer"), "callback_data": f"t:{request.pk}"}]])


def _automatic(request: Request) -> bool:
    return ChatDistribution.objects.filter(
        chat_id=request.chat_id, mode=DistributionMode.AUTOMATIC
    ).exists()


def _eligible_accounts(request: Request) -> list[OperatorAccount]:
    """Operators on this chat's bot who serve the chat and are eligible for the
    request's channel and route (distributor.selectors.eligible_filter: the channels
    they serve in the chat, the routing rule's manager set), have not passed on this
    request, have not blocked the bot, while the chat is within its working hours. In
    automatic distribution, only the operator the request is offered to now (nobody
    while it is offered to nobody: it waits to be offered)."""
    hours = working_hours_for(handoff_settings_for(request.chat_id))
    if not hours.is_open(timezone.now()):
        return []
    offered_only = request.offered_to_id is not None or _automatic(request)
    if offered_only and request.offered_to_id is None:
        return []
    blocked = TelegramChat.objects.filter(
        bot__chat_id=request.chat_id, blocked_at__isnull=False
    ).values_list("telegram_chat_id", flat=True)
    accounts = OperatorAccount.objects.filter(
        eligible_filter(
            operator=OuterRef("operator_id"),
            chat=request.chat_id,
            messenger=request.dialog.messenger,
        ),
        bot__chat_id=request.chat_id,
        active=True,
        operator__chats=request.chat_id,
    )
    if offered_only:
        accounts = accounts.filter(operator_id=request.offered_to_id)
    return list(
        accounts.exclude(operator__in=request.rejected_by.all())
        .exclude(telegram_user_id__in=blocked)
        .select_related("operator")
    )


def _alert_buttons(request: Request) -> list[list[dict]]:
    with override(request.chat.language):
        return keyboard(
            [
                [
                    {"text": _("Accept"), "callback_data": f"a:{request.pk}"},
                    {"text": _("Reject"), "callback_data": f"x:{request.pk}"},
                ]
            ]
        )


def _alerts_send(request: Request, summary: str) -> None:
    existing = dict(
        OperatorAlert.objects.filter(request=request).values_list("account_id", "state")
    )
    buttons = _alert_buttons(request)
    for account in _eligible_accounts(request):
        if account.pk in existing and existing[account.pk] != AlertState.MOVED:
            continue
        if account.pk in existing:
            # offered to them again (automatic distribution came round): a fresh alert
            alert = OperatorAlert.objects.get(request=request, account=account)
            OperatorAlert.objects.filter(pk=alert.pk).update(state=AlertState.OPEN)
        else:
            try:
                with transaction.atomic():
                    alert = OperatorAlert.objects.create(request=request, account=account)
            except IntegrityError:
                continue
        outbound_enqueue(
            bot=account.bot_id,
            telegram_chat_id=account.telegram_user_id,
            method="sendMessage",
            payload={"text": summary, "keyboard": buttons},
            purpose=SendPurpose.ALERT,
            alert=alert,
            request_id=request.pk,
        )


def _alert_edit(
    alert: OperatorAlert, request: Request, state: str, note: str, summary: str | None = None
) -> None:
    OperatorAlert.objects.filter(pk=alert.pk).update(state=state)
    summary = (summary or alert_text(request))[: TEXT_LIMIT - len(note) - 3]  # keep the note
    outbound_enqueue(
        bot=alert.account.bot_id,
        telegram_chat_id=alert.account.telegram_user_id,
        method="editMessageText",
        payload={"text": f"{summary}\n\n{note}"},
        purpose=SendPurpose.ALERT,
        alert=alert,
        request_id=request.pk,
    )


def _group_notice(bot: TelegramBot, request: Request, summary: str) -> None:
    if bot.notice_group_id is None:
        return
    if OutboundMessage.objects.filter(
        bot=bot, purpose=SendPurpose.GROUP_NOTICE, request_id=request.pk
    ).exists():
        return
    outbound_enqueue(
        bot=bot,
        telegram_chat_id=bot.notice_group_id,
        method="sendMessage",
        payload={"text": summary},
        purpose=SendPurpose.GROUP_NOTICE,
        request_id=request.pk,
    )


def alerts_update(*, bot: TelegramBot, request: Request) -> None:
    """A request changed: a waiting one is announced to every eligible operator (and once
    in the notice group); the open alerts of one accepted or closed are settled."""
    if request.status in Request.WAITING_STATUSES:
        summary = alert_text(request)
        _offers_moved(request, summary)
        _alerts_send(request, summary)
        _group_notice(bot, request, summary)
        return
    open_alerts = list(
        OperatorAlert.objects.filter(request=request, state=AlertState.OPEN).select_related(
            "account"
        )
    )
    summary = alert_text(request) if open_alerts else ""
    with override(request.chat.language):
        if request.status == RequestStatus.ACCEPTED:
            name = request.operator.display_name if request.operator else "?"
            for alert in open_alerts:
                if alert.account.operator_id == request.operator_id:
                    _alert_edit(alert, request, AlertState.ACCEPTED, _("✅ You accepted."), summary)
                else:
                    _alert_edit(
                        alert,
                        request,
                        AlertState.TAKEN,
                        _("Taken by %(name)s.") % {"name": name},
                        summary,
                    )
        elif request.status == RequestStatus.CLOSED:
            note = _("Closed: %(reason)s.") % {"reason": request.get_close_reason_display()}
            for alert in open_alerts:
                _alert_edit(alert, request, AlertState.CLOSED, note, summary)


def _offers_moved(request: Request, summary: str) -> None:
    """Automatic distribution: the open alerts of operators the request is no longer
    offered to (not accepted in time, or passed on: `offer_withdrawn_from`, set by the
    change) lose their buttons and say so. (Who tapped Reject then gets their own note
    from operator_reject.)"""
    withdrawn = getattr(request, "offer_withdrawn_from", None)
    if request.offered_to_id is None and withdrawn is None:
        return
    moved = OperatorAlert.objects.filter(request=request, state=AlertState.OPEN).select_related(
        "account"
    )
    if request.offered_to_id is not None:
        moved = moved.exclude(account__operator_id=request.offered_to_id)
    with override(request.chat.language):
        for alert in moved:
            _alert_edit(
                alert, request, AlertState.MOVED, _("⏭ Offered to the next manager."), summary
            )


def operator_accept(*, account: OperatorAccount, request_id: int) -> Request | None:
    """Accept from an alert: the same service as the console, so the first accept wins.
    The winner gets the conversation relayed here; a loser's alert says who took it."""
    request = request_for_account(account, request_id)
    language = account.bot.chat.language
    if request is None:
        return None
    with override(language):
        try:
            with transaction.atomic():
                accepted = request_accept(request=request, operator=account.operator)
                OperatorSession.objects.create(request=accepted, account=account)
                OperatorAccount.objects.filter(pk=account.pk).update(current_request=accepted)
                history = list(
                    Message.objects.filter(dialog_id=accepted.dialog_id)
                    .exclude(author_kind=AuthorKind.SYSTEM)
                    .order_by("-sequence")[:SUMMARY_MESSAGES]
                )
                operator_tell(
                    account,
                    _(
                        "You are talking to %(client)s now. Write here to answer; "
                        "/done closes the conversation."
                    )
                    % {"client": client_label(accepted)}
                    + ("\n\n" if history else "")
                    + "\n".join(
                        f"{author_label(accepted, message)}: {message.text[:300]}"
                        for message in reversed(history)
                    ),
                    request_id=accepted.pk,
                    keyboard=transfer_button(accepted),
                )
            return accepted
        except RequestAlreadyTaken:
            _alert_settle(account, request)
        except NotYourRequest:
            if account.operator.chats.filter(pk=request.chat_id).exists():
                # its channel or its routing rule is not theirs (any more)
                _alert_not_theirs(account, request)
            else:
                operator_tell(account, _("You no longer serve this chat."))
        except IllegalTransition:
            _alert_settle(account, request)
        except HandoffError as refusal:
            # refused for this operator only (e.g. at their cap): the request stays open
            # for the others and the alert keeps its buttons, so they can try later
            operator_tell(account, str(refusal), request_id=request.pk)
    return None


def _alert_not_theirs(account: OperatorAccount, request: Request) -> None:
    """A tap on the alert of a request this operator is not eligible for (its channel
    or its routing rule's managers changed since the alert): the alert loses its buttons
    (moved: a fresh one comes if they become eligible again while it waits)."""
    note = _("This request is for other managers.")
    alert = (
        OperatorAlert.objects.filter(request=request, account=account, state=AlertState.OPEN)
        .select_related("account")
        .first()
    )
    if alert is None:
        operator_tell(account, note)
        return
    _alert_edit(alert, request, AlertState.MOVED, note)


def _alert_settle(account: OperatorAccount, request: Request) -> None:
    """A tap on an alert that is no longer open: make sure its buttons are gone."""
    request.refresh_from_db()
    alert = OperatorAlert.objects.filter(request=request, account=account).first()
    if alert is None or alert.state != AlertState.OPEN:
        return
    if request.status == RequestStatus.ACCEPTED and request.operator:
        note = _("Taken by %(name)s.") % {"name": request.operator.display_name}
        _alert_edit(alert, request, AlertState.TAKEN, note)
    else:
        _alert_edit(alert, request, AlertState.CLOSED, _("This request is no longer open."))


def operator_reject(*, account: OperatorAccount, request_id: int) -> None:
    request = request_for_account(account, request_id)
    if request is None:
        return
    with override(account.bot.chat.language), transaction.atomic():
        try:
            request_reject(request=request, operator=account.operator)
        except IllegalTransition:
            _alert_settle(account, request)
            return
        except HandoffError as refusal:
            operator_tell(account, str(refusal), request_id=request.pk)
            return
        alert = OperatorAlert.objects.filter(request=request, account=account).first()
        if alert is not None:
            _alert_edit(alert, request, AlertState.REJECTED, _("You passed on this request."))
