"""The request lifecycle. Every surface (widget, console, Telegram, API, the deadline
sweep) goes through these functions, so each rule has one implementation.

Locking order, everywhere: the dialog row, then the request row, then the operator's
Manager row (accepting counts what the operator holds).

The dialog's status follows its request and is written only here, in the same
transaction as the request's change: bot (no open request) -> waiting (pending or
queued) -> operator (accepted) -> bot (closed, or expired into a fallback that closes
it). `closed` is chats' dialog_close (the visitor ended it, or it was idle)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, override

from chats.enums import AuthorKind, DialogStatus, HeadsetMode
from chats.models import Dialog, Message, Script
from chats.services import (
    DialogClosed,
    dialog_lock,
    dialog_status_set,
    message_post,
    script_run,
)
from distributor.models import Manager
from handoff.enums import CloseReason, Fallback, RequestReason, RequestStatus
from handoff.models import DialogFormAnswers, HandoffSettings, Request, RequestEvent
from handoff.realtime import request_changed_publish
from handoff.registries import operator_surfaces
from handoff.services.errors import (
    HandoffNotOffered,
    IllegalTransition,
    NotYourRequest,
    OperatorAtCapacity,
    RequestAlreadyTaken,
)
from handoff.working_hours import WeeklyPeriod, WorkingHours, window_text


def handoff_settings_for(chat_id: int) -> HandoffSettings:
    settings, _created = HandoffSettings.objects.get_or_create(chat_id=chat_id)
    return settings


def working_hours_for(settings: HandoffSettings) -> WorkingHours:
    return WorkingHours(
        enabled=settings.working_hours_enabled,
        time_zone=settings.time_zone,
        periods=[
            WeeklyPeriod(weekday=period.weekday, starts_at=period.starts_at, ends_at=period.ends_at)
            for period in settings.working_periods.all()
        ],
    )


def _system_notice(dialog: Dialog, text: str, attachments: list[dict] | None = None) -> Message:
    message, _created = message_post(
        dialog=dialog, author_kind=AuthorKind.SYSTEM, text=text, attachments=attachments
    )
    return message


def _announce(request: Request) -> None:
    """Tell the consoles (after commit) and the other operator surfaces (now, inside
    the transaction) that the request changed."""
    request_changed_publish(request=request)
    operator_surfaces.request_changed(request)


def _lock(request: Request) -> tuple[Dialog, Request]:
    dialog = dialog_lock(dialog=request.dialog)
    locked = (
        Request.objects.select_for_update(of=("self",))
        .select_related("chat", "operator", "dialog__client")
        .get(pk=request.pk)
    )
    locked.dialog = dialog
    return dialog, locked


def _move(request: Request, target: str, *, actor=None, note: str = "") -> None:
    """Check the transition against the state machine and record it."""
    if not request.can_move_to(target):
        raise IllegalTransition(request.status, target)
    RequestEvent.objects.create(
        request=request, from_status=request.status, to_status=target, actor=actor, note=note[:300]
    )
    request.status = target


def _clear_deadlines(request: Request) -> None:
    request.accept_deadline = None
    request.queue_deadline = None
    request.next_queue_notice_at = None
    request.reply_deadline = None
    request.idle_deadline = None
    request.feedback_due_at = None


def _rating_prompt(dialog: Dialog, request: Request) -> None:
    chat = dialog.chat
    _system_notice(
        dialog,
        chat.feedback_prompt,
        [{"kind": "rating", "scale": chat.feedback_scale, "request": request.pk}],
    )
    request.feedback_asked = True


def _language(dialog: Dialog) -> str:
    return dialog.chat.language


# --- opening ------------------------------------------------------------------


def form_fields_payload(settings: HandoffSettings) -> list[dict]:
    return [
        {
            "id": field.pk,
            "label": field.label,
            "kind": field.kind,
            "required": field.required,
            "choices": field.choice_list,
        }
        for field in settings.form_fields.all()
    ]


# the admin's own setup (the script's mark) and integrations may always ask; the
# visitor may only when the chat shows them the headset
ALWAYS_ALLOWED = (RequestReason.SCRIPT, RequestReason.API)
VISITOR_REASONS = (RequestReason.HEADSET, RequestReason.TRIGGER, RequestReason.COMMAND)


def request_reason_check(*, dialog: Dialog, reason: RequestReason | str) -> str:
    """The one rule for every way into a request (form, contact, headset, trigger,
    the script's mark, Telegram's /human, the API): returns the true reason to record,
    or raises HandoffNotOffered.

    The script's mark and the API are always allowed (the admin put the mark in the
    script, even in a chat whose headset is hidden). The visitor's own asks
    (headset, /human) are allowed only while the headset is visible; a headset the
    trigger revealed records "trigger"."""
    if reason in ALWAYS_ALLOWED:
        return str(reason)
    if reason not in VISITOR_REASONS:
        raise ValueError(f"unknown request reason {reason!r}")
    if not dialog.headset_visible:
        raise HandoffNotOffered(_("This chat does not connect you to a person now."))
    if reason == RequestReason.HEADSET and dialog.chat.headset_mode == HeadsetMode.TRIGGER:
        return RequestReason.TRIGGER
    return str(reason)


def request_open(
    *, dialog: Dialog, reason: RequestReason | str, now: datetime | None = None
) -> Request | None:
    """Open a pending request for a human in `dialog`, or explain why not.

    Returns the open request (idempotent: an already open one is returned and nothing
    is written), or None when no request was opened: outside working hours (the
    visitor sees the nearest window) or while the pre-handoff form is unanswered (the
    visitor is shown the form; submitting it opens the request for the same reason).
    Raises HandoffNotOffered when the chat does not offer a person for this reason
    (request_reason_check), DialogClosed for a closed dialog.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # the locked row's chat is read afresh: the caller's copy (a socket's, held since
        # hello) may predate the admin's last change of the headset or the form
        locked = dialog_lock(dialog=dialog)
        with override(_language(locked)):
            reason = request_reason_check(dialog=locked, reason=reason)
        existing = Request.objects.filter(dialog=locked, status__in=Request.OPEN_STATUSES).first()
        if existing is not None:
            return existing
        if locked.status == DialogStatus.CLOSED:
            raise DialogClosed(locked.session_id)
        settings = handoff_settings_for(locked.chat_id)
        hours = working_hours_for(settings)
        if not hours.is_open(now):
            window = hours.next_window(now)
            with override(_language(locked)):
                text = (
                    window_text(window, language=_language(locked))
                    if window
                    else _("No operators are available.")
                )
            _system_notice(locked, text)
            _sync(dialog, locked)
            return None
        answers = DialogFormAnswers.objects.filter(dialog=locked).first()
        fields = form_fields_payload(settings)
        if fields and answers is None:
            if _form_offered(locked):
                # the visitor has the unanswered form on screen (or in the history
                # after a reload): another tap offers no second copy
                return None
            with override(_language(locked)):
                prompt = _("Before we connect you, please answer a few questions.")
            _system_notice(
                locked, prompt, [{"kind": "handoff_form", "fields": fields, "reason": reason}]
            )
            _sync(dialog, locked)
            return None
        request = Request.objects.create(
            dialog=locked,
            chat_id=locked.chat_id,
            reason=reason,
            status=RequestStatus.PENDING,
            form_answers=answers.answers if answers else [],
            accept_deadline=now + timedelta(seconds=settings.accept_timeout_seconds),
        )
        RequestEvent.objects.create(
            request=request, to_status=RequestStatus.PENDING, note=f"opened: {reason}"
        )
        dialog_status_set(dialog=locked, status=DialogStatus.WAITING)
        with override(_language(locked)):
            _system_notice(locked, _("Please wait, we are connecting you to an operator."))
        request.dialog = locked
        _announce(request)
    _sync(dialog, locked)
    return request


