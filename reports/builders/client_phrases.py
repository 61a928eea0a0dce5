"""Client phrases: every client message with text, in the dialogs the filters select."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from chats.enums import AuthorKind
from chats.models import Message
from reports.builders.base import Column, ColumnKind, ReportBuilder, Sheet
from reports.builders.dialog_data import (
    CHUNK_SIZE,
    WallClock,
    channel_labels,
    chat_names,
    messages_of,
    report_dialogs,
)
from reports.enums import ReportType


class ClientPhrasesBuilder(ReportBuilder):
    report_type = ReportType.CLIENT_PHRASES

    def messages(self) -> QuerySet[Message]:
        return (
            messages_of(report_dialogs(self.context))
            .filter(author_kind=AuthorKind.CLIENT)
            .exclude(text="")
        )

    def rows_total(self) -> int:
        return self.messages().count()

    def sheets(self) -> Iterator[Sheet]:
        with_times = self.context.with_times
        columns = [
            Column(_("Session id"), width=34),
            Column(_("Chat"), width=20),
            Column(_("Channel"), width=12),
            Column(_("Client id"), width=24),
        ]
        if with_times:
            columns.append(Column(_("Time"), ColumnKind.DATETIME, width=20))
        columns.append(Column(_("Text"), width=80))
        yield Sheet(title=_("Client phrases"), columns=columns, rows=self.rows(with_times))

    def rows(self, with_times: bool) -> Iterator[tuple]:
        names = chat_names(self.context)
        channel_label = channel_labels()
        wall_clock = WallClock(self.context.time_zones)
        messages = self.messages().values_list(
            "dialog__session_id",
            "dialog__chat_id",
            "dialog__messenger",
            "dialog__client__external_id",
            "created_at",
            "text",
        )
        for session_id, chat_id, messenger, client_id, created_at, text in messages.iterator(
            chunk_size=CHUNK_SIZE
        ):
            start = (
                session_id,
                names.get(chat_id, ""),
                channel_label(messenger),
                client_id,
            )
            if with_times:
                yield (*start, wall_clock(chat_id, created_at), text)
            else:
                yield (*start, text)
