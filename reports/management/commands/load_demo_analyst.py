"""The demo's analyst login (after load_demo, under `make run`): reads the demo chat
only. Here rather than in load_demo because nothing below reports imports reports."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from chats.models import Chat
from chats.views import DEMO_PUBLIC_KEY
from reports.access import ANALYST_GROUP
from reports.models import AnalystChatGrant

ANALYST_USERNAME = "analyst"
ANALYST_PASSWORD = "baton-analyst"  # noqa: S105 - demo login, printed on start


def demo_analyst_create(chat: Chat) -> None:
    """The analyst login, reading the demo chat (an existing user keeps its password)."""
    user, created = get_user_model().objects.get_or_create(
        username=ANALYST_USERNAME, defaults={"is_staff": False}
    )
    if created:
        user.set_password(ANALYST_PASSWORD)
        user.save()
    group, _created = Group.objects.get_or_create(name=ANALYST_GROUP)
    user.groups.add(group)
    AnalystChatGrant.objects.get_or_create(user=user, chat=chat)


class Command(BaseCommand):
    help = "Create the demo analyst login, granted the demo chat (idempotent; run after load_demo)."

    def handle(self, *args, **options) -> None:
        chat = Chat.objects.filter(public_key=DEMO_PUBLIC_KEY).first()
        if chat is None:
            raise CommandError("No demo chat: run load_demo first.")
        with transaction.atomic():
            demo_analyst_create(chat)
        self.stdout.write(f"demo analyst: {ANALYST_USERNAME}, reading {chat.name}")