def _form_offered(dialog: Dialog) -> bool:
    """Whether the pre-handoff form was offered in this dialog (unanswered, when the
    caller found no answers)."""
    return Message.objects.filter(
        dialog=dialog, author_kind=AuthorKind.SYSTEM, attachments__0__kind="handoff_form"
    ).exists()


def _sync(dialog: Dialog, locked: Dialog) -> None:
    """Keep the caller's instance current (consumers hold theirs for the connection)."""
    dialog.status = locked.status
    dialog.last_sequence = locked.last_sequence
    dialog.last_message_at = locked.last_message_at


# --- accepting ----------------------------------------------------------------


def _capacity_check(operator: Manager) -> None:
    """Lock the operator's row (after the dialog and the request) and refuse when
    they already hold max_simultaneous_dialogs accepted requests: two accepts by one
    operator at once are counted one after the other."""
    manager = Manager.objects.select_for_update().get(pk=operator.pk)
    held = Request.objects.filter(operator=manager, status=RequestStatus.ACCEPTED).count()
    limit = manager.max_simultaneous_dialogs
    if held >= limit:
        raise OperatorAtCapacity(
            ngettext(
                "You already have %(count)d open conversation (your limit is %(limit)d).",
                "You already have %(count)d open conversations (your limit is %(limit)d).",
                held,
            )
            % {"count": held, "limit": limit}
        )


