"""Operator accounts."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from chats.models import Chat
from chats.realtime import user_access_changed_publish
from chats.validators import validate_encodable
from distributor.models import Operator


def operator_create(
    *, username: str, password: str, display_name: str, chats: list[Chat]
) -> Operator:
    """Create (or update, keeping the password) an operator account serving `chats`.
    Raises ValidationError for a name no surface could encode (a lone surrogate)."""
    validate_encodable([username, display_name])
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"is_staff": False}
        )
        if created:
            user.set_password(password)
            user.save()
        operator, _created = Operator.objects.update_or_create(
            user=user, defaults={"display_name": display_name}
        )
        operator.chats.add(*chats)
        user_access_changed_publish(user_id=user.pk)
    return operator
