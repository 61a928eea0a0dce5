"""The auto-replies of a chat's distribution settings, back to the defaults."""

from __future__ import annotations

from django.db import transaction

from distributor.models import ChatDistribution
from distributor.services.distribution_settings import auto_reply_defaults


def chat_distribution_auto_replies_reset(*, distribution: ChatDistribution) -> ChatDistribution:
    """Put the four auto-replies back to their default texts in the chat's current
    language (after the chat's language changed, say). Idempotent."""
    with transaction.atomic():
        locked = (
            ChatDistribution.objects.select_for_update()
            .select_related("chat")
            .get(pk=distribution.pk)
        )
        for field, text in auto_reply_defaults(locked.chat.language).items():
            setattr(locked, field, text)
        locked.save(update_fields=list(ChatDistribution.AUTO_REPLY_FIELDS))
    return locked
