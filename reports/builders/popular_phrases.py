"""Popular phrases: the 1,000 most frequent words, two- and three-word phrases of
the client messages in the dialogs the filters select (reports.phrases)."""

from __future__ import annotations

from collections.abc import Iterator

from django.utils.translation import gettext as _

from chats.enums import AuthorKind
from chats.models import Message
from reports.builders.base import Column, ColumnKind, ReportBuilder, Sheet
from reports.builders.dialog_data import CHUNK_SIZE, dialog_ids, report_dialogs
from reports.enums import ReportType
from reports.phrases import MAX_WORDS, TOP, PhraseCounter


class PopularPhrasesBuilder(ReportBuilder):
    report_type = ReportType.POPULAR_PHRASES
    max_tracked: int | None = None  # tests shrink the table to see pruning

    def rows_total(self) -> int:
        # unknown until every message is read; the progress bar shows rows only
        return 0

    def sheets(self) -> Iterator[Sheet]:
        messages = (
            Message.objects.filter(
                dialog__in=dialog_ids(report_dialogs(self.context)), author_kind=AuthorKind.CLIENT
            )
            .exclude(text="")
            .order_by("dialog_id", "sequence")
            .values_list("dialog_id", "text")
        )
        options = {"max_tracked": self.max_tracked} if self.max_tracked else {}
        counter = PhraseCounter(**options).add_all(
            messages.iterator(chunk_size=CHUNK_SIZE), every_message=self.heartbeat
        )
        titles = {1: _("Words"), 2: _("Two-word phrases"), 3: _("Three-word phrases")}
        for size in range(1, MAX_WORDS + 1):
            columns = [
                Column(_("Rank"), ColumnKind.INTEGER, width=8),
                Column(_("Phrase"), width=40),
                Column(_("Count"), ColumnKind.INTEGER, width=10),
                Column(_("Dialogs"), ColumnKind.INTEGER, width=10),
            ]
            rows = (
                (rank, phrase, count, dialogs)
                for rank, (phrase, count, dialogs) in enumerate(counter.top(size, TOP), start=1)
            )
            yield Sheet(title=titles[size], columns=columns, rows=rows)
