"""API keys in the Authorization header: `Authorization: Bearer <prefix>.<secret>`."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from distributor.models import ApiKey
from distributor.services import api_key_authenticate


class ApiKeyUser:
    """Who an API call acts as: the key (request.user for DRF's machinery)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.pk = None

    def __str__(self) -> str:
        return f"API key {self.key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower().encode():
            raise exceptions.AuthenticationFailed(
                _("Send the key as “Authorization: Bearer <key>”.")
            )
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("This API key is not valid.")) from None
        key = api_key_authenticate(token)
        if key is None:
            raise exceptions.AuthenticationFailed(_("This API key is not valid or was revoked."))
        return ApiKeyUser(key), key

    def authenticate_header(self, request) -> str:
        return self.keyword
