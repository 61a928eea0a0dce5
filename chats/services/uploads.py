"""Attachments: files a visitor (widget) or an operator (console) uploads over HTTP, and
attaching them to a message sent over the websocket.

A file is judged by its bytes, never by its name or the browser's MIME header: images
are decoded with Pillow (JPEG, PNG, GIF, WebP; at most BATON_UPLOAD_MAX_PIXELS, so no
decompression bomb), documents are recognised by their magic bytes from an allow-list
(PDF, UTF-8 text, DOCX/XLSX/PPTX), and the name's extension must agree with what the
bytes are. A refused file raises UploadRefused (a clear, translated message) and
nothing is stored. A stored upload is attached once, to a message of its own dialog, by
whoever uploaded it (upload_attachments_claim), in the transaction that stores the
message."""

from __future__ import annotations

import io
import re
import struct
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from chats.enums import AttachmentKind, DialogStatus
from chats.models import Client, Dialog, Message, Upload
from chats.services.bot_engine import ClientMessageResult
from chats.services.dialogs import dialog_receive_client_message
from chats.services.messages import DialogClosed, dialog_lock

SIGNING_SALT = "chats.upload"
FILE_NAME_MAX_CHARS = 100
# frames name uploads by token; more than this many in one message is not a message
MAX_UPLOADS_PER_MESSAGE = 10
# an Office file is a zip: its entries' total unpacked size and count are bounded so
# that reading its table of contents can never be a zip bomb
ZIP_MAX_ENTRIES = 10_000
ZIP_MAX_UNPACKED = 200 * 1024 * 1024

IMAGE_FORMATS = {
    "JPEG": ("image/jpeg", (".jpg", ".jpeg", ".jfif")),
    "PNG": ("image/png", (".png",)),
    "GIF": ("image/gif", (".gif",)),
    "WEBP": ("image/webp", (".webp",)),
}
OFFICE_FORMATS = {
    # the entry each kind of Office Open XML file must have, beside [Content_Types].xml
    "word/document.xml": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        (".docx",),
    ),
    "xl/workbook.xml": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        (".xlsx",),
    ),
    "ppt/presentation.xml": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        (".pptx",),
    ),
}
PDF = ("application/pdf", (".pdf",))
TEXT = ("text/plain; charset=utf-8", (".txt", ".csv", ".log", ".md"))
# text may hold tabs, line breaks and form feeds, no other control character
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_NAME_UNSAFE = re.compile(r'[\\/:*?"<>|]')


