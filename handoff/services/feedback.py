"""The client's rating of a conversation with an operator."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from chats.models import Dialog
from handoff.models import Feedback, Request
from handoff.services.handoff_settings import handoff_settings_for


def feedback_record(*, dialog: Dialog, request: Request, score: int) -> Feedback:
    """Store a rating of `request` on the chat's scale, with the operator who took it.
    Idempotent per request: a second rating of the same request replaces nothing and
    returns the first. Raises ValidationError for a score outside the scale."""
    scale = handoff_settings_for(dialog.chat_id).feedback_scale
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= scale:
        raise ValidationError(
            _("A rating is a whole number from 1 to %(scale)d.") % {"scale": scale}
        )
    operator = request.operator
    feedback, _created = Feedback.objects.get_or_create(
        dialog=dialog,
        request=request,
        defaults={
            "score": score,
            "scale": scale,
            "operator": operator,
            "operator_name": operator.display_name if operator else "",
        },
    )
    return feedback
