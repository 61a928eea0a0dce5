"""Widget and demo pages: thin views that read through selectors."""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import override
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from chats.enums import AttachmentKind, HeadsetMode
from chats.models import Chat
from chats.selectors import chat_get_by_public_key
from chats.visitor_tokens import visitor_token_issue

DEMO_PUBLIC_KEY = "demo"
AVATAR_KINDS = {"bot", "operator", "user"}


def _chat_or_404(public_key: str) -> Chat:
    chat = chat_get_by_public_key(public_key=public_key)
    if chat is None:
        raise Http404(_("No chat with this key."))
    return chat


def public_base_url(request: HttpRequest) -> str:
    return settings.BATON_PUBLIC_URL or request.build_absolute_uri("/").rstrip("/")


def frame_code(*, chat: Chat, base_url: str) -> str:
    """The snippet a customer pastes into their site. It names the unhashed embed script,
    which collectstatic keeps beside the hashed copy, so the snippet survives deploys."""
    return (
        f'<script src="{base_url}{settings.STATIC_URL}widget/embed.js" '
        f'data-baton-chat="{chat.public_key}" async></script>'
    )


@require_GET
def widget_config(request: HttpRequest, public_key: str) -> JsonResponse:
    """What the embed script needs to draw the launcher; public, so any site may read it."""
    chat = _chat_or_404(public_key)
    with override(chat.language):
        body = {
            "chat": chat.public_key,
            "frame_url": request.build_absolute_uri(reverse("widget_frame", args=[public_key])),
            "launcher_color": chat.button_color,
            "launcher_text_color": chat.button_text_color,
            "launcher_label": _("Chat with us"),
            "messenger_links": [
                {
                    "messenger": link.messenger,
                    "label": link.get_messenger_display(),
                    "url": link.url,
                }
                for link in chat.messenger_links.all()
            ],
        }
    response = JsonResponse(body)
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "max-age=60"
    return response


@require_GET
@never_cache
@xframe_options_exempt
def widget_frame(request: HttpRequest, public_key: str) -> HttpResponse:
    """The iframe the embed script opens: it may be framed by the chat's allowed sites and
    Baton's own demo page, or by any site when the chat names none."""
    chat = _chat_or_404(public_key)
    with override(chat.language):
        response = render(
            request,
            "chats/widget.html",
            {
                "chat": chat,
                "fresh_token": visitor_token_issue(public_key=chat.public_key),
                "show_headset": chat.headset_mode != HeadsetMode.NEVER,
                "attachment_kinds": {kind.name: kind.value for kind in AttachmentKind},
                "avatar_urls": {
                    kind: reverse("widget_avatar", args=[public_key, kind]) for kind in AVATAR_KINDS
                },
            },
        )
    # read by config.content_security_policy (frame-ancestors), like xframe_options_exempt
    if chat.allowed_site_list:
        response.csp_frame_ancestors = ["'self'", *chat.allowed_site_list]
    return response


@require_GET
def widget_avatar(request: HttpRequest, public_key: str, kind: str) -> HttpResponse:
    if kind not in AVATAR_KINDS:
        raise Http404
    chat = _chat_or_404(public_key)
    avatar = getattr(chat, f"{kind}_avatar")
    if not avatar:
        return redirect(static(f"widget/avatar-{kind}.svg"))
    content_type = mimetypes.guess_type(avatar.name)[0] or "application/octet-stream"
    response = FileResponse(avatar.open("rb"), content_type=content_type)
    response["Cache-Control"] = "max-age=300"
    return response


@require_GET
def demo_page(request: HttpRequest, public_key: str = DEMO_PUBLIC_KEY) -> HttpResponse:
    """A host page that embeds a chat exactly as a customer's site would."""
    chat = chat_get_by_public_key(public_key=public_key)
    if chat is None:
        return render(request, "chats/demo_missing.html", {"public_key": public_key}, status=404)
    return render(
        request,
        "chats/demo.html",
        {"chat": chat, "snippet": frame_code(chat=chat, base_url=public_base_url(request))},
    )
