"""Review of the operator figures: dialogs counted once, however many requests."""

from __future__ import annotations

import datetime

import pytest

from chats.enums import Messenger
from handoff.dialog_filters import DialogFilters
from reports.builders.base import ReportContext
from reports.builders.operator_metrics import OperatorMetricsBuilder
from reports.builders.productivity import ProductivityBuilder
from reports.metrics import metrics_compute
from tests.chats.factories import ChatFactory
from tests.distributor.factories import OperatorFactory
from tests.reports.metrics_dataset import DialogWriter, utc

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 4, 15, 12, 0, tzinfo=datetime.UTC)


def _context(chat) -> ReportContext:
    return ReportContext(
        user=None,
        chat_ids=frozenset({chat.pk}),
        filters=DialogFilters(),
        time_zones={chat.pk: "UTC"},
        now=NOW,
    )


def _handled(writer: DialogWriter, operator, *requests: tuple[int, int, int, int]) -> None:
    """Requests of `operator`: (hour, created minute, accepted second, closed minute),
    all on the dialog's day."""
    day = writer.dialog.started_at
    for hour, minute, accepted_second, closed_minute in requests:
        at = day.replace(hour=hour, minute=minute, second=0)
        writer.request(
            created_at=at + datetime.timedelta(seconds=10),
            operator=operator,
            accepted_at=at + datetime.timedelta(seconds=accepted_second),
            closed_at=at.replace(minute=closed_minute),
        )


@pytest.fixture
def two_requests_one_dialog():
    """One dialog: Anna takes a request, closes it, the client asks again and Anna
    takes the second one too. A second dialog: Anna, then Bruno (a transfer)."""
    chat = ChatFactory(name="Shop")
    anna = OperatorFactory(display_name="Anna")
    bruno = OperatorFactory(display_name="Bruno")
    again = DialogWriter(chat, Messenger.WEB, utc(2026, 3, 2, 10, 0))
    _handled(again, anna, (10, 0, 20, 5), (11, 0, 30, 10))
    transferred = DialogWriter(chat, Messenger.WEB, utc(2026, 3, 3, 10, 0))
    _handled(transferred, anna, (10, 0, 20, 1))
    _handled(transferred, bruno, (10, 1, 30, 2))
    return chat, anna, bruno


def test_dialogs_handled_counts_each_dialog_once_per_operator(two_requests_one_dialog):
    chat, anna, bruno = two_requests_one_dialog
    # when
    summary = metrics_compute(chat_ids={chat.pk}, filters=DialogFilters(), now=NOW)
    # then: Anna took three requests in two dialogs (before the review: 3 dialogs)
    assert summary.productivity[anna.pk].requests_accepted == 3
    assert summary.productivity[anna.pk].dialogs_handled == 2
    assert summary.productivity[bruno.pk].dialogs_handled == 1
    # two dialogs were handled at all, whoever handled them
    assert summary.dialogs_handled == 2


def test_the_productivity_sheet_counts_dialogs_not_requests(two_requests_one_dialog):
    chat, _anna, _bruno = two_requests_one_dialog
    builder = ProductivityBuilder(_context(chat))
    # when
    (sheet,) = builder.sheets()
    rows = list(sheet.rows)
    # then: (operator, dialogs handled, average handling time over the requests)
    # Anna: (280 + 570 + 40) / 3 = 296.7 → 297; Bruno: 30; all: (890 + 30) / 4 = 230
    assert [(row[0], row[6], row[7]) for row in rows] == [
        ("Anna", 2, 297),
        ("Bruno", 1, 30),
        ("All operators", 2, 230),
    ]


@pytest.mark.parametrize("builder_class", [ProductivityBuilder, OperatorMetricsBuilder])
def test_the_pass_keeps_the_jobs_heartbeat_before_its_first_row(
    two_requests_one_dialog, builder_class
):
    # both reports read every dialog before their first row: the job's heartbeat moved
    # only with rows written, so a long pass was failed by the sweep as "interrupted"
    chat, _anna, _bruno = two_requests_one_dialog
    builder = builder_class(_context(chat))
    events = []
    builder.heartbeat = lambda: events.append("beat")
    # when
    first_sheet = next(iter(builder.sheets()))
    events.append(next(first_sheet.rows) and "row")
    # then
    assert events[0] == "beat"
    assert events[-1] == "row"


def test_the_operator_metrics_progress_never_passes_its_total(two_requests_one_dialog):
    # requests never answered are rows too, as are the by-operator rows: the total was
    # the operator messages + 1, so the page showed "7 / 1" here
    chat, _anna, _bruno = two_requests_one_dialog
    builder = OperatorMetricsBuilder(_context(chat))
    # when
    written = sum(len(list(sheet.rows)) for sheet in builder.sheets())
    # then: 4 unanswered first responses, 2 (operator, chat) rows and All operators
    assert written == 7
    assert builder.rows_total() >= written


def test_a_request_nobody_accepted_that_closed_within_the_sla_missed_nothing():
    # the client who leaves 20 s after asking (SLA 60 s) was counted as a missed first
    # response before the review; one who waited 5 minutes in vain is a miss, and so
    # is a request an operator accepted and closed without a word
    chat = ChatFactory(name="Shop")
    anna = OperatorFactory(display_name="Anna")
    left_early = DialogWriter(chat, Messenger.WEB, utc(2026, 3, 2, 10, 0))
    left_early.request(
        created_at=utc(2026, 3, 2, 10, 0, 0),
        operator=None,
        accepted_at=None,
        closed_at=utc(2026, 3, 2, 10, 0, 20),
    )
    waited_in_vain = DialogWriter(chat, Messenger.WEB, utc(2026, 3, 2, 11, 0))
    waited_in_vain.request(
        created_at=utc(2026, 3, 2, 11, 0, 0),
        operator=None,
        accepted_at=None,
        closed_at=utc(2026, 3, 2, 11, 5, 0),
    )
    silent = DialogWriter(chat, Messenger.WEB, utc(2026, 3, 2, 12, 0))
    silent.request(
        created_at=utc(2026, 3, 2, 12, 0, 0),
        operator=anna,
        accepted_at=utc(2026, 3, 2, 12, 0, 5),
        closed_at=utc(2026, 3, 2, 12, 0, 20),
    )
    # when
    summary = metrics_compute(chat_ids={chat.pk}, filters=DialogFilters(), now=NOW)
    # then
    first = summary.sla_overall().first
    assert (first.measured, first.unanswered, first.within_sla) == (2, 2, 0)
    assert summary.sla_by_operator()[None].first.measured == 1
    assert summary.sla_by_operator()[anna.pk].first.measured == 1
