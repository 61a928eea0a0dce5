"""Reads for analysts: which dialogs the viewer's filters select, in the chats the
user may read. Report builders and the dashboard start from the same queryset
(handoff.selectors_dialogs.dialogs_filtered, shared with the API)."""

from __future__ import annotations

from django.db.models import QuerySet

from chats.models import Dialog
from handoff.dialog_filters import DialogFilters
from handoff.selectors_dialogs import dialogs_filtered
from reports.access import chat_ids_for_analyst


def chat_ids_chosen(*, user, filters: DialogFilters) -> set[int]:
    """The chats a selection covers: the user's chats (now), narrowed to the filter's
    chats when it names some. A chat the user may not read is never among them."""
    allowed = chat_ids_for_analyst(user)
    return allowed & set(filters.chat_ids) if filters.chat_ids else allowed


def dialogs_for_analyst(*, user, filters: DialogFilters) -> QuerySet[Dialog]:
    """The dialogs of the user's chats that match the filters, newest first. A chat
    filter naming a chat the user may not read selects nothing from it."""
    return dialogs_filtered(chat_ids=chat_ids_chosen(user=user, filters=filters), filters=filters)
