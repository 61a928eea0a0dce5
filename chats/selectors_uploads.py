"""Reads for attachments (chats.services.uploads): the visitor's open dialog an upload
is for, an upload from its signed address, and the stored file of an attachment."""

from __future__ import annotations

from django.core import signing

from chats.enums import DialogStatus, Messenger
from chats.models import Chat, Dialog, Upload
from chats.services.uploads import SIGNING_SALT


def visitor_open_dialog(*, chat: Chat, visitor_id: str) -> Dialog | None:
    """The web visitor's open dialog in this chat (with its client), if any."""
    return (
        Dialog.objects.select_related("client")
        .filter(
            chat=chat,
            client__messenger=Messenger.WEB,
            client__external_id=visitor_id,
        )
        .exclude(status=DialogStatus.CLOSED)
        .first()
    )


def upload_from_signed(*, signed: str) -> Upload | None:
    """The upload a signed address names; None for a forged or unknown one."""
    try:
        upload_id = signing.loads(signed, salt=SIGNING_SALT)
    except signing.BadSignature:
        return None
    if isinstance(upload_id, bool) or not isinstance(upload_id, int):
        return None
    return Upload.objects.filter(pk=upload_id).first()


def upload_file_path(*, upload_id: object) -> tuple[str, Upload] | None:
    """The stored file of an attachment's upload (its path on disk and the row), for a
    surface that sends the file itself (Telegram); None when it is gone."""
    if isinstance(upload_id, bool) or not isinstance(upload_id, int):
        return None
    upload = Upload.objects.filter(pk=upload_id).first()
    if upload is None or not upload.file:
        return None
    try:
        return upload.file.path, upload
    except NotImplementedError:  # a storage without local paths
        return None
