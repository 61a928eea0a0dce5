"""Bot vs operator: per chat and channel, the bot's and operators' messages and how
many dialogs were handed to a person. Aggregated by the database, a few queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from django.db.models import Count
from django.utils.translation import gettext as _

from chats.enums import AuthorKind
from chats.models import Message
from handoff.models import Request
from reports.builders.base import Column, ColumnKind, ReportBuilder, Sheet
from reports.builders.dialog_data import (
    channel_labels,
    chat_names,
    dialog_ids,
    report_dialogs,
)
from reports.enums import ReportType

DIALOGS, BOT, OPERATOR, ASKED, TRANSFERRED = range(5)


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class BotVsOperatorBuilder(ReportBuilder):
    report_type = ReportType.BOT_VS_OPERATOR

    def rows_total(self) -> int:
        dialogs = report_dialogs(self.context).order_by()
        return dialogs.values("chat_id", "messenger").distinct().count() + 1

    def sheets(self) -> Iterator[Sheet]:
        columns = [
            Column(_("Chat"), width=20),
            Column(_("Channel"), width=12),
            Column(_("Dialogs"), ColumnKind.INTEGER, width=10),
            Column(_("Bot messages"), ColumnKind.INTEGER, width=12),
            Column(_("Operator messages"), ColumnKind.INTEGER, width=12),
            Column(_("Operator share of messages"), ColumnKind.PERCENT, width=12),
            Column(_("Dialogs with a request"), ColumnKind.INTEGER, width=12),
            Column(_("Dialogs transferred to operators"), ColumnKind.INTEGER, width=14),
            # xgettext:no-python-format
            Column(_("Transferred, % of dialogs"), ColumnKind.PERCENT, width=12),
        ]
        yield Sheet(title=_("Bot vs operator"), columns=columns, rows=self.rows())

    def figures(self) -> dict[tuple[int, str], list[int]]:
        """(chat id, messenger) -> [dialogs, bot messages, operator messages, dialogs
        with a request, dialogs with an accepted request]."""
        dialogs = report_dialogs(self.context)
        ids = dialog_ids(dialogs)
        figures: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0] * 5)
        for chat_id, messenger, number in (
            dialogs.order_by().values_list("chat_id", "messenger").annotate(number=Count("pk"))
        ):
            figures[chat_id, messenger][DIALOGS] = number
        for chat_id, messenger, kind, number in (
            Message.objects.filter(
                dialog__in=ids, author_kind__in=[AuthorKind.BOT, AuthorKind.OPERATOR]
            )
            .order_by()
            .values_list("dialog__chat_id", "dialog__messenger", "author_kind")
            .annotate(number=Count("pk"))
        ):
            figures[chat_id, messenger][BOT if kind == AuthorKind.BOT else OPERATOR] = number
        requests = Request.objects.filter(dialog__in=ids).order_by()
        for index, selected in (
            (ASKED, requests),
            (TRANSFERRED, requests.filter(accepted_at__isnull=False)),
        ):
            for chat_id, messenger, number in selected.values_list(
                "dialog__chat_id", "dialog__messenger"
            ).annotate(number=Count("dialog_id", distinct=True)):
                figures[chat_id, messenger][index] = number
        return figures

    def rows(self) -> Iterator[tuple]:
        names = chat_names(self.context)
        channel_label = channel_labels()
        figures = self.figures()
        total = [0] * 5
        ordered = sorted(
            figures.items(),
            key=lambda item: (
                names.get(item[0][0], ""),
                item[0][0],
                channel_label(item[0][1]),
            ),
        )
        for (chat_id, messenger), values in ordered:
            total = [a + b for a, b in zip(total, values, strict=True)]
            yield (
                names.get(chat_id, ""),
                channel_label(messenger),
                *_figures_row(values),
            )
        yield (_("Total"), "", *_figures_row(total))


def _figures_row(values: list[int]) -> tuple:
    dialogs, bot, operator, asked, transferred = values
    return (
        dialogs,
        bot,
        operator,
        share(operator, bot + operator),
        asked,
        transferred,
        share(transferred, dialogs),
    )
