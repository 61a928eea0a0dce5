"""A strict Content-Security-Policy on every response (Django 5.2 has none built in).

No page of Baton runs inline script or inline style: scripts and styles are files under
static/, per-chat colours are set by static/widget/theme.js. The policy only varies by
- connect-src: the page's own host over ws:// and wss:// (the widget and console sockets);
- frame-ancestors: 'none', except on responses that allow framing the way Django's
  `xframe_options_exempt` does; such a response may list who may frame it in
  `response.csp_frame_ancestors` (the widget frame: the chat's allowed sites), else any site.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import django
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def _inline_style_hashes(template: Path) -> list[str]:
    """Hashes of the <style> blocks of one of Django's own templates: the admin's change
    list has one (for admins without actions); allowing exactly it keeps 'unsafe-inline' out."""
    blocks = re.findall(r"<style>(.*?)</style>", template.read_text(), flags=re.DOTALL)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"
        for block in blocks
    ]


ADMIN_STYLE_HASHES = _inline_style_hashes(
    Path(django.__file__).parent / "contrib/admin/templates/admin/change_list.html"
)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def base_policy() -> dict[str, list[str]]:
    # Baton's public address may differ from the host a page was asked on (the demo page
    # loads embed.js and the widget frame from BATON_PUBLIC_URL)
    public = origin_of(settings.BATON_PUBLIC_URL)
    own = ["'self'", public] if public else ["'self'"]
    return {
        "default-src": ["'self'"],
        "script-src": own,
        "style-src": ["'self'", *ADMIN_STYLE_HASHES],
        "img-src": [*own, "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": own,
        "frame-src": own,
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }


def socket_sources(request: HttpRequest) -> list[str]:
    """ws:// and wss:// of the page's own host: older browsers do not count them as 'self'."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return []
    sources = [f"ws://{host}", f"wss://{host}"]
    public = urlsplit(settings.BATON_PUBLIC_URL)
    if public.netloc and public.netloc != host:
        sources += [f"ws://{public.netloc}", f"wss://{public.netloc}"]
    return sources


def policy_for(request: HttpRequest, response: HttpResponse) -> str:
    policy = base_policy()
    policy["connect-src"] = [*policy["connect-src"], *socket_sources(request)]
    if getattr(response, "xframe_options_exempt", False):
        policy["frame-ancestors"] = list(getattr(response, "csp_frame_ancestors", None) or ["*"])
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Django's debug error pages (DEBUG on only) are made of inline script and style
        if HEADER not in response and not (settings.DEBUG and response.status_code >= 400):
            response[HEADER] = policy_for(request, response)
        return response
