"""Opening a request: the one rule for every way in (request_reason_check), working
hours, the pre-handoff form, then a pending request."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.enums import AuthorKind, DialogStatus, HeadsetMode
from chats.models import Dialog, Message
from chats.services import DialogClosed, dialog_lock, dialog_status_set
from distributor.services import chat_distribution_for
from handoff.enums import RequestReason, RequestStatus
from handoff.models import DialogFormAnswers, HandoffSettings, Request, RequestEvent
from handoff.services.assignment import auto_reply, hours_text, request_distribute
from handoff.services.errors import HandoffNotOffered
from handoff.services.handoff_settings import handoff_settings_for, working_hours_for
from handoff.services.lifecycle import announce, system_notice
from handoff.working_hours import WorkingHours


def _language(dialog: Dialog) -> str:
    return dialog.chat.language


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


# the admin's own setup (the script's mark, routing a channel to managers) and
# integrations (the API, API bots) may always ask; the
# visitor may only when the chat shows them the headset
ALWAYS_ALLOWED = (
    RequestReason.SCRIPT,
    RequestReason.API,
    RequestReason.ROUTING,
    RequestReason.BOT_HANDOFF,
)
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
            reply = outside_hours_reply(locked, hours, now)
            # a channel routed to managers asks on every client message: the client is
            # told once, not once per message (again when something else was said since)
            if not _last_notice_is(locked, reply):
                system_notice(locked, None, reply)
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
            system_notice(
                locked, None, prompt, [{"kind": "handoff_form", "fields": fields, "reason": reason}]
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
        dialog_status_set(dialog=locked, status=DialogStatus.WAITING, dialog_locked=True)
        request.dialog = locked
        # offered first (automatic distribution), so that the announcement names who
        distribution, found = request_distribute(locked, request, now=now)
        # consoles hear of the request before its first message
        announce(request)
        system_notice(locked, request, auto_reply(distribution, found))
    _sync(dialog, locked)
    return request


def outside_hours_reply(dialog: Dialog, hours: WorkingHours, now: datetime) -> str:
    """The chat's outside-hours auto-reply with {hours} = the nearest working window;
    with no window at all (working hours on, no period), the managers-offline one."""
    distribution = chat_distribution_for(dialog.chat)
    window = hours.next_window(now)
    if window is None:
        return distribution.reply_offline
    return distribution.reply_outside_hours.replace(
        "{hours}", hours_text(window, language=_language(dialog))
    )


def _last_notice_is(dialog: Dialog, text: str) -> bool:
    """Whether the dialog's latest system message says exactly `text`."""
    latest = (
        Message.objects.filter(dialog=dialog, author_kind=AuthorKind.SYSTEM)
        .order_by("-sequence")
        .values_list("text", flat=True)
        .first()
    )
    return latest == text


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
