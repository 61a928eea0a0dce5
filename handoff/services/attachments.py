"""An operator's files: uploaded for a request they hold (the console's upload view), then
sent as a reply that names them (the console's `message` frame with `attachments`)."""

from __future__ import annotations

from django.db import transaction

from chats.models import Message, Upload
from chats.services.uploads import (
    upload_attachment,
    upload_attachments_bind,
    upload_attachments_claim,
    upload_store,
)
from distributor.models import Operator
from handoff.enums import RequestStatus
from handoff.models import Request
from handoff.services.conversation import operator_message_post
from handoff.services.errors import IllegalTransition, NotYourRequest
from handoff.services.lifecycle import request_lock


def _held(locked: Request, operator: Operator) -> None:
    if locked.operator_id != operator.pk:
        raise NotYourRequest("only the operator who accepted the request can send files in it")
    if locked.status != RequestStatus.ACCEPTED:
        raise IllegalTransition(locked.status, "written to")


def operator_upload_store(
    *, request: Request | int, operator: Operator, file, file_name: object
) -> Upload:
    """Store a file the operator uploads for `request` (chats.services.uploads.upload_store
    checks it by its content). Only for a request of a chat they serve (else
    Request.DoesNotExist) that they hold, accepted (else NotYourRequest /
    IllegalTransition); nothing is stored on a refusal."""
    with transaction.atomic():
        dialog, locked = request_lock(request, visible_to=operator)
        _held(locked, operator)
    return upload_store(dialog=dialog, file=file, file_name=file_name, user_id=operator.user_id)


def operator_message_with_uploads(
    *,
    request: Request | int,
    operator: Operator,
    text: str,
    client_msg_id: str,
    tokens: list[str],
    dialog_id: int | None = None,
    visible_only: bool = False,
) -> tuple[Message, bool]:
    """operator_message_post for a reply carrying the operator's uploads (tokens), with
    the claim of the uploads in the same transaction: the uploads must be this operator's,
    of this request's dialog and not attached yet (else chats' UploadNotUsable), and the
    request theirs and accepted. Idempotent on client_msg_id: a resend of a stored reply
    returns it as operator_message_post does, without claiming anything again."""
    with transaction.atomic():
        dialog, locked = request_lock(
            request, dialog_id=dialog_id, visible_to=operator if visible_only else None
        )
        if Message.objects.filter(dialog=dialog, client_msg_id=client_msg_id).exists():
            return operator_message_post(
                request=locked, operator=operator, text=text, client_msg_id=client_msg_id
            )
        _held(locked, operator)
        uploads = upload_attachments_claim(dialog=dialog, tokens=tokens, user_id=operator.user_id)
        message, created = operator_message_post(
            request=locked,
            operator=operator,
            text=text,
            client_msg_id=client_msg_id,
            attachments=[upload_attachment(upload) for upload in uploads],
        )
        upload_attachments_bind(uploads=uploads, message=message)
    return message, created
