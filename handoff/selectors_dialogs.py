"""Which dialogs the dialog viewer's filters select, in chats the caller already may
read: the viewer, report builders, the dashboard (reports) and the API's dialog list
start from the same queryset."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, Q, QuerySet

from chats.enums import AuthorKind, DialogStatus
from chats.models import Dialog, MarkerHit, Message
from handoff.dialog_filters import DialogFilters, DialogStatusFilter
from handoff.models import HandoffSettings, Request

DEFAULT_TIME_ZONE = "UTC"


def chat_time_zones(chat_ids: set[int] | list[int]) -> dict[int, str]:
    """Each chat's time zone (its handoff settings'), UTC for a chat without settings."""
    zones = dict(
        HandoffSettings.objects.filter(chat_id__in=chat_ids).values_list("chat_id", "time_zone")
    )
    return {chat_id: zones.get(chat_id, DEFAULT_TIME_ZONE) for chat_id in chat_ids}


def local_day_start(day: datetime.date, time_zone: str) -> datetime.datetime:
    """The first instant of a calendar day in a time zone (midnight, or the first
    existing instant after it on a day whose midnight is skipped)."""
    zone = ZoneInfo(time_zone)
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
    # a wall-clock time in a spring-forward gap: fold/normalise through UTC
    return start.astimezone(datetime.UTC).astimezone(zone)


def dialogs_filtered(*, chat_ids: set[int], filters: DialogFilters) -> QuerySet[Dialog]:
    """The dialogs of these chats that match the filters (access already checked)."""
    dialogs = Dialog.objects.filter(chat_id__in=chat_ids)
    if filters.messengers:
        dialogs = dialogs.filter(messenger__in=filters.messengers)
    dialogs = _status_filtered(dialogs, filters.status)
    if filters.date_from or filters.date_to:
        dialogs = dialogs.filter(_date_range(chat_ids, filters.date_from, filters.date_to))
    if filters.marker:
        dialogs = dialogs.filter(
            Exists(MarkerHit.objects.filter(dialog=OuterRef("pk"), marker=filters.marker))
        )
    if filters.operator_id:
        dialogs = dialogs.filter(
            Exists(Request.objects.filter(dialog=OuterRef("pk"), operator_id=filters.operator_id))
        )
    if filters.text:
        dialogs = dialogs.filter(
            Exists(Message.objects.filter(dialog=OuterRef("pk"), text__icontains=filters.text))
        )
    return dialogs.order_by("-started_at", "-pk")


def _status_filtered(dialogs: QuerySet[Dialog], status: str) -> QuerySet[Dialog]:
    if status == DialogStatusFilter.ACTIVE:
        return dialogs.exclude(status=DialogStatus.CLOSED)
    if status == DialogStatusFilter.CLOSED:
        return dialogs.filter(status=DialogStatus.CLOSED)
    if status == DialogStatusFilter.NO_OPERATOR_RESPONSE:
        # a person was asked for, and no operator message was ever sent
        return dialogs.filter(
            Exists(Request.objects.filter(dialog=OuterRef("pk"))),
            ~Exists(Message.objects.filter(dialog=OuterRef("pk"), author_kind=AuthorKind.OPERATOR)),
        )
    return dialogs


def _date_range(
    chat_ids: set[int], date_from: datetime.date | None, date_to: datetime.date | None
) -> Q:
    """Started within [date_from, date_to] as calendar days of each chat's zone."""
    by_zone: dict[str, list[int]] = {}
    for chat_id, zone in chat_time_zones(chat_ids).items():
        by_zone.setdefault(zone, []).append(chat_id)
    condition = Q(pk__in=[])
    for zone, ids in by_zone.items():
        part = Q(chat_id__in=ids)
        if date_from:
            part &= Q(started_at__gte=local_day_start(date_from, zone))
        if date_to:
            part &= Q(started_at__lt=local_day_start(date_to + datetime.timedelta(days=1), zone))
        condition |= part
    return condition
