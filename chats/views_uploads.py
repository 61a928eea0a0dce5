"""Attachments over HTTP: the visitor's upload (authenticated with the widget's visitor
token, like the widget socket) and the signed download every surface links to. The
websocket then carries only the upload's token in a message frame (docs/protocol.md)."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import override
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chats.enums import AttachmentKind
from chats.models import Upload
from chats.selectors import chat_get_by_public_key
from chats.selectors_uploads import upload_from_signed, visitor_open_dialog
from chats.services.uploads import UploadRefused, upload_max_bytes, upload_store
from chats.visitor_tokens import InvalidVisitorToken, visitor_token_read

# a multipart body a little larger than the file (boundaries, the other fields)
BODY_OVERHEAD = 64 * 1024
REFUSAL_STATUS = {"too_large": 413, "rate_limited": 429}


def refusal(code: str, detail: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


def upload_answer(upload: Upload) -> JsonResponse:
    return JsonResponse(
        {
            "upload": upload.token,
            "kind": upload.kind,
            "file_name": upload.file_name,
            "size": upload.size,
        },
        status=201,
    )


def body_too_large(request: HttpRequest) -> bool:
    """Said before the body is read: a declared length far over the limit."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > upload_max_bytes() + BODY_OVERHEAD


def too_large_refusal() -> JsonResponse:
    limit = f"{upload_max_bytes() / (1024 * 1024):.1f}".rstrip("0").rstrip(".")
    return refusal(
        "too_large", _("Files may be at most %(limit)s MB.") % {"limit": limit}, status=413
    )


# no cookie authenticates this view (the visitor token is a form field a page cannot
# send on someone else's behalf), so there is nothing for CSRF to protect
@csrf_exempt
@require_POST
@never_cache
def widget_upload(request: HttpRequest, public_key: str) -> JsonResponse:
    chat = chat_get_by_public_key(public_key=public_key)
    if chat is None:
        raise Http404
    with override(chat.language):
        if body_too_large(request):
            return too_large_refusal()
        try:
            visitor_id = visitor_token_read(
                public_key=chat.public_key, token=request.POST.get("token")
            )
        except InvalidVisitorToken:
            return refusal("bad_token", _("Your session is not valid; reload the chat."), 401)
        file = request.FILES.get("file")
        if file is None:
            return refusal("no_file", _("Choose a file to send."))
        dialog = visitor_open_dialog(chat=chat, visitor_id=visitor_id)
        if dialog is None:
            return refusal("no_dialog", _("Start the conversation before sending a file."), 409)
        try:
            upload = upload_store(
                dialog=dialog, file=file, file_name=file.name, client=dialog.client
            )
        except UploadRefused as refused:
            return refusal(refused.code, refused.message, REFUSAL_STATUS.get(refused.code, 400))
    return upload_answer(upload)


@require_GET
def upload_file(request: HttpRequest, signed: str) -> HttpResponse:
    """The file, by its signed address. Images inline, anything else as a download;
    the type is the one its content was recognised as, and nosniff keeps it so."""
    upload = upload_from_signed(signed=signed)
    if upload is None:
        raise Http404
    try:
        handle = upload.file.open("rb")
    except OSError:
        raise Http404 from None
    response = FileResponse(
        handle,
        content_type=upload.content_type,
        as_attachment=upload.kind != AttachmentKind.PHOTO,
        filename=upload.file_name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=86400"
    return response
