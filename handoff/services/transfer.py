"""Transfer: the operator holding a conversation hands it to another operator, or back
to the bot, with a reason recorded as the request's event."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from distributor.enums import Presence
from distributor.models import Operator
from distributor.selectors import operator_serves
from distributor.services.presence import operator_load_hint_add, presence_effective
from handoff.enums import CloseReason, RequestStatus
from handoff.models import Request
from handoff.services.errors import (
    IllegalTransition,
    NotYourRequest,
    TransferInvalid,
    TransferTargetUnavailable,
)
from handoff.services.lifecycle import (
    announce,
    operator_slot_freed,
    request_finish,
    request_lock,
    settings_of,
    system_notice,
    transition,
)
from handoff.services.loads import operator_load

# the event's note holds "transferred to <name up to 100>: <reason>" in 300 characters
TRANSFER_REASON_MAX = 150


def transfer_reason_check(reason: str) -> str:
    """The reason, stripped; TransferInvalid when blank or longer than
    TRANSFER_REASON_MAX."""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise TransferInvalid("reason_blank", _("Say why you transfer the conversation."))
    if len(reason) > TRANSFER_REASON_MAX:
        raise TransferInvalid(
            "reason_too_long",
            _("The reason is too long (at most %(max)d characters).")
            % {"max": TRANSFER_REASON_MAX},
        )
    return reason


def request_transfer(
    *,
    request: Request | int,
    operator: Operator,
    to_operator: Operator | None = None,
    reason: str,
    visible_only: bool = False,
    now: datetime | None = None,
) -> Request:
    """Hand an accepted request to `to_operator`, or back to the bot (None).

    To an operator: they must serve the request's chat and the dialog's channel, not
    be offline, and hold fewer accepted requests than their cap. The request stays
    accepted, now theirs (an ACCEPTED -> ACCEPTED event with the reason), its idle
    deadline starts again, the client sees "Connected to <name>", every surface is told
    (announce). To the bot: the request closes (CloseReason.TRANSFERRED_TO_BOT, an event
    with the reason) and the dialog goes back to the bot. Either way `operator` freed a
    slot: their idle time starts now and the waiting requests of their chats are
    offered after commit.

    Only the operator holding the request may transfer it (NotYourRequest; with
    `visible_only`, a request of a chat they do not serve is Request.DoesNotExist). A
    blank or too long reason, or a transfer to oneself, raises TransferInvalid; a
    target that cannot take it, TransferTargetUnavailable; a request that is not
    accepted, IllegalTransition. Nothing is changed then.

    Locks: the dialog, the request, then both operators' rows in id order."""
    now = now or timezone.now()
    reason = transfer_reason_check(reason)
    if to_operator is not None and to_operator.pk == operator.pk:
        raise TransferInvalid(
            "transfer_to_self", _("You cannot transfer a conversation to yourself.")
        )
    with transaction.atomic():
        dialog, locked = request_lock(request, visible_to=operator if visible_only else None)
        if locked.status != RequestStatus.ACCEPTED:
            raise IllegalTransition(locked.status, "transferred")
        if locked.operator_id != operator.pk:
            raise NotYourRequest(_("Only the operator who holds the conversation can transfer it."))
        if to_operator is None:
            transition(
                locked,
                RequestStatus.CLOSED,
                actor=operator.user,
                note=f"transferred to the bot: {reason}",
            )
            request_finish(dialog, locked, CloseReason.TRANSFERRED_TO_BOT, now)
            return locked
        target = _target_lock(operator, to_operator)
        _target_check(target, chat_id=locked.chat_id, messenger=dialog.messenger, now=now)
        transition(
            locked,
            RequestStatus.ACCEPTED,
            actor=operator.user,
            note=f"transferred to {target.display_name}: {reason}",
        )
        locked.operator = target
        locked.idle_deadline = now + timedelta(seconds=settings_of(locked).operator_idle_seconds)
        locked.save(update_fields=["status", "operator", "idle_deadline"])
        operator_load_hint_add(operator_id=target.pk, delta=1, idle_since=now)
        operator_slot_freed(operator.pk, now)
        announce(locked)
        with override(dialog.chat.language):
            system_notice(
                dialog, locked, _("Connected to %(name)s") % {"name": target.display_name}
            )
    return locked


def _target_lock(operator: Operator, target: Operator) -> Operator:
    """Lock both operators' rows in id order (two transfers between the same two
    operators never wait on each other in a circle); return the target's."""
    locked = {
        row.pk: row
        for row in Operator.objects.select_for_update()
        .filter(pk__in=(operator.pk, target.pk))
        .order_by("pk")
    }
    if target.pk not in locked:
        raise TransferTargetUnavailable(
            "target_not_serving", _("This operator does not serve this chat.")
        )
    return locked[target.pk]


def _target_check(target: Operator, *, chat_id: int, messenger: str, now: datetime) -> None:
    if not target.user.is_active:
        raise TransferTargetUnavailable(
            "target_inactive",
            _("%(name)s's account is switched off.") % {"name": target.display_name},
        )
    if not operator_serves(operator=target, chat_id=chat_id, messenger=messenger):
        raise TransferTargetUnavailable(
            "target_not_serving",
            _("%(name)s does not serve this chat or channel.") % {"name": target.display_name},
        )
    if presence_effective(target, now=now) == Presence.OFFLINE:
        raise TransferTargetUnavailable(
            "target_offline", _("%(name)s is offline.") % {"name": target.display_name}
        )
    if sum(operator_load(target.pk)) >= target.max_simultaneous_dialogs:
        raise TransferTargetUnavailable(
            "target_at_capacity",
            _("%(name)s already has as many conversations as they may hold (%(limit)d).")
            % {"name": target.display_name, "limit": target.max_simultaneous_dialogs},
        )
