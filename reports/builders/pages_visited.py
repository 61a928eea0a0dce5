"""Web pages visited: one row per page visit in the dialogs the filters select, and
a summary by URL."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from chats.models import PageVisit
from reports.builders.base import Column, ColumnKind, ReportBuilder, Sheet
from reports.builders.dialog_data import (
    CHUNK_SIZE,
    WallClock,
    channel_labels,
    chat_names,
    dialog_ids,
    report_dialogs,
)
from reports.enums import ReportType


class PagesVisitedBuilder(ReportBuilder):
    report_type = ReportType.PAGES_VISITED

    def visits(self) -> QuerySet[PageVisit]:
        return PageVisit.objects.filter(dialog__in=dialog_ids(report_dialogs(self.context)))

    def by_url(self) -> QuerySet:
        return (
            self.visits()
            .order_by()
            .values("url")
            .annotate(visits=Count("pk"), dialogs=Count("dialog_id", distinct=True))
            .order_by("-visits", "-dialogs", "url")
        )

    def rows_total(self) -> int:
        return self.visits().count() + self.visits().values("url").distinct().count()

    def sheets(self) -> Iterator[Sheet]:
        columns = [
            Column(_("Session id"), width=34),
            Column(_("Chat"), width=20),
            Column(_("Channel"), width=12),
            Column(_("Client id"), width=24),
            Column(_("Visited at"), ColumnKind.DATETIME, width=20),
            Column(_("URL"), width=60),
            Column(_("Title"), width=40),
        ]
        yield Sheet(title=_("Pages visited"), columns=columns, rows=self.visit_rows())
        summary = [
            Column(_("URL"), width=60),
            Column(_("Visits"), ColumnKind.INTEGER, width=10),
            Column(_("Dialogs"), ColumnKind.INTEGER, width=10),
        ]
        yield Sheet(title=_("By URL"), columns=summary, rows=self.url_rows())

    def visit_rows(self) -> Iterator[tuple]:
        names = chat_names(self.context)
        channel_label = channel_labels()
        wall_clock = WallClock(self.context.time_zones)
        visits = (
            self.visits()
            .order_by("-dialog__started_at", "-dialog_id", "visited_at", "pk")
            .values_list(
                "dialog__session_id",
                "dialog__chat_id",
                "dialog__messenger",
                "dialog__client__external_id",
                "visited_at",
                "url",
                "title",
            )
        )
        for session_id, chat_id, messenger, client_id, visited_at, url, title in visits.iterator(
            chunk_size=CHUNK_SIZE
        ):
            yield (
                session_id,
                names.get(chat_id, ""),
                channel_label(messenger),
                client_id,
                wall_clock(chat_id, visited_at),
                url,
                title,
            )

    def url_rows(self) -> Iterator[tuple]:
        rows = self.by_url().values_list("url", "visits", "dialogs")
        yield from rows.iterator(chunk_size=CHUNK_SIZE)
