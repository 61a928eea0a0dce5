"""The operator metrics and productivity reports' sheets on the hand-computed
dataset (tests/reports/metrics_dataset.py; the figures are summed out in
test_metrics.py)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from handoff.dialog_filters import DialogFilters
from reports.builders import BUILDERS
from reports.builders.base import ColumnKind, ReportContext
from reports.builders.operator_metrics import OperatorMetricsBuilder
from reports.builders.productivity import ProductivityBuilder
from reports.enums import ReportType
from tests.reports.metrics_dataset import NOW, build_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset():
    return build_dataset()


def wall(*args: int) -> datetime.datetime:
    """A naive wall-clock time, as the sheets carry them."""
    return datetime.datetime(*args)  # noqa: DTZ001 - naive on purpose


def _context(dataset, *, with_times=False, **filters):
    chat_ids = frozenset({dataset.plain.pk, dataset.rome.pk})
    return ReportContext(
        user=None,
        chat_ids=chat_ids,
        filters=DialogFilters(**filters),
        with_times=with_times,
        time_zones={dataset.plain.pk: "UTC", dataset.rome.pk: "Europe/Rome"},
        now=NOW,
    )


def _sheets(builder):
    return {sheet.title: (sheet.columns, list(sheet.rows)) for sheet in builder.sheets()}


def test_both_builders_are_registered():
    assert BUILDERS[ReportType.OPERATOR_METRICS] is OperatorMetricsBuilder
    assert BUILDERS[ReportType.PRODUCTIVITY] is ProductivityBuilder


def test_by_operator_sheet(dataset):
    sheets = _sheets(OperatorMetricsBuilder(_context(dataset)))

    columns, rows = sheets["By operator"]
    assert len(columns) == len(rows[0]) == 13
    assert rows == [
        # operator, chat, first measured, unanswered, avg, median, max, within,
        # later measured, avg, max, within, overall
        ("Anna", "Plain", 2, 1, 30, 30, 30, 0.5, 2, 65, 90, 0.5, 0.5),
        ("Anna", "Rome", 1, 0, 1200, 1200, 1200, 0.0, 1, 60, 60, 1.0, 0.5),
        ("Bruno", "Plain", 1, 0, 120, 120, 120, 0.0, 1, 30, 30, 1.0, 0.5),
        ("Bruno", "Rome", 1, 0, 10920, 10920, 10920, 0.0, 1, 150, 150, 1.0, 0.5),
        ("(no manager)", "Plain", 1, 1, None, None, None, 0.0, 0, None, None, None, 0.0),
        ("All operators", "All chats", 6, 2, 3068, 660, 10920, 1 / 6, 5, 74, 150, 0.8, 5 / 11),
    ]


def test_responses_sheet_without_times(dataset):
    columns, rows = _sheets(OperatorMetricsBuilder(_context(dataset)))["Responses"]

    assert [column.header for column in columns] == [
        "Session id",
        "Operator",
        "Response",
        "Seconds counted",
        "SLA (s)",
        "Within SLA",
    ]
    d5 = dataset.dialogs["d5"].session_id
    assert sorted(row for row in rows if row[0] == d5) == [
        (d5, "Bruno", "first", 10920, 60, "no"),
        (d5, "Bruno", "later", 150, 300, "yes"),
    ]
    assert len(rows) == 11
    assert (dataset.dialogs["d2"].session_id, "(no manager)", "first", None, 30, "no") in rows


def test_responses_sheet_with_times_in_the_chats_zone(dataset):
    columns, rows = _sheets(OperatorMetricsBuilder(_context(dataset, with_times=True)))["Responses"]

    assert [column.kind for column in columns][3:5] == [ColumnKind.DATETIME, ColumnKind.DATETIME]
    d6 = dataset.dialogs["d6"].session_id
    first = next(row for row in rows if row[0] == d6 and row[2] == "first")
    # Rome wall clock, naive, to the second: 01:50 CET and 03:10 CEST
    assert first[3:5] == (
        wall(2026, 3, 29, 1, 50),
        wall(2026, 3, 29, 3, 10),
    )
    assert first[5:] == (1200, 60, "no")
    unanswered = next(row for row in rows if row[0] == dataset.dialogs["d3"].session_id)
    assert unanswered[3:] == (wall(2026, 3, 3, 11, 0), None, None, 30, "no")


def test_productivity_sheet(dataset):
    columns, rows = _sheets(ProductivityBuilder(_context(dataset)))["Productivity"]

    assert len(columns) == 10
    assert rows == [
        # operator, sent, client, responses, avg, max, handled, handling avg, ratings, avg
        ("Anna", 6, 6, 5, 284, 1200, 3, 1073, 2, Decimal("4.50")),
        ("Bruno", 4, 2, 4, 2805, 10920, 2, 112795, 1, Decimal("3.50")),
        # 12 640 / 9 = 1404.4; handling (3220 + 225 590) / 5 = 45 762; (4 + 5 + 3.5) / 3;
        # dialogs handled: 4, not 3 + 2 (D1, transferred from Anna to Bruno, is one dialog)
        ("All operators", 10, 8, 9, 1404, 10920, 4, 45762, 3, Decimal("4.17")),
    ]


def test_an_operator_filter_narrows_both_reports(dataset):
    context = _context(dataset, operator_id=dataset.anna.pk)

    by_operator = _sheets(OperatorMetricsBuilder(context))["By operator"][1]
    productivity = _sheets(ProductivityBuilder(context))["Productivity"][1]

    assert [row[:2] for row in by_operator] == [
        ("Anna", "Plain"),
        ("Anna", "Rome"),
        ("All operators", "All chats"),
    ]
    assert [row[0] for row in productivity] == ["Anna", "All operators"]


def test_no_dialogs_gives_the_total_rows_only(dataset):
    context = _context(dataset, date_from=datetime.date(2030, 1, 1))

    by_operator = _sheets(OperatorMetricsBuilder(context))["By operator"][1]
    productivity = _sheets(ProductivityBuilder(context))["Productivity"][1]

    assert by_operator == [
        ("All operators", "All chats", 0, 0, None, None, None, None, 0, None, None, None, None)
    ]
    assert productivity == [("All operators", 0, 0, 0, None, None, 0, None, 0, None)]


def test_rows_total_estimates(dataset):
    # operator messages (6 + 4), twice the 6 requests and the total row (a bound: the
    # rows written never pass it); dialogs for productivity
    builder = OperatorMetricsBuilder(_context(dataset))
    assert builder.rows_total() == 10 + 2 * 6 + 1
    assert builder.rows_total() >= sum(len(list(sheet.rows)) for sheet in builder.sheets())
    assert ProductivityBuilder(_context(dataset)).rows_total() == 6
