"""Operator metrics against the chats' SLAs (docs/reports.md "Operator metrics"):
a sheet of figures per operator and chat with an "All operators" row, and a sheet
with one row per measured response."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from django.utils import timezone
from django.utils.translation import gettext as _

from chats.enums import AuthorKind
from chats.models import Message
from distributor.models import Operator
from handoff.models import Request
from handoff.selectors_dialogs import chat_time_zones
from reports.builders.base import Column, ColumnKind, ReportBuilder, Sheet
from reports.builders.dialog_data import WallClock, dialog_ids, report_dialogs
from reports.enums import ReportType
from reports.metrics import (
    MetricsSummary,
    ResponseKind,
    SlaFigures,
    metrics_compute,
    metrics_responses,
)


def sla_row_order(summary: MetricsSummary) -> list[tuple[int | None, int]]:
    """Operators by name (the unassigned last), then chats by name."""
    return sorted(
        summary.sla,
        key=lambda key: (
            key[0] is None,
            summary.operator_label(key[0]).casefold(),
            key[0] or 0,
            summary.chat_names.get(key[1], "").casefold(),
            key[1],
        ),
    )


class OperatorMetricsBuilder(ReportBuilder):
    report_type = ReportType.OPERATOR_METRICS

    def rows_total(self) -> int:
        """At most the rows written: each response is answered by its own operator
        message or is a request never answered, and each (operator, chat) row has a
        request; plus the All operators row."""
        selected = dialog_ids(report_dialogs(self.context))
        operator_messages = Message.objects.filter(
            dialog__in=selected, author_kind=AuthorKind.OPERATOR
        ).count()
        requests = Request.objects.filter(dialog__in=selected).count()
        return operator_messages + 2 * requests + 1

    def sheets(self) -> Iterator[Sheet]:
        # one "now" for both passes: whether a still-open request counts yet depends on it
        now = self.context.now or timezone.now()
        yield Sheet(
            title=_("By operator"),
            columns=self._operator_columns(),
            rows=self._operator_rows(now),
        )
        yield Sheet(
            title=_("Responses"),
            columns=self._response_columns(),
            rows=self._response_rows(now),
        )

    # -- by operator

    def _operator_columns(self) -> list[Column]:
        return [
            Column(_("Operator"), width=24),
            Column(_("Chat"), width=20),
            Column(_("First responses measured"), ColumnKind.INTEGER),
            Column(_("First responses unanswered"), ColumnKind.INTEGER),
            Column(_("First response avg (s)"), ColumnKind.SECONDS),
            Column(_("First response median (s)"), ColumnKind.SECONDS),
            Column(_("First response max (s)"), ColumnKind.SECONDS),
            Column(_("Within first-response SLA"), ColumnKind.PERCENT),
            Column(_("Later responses measured"), ColumnKind.INTEGER),
            Column(_("Later response avg (s)"), ColumnKind.SECONDS),
            Column(_("Later response max (s)"), ColumnKind.SECONDS),
            Column(_("Within later-response SLA"), ColumnKind.PERCENT),
            Column(_("Within SLA overall"), ColumnKind.PERCENT),
        ]

    def _operator_rows(self, now: datetime.datetime) -> Iterator[tuple]:
        summary = metrics_compute(
            chat_ids=self.context.chat_ids,
            filters=self.context.filters,
            now=now,
            heartbeat=self.heartbeat,
        )
        for operator_id, chat_id in sla_row_order(summary):
            yield self._figures_row(
                summary.operator_label(operator_id),
                summary.chat_names.get(chat_id, f"#{chat_id}"),
                summary.sla[(operator_id, chat_id)],
            )
        yield self._figures_row(_("All operators"), _("All chats"), summary.sla_overall())

    @staticmethod
    def _figures_row(operator: str, chat: str, figures: SlaFigures) -> tuple:
        first, later = figures.first, figures.later
        return (
            operator,
            chat,
            first.measured,
            first.unanswered,
            first.seconds_average,
            first.seconds_median,
            first.seconds_max,
            first.within_sla_fraction,
            later.measured,
            later.seconds_average,
            later.seconds_max,
            later.within_sla_fraction,
            figures.overall.within_sla_fraction,
        )

    # -- responses

    def _response_columns(self) -> list[Column]:
        columns = [
            Column(_("Session id"), width=34),
            Column(_("Operator"), width=24),
            Column(_("Response"), width=10),
        ]
        if self.context.with_times:
            columns += [
                Column(_("Asked at"), ColumnKind.DATETIME, width=20),
                Column(_("Answered at"), ColumnKind.DATETIME, width=20),
            ]
        columns += [
            Column(_("Seconds counted"), ColumnKind.SECONDS),
            Column(_("SLA (s)"), ColumnKind.SECONDS),
            Column(_("Within SLA"), width=10),
        ]
        return columns

    def _response_rows(self, now: datetime.datetime) -> Iterator[tuple]:
        names: dict[int, str] = {}
        wall_clock = WallClock(self.context.time_zones or chat_time_zones(self.context.chat_ids))
        kinds = {ResponseKind.FIRST: _("first"), ResponseKind.LATER: _("later")}
        yes, no = _("yes"), _("no")
        responses = metrics_responses(
            chat_ids=self.context.chat_ids,
            filters=self.context.filters,
            now=now,
            heartbeat=self.heartbeat,
        )
        for response in responses:
            if response.operator_id is not None and response.operator_id not in names:
                names.update(_operator_names({response.operator_id}))
            row: tuple = (
                response.session_id,
                names.get(response.operator_id) if response.operator_id else _("(no manager)"),
                kinds[response.kind],
            )
            if self.context.with_times:
                row += (
                    wall_clock(response.chat_id, response.asked_at),
                    wall_clock(response.chat_id, response.answered_at),
                )
            row += (response.seconds, response.sla_seconds, yes if response.within_sla else no)
            yield row


def _operator_names(operator_ids: set[int]) -> dict[int, str]:
    found = dict(Operator.objects.filter(pk__in=operator_ids).values_list("pk", "display_name"))
    return {pk: found.get(pk, f"#{pk}") for pk in operator_ids}
