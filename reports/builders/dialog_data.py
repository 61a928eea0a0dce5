"""What the dialog reports share: the filtered dialogs as a subquery, wall-clock times
in each chat's zone, labels, chunked streaming and the "Messages" sheet."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from itertools import islice
from zoneinfo import ZoneInfo

from django.db.models import QuerySet, TextChoices
from django.utils.translation import gettext as _

from chats.enums import AuthorKind, DialogStatus, Messenger
from chats.models import Chat, Dialog, Message
from handoff.selectors_dialogs import DEFAULT_TIME_ZONE, dialogs_filtered
from reports.builders.base import Column, ColumnKind, ReportContext, Sheet

CHUNK_SIZE = 2000


def report_dialogs(context: ReportContext) -> QuerySet[Dialog]:
    """The dialogs the report covers, newest first (the viewer's order)."""
    return dialogs_filtered(chat_ids=set(context.chat_ids), filters=context.filters)


def dialog_ids(dialogs: QuerySet[Dialog]) -> QuerySet:
    """`dialogs` as a subquery of ids, for `dialog__in=`."""
    return dialogs.order_by().values("pk")


def chat_names(context: ReportContext) -> dict[int, str]:
    return dict(Chat.objects.filter(pk__in=context.chat_ids).values_list("pk", "name"))


def in_chunks(rows: Iterable, size: int = CHUNK_SIZE) -> Iterator[list]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


class WallClock:
    """Aware instants as naive wall-clock times of each chat's zone (what the sheet
    shows: Excel has no time zones)."""

    def __init__(self, time_zones: dict[int, str]) -> None:
        self.zones = {chat_id: ZoneInfo(zone) for chat_id, zone in time_zones.items()}
        self.default = ZoneInfo(DEFAULT_TIME_ZONE)

    def __call__(self, chat_id: int, moment: datetime.datetime | None) -> datetime.datetime | None:
        if moment is None:
            return None
        zone = self.zones.get(chat_id, self.default)
        return moment.astimezone(zone).replace(tzinfo=None, microsecond=0)


class Labels:
    """A choices enum's labels, translated once per report rather than once per row."""

    def __init__(self, choices: type[TextChoices]) -> None:
        self.labels = {value: str(label) for value, label in choices.choices}

    def __call__(self, value: str) -> str:
        return self.labels.get(value, value)


def channel_labels() -> Labels:
    return Labels(Messenger)


def status_labels() -> Labels:
    return Labels(DialogStatus)


def messages_of(dialogs: QuerySet[Dialog]) -> QuerySet[Message]:
    """The dialogs' messages in the sessions sheets' order: newest dialog first, each
    dialog's messages in sequence. One query, sorted by the database."""
    return Message.objects.filter(dialog__in=dialog_ids(dialogs)).order_by(
        "-dialog__started_at", "-dialog_id", "sequence"
    )


def messages_sheet(context: ReportContext, dialogs: QuerySet[Dialog]) -> Sheet:
    """One row per message: session id, [time,] author, author's name, text. The time
    column is there only "with time in dialogs"."""
    with_times = context.with_times
    columns = [Column(_("Session id"), width=34)]
    if with_times:
        columns.append(Column(_("Time"), ColumnKind.DATETIME, width=20))
    columns += [
        Column(_("Author"), width=10),
        Column(_("Author name"), width=20),
        Column(_("Text"), width=80),
    ]
    wall_clock = WallClock(context.time_zones)
    author_label = Labels(AuthorKind)
    rows = messages_of(dialogs).values_list(
        "dialog__session_id", "dialog__chat_id", "created_at", "author_kind", "author_name", "text"
    )

    def generate() -> Iterator[tuple]:
        for session_id, chat_id, created_at, kind, author_name, text in rows.iterator(
            chunk_size=CHUNK_SIZE
        ):
            author = author_label(kind)
            if with_times:
                yield session_id, wall_clock(chat_id, created_at), author, author_name, text
            else:
                yield session_id, author, author_name, text

    return Sheet(title=_("Messages"), columns=columns, rows=generate())
