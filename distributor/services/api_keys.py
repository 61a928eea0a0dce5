"""API keys: made with a secret shown once, stored as its SHA-256, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chats.models import Chat
from distributor.enums import ApiScope
from distributor.models import ApiBot, ApiKey

KEY_PREFIX_LENGTH = 8
# a key's last use is written at most this often: not a write per API call
LAST_USED_RESOLUTION = timedelta(seconds=60)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_scopes_check(scopes: list[str]) -> list[str]:
    """The scopes, validated and without repeats, in a stable order."""
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        raise ValidationError(_("Scopes are a list of names."))
    unknown = sorted(set(scopes) - set(ApiScope.values))
    if unknown:
        raise ValidationError(
            _("Unknown scope: %(scopes)s.") % {"scopes": ", ".join(s[:40] for s in unknown[:5])}
        )
    return [scope for scope in ApiScope.values if scope in scopes]


def api_key_create(
    *,
    name: str,
    scopes: list[str],
    chats: list[Chat],
    created_by=None,
    requests_per_minute: int = 600,
) -> tuple[ApiKey, str]:
    """A new key and its full token ("<prefix>.<secret>"), the only time the token
    exists outside the caller: only the secret's hash is stored."""
    scopes = api_key_scopes_check(scopes)
    with transaction.atomic():
        while True:
            prefix = secrets.token_hex(KEY_PREFIX_LENGTH // 2)
            if not ApiKey.objects.filter(prefix=prefix).exists():
                break
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            name=name.strip()[:100] or prefix,
            prefix=prefix,
            secret_hash=secret_hash(secret),
            scopes=scopes,
            created_by=created_by,
            requests_per_minute=requests_per_minute,
        )
        key.full_clean()
        key.save()
        key.chats.set(chats)
    return key, f"{prefix}.{secret}"


def api_key_authenticate(token: str) -> ApiKey | None:
    """The active key this token is, or None (unknown, malformed, revoked). Records
    the key's last use (at most once a minute)."""
    if not isinstance(token, str) or len(token) > 200 or "." not in token:
        return None
    prefix, _dot, secret = token.partition(".")
    if len(prefix) != KEY_PREFIX_LENGTH or not secret.isascii():
        return None
    # with the key's API bot, if it is one (the API refuses a bot's key outside the bot
    # endpoints): read in the same query
    key = (
        ApiKey.objects.select_related("bot").filter(prefix=prefix, revoked_at__isnull=True).first()
    )
    if key is None or not hmac.compare_digest(key.secret_hash, secret_hash(secret)):
        return None
    now = timezone.now()
    if key.last_used_at is None or key.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def api_key_bot(key: ApiKey) -> ApiBot | None:
    """The API bot whose own key this is, or None (no query when the key was read by
    api_key_authenticate)."""
    try:
        return key.bot
    except ObjectDoesNotExist:
        return None


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    """Revoke a key (idempotent: the first revocation's time is kept)."""
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
    return key
