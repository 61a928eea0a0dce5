"""The dashboard: charts of the operator metrics for all the user's chats or one.
Thin: parse the filters, check the chat, compute (reports.metrics), draw
(reports.charts)."""

from __future__ import annotations

import dataclasses
import datetime

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from handoff.dialog_filters import DialogFilters
from reports.access import chats_for_analyst
from reports.charts import Chart, dashboard_charts
from reports.metrics import metrics_compute
from reports.selectors import chat_ids_chosen
from reports.selectors_viewer import dashboard_date_range
from reports.views.auth import analyst_required
from reports.views.links import chooser_url, labelled_errors, viewer_url, viewer_url_for_days

# charts with a bar per day (or month): each bar leads to that period's dialogs
PERIOD_CHARTS = {"dialogs-per-day", "handoff-rate"}


@require_safe
@analyst_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """All granted chats, or `?chat=<id>` (a chat the user may not read: 404). Dates
    default to the last 30 days in the chats' zone (UTC when their zones differ)."""
    filters = DialogFilters.from_query(request.GET)
    if "chat" in filters.errors:
        raise Http404
    chats = list(chats_for_analyst(request.user).order_by("name", "pk"))
    allowed = {chat.pk for chat in chats}
    if filters.chat_ids and not set(filters.chat_ids) <= allowed:
        raise Http404
    chat_ids = chat_ids_chosen(user=request.user, filters=filters)
    date_from, date_to, notes = dashboard_date_range(filters, chat_ids)
    filters = dataclasses.replace(filters, date_from=date_from, date_to=date_to)
    summary = metrics_compute(chat_ids=chat_ids, filters=filters)
    overall = summary.sla_overall()
    # the other pages get what this one shows: these chats, these days
    shown = DialogFilters(chat_ids=filters.chat_ids, date_from=date_from, date_to=date_to)
    return render(
        request,
        "reports/dashboard.html",
        {
            "chats": chats,
            "chosen_chat_ids": set(filters.chat_ids),
            "filters": filters,
            "errors": labelled_errors({**filters.errors, **notes}),
            "charts": [
                _chart_with_links(chart, shown)
                for chart in dashboard_charts(summary, date_from=date_from, date_to=date_to)
            ],
            "viewer_url": viewer_url(shown),
            "chooser_url": chooser_url(shown),
            "dialogs_total": sum(summary.dialogs_by_day.values()),
            "dialogs_with_request": sum(summary.dialogs_with_request_by_day.values()),
            "first_response_median": overall.first.seconds_median,
            "within_sla_percent": _percent(overall.overall.within_sla_fraction),
        },
    )


def _chart_with_links(chart: Chart, shown: DialogFilters) -> dict:
    """The chart, and its table's rows each with the link to the dialogs of its day
    or month (None for charts that are not by period)."""
    rows = []
    for row in chart.table_rows:
        link = _period_link(row[0], shown) if chart.key in PERIOD_CHARTS and row else None
        rows.append({"head": row[0] if row else "", "cells": row[1:], "link": link})
    return {"chart": chart, "rows": rows, "period_links": chart.key in PERIOD_CHARTS}


def _period_link(label: str, shown: DialogFilters) -> str | None:
    """The viewer for a bar's day (2026-03-29) or month (2026-03, cut to the range)."""
    try:
        if len(label) == 7:
            first = datetime.date.fromisoformat(label + "-01")
            last = (first + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
        else:
            first = last = datetime.date.fromisoformat(label)
    except ValueError:
        return None
    if shown.date_from:
        first = max(first, shown.date_from)
    if shown.date_to:
        last = min(last, shown.date_to)
    return viewer_url_for_days(shown, first, last)


def _percent(fraction: float | None) -> str:
    return "—" if fraction is None else f"{fraction * 100:.1f} %"