def request_accept(*, request: Request, operator: Manager, now: datetime | None = None) -> Request:
    """The first accept wins: the request is locked, and a request that is no longer
    waiting raises RequestAlreadyTaken (or IllegalTransition) and changes nothing. An
    operator holding max_simultaneous_dialogs accepted requests is refused
    (OperatorAtCapacity), also when accepting several at once."""
    now = now or timezone.now()
    with transaction.atomic():
        dialog, locked = _lock(request)
        if not operator.chats.filter(pk=locked.chat_id).exists():
            raise NotYourRequest("this operator does not serve the request's chat")
        if locked.status == RequestStatus.ACCEPTED:
            raise RequestAlreadyTaken(locked.status, locked.operator.display_name)
        # a request no longer waiting is refused as such, whatever the operator holds
        if not locked.can_move_to(RequestStatus.ACCEPTED):
            raise IllegalTransition(locked.status, RequestStatus.ACCEPTED)
        _capacity_check(operator)
        _move(
            locked,
            RequestStatus.ACCEPTED,
            actor=operator.user,
            note=f"accepted by {operator.display_name}",
        )
        _clear_deadlines(locked)
        locked.operator = operator
        locked.accepted_at = now
        locked.idle_deadline = now + timedelta(seconds=dialog.chat.operator_idle_seconds)
        settings = handoff_settings_for(locked.chat_id)
        locked.reply_deadline = now + timedelta(seconds=settings.reply_timeout_seconds)
        chat = dialog.chat
        if chat.feedback_enabled and chat.feedback_delay_seconds:
            locked.feedback_due_at = max(
                now, dialog.started_at + timedelta(seconds=chat.feedback_delay_seconds)
            )
        locked.save()
        dialog_status_set(dialog=dialog, status=DialogStatus.OPERATOR)
        with override(_language(dialog)):
            _system_notice(dialog, _("Connected to %(name)s") % {"name": operator.display_name})
        _announce(locked)
    return locked


def request_reject(*, request: Request, operator: Manager) -> Request:
    """The operator passes on this request: it stays open for the others."""
    with transaction.atomic():
        _dialog, locked = _lock(request)
        if locked.status not in Request.WAITING_STATUSES:
            raise IllegalTransition(locked.status, "rejected")
        locked.rejected_by.add(operator)
        RequestEvent.objects.create(
            request=locked,
            from_status=locked.status,
            to_status=locked.status,
            actor=operator.user,
            note=f"rejected by {operator.display_name}",
        )
    return locked


# --- messages while connected ---------------------------------------------------


