"""Feedback: what a client tells us about the service."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from chats.models import Dialog, Feedback


def feedback_record(
    *,
    dialog: Dialog,
    score: int,
    handoff_request_id: int | None,
    operator_id: int | None = None,
    operator_name: str = "",
) -> Feedback:
    """Store a rating on the chat's scale. Idempotent per request: a second rating of
    the same request replaces nothing and returns the first."""
    scale = dialog.chat.feedback_scale
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= scale:
        raise ValidationError(
            _("A rating is a whole number from 1 to %(scale)d.") % {"scale": scale}
        )
    feedback, _created = Feedback.objects.get_or_create(
        dialog=dialog,
        handoff_request_id=handoff_request_id,
        defaults={
            "score": score,
            "scale": scale,
            "operator_id": operator_id,
            "operator_name": operator_name,
        },
    )
    return feedback
