"""The operator's upload: a logged-in operator sends a file for a request they hold
(multipart POST, with the page's CSRF token); the console's `message` frame then names
it by its token (docs/handoff.md)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from chats.services.uploads import UploadRefused
from chats.views_uploads import (
    REFUSAL_STATUS,
    body_too_large,
    refusal,
    too_large_refusal,
    upload_answer,
)
from handoff import selectors
from handoff.models import Request
from handoff.services import HandoffError
from handoff.services.attachments import operator_upload_store


@require_POST
@never_cache
def console_upload(request: HttpRequest, request_id: int) -> JsonResponse:
    operator = selectors.operator_for_user(request.user)
    if operator is None:
        if not request.user.is_authenticated:
            return refusal("not_logged_in", _("Your session has ended; log in again."), 401)
        return refusal("not_operator", _("This account is not an operator."), 403)
    if body_too_large(request):
        return too_large_refusal()
    file = request.FILES.get("file")
    if file is None:
        return refusal("no_file", _("Choose a file to send."))
    try:
        upload = operator_upload_store(
            request=request_id, operator=operator, file=file, file_name=file.name
        )
    except Request.DoesNotExist:
        return refusal("not_found", _("No such request."), 404)
    except HandoffError:
        return refusal(
            "not_yours", _("You can send files only in a conversation you have accepted."), 403
        )
    except UploadRefused as refused:
        return refusal(refused.code, refused.message, REFUSAL_STATUS.get(refused.code, 400))
    return upload_answer(upload)