class UploadRefused(Exception):
    """The file is not taken; `message` says why, in the user's language; `code` is
    stable for clients and tests."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Detected:
    kind: str  # AttachmentKind.PHOTO or DOCUMENT
    content_type: str
    extensions: tuple[str, ...]
    width: int | None = None
    height: int | None = None


def upload_max_bytes() -> int:
    return settings.BATON_UPLOAD_MAX_BYTES


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".rstrip("0").rstrip(".")


def file_name_clean(raw: object) -> str:
    """The name to show and offer on download: no folders, no control or format
    characters (a right-to-left override could disguise the extension), no lone
    surrogates, no characters file systems refuse, NFC, at most FILE_NAME_MAX_CHARS
    (the extension kept). "file" when nothing is left."""
    name = raw if isinstance(raw, str) else ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name.encode("utf-8", "replace").decode("utf-8"))
    name = "".join(
        char
        for char in name
        if unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co", "Cn") or char == " "
    )
    name = _NAME_UNSAFE.sub("_", name)
    name = " ".join(name.split()).strip(" .")
    if not name:
        return "file"
    if len(name) > FILE_NAME_MAX_CHARS:
        suffix = PurePosixPath(name).suffix
        suffix = suffix if len(suffix) <= 10 else ""
        name = name[: FILE_NAME_MAX_CHARS - len(suffix)].rstrip(" .") + suffix
    return name


def _image(content: bytes) -> Detected | None:
    """The image `content` is, fully decoded; None when Pillow does not recognise it;
    UploadRefused when it is an image we do not take, too large, or damaged."""
    max_pixels = settings.BATON_UPLOAD_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            # Pillow warns (and errors at twice the limit) on a decompression bomb
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                image_format = image.format
                width, height = image.size
                if image_format not in IMAGE_FORMATS:
                    raise UploadRefused(
                        "unsupported_image",
                        _("Images may be JPEG, PNG, GIF or WebP, not %(format)s.")
                        % {"format": image_format},
                    )
                if width * height > max_pixels:
                    raise _too_many_pixels(width, height)
                image.load()  # decodes every pixel: a truncated file fails here
    except UnidentifiedImageError:
        return None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise _too_many_pixels(0, 0) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error):
        raise UploadRefused(
            "damaged_image", _("The image is damaged or incomplete: it cannot be shown.")
        ) from None
    content_type, extensions = IMAGE_FORMATS[image_format]
    return Detected(AttachmentKind.PHOTO, content_type, extensions, width, height)


def _too_many_pixels(width: int, height: int) -> UploadRefused:
    limit = settings.BATON_UPLOAD_MAX_PIXELS
    if width and height:
        return UploadRefused(
            "image_too_large",
            _("The image is %(width)d×%(height)d pixels; at most %(limit)d million pixels.")
            % {"width": width, "height": height, "limit": limit // 1_000_000},
        )
    return UploadRefused(
        "image_too_large",
        _("The image has too many pixels; at most %(limit)d million pixels.")
        % {"limit": limit // 1_000_000},
    )


def _office(content: bytes) -> Detected | None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    if len(entries) > ZIP_MAX_ENTRIES or sum(entry.file_size for entry in entries) > (
        ZIP_MAX_UNPACKED
    ):
        return None
    names = {entry.filename for entry in entries}
    if "[Content_Types].xml" not in names:
        return None
    for entry_name, (content_type, extensions) in OFFICE_FORMATS.items():
        if entry_name in names:
            return Detected(AttachmentKind.DOCUMENT, content_type, extensions)
    return None


def _pdf(content: bytes) -> Detected | None:
    if not content.startswith(b"%PDF-"):
        return None
    if b"%%EOF" not in content[-2048:]:
        raise UploadRefused("damaged_document", _("The PDF is incomplete (it has no end)."))
    return Detected(AttachmentKind.DOCUMENT, *PDF)


def _text(content: bytes) -> Detected | None:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _TEXT_CONTROL.search(text):
        return None
    return Detected(AttachmentKind.DOCUMENT, *TEXT)


def content_detect(content: bytes) -> Detected:
    """What the bytes are, from the allow-list, or UploadRefused."""
    for detect in (_image, _pdf, _office, _text):
        found = detect(content)
        if found is not None:
            return found
    raise UploadRefused(
        "unsupported_file",
        _(
            "This kind of file cannot be sent. Send an image (JPEG, PNG, GIF, WebP), "
            "a PDF, a text file or a Word, Excel or PowerPoint document."
        ),
    )


def _name_for(detected: Detected, raw_name: object) -> str:
    name = file_name_clean(raw_name)
    suffix = PurePosixPath(name).suffix.lower()
    if not suffix:
        return name + detected.extensions[0]
    if suffix not in detected.extensions:
        raise UploadRefused(
            "wrong_extension",
            _("The file is named “%(name)s” but its content is not a %(suffix)s file.")
            % {"name": name, "suffix": suffix},
        )
    return name


def _read_limited(file) -> bytes:
    limit = upload_max_bytes()
    size = getattr(file, "size", None)
    if size is not None and size > limit:
        raise _too_big(size)
    if hasattr(file, "seek"):
        file.seek(0)
    content = file.read(limit + 1)
    if len(content) > limit:
        raise _too_big(len(content))
    if not content:
        raise UploadRefused("empty_file", _("The file is empty."))
    return content


def _too_big(size: int) -> UploadRefused:
    return UploadRefused(
        "too_large",
        _("The file is %(size)s MB; files may be at most %(limit)s MB.")
        % {"size": _megabytes(size), "limit": _megabytes(upload_max_bytes())},
    )


def _rate_check(*, client: Client | None, user_id: int | None) -> None:
    since = timezone.now() - timedelta(hours=1)
    uploads = Upload.objects.filter(created_at__gte=since)
    uploads = (
        uploads.filter(client=client) if client is not None else uploads.filter(user_id=user_id)
    )
    limit = settings.BATON_UPLOAD_PER_HOUR
    if uploads.count() >= limit:
        raise UploadRefused(
            "rate_limited",
            _("You have sent %(limit)d files in the last hour; please wait a while.")
            % {"limit": limit},
        )


def upload_store(
    *,
    dialog: Dialog,
    file,
    file_name: object,
    client: Client | None = None,
    user_id: int | None = None,
) -> Upload:
    """Check `file` (an uploaded file or any binary file object) by its content and
    store it for `dialog`, uploaded by `client` (a visitor) or `user_id` (an
    operator's user): exactly one of them. Raises UploadRefused and stores nothing when
    the file is too large, empty, not of an allowed kind by its bytes, damaged, has too
    many pixels, is named for another kind, or the uploader is over the hourly limit."""
    if (client is None) == (user_id is None):
        raise ValueError("an upload has exactly one uploader: a client or a user")
    # an uploader over the limit is refused before the file is read and decoded (an
    # image is decoded in full: that work is not free); checked again with the insert
    _rate_check(client=client, user_id=user_id)
    content = _read_limited(file)
    detected = content_detect(content)
    name = _name_for(detected, file_name)
    with transaction.atomic():
        _rate_check(client=client, user_id=user_id)
        upload = Upload(
            dialog=dialog,
            client=client,
            user_id=user_id,
            kind=detected.kind,
            file_name=name,
            content_type=detected.content_type,
            size=len(content),
            width=detected.width,
            height=detected.height,
        )
        upload.file.save("content", ContentFile(content), save=False)
        # the file is written before the row: a failed insert must not leave it behind
        path = upload.file.name
        try:
            upload.save()
        except Exception:
            upload.file.storage.delete(path)
            raise
    return upload


def upload_url(upload: Upload) -> str:
    """The address that serves the file: signed, so it cannot be guessed or forged."""
    return reverse("upload_file", kwargs={"signed": signing.dumps(upload.pk, salt=SIGNING_SALT)})


def upload_attachment(upload: Upload) -> dict:
    """The attachment a message stores for an upload (what every surface draws)."""
    attachment = {
        "kind": upload.kind,
        "upload_id": upload.pk,
        "url": upload_url(upload),
        "file_name": upload.file_name,
        "mime_type": upload.content_type,
        "size": upload.size,
    }
    if upload.width and upload.height:
        attachment["width"] = upload.width
        attachment["height"] = upload.height
    return attachment


class UploadNotUsable(Exception):
    """A message names an upload that is not the sender's to attach (unknown, of
    another dialog or uploader, or attached already)."""

    code = "bad_upload"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def upload_attachments_claim(
    *,
    dialog: Dialog,
    tokens: list[str],
    client: Client | None = None,
    user_id: int | None = None,
) -> list[Upload]:
    """Lock the uploads named by `tokens` for a message about to be stored in `dialog`
    by `client` or `user_id`; raises UploadNotUsable (and changes nothing) for one that
    does not exist, belongs to another dialog or uploader, or is attached already.
    The caller is inside the transaction that stores the message and holds the
    dialog's lock; it then calls upload_attachments_bind with the stored message."""
    if len(set(tokens)) != len(tokens):
        raise UploadNotUsable(_("The same file is attached twice."))
    uploads = {
        upload.token: upload
        for upload in Upload.objects.select_for_update().filter(token__in=tokens).order_by("pk")
    }
    claimed = []
    for token in tokens:
        upload = uploads.get(token)
        mine = upload is not None and (
            (client is not None and upload.client_id == client.pk)
            or (user_id is not None and upload.user_id == user_id)
        )
        if not mine or upload.dialog_id != dialog.pk:
            raise UploadNotUsable(_("This file was not uploaded by you in this conversation."))
        if upload.message_id is not None:
            raise UploadNotUsable(_("This file has been sent already; upload it again."))
        claimed.append(upload)
    return claimed


