"""A chat's distribution settings: made on first use with the four auto-replies in
the chat's language, so no chat is ever without them."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.models import Chat
from distributor.models import ChatDistribution


def auto_reply_defaults(language: str) -> dict[str, str]:
    """The four auto-replies' default texts, in `language`."""
    with override(language):
        return {
            "reply_received": _(
                "Thank you! Your message has been received, a manager will answer you shortly."
            ),
            "reply_all_busy": _(
                "All our managers are busy right now. Please wait, "
                "we will answer you as soon as one is free."
            ),
            "reply_offline": _(
                "Our managers are offline right now. Leave your message "
                "and we will answer you as soon as we are back."
            ),
            # xgettext:no-python-format
            "reply_outside_hours": _("We are closed now. Nearest manager working hours: {hours}."),
        }


def chat_distribution_for(chat: Chat | int) -> ChatDistribution:
    """The chat's distribution settings, created with the defaults (in the chat's
    language) when the chat has none yet."""
    chat_id = chat if isinstance(chat, int) else chat.pk
    found = ChatDistribution.objects.filter(chat_id=chat_id).first()
    if found is not None:
        return found
    language = (
        chat.language
        if isinstance(chat, Chat)
        else Chat.objects.values_list("language", flat=True).get(pk=chat_id)
    )
    try:
        with transaction.atomic():
            return ChatDistribution.objects.create(chat_id=chat_id, **auto_reply_defaults(language))
    except IntegrityError:  # made at the same moment by another process
        return ChatDistribution.objects.get(chat_id=chat_id)
