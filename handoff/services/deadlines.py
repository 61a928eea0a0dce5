"""What happens when a request's deadline passes: nobody accepted (the chat's
fallback), the queue notice is due, feedback is due, the visitor or the operator went
quiet. The sweep (handoff.services.sweep) calls these; each re-checks its deadline
under the lock, so a second sweep is a no-op."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import override

from chats.models import Dialog
from handoff.enums import CloseReason, Fallback, RequestStatus
from handoff.models import DialogFormAnswers, Request
from handoff.services.lifecycle import (
    announce,
    deadlines_clear,
    rating_prompt,
    request_finish,
    request_lock,
    settings_of,
    system_notice,
    transition,
)


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
    template = settings_of(request).queue_notice_text
    system_notice(dialog, request, template.replace("{position}", str(queue_position(request))))


def request_expire(*, request: Request, now: datetime | None = None) -> Request:
    """Nobody accepted in time (or the queue wait ran out): apply the chat's fallback.
    Does nothing unless the matching deadline is due, so a second sweep is a no-op."""
    now = now or timezone.now()
    with transaction.atomic():
        dialog, locked = request_lock(request)
        settings = settings_of(locked)
        language = dialog.chat.language
        if locked.status == RequestStatus.QUEUED:
            if locked.queue_deadline is None or locked.queue_deadline > now:
                return locked
            transition(locked, RequestStatus.EXPIRED, note="queue wait ran out")
            transition(locked, RequestStatus.CLOSED, note="fallback: unavailable")
            with override(language):
                system_notice(dialog, locked, settings.unavailable_text)
            request_finish(dialog, locked, CloseReason.QUEUE_TIMEOUT, now)
            return locked
        if (
            locked.status != RequestStatus.PENDING
            or locked.accept_deadline is None
            or locked.accept_deadline > now
        ):
            return locked
        transition(locked, RequestStatus.EXPIRED, note="nobody accepted in time")
        if settings.fallback == Fallback.QUEUE:
            transition(locked, RequestStatus.QUEUED, note="fallback: queue")
            deadlines_clear(locked)
            locked.queue_deadline = now + timedelta(seconds=settings.queue_max_wait_seconds)
            locked.next_queue_notice_at = now + timedelta(
                minutes=settings.queue_notice_interval_minutes
            )
            locked.save()
            _queue_notice(dialog, locked)
            announce(locked)
        elif settings.fallback == Fallback.FORM:
            transition(locked, RequestStatus.CLOSED, note="fallback: contact form")
            system_notice(
                dialog,
                locked,
                settings.lead_form_text,
                [{"kind": "contact_form", "values": _contact_typed(dialog)}],
            )
            request_finish(dialog, locked, CloseReason.LEAD_FORM, now)
        else:
            transition(locked, RequestStatus.CLOSED, note="fallback: unavailable notice")
            system_notice(dialog, locked, settings.unavailable_text)
            request_finish(dialog, locked, CloseReason.UNAVAILABLE, now)
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
        dialog, locked = request_lock(request)
        if (
            locked.status != RequestStatus.QUEUED
            or locked.next_queue_notice_at is None
            or locked.next_queue_notice_at > now
        ):
            return locked
        _queue_notice(dialog, locked)
        locked.next_queue_notice_at = now + timedelta(
            minutes=settings_of(locked).queue_notice_interval_minutes
        )
        locked.save(update_fields=["next_queue_notice_at"])
    return locked


def request_ask_feedback(*, request: Request, now: datetime | None = None) -> Request:
    """The chat asks for feedback N seconds after the dialog's start: once, during the
    conversation (the end of it then does not ask again)."""
    now = now or timezone.now()
    with transaction.atomic():
        dialog, locked = request_lock(request)
        if (
            locked.status != RequestStatus.ACCEPTED
            or locked.feedback_due_at is None
            or locked.feedback_due_at > now
        ):
            return locked
        locked.feedback_due_at = None
        rating_prompt(dialog, locked)
        locked.save(update_fields=["feedback_due_at", "feedback_asked"])
    return locked


def _close_when_due(field: str, reason: CloseReason):
    def close(*, request: Request, now: datetime | None = None) -> Request:
        now = now or timezone.now()
        with transaction.atomic():
            dialog, locked = request_lock(request)
            deadline = getattr(locked, field)
            if locked.status != RequestStatus.ACCEPTED or deadline is None or deadline > now:
                return locked
            transition(locked, RequestStatus.CLOSED, note=f"closed: {reason}")
            request_finish(dialog, locked, reason, now)
        return locked

    close.__name__ = f"request_close_on_{field}"
    close.__doc__ = f"Close an accepted request whose {field} has passed ({reason})."
    return close


request_close_on_reply_timeout = _close_when_due("reply_deadline", CloseReason.CLIENT_TIMEOUT)
request_close_on_operator_idle = _close_when_due("idle_deadline", CloseReason.OPERATOR_IDLE)
