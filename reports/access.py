"""Who may read what: an analyst reads only the chats granted to them; staff read
every chat. Every reports view and download goes through these."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from chats.models import Chat

ANALYST_GROUP = "analyst"


def is_analyst(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Staff, or an active member of the analyst group."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_staff or user.groups.filter(name=ANALYST_GROUP).exists()


def chats_for_analyst(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Chat]:
    """The chats this user may read in the viewer, the reports and the dashboard."""
    if not is_analyst(user):
        return Chat.objects.none()
    if user.is_staff:
        return Chat.objects.all()
    return Chat.objects.filter(analyst_grants__user=user)


def chat_ids_for_analyst(user: AbstractBaseUser | AnonymousUser) -> set[int]:
    return set(chats_for_analyst(user).values_list("pk", flat=True))
