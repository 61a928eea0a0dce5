"""Scopes: a view names its part of the API (`scope_area`); reading needs
`<area>:read` or `<area>:write`, anything else `<area>:write`."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import permissions

from distributor.models import ApiKey
from distributor.services.api_keys import api_key_bot


def key_has_scope(key: ApiKey, area: str, *, write: bool) -> bool:
    if f"{area}:write" in key.scopes:
        return True
    return not write and f"{area}:read" in key.scopes


class HasScope(permissions.BasePermission):
    """The key holds the view's scope. An API bot's own key works only on the views that
    say so (`bot_key_allowed`: the bot endpoints, /api/v1/bots/…), whatever its scopes: a
    bot acts on the dialogs it holds, never on the rest of its chats."""

    message = gettext_lazy("This API key lacks the scope for this.")

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        if not getattr(view, "bot_key_allowed", False) and api_key_bot(key) is not None:
            self.message = _(
                "This is an API bot's key: it works only on the bot endpoints (/api/v1/bots/…)."
            )
            return False
        area = view.scope_area
        write = request.method not in permissions.SAFE_METHODS
        if key_has_scope(key, area, write=write):
            return True
        self.message = _("This API key lacks the scope %(scope)s.") % {
            "scope": f"{area}:{'write' if write else 'read'}"
        }
        return False


def chat_ids_for_key(key: ApiKey) -> set[int]:
    """The chats this key may touch (read once per request and kept on the key)."""
    cached = getattr(key, "_chat_ids", None)
    if cached is None:
        cached = set(key.chats.values_list("pk", flat=True))
        key._chat_ids = cached
    return cached
