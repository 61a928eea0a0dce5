"""A chat's handoff settings, read fresh or from this process's cache.

The message paths (an operator's reply, a visitor's message in an accepted request)
need a timeout from the settings for every message: they read the settings'
`revision` in the same statement as a row they lock anyway, and take the settings
from the cache while the revision matches. Saving the settings, a working period or a
form question gives them a new revision (HandoffSettings.save, RevisesSettings)."""

from __future__ import annotations

from uuid import UUID

from django.db.models import OuterRef, Subquery

from handoff.models import HandoffSettings
from handoff.working_hours import WeeklyPeriod, WorkingHours

# chat id -> the settings as last read in this process (keyed by their revision)
_cached: dict[int, HandoffSettings] = {}


def handoff_settings_for(chat_id: int, *, revision: UUID | None = None) -> HandoffSettings:
    """The chat's settings (created with the defaults when it has none). With the
    `revision` the caller read, a cached copy of that revision is returned without a
    query; without it they are read afresh. Callers only read the returned instance."""
    if revision is not None:
        cached = _cached.get(chat_id)
        if cached is not None and cached.revision == revision:
            return cached
    settings, _created = HandoffSettings.objects.get_or_create(chat_id=chat_id)
    _cached[chat_id] = settings
    return settings


def settings_revision(chat_field: str = "chat_id") -> Subquery:
    """An annotation for a query on a model with a chat: the chat's settings revision."""
    return Subquery(
        HandoffSettings.objects.filter(chat_id=OuterRef(chat_field)).values("revision")[:1]
    )


def working_hours_for(settings: HandoffSettings) -> WorkingHours:
    return WorkingHours(
        enabled=settings.working_hours_enabled,
        time_zone=settings.time_zone,
        periods=[
            WeeklyPeriod(weekday=period.weekday, starts_at=period.starts_at, ends_at=period.ends_at)
            for period in settings.working_periods.all()
        ],
    )
