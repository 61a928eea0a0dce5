"""Sessions with markers: one row per marker hit in the dialogs the filters select,
and those dialogs' messages."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _

from chats.models import Dialog, MarkerHit
from reports.builders.base import Column, ColumnKind, ReportBuilder, Sheet
from reports.builders.dialog_data import (
    CHUNK_SIZE,
    WallClock,
    channel_labels,
    chat_names,
    dialog_ids,
    messages_of,
    messages_sheet,
    report_dialogs,
    status_labels,
)
from reports.enums import ReportType


class SessionsWithMarkersBuilder(ReportBuilder):
    report_type = ReportType.SESSIONS_WITH_MARKERS

    def dialogs(self) -> QuerySet[Dialog]:
        return report_dialogs(self.context).filter(
            Exists(MarkerHit.objects.filter(dialog=OuterRef("pk")))
        )

    def hits(self, dialogs: QuerySet[Dialog]) -> QuerySet[MarkerHit]:
        return MarkerHit.objects.filter(dialog__in=dialog_ids(dialogs)).order_by(
            "-dialog__started_at", "-dialog_id", "created_at", "pk"
        )

    def rows_total(self) -> int:
        dialogs = self.dialogs()
        return self.hits(dialogs).count() + messages_of(dialogs).count()

    def sheets(self) -> Iterator[Sheet]:
        dialogs = self.dialogs()
        columns = [
            Column(_("Session id"), width=34),
            Column(_("Chat"), width=20),
            Column(_("Channel"), width=12),
            Column(_("Client id"), width=24),
            Column(_("Client name"), width=20),
            Column(_("Marker"), width=24),
            Column(_("Marked at"), ColumnKind.DATETIME, width=20),
            Column(_("Started"), ColumnKind.DATETIME, width=20),
            Column(_("Status"), width=22),
        ]
        yield Sheet(title=_("Markers"), columns=columns, rows=self.rows(dialogs))
        yield messages_sheet(self.context, dialogs)

    def rows(self, dialogs: QuerySet[Dialog]) -> Iterator[tuple]:
        names = chat_names(self.context)
        channel_label = channel_labels()
        status_label = status_labels()
        wall_clock = WallClock(self.context.time_zones)
        hits = self.hits(dialogs).values_list(
            "dialog__session_id",
            "dialog__chat_id",
            "dialog__messenger",
            "dialog__client__external_id",
            "dialog__client__name",
            "marker",
            "created_at",
            "dialog__started_at",
            "dialog__status",
        )
        for (
            session_id,
            chat_id,
            messenger,
            client_id,
            client_name,
            marker,
            marked_at,
            started_at,
            status,
        ) in hits.iterator(chunk_size=CHUNK_SIZE):
            yield (
                session_id,
                names.get(chat_id, ""),
                channel_label(messenger),
                client_id,
                client_name,
                marker,
                wall_clock(chat_id, marked_at),
                wall_clock(chat_id, started_at),
                status_label(status),
            )