def upload_attachments_bind(*, uploads: list[Upload], message: Message) -> None:
    """Record that `uploads` are attached to `message` (same transaction as the claim)."""
    Upload.objects.filter(pk__in=[upload.pk for upload in uploads]).update(message=message)


def client_message_with_uploads(
    *, dialog: Dialog, text: str, client_msg_id: str, tokens: list[str]
) -> ClientMessageResult:
    """A visitor's message carrying the files they uploaded (tokens from upload_store),
    stored like any client message (dialog_receive_client_message) in one transaction
    with the claim of its uploads. Idempotent on client_msg_id: a resend of a stored
    message returns it (created=False) without looking at its uploads again. Raises
    UploadNotUsable or DialogClosed and stores nothing."""
    with transaction.atomic():
        locked = dialog_lock(dialog=dialog)
        stored = Message.objects.filter(dialog=locked, client_msg_id=client_msg_id).first()
        if stored is not None:
            return ClientMessageResult(message=stored, created=False, answers=[])
        if locked.status == DialogStatus.CLOSED:
            raise DialogClosed(locked.session_id)
        uploads = upload_attachments_claim(dialog=locked, tokens=tokens, client=locked.client)
        result = dialog_receive_client_message(
            dialog=dialog,
            text=text,
            client_msg_id=client_msg_id,
            attachments=[upload_attachment(upload) for upload in uploads],
        )
        upload_attachments_bind(uploads=uploads, message=result.message)
    return result


def uploads_delete_unattached(*, now: datetime | None = None) -> int:
    """Delete the uploads no message took within BATON_UPLOAD_UNATTACHED_HOURS (the
    visitor or operator chose a file and never sent it), rows first and their files
    after the commit; returns how many. Idempotent: a second run finds nothing."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.BATON_UPLOAD_UNATTACHED_HOURS)
    with transaction.atomic():
        stale = list(
            Upload.objects.select_for_update(skip_locked=True).filter(
                message__isnull=True, created_at__lt=cutoff
            )
        )
        paths = [(upload.file.storage, upload.file.name) for upload in stale if upload.file]
        Upload.objects.filter(pk__in=[upload.pk for upload in stale]).delete()

        def delete_files() -> None:
            for storage, name in paths:
                storage.delete(name)

        transaction.on_commit(delete_files, robust=True)
    return len(stale)
