"""The request lifecycle: accept, close (opening is handoff.services.opening, passing
on a request handoff.services.assignment),
and the steps every transition shares. Every surface (widget, console,
Telegram, API, the deadline sweep) goes through these functions, so each rule has one
implementation.

Locking order, everywhere: the dialog row, then the request row, then the operator's
Operator row (accepting counts what the operator holds). Each row is locked once per
transaction (request_lock); later steps take the locked instances.

The dialog's status follows its request and is written only here, in the same
transaction as the request's change: bot (no open request) -> waiting (pending or
queued) -> operator (accepted) -> bot (closed, or expired into a fallback that closes
it). `closed` is chats' dialog_close (the visitor ended it, or it was idle)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, override

from chats.enums import AuthorKind, DialogStatus
from chats.models import Dialog, Message, Script
from chats.services import (
    dialog_status_set,
    message_post,
    script_run,
)
from distributor.models import Operator
from distributor.selectors import eligible_filter
from distributor.services.presence import (
    operator_load_hint_add,
    operator_lock_for_taking,
    requests_drain_schedule,
)
from handoff.enums import CloseReason, RequestStatus
from handoff.models import HandoffSettings, Request, RequestEvent
from handoff.realtime import inbox_message_publish, request_changed_publish
from handoff.registries import operator_surfaces
from handoff.services.errors import (
    IllegalTransition,
    NotYourRequest,
    OfferedToAnother,
    OperatorAtCapacity,
    RequestAlreadyTaken,
)
from handoff.services.handoff_settings import (
    handoff_settings_for,
    settings_revision,
)
from handoff.services.loads import operator_load
from handoff.settled import settled_note, settled_record


def system_notice(
    dialog: Dialog, request: Request | None, text: str, attachments: list[dict] | None = None
) -> Message:
    """Post a system message into a dialog whose row this transaction has locked; the
    consoles following the request see it in their inbox."""
    message, _created = message_post(
        dialog=dialog,
        author_kind=AuthorKind.SYSTEM,
        text=text,
        attachments=attachments,
    )
    if request is not None:
        inbox_message_publish(request=request, message=message)
    return message


def announce(request: Request) -> None:
    """Tell the consoles (after commit) and the other operator surfaces (now, inside
    the transaction) that the request changed."""
    settled_record(request)
    request_changed_publish(request=request)
    operator_surfaces.request_changed(request)


def request_lock(
    request: Request | int,
    *,
    dialog_id: int | None = None,
    visible_to: Operator | None = None,
    judged_for: Operator | None = None,
) -> tuple[Dialog, Request]:
    """Lock the request's dialog (with its chat, what the operator surfaces read of the
    chat, and the client), then the request, once each, inside the caller's transaction.
    `request` is an instance or an id (with `dialog_id`, when the caller knows it,
    nothing is read before the locks).

    With `visible_to`, a request that operator may not see raises Request.DoesNotExist,
    as if it were not there (the console's not_found): one of a chat they do not serve,
    or one nobody holds (waiting, or closed before anyone took it) when they are not
    eligible for its channel and route (distributor.selectors.eligible_filter; the
    rule handoff.selectors lists by). The locked request carries `served` (whether its
    chat is served by `visible_to`, or by `judged_for`, which only annotates),
    `eligible` (that rule) and `settings_revision` (the chat's
    HandoffSettings.revision), all read in the same statement."""
    request_id = request if isinstance(request, int) else request.pk
    if dialog_id is None:
        dialog_id = (
            request.dialog_id
            if isinstance(request, Request)
            else Request.objects.values_list("dialog_id", flat=True).get(pk=request_id)
        )
    dialog = (
        Dialog.objects.select_for_update(of=("self",))
        .select_related("chat", "client", *operator_surfaces.chat_related_of("chat"))
        .get(pk=dialog_id)
    )
    query = (
        Request.objects.select_for_update(of=("self",))
        .select_related("operator")
        .annotate(settings_revision=settings_revision())
    )
    judged = visible_to or judged_for
    if judged is not None:
        query = query.annotate(
            served=Exists(
                Operator.chats.through.objects.filter(
                    chat_id=OuterRef("chat_id"), operator_id=judged.pk
                )
            ),
            eligible=ExpressionWrapper(
                Q(operator__isnull=False)
                | eligible_filter(
                    operator=judged.pk, chat=OuterRef("chat_id"), messenger=dialog.messenger
                ),
                output_field=BooleanField(),
            ),
        )
    locked = query.get(pk=request_id, dialog_id=dialog_id)
    if visible_to is not None and not (locked.served and locked.eligible):
        raise Request.DoesNotExist
    locked.dialog = dialog
    locked.chat = dialog.chat
    return dialog, locked


def settings_of(request: Request) -> HandoffSettings:
    """The locked request's chat settings, from this process's cache when current."""
    return handoff_settings_for(
        request.chat_id, revision=getattr(request, "settings_revision", None)
    )


def transition(request: Request, target: str, *, actor=None, note: str = "") -> None:
    """Check the transition against the state machine and record it."""
    if not request.can_move_to(target):
        raise IllegalTransition(request.status, target)
    RequestEvent.objects.create(
        request=request, from_status=request.status, to_status=target, actor=actor, note=note[:300]
    )
    request.status = target


def deadlines_clear(request: Request) -> None:
    request.accept_deadline = None
    request.queue_deadline = None
    request.next_queue_notice_at = None
    request.reply_deadline = None
    request.idle_deadline = None
    request.feedback_due_at = None


def offer_clear(request: Request) -> None:
    request.offered_to = None
    request.offer_deadline = None


def operator_slot_freed(operator_id: int, now: datetime, *, idle: bool = True) -> None:
    """The operator (whose row the caller locks now: it comes after the request) holds
    or is offered one request fewer: their load hint goes down, their idle time starts
    (`idle`), and the waiting requests of their chats are offered after commit."""
    operator_load_hint_add(operator_id=operator_id, delta=-1, idle_since=now if idle else None)
    requests_drain_schedule(operator_id=operator_id)


def rating_prompt(dialog: Dialog, request: Request) -> None:
    settings = settings_of(request)
    system_notice(
        dialog,
        request,
        settings.feedback_prompt,
        [{"kind": "rating", "scale": settings.feedback_scale, "request": request.pk}],
    )
    request.feedback_asked = True


def _language(dialog: Dialog) -> str:
    return dialog.chat.language


# --- accepting ----------------------------------------------------------------


def _capacity_check(operator: Operator, request: Request, now: datetime) -> None:
    """Lock the operator's row (after the dialog and the request), starting their idle
    time, and refuse when what they hold plus what is offered to them now (automatic
    distribution; `request` aside) reaches max_simultaneous_dialogs: two accepts, or an
    accept and an offer, for one operator at once are counted one after the other. Their
    load hint counts the request from now (unless it was offered to them: it counted
    already); a refusal rolls that back with the rest."""
    limit = operator_lock_for_taking(
        operator_id=operator.pk,
        now=now,
        load_added=0 if request.offered_to_id == operator.pk else 1,
    )
    if limit is None:
        raise NotYourRequest("no such operator")
    held, offered = operator_load(operator.pk, request_aside=request.pk)
    if held + offered < limit:
        return
    if offered:
        raise OperatorAtCapacity(
            ngettext(
                "You have %(count)d open conversation and %(offered)d offered to you "
                "(your limit is %(limit)d).",
                "You have %(count)d open conversations and %(offered)d offered to you "
                "(your limit is %(limit)d).",
                held,
            )
            % {"count": held, "offered": offered, "limit": limit}
        )
    raise OperatorAtCapacity(
        ngettext(
            "You already have %(count)d open conversation (your limit is %(limit)d).",
            "You already have %(count)d open conversations (your limit is %(limit)d).",
            held,
        )
        % {"count": held, "limit": limit}
    )


def request_accept(
    *,
    request: Request | int,
    operator: Operator,
    dialog_id: int | None = None,
    visible_only: bool = False,
    now: datetime | None = None,
) -> Request:
    """The first accept wins: the request is locked, and a request that is no longer
    waiting raises RequestAlreadyTaken (or IllegalTransition) and changes nothing. An
    operator holding max_simultaneous_dialogs accepted requests is refused
    (OperatorAtCapacity), also when accepting several at once. A request of a chat the
    operator does not serve, or of a channel or route they are not eligible for
    (distributor.selectors.eligible_filter: the channels they serve in the chat, the
    routing rule's manager set), raises NotYourRequest (Request.DoesNotExist with
    `visible_only`, the console's not_found). Both are read with the request's lock."""
    now = now or timezone.now()
    with transaction.atomic():
        dialog, locked = request_lock(
            request,
            dialog_id=dialog_id,
            visible_to=operator if visible_only else None,
            judged_for=operator,
        )
        if not locked.served:
            raise NotYourRequest("this operator does not serve the request's chat")
        if locked.status == RequestStatus.ACCEPTED:
            # committed by someone else (read under the lock): final, remember it now
            settled_note(locked.pk, locked.status, locked.operator.display_name)
            raise RequestAlreadyTaken(locked.status, locked.operator.display_name)
        # a request no longer waiting is refused as such, whatever the operator holds
        if not locked.can_move_to(RequestStatus.ACCEPTED):
            settled_note(locked.pk, locked.status, None)
            raise IllegalTransition(locked.status, RequestStatus.ACCEPTED)
        if not locked.eligible:
            raise NotYourRequest("this operator does not take requests of this channel")
        if locked.offered_to_id not in (None, operator.pk):
            raise OfferedToAnother(_("This conversation is offered to another operator right now."))
        _capacity_check(operator, locked, now)
        transition(
            locked,
            RequestStatus.ACCEPTED,
            actor=operator.user,
            note=f"accepted by {operator.display_name}",
        )
        deadlines_clear(locked)
        offer_clear(locked)
        locked.operator = operator
        locked.accepted_at = now
        settings = settings_of(locked)
        locked.idle_deadline = now + timedelta(seconds=settings.operator_idle_seconds)
        locked.reply_deadline = now + timedelta(seconds=settings.reply_timeout_seconds)
        if settings.feedback_enabled and settings.feedback_delay_seconds:
            locked.feedback_due_at = max(
                now, dialog.started_at + timedelta(seconds=settings.feedback_delay_seconds)
            )
        locked.save()
        dialog_status_set(dialog=dialog, status=DialogStatus.OPERATOR, dialog_locked=True)
        # the losers hear first, the winner's inbox then gets the notice
        announce(locked)
        with override(_language(dialog)):
            system_notice(
                dialog, locked, _("Connected to %(name)s") % {"name": operator.display_name}
            )
    return locked


# --- closing ------------------------------------------------------------------------


AFTER_SCRIPT = {
    CloseReason.CLIENT_TIMEOUT: "script_after_client_timeout",
    CloseReason.CLIENT: "script_after_operator_end",
    CloseReason.OPERATOR: "script_after_operator_end",
    CloseReason.OPERATOR_IDLE: "script_after_operator_end",
}


def request_finish(dialog: Dialog, request: Request, reason: str, now: datetime) -> None:
    """Close the request, hand the dialog back to the bot, ask for feedback, run the
    configured script. Who held it (or was offered it) freed a slot
    (operator_slot_freed)."""
    deadlines_clear(request)
    if request.accepted_at is not None and request.operator_id is not None:
        operator_slot_freed(request.operator_id, now)
    elif request.offered_to_id is not None:
        operator_slot_freed(request.offered_to_id, now, idle=False)
    offer_clear(request)
    request.closed_at = now
    request.close_reason = reason
    request.save()
    if dialog.status != DialogStatus.CLOSED:
        dialog_status_set(dialog=dialog, status=DialogStatus.BOT, dialog_locked=True)
    chat = dialog.chat
    settings = settings_of(request)
    with override(chat.language):
        if request.accepted_at is not None:
            system_notice(dialog, request, _("The conversation with the operator has ended."))
            if settings.feedback_enabled and not request.feedback_asked:
                rating_prompt(dialog, request)
                request.save(update_fields=["feedback_asked"])
    # a visitor who gave up waiting had no conversation to follow up on
    script_field = AFTER_SCRIPT.get(reason) if request.accepted_at or reason != "client" else None
    script_id = getattr(settings, f"{script_field}_id") if script_field else None
    if script_id:
        script_run(dialog=dialog, script=Script.objects.get(pk=script_id))
    announce(request)


def request_close(
    *,
    request: Request | int,
    reason: CloseReason | str,
    actor: Operator | None = None,
    dialog_id: int | None = None,
    visible_only: bool = False,
    now: datetime | None = None,
) -> Request:
    """Close an open request. A closed request never resumes: asking again opens a new
    one. An operator may close only their own request."""
    now = now or timezone.now()
    with transaction.atomic():
        dialog, locked = request_lock(
            request, dialog_id=dialog_id, visible_to=actor if visible_only else None
        )
        if actor is not None and locked.operator_id not in (None, actor.pk):
            raise NotYourRequest("only the operator who accepted the request can close it")
        transition(
            locked,
            RequestStatus.CLOSED,
            actor=actor.user if actor else None,
            note=f"closed: {reason}",
        )
        request_finish(dialog, locked, reason, now)
    return locked


def request_close_by_client(*, dialog: Dialog) -> Request | None:
    request = Request.objects.filter(dialog=dialog, status__in=Request.OPEN_STATUSES).first()
    if request is None:
        return None
    return request_close(request=request, reason=CloseReason.CLIENT)
