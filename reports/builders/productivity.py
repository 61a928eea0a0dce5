"""Operator productivity (docs/reports.md "Productivity"): one row per operator and
an "All operators" row, from the same pass as the operator metrics."""

from __future__ import annotations

from collections.abc import Iterator

from django.utils.translation import gettext as _

from reports.builders.base import Column, ColumnKind, ReportBuilder, Sheet
from reports.builders.dialog_data import report_dialogs
from reports.enums import ReportType
from reports.metrics import OperatorProductivity, metrics_compute


class ProductivityBuilder(ReportBuilder):
    report_type = ReportType.PRODUCTIVITY

    def rows_total(self) -> int:
        # the pass is over the dialogs; one row per operator comes out at the end
        return report_dialogs(self.context).count() or 1

    def sheets(self) -> Iterator[Sheet]:
        yield Sheet(title=_("Productivity"), columns=self._columns(), rows=self._rows())

    def _columns(self) -> list[Column]:
        return [
            Column(_("Operator"), width=24),
            Column(_("Messages by operator"), ColumnKind.INTEGER),
            Column(_("Client messages"), ColumnKind.INTEGER),
            Column(_("Responses answered"), ColumnKind.INTEGER),
            Column(_("Average response (s)"), ColumnKind.SECONDS),
            Column(_("Max response (s)"), ColumnKind.SECONDS),
            Column(_("Dialogs handled"), ColumnKind.INTEGER),
            Column(_("Average handling time (s)"), ColumnKind.SECONDS),
            Column(_("Ratings"), ColumnKind.INTEGER),
            Column(_("Average rating (of 5)"), ColumnKind.DECIMAL),
        ]

    def _rows(self) -> Iterator[tuple]:
        summary = metrics_compute(
            chat_ids=self.context.chat_ids,
            filters=self.context.filters,
            now=self.context.now,
            heartbeat=self.heartbeat,
        )
        total = OperatorProductivity(operator_id=0)
        for operator_id in sorted(
            summary.productivity,
            key=lambda pk: (summary.operator_label(pk).casefold(), pk),
        ):
            figures = summary.productivity[operator_id]
            _add_into(total, figures)
            yield _row(summary.operator_label(operator_id), figures)
        # a dialog two operators handled is one dialog: not the sum of the rows above
        total.dialogs_handled = summary.dialogs_handled
        yield _row(_("All operators"), total)


def _add_into(total: OperatorProductivity, figures: OperatorProductivity) -> None:
    total.messages_sent += figures.messages_sent
    total.client_messages += figures.client_messages
    total.responses.merge(figures.responses)
    total.requests_accepted += figures.requests_accepted
    total.requests_closed += figures.requests_closed
    total.handling_seconds_total += figures.handling_seconds_total
    total.ratings_count += figures.ratings_count
    total.ratings_normalised_total += figures.ratings_normalised_total


def _row(operator: str, figures: OperatorProductivity) -> tuple:
    responses = figures.responses
    return (
        operator,
        figures.messages_sent,
        figures.client_messages,
        responses.answered,
        responses.seconds_average,
        responses.seconds_max,
        figures.dialogs_handled,
        figures.handling_seconds_average,
        figures.ratings_count,
        figures.rating_average,
    )
