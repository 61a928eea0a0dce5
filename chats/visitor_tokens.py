"""Signed visitor tokens: a random visitor id (192 bits) signed for one chat.

The browser keeps the token; whoever holds it is that visitor, and a token
signed for one chat is worthless in another."""

from __future__ import annotations

import secrets

from django.core import signing


class InvalidVisitorToken(Exception):
    pass


def _signer(public_key: str) -> signing.Signer:
    return signing.Signer(salt=f"baton.visitor.{public_key}")


def visitor_token_issue(*, public_key: str) -> str:
    return _signer(public_key).sign(secrets.token_urlsafe(24))


def visitor_token_read(*, public_key: str, token: object) -> str:
    """Return the visitor id inside a token, or raise InvalidVisitorToken."""
    if not isinstance(token, str) or not 0 < len(token) <= 200:
        raise InvalidVisitorToken("token missing or malformed")
    try:
        return _signer(public_key).unsign(token)
    except signing.BadSignature:
        raise InvalidVisitorToken("token signature does not match this chat") from None