def operator_message_post(
    *,
    request: Request,
    operator: Manager,
    text: str,
    client_msg_id: str,
    attachments: list[dict] | None = None,
    now: datetime | None = None,
) -> tuple[Message, bool]:
    """An operator writes to the visitor "as {name}". Only the request's operator, only
    while it is accepted. Idempotent on client_msg_id, also after the request has
    changed: a resend of this operator's own stored reply (its ack was lost, then the
    request closed) returns (message, False) and writes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        dialog, locked = _lock(request)
        stored = _own_reply(dialog, operator, client_msg_id)
        if stored is not None:
            return stored, False
        if locked.operator_id != operator.pk:
            raise NotYourRequest("only the operator who accepted the request can write")
        if locked.status != RequestStatus.ACCEPTED:
            raise IllegalTransition(locked.status, "written to")
        message, created = message_post(
            dialog=dialog,
            author_kind=AuthorKind.OPERATOR,
            author_name=operator.display_name,
            text=text,
            attachments=attachments,
            client_msg_id=client_msg_id,
        )
        if created:
            settings = handoff_settings_for(locked.chat_id)
            locked.idle_deadline = now + timedelta(seconds=dialog.chat.operator_idle_seconds)
            locked.reply_deadline = now + timedelta(seconds=settings.reply_timeout_seconds)
            locked.save(update_fields=["idle_deadline", "reply_deadline"])
    return message, created


def _own_reply(dialog: Dialog, operator: Manager, client_msg_id: str) -> Message | None:
    """The reply this operator already stored in this dialog under client_msg_id, if any
    (an id used by anyone else is not theirs to read back)."""
    message = Message.objects.filter(dialog=dialog, client_msg_id=client_msg_id).first()
    if (
        message is None
        or message.author_kind != AuthorKind.OPERATOR
        or message.author_name != operator.display_name
        or not Request.objects.filter(dialog=dialog, operator=operator).exists()
    ):
        return None
    return message


def request_note_client_message(
    *, dialog: Dialog, message: Message | None = None, now: datetime | None = None
) -> None:
    """A client wrote: the reply timeout counts from the last message, and the operator
    surfaces relay the message to whoever holds the request."""
    now = now or timezone.now()
    request = (
        Request.objects.select_related("operator", "chat")
        .filter(dialog=dialog, status=RequestStatus.ACCEPTED)
        .first()
    )
    if request is None:
        return
    settings = handoff_settings_for(request.chat_id)
    Request.objects.filter(pk=request.pk, status=RequestStatus.ACCEPTED).update(
        reply_deadline=now + timedelta(seconds=settings.reply_timeout_seconds)
    )
    if message is not None:
        request.dialog = dialog
        operator_surfaces.client_message(request, message)


# --- closing and after ------------------------------------------------------------


AFTER_SCRIPT = {
    CloseReason.CLIENT_TIMEOUT: "script_after_client_timeout",
    CloseReason.CLIENT: "script_after_operator_end",
    CloseReason.OPERATOR: "script_after_operator_end",
    CloseReason.OPERATOR_IDLE: "script_after_operator_end",
}


def _finish(dialog: Dialog, request: Request, reason: str, now: datetime) -> None:
    """Close the request, hand the dialog back to the bot, ask for feedback, run the
    configured script."""
    _clear_deadlines(request)
    request.closed_at = now
    request.close_reason = reason
    request.save()
    if dialog.status != DialogStatus.CLOSED:
        dialog_status_set(dialog=dialog, status=DialogStatus.BOT)
    chat = dialog.chat
    with override(chat.language):
        if request.accepted_at is not None:
            _system_notice(dialog, _("The conversation with the operator has ended."))
            if chat.feedback_enabled and not request.feedback_asked:
                _rating_prompt(dialog, request)
                request.save(update_fields=["feedback_asked"])
    # a visitor who gave up waiting had no conversation to follow up on
    script_field = AFTER_SCRIPT.get(reason) if request.accepted_at or reason != "client" else None
    script_id = getattr(chat, f"{script_field}_id") if script_field else None
    if script_id:
        script_run(dialog=dialog, script=Script.objects.get(pk=script_id))
    _announce(request)


def request_close(
    *,
    request: Request,
    reason: CloseReason | str,
    actor: Manager | None = None,
    now: datetime | None = None,
) -> Request:
    """Close an open request. A closed request never resumes: asking again opens a new
    one. An operator may close only their own request."""
    now = now or timezone.now()
    with transaction.atomic():
        dialog, locked = _lock(request)
        if actor is not None and locked.operator_id not in (None, actor.pk):
            raise NotYourRequest("only the operator who accepted the request can close it")
        _move(
            locked,
            RequestStatus.CLOSED,
            actor=actor.user if actor else None,
            note=f"closed: {reason}",
        )
        _finish(dialog, locked, reason, now)
    return locked


def request_close_by_client(*, dialog: Dialog) -> Request | None:
    request = Request.objects.filter(dialog=dialog, status__in=Request.OPEN_STATUSES).first()
    if request is None:
        return None
    return request_close(request=request, reason=CloseReason.CLIENT)


# --- deadlines ---------------------------------------------------------------------


def queue_position(request: Request) -> int:
    return (
        Request.objects.filter(
            chat_id=request.chat_id,
            status__in=Request.WAITING_STATUSES,
            created_at__lt=request.created_at,
        ).count()
        + 1
    )


def _queue_notice(dialog: Dialog, request: Request) -> None:
    template = dialog.chat.queue_notice_text
    _system_notice(dialog, template.replace("{position}", str(queue_position(request))))


def request_expire(*, request: Request, now: datetime | None = None) -> Request:
    """Nobody accepted in time (or the queue wait ran out): apply the chat's fallback.
    Does nothing unless the matching deadline is due, so a second sweep is a no-op."""
    now = now or timezone.now()
    with transaction.atomic():
        dialog, locked = _lock(request)
        settings = handoff_settings_for(locked.chat_id)
        language = _language(dialog)
        if locked.status == RequestStatus.QUEUED:
            if locked.queue_deadline is None or locked.queue_deadline > now:
                return locked
            _move(locked, RequestStatus.EXPIRED, note="queue wait ran out")
            _move(locked, RequestStatus.CLOSED, note="fallback: unavailable")
            with override(language):
                _system_notice(dialog, settings.unavailable_text)
            _finish(dialog, locked, CloseReason.QUEUE_TIMEOUT, now)
            return locked
        if (
            locked.status != RequestStatus.PENDING
            or locked.accept_deadline is None
            or locked.accept_deadline > now
        ):
            return locked
        _move(locked, RequestStatus.EXPIRED, note="nobody accepted in time")
        if settings.fallback == Fallback.QUEUE:
            _move(locked, RequestStatus.QUEUED, note="fallback: queue")
            _clear_deadlines(locked)
            locked.queue_deadline = now + timedelta(seconds=dialog.chat.queue_max_wait_seconds)
            locked.next_queue_notice_at = now + timedelta(
                minutes=dialog.chat.queue_notice_interval_minutes
            )
            locked.save()
            _queue_notice(dialog, locked)
            _announce(locked)
        elif settings.fallback == Fallback.FORM:
            _move(locked, RequestStatus.CLOSED, note="fallback: contact form")
            _system_notice(
                dialog,
                settings.lead_form_text,
                [{"kind": "contact_form", "values": _contact_typed(dialog)}],
            )
            _finish(dialog, locked, CloseReason.LEAD_FORM, now)
        else:
            _move(locked, RequestStatus.CLOSED, note="fallback: unavailable notice")
            _system_notice(dialog, settings.unavailable_text)
            _finish(dialog, locked, CloseReason.UNAVAILABLE, now)
    return locked


def _contact_typed(dialog: Dialog) -> dict[str, str]:
    """What the visitor typed about themselves in the pre-handoff form, to pre-fill
    the contact form (never what a matched Customer holds: that is someone's data)."""
    answers = DialogFormAnswers.objects.filter(dialog=dialog).first()
    typed = answers.contact if answers else {}
    return {key: typed.get(key, "") for key in ("name", "phone", "email")}


def request_queue_notify(*, request: Request, now: datetime | None = None) -> Request:
    """Tell a queued visitor their position again, every N minutes."""
    now = now or timezone.now()
    with transaction.atomic():
        dialog, locked = _lock(request)
        if (
            locked.status != RequestStatus.QUEUED
            or locked.next_queue_notice_at is None
            or locked.next_queue_notice_at > now
        ):
            return locked
        _queue_notice(dialog, locked)
        locked.next_queue_notice_at = now + timedelta(
            minutes=dialog.chat.queue_notice_interval_minutes
        )
        locked.save(update_fields=["next_queue_notice_at"])
    return locked


def request_ask_feedback(*, request: Request, now: datetime | None = None) -> Request:
    """The chat asks for feedback N seconds after the dialog's start: once, during the
    conversation (the end of it then does not ask again)."""
    now = now or timezone.now()
    with transaction.atomic():
        dialog, locked = _lock(request)
        if (
            locked.status != RequestStatus.ACCEPTED
            or locked.feedback_due_at is None
            or locked.feedback_due_at > now
        ):
            return locked
        locked.feedback_due_at = None
        _rating_prompt(dialog, locked)
        locked.save(update_fields=["feedback_due_at", "feedback_asked"])
    return locked


def _close_when_due(field: str, reason: CloseReason):
    def close(*, request: Request, now: datetime | None = None) -> Request:
        now = now or timezone.now()
        with transaction.atomic():
            _dialog, locked = _lock(request)
            deadline = getattr(locked, field)
            if locked.status != RequestStatus.ACCEPTED or deadline is None or deadline > now:
                return locked
            return request_close(request=locked, reason=reason, now=now)

    close.__name__ = f"request_close_on_{field}"
    close.__doc__ = f"Close an accepted request whose {field} has passed ({reason})."
    return close


request_close_on_reply_timeout = _close_when_due("reply_deadline", CloseReason.CLIENT_TIMEOUT)
request_close_on_operator_idle = _close_when_due("idle_deadline", CloseReason.OPERATOR_IDLE)
