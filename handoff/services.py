"""Handoff writes. This issue opens requests; the rest of the lifecycle (accept,
expire, queue, close) is built on the same state machine in handoff.models."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.enums import AuthorKind, DialogStatus
from chats.models import Dialog
from chats.services import DialogClosed, dialog_lock, dialog_status_set, message_post
from handoff.enums import RequestReason, RequestStatus
from handoff.models import Request, RequestEvent


def request_open(*, dialog: Dialog, reason: RequestReason | str) -> Request:
    """Open a pending request for a human in `dialog` and tell the visitor to wait.

    Idempotent: while the dialog has an open request, that request is returned and
    nothing is written. Raises DialogClosed for a closed dialog.
    """
    with transaction.atomic():
        locked = dialog_lock(dialog=dialog)
        if locked.status == DialogStatus.CLOSED:
            raise DialogClosed(locked.session_id)
        existing = Request.objects.filter(dialog=locked, status__in=Request.OPEN_STATUSES).first()
        if existing is not None:
            return existing
        request = Request.objects.create(dialog=locked, reason=reason, status=RequestStatus.PENDING)
        RequestEvent.objects.create(
            request=request, to_status=RequestStatus.PENDING, note=f"opened by {reason}"
        )
        dialog_status_set(dialog=locked, status=DialogStatus.WAITING)
        with override(locked.chat.language):
            notice = _("Please wait, we are connecting you to an operator.")
        message_post(dialog=locked, author_kind=AuthorKind.SYSTEM, text=notice)
    dialog.status = locked.status
    dialog.last_sequence = locked.last_sequence
    return request
