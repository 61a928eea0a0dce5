"""Operator metrics and productivity on the hand-computed dataset
(tests/reports/metrics_dataset.py): every expected figure is summed out here."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from handoff.dialog_filters import DialogFilters
from reports.metrics import ResponseKind, metrics_compute, metrics_responses
from tests.reports.metrics_dataset import NOW, DialogWriter, build_dataset, rome, utc

pytestmark = pytest.mark.django_db

FIRST, LATER = ResponseKind.FIRST, ResponseKind.LATER


@pytest.fixture
def dataset():
    return build_dataset()


def _compute(dataset, **filters):
    return metrics_compute(
        chat_ids={dataset.plain.pk, dataset.rome.pk}, filters=DialogFilters(**filters), now=NOW
    )


def _responses(dataset, **filters):
    return list(
        metrics_responses(
            chat_ids={dataset.plain.pk, dataset.rome.pk},
            filters=DialogFilters(**filters),
            now=NOW,
        )
    )


def test_every_response_is_measured_as_computed_by_hand(dataset):
    anna, bruno = dataset.anna.pk, dataset.bruno.pk
    d = {name: dialog.session_id for name, dialog in dataset.dialogs.items()}

    measured = [
        (r.session_id, r.operator_id, r.kind, r.asked_at, r.answered_at, r.seconds, r.within_sla)
        for r in _responses(dataset)
    ]

    expected = {
        # D1, Anna: asked 10:00:10, answered 10:00:40 → 30 s ≤ 30
        (d["d1"], anna, FIRST, utc(2026, 3, 2, 10, 0, 10), utc(2026, 3, 2, 10, 0, 40), 30, True),
        # two client messages (a bot and a system message between): timed from the first
        (d["d1"], anna, LATER, utc(2026, 3, 2, 10, 1, 0), utc(2026, 3, 2, 10, 2, 30), 90, False),
        (d["d1"], anna, LATER, utc(2026, 3, 2, 10, 3, 10), utc(2026, 3, 2, 10, 3, 50), 40, True),
        # the transfer: Bruno's request opened 10:10:00, his first message 10:12:00
        (d["d1"], bruno, FIRST, utc(2026, 3, 2, 10, 10), utc(2026, 3, 2, 10, 12), 120, False),
        (d["d1"], bruno, LATER, utc(2026, 3, 2, 10, 12, 30), utc(2026, 3, 2, 10, 13), 30, True),
        # nobody accepted; accepted and silent
        (d["d2"], None, FIRST, utc(2026, 3, 3, 9, 0, 5), None, None, False),
        (d["d3"], anna, FIRST, utc(2026, 3, 3, 11, 0, 0), None, None, False),
        # Fri 17:59 → Mon 09:01 in working hours: 60 + Sun 01:00–05:00 (3 h, over the
        # DST jump: 10 800) + 60
        (d["d5"], bruno, FIRST, rome(2026, 3, 27, 17, 59), rome(2026, 3, 30, 9, 1), 10920, False),
        (d["d5"], bruno, LATER, rome(2026, 3, 30, 9, 2), rome(2026, 3, 30, 9, 4, 30), 150, True),
        # 01:50 CET → 03:10 CEST is 20 minutes, not 80
        (d["d6"], anna, FIRST, rome(2026, 3, 29, 1, 50), rome(2026, 3, 29, 3, 10), 1200, False),
        (d["d6"], anna, LATER, rome(2026, 3, 29, 3, 15), rome(2026, 3, 29, 3, 16), 60, True),
    }
    assert len(measured) == len(expected)
    assert set(measured) == expected


def test_sla_figures_per_operator_and_chat(dataset):
    summary = _compute(dataset)
    anna, bruno = dataset.anna.pk, dataset.bruno.pk
    plain, rome_chat = dataset.plain.pk, dataset.rome.pk

    assert set(summary.sla) == {
        (anna, plain),
        (anna, rome_chat),
        (bruno, plain),
        (bruno, rome_chat),
        (None, plain),
    }
    anna_plain = summary.sla[(anna, plain)]
    # first: 30 s and one unanswered (D3)
    assert (anna_plain.first.measured, anna_plain.first.unanswered) == (2, 1)
    assert (anna_plain.first.seconds_average, anna_plain.first.seconds_median) == (30, 30)
    assert anna_plain.first.seconds_max == 30
    assert anna_plain.first.within_sla_fraction == 1 / 2
    # later: 90 (over 60) and 40
    assert anna_plain.later.measured == 2
    assert (anna_plain.later.seconds_average, anna_plain.later.seconds_max) == (65, 90)
    assert anna_plain.later.within_sla_fraction == 1 / 2
    assert anna_plain.overall.within_sla_fraction == 2 / 4

    anna_rome = summary.sla[(anna, rome_chat)]
    assert anna_rome.first.within_sla_fraction == 0
    assert anna_rome.later.within_sla_fraction == 1
    assert anna_rome.overall.within_sla_fraction == 1 / 2

    bruno_rome = summary.sla[(bruno, rome_chat)]
    assert bruno_rome.first.seconds_max == 10920
    assert bruno_rome.later.seconds_average == 150

    nobody = summary.sla[(None, plain)]
    assert (nobody.first.measured, nobody.first.unanswered) == (1, 1)
    assert nobody.later.within_sla_fraction is None
    assert nobody.overall.within_sla_fraction == 0


def test_sla_figures_overall(dataset):
    overall = _compute(dataset).sla_overall()

    # first: 30, 120, 1200, 10920 answered; D2 and D3 unanswered; only 30 within
    assert (overall.first.measured, overall.first.unanswered) == (6, 2)
    assert overall.first.seconds_average == 3068  # 12 270 / 4 = 3067.5, halves up
    assert overall.first.seconds_median == 660  # (120 + 1200) / 2
    assert overall.first.seconds_max == 10920
    assert overall.first.within_sla_fraction == 1 / 6
    # later: 90, 40, 30, 150, 60; only 90 over its SLA
    assert overall.later.measured == 5
    assert (overall.later.seconds_average, overall.later.seconds_max) == (74, 150)
    assert overall.later.within_sla_fraction == 4 / 5
    assert overall.overall.within_sla_fraction == 5 / 11


def test_productivity_per_operator(dataset):
    summary = _compute(dataset)
    anna = summary.productivity[dataset.anna.pk]
    bruno = summary.productivity[dataset.bruno.pk]

    # Anna: D1 4 messages, D6 2; client messages in her windows: D1 4, D3 1, D6 1
    assert (anna.messages_sent, anna.client_messages) == (6, 6)
    # responses 30, 90, 40, 1200, 60
    assert (anna.responses.answered, anna.responses.seconds_average) == (5, 284)
    assert anna.responses.seconds_max == 1200
    # R1 580 s, R4 270 s, R6 01:50:30 CET → 03:30 CEST 2370 s: 3220 / 3
    assert (anna.requests_accepted, anna.handling_seconds_average) == (3, 1073)
    # 4 of 5 → 4.0 and 2 of 2 → 5.0
    assert (anna.ratings_count, anna.rating_average) == (2, Decimal("4.50"))

    # Bruno: D1 2 + D5 2 messages; client messages D1 1 (10:10:30 is nobody's), D5 1
    assert (bruno.messages_sent, bruno.client_messages) == (4, 2)
    # responses 120, 30, 10920, 150
    assert (bruno.responses.answered, bruno.responses.seconds_average) == (4, 2805)
    assert bruno.responses.seconds_max == 10920
    # R2 540 s; R5 Fri 16:59:10 UTC → Mon 07:30 UTC 225 050 s (elapsed, hours ignored)
    assert (bruno.requests_accepted, bruno.handling_seconds_average) == (2, 112795)
    # 7 of 10 → 3.5
    assert (bruno.ratings_count, bruno.rating_average) == (1, Decimal("3.50"))
    assert set(summary.productivity) == {dataset.anna.pk, dataset.bruno.pk}


def test_dialogs_per_day_by_channel_in_the_chats_zone(dataset):
    summary = _compute(dataset)
    day = datetime.date
    assert dict(summary.dialogs_by_day) == {
        (day(2026, 3, 2), "web"): 1,
        (day(2026, 3, 3), "telegram"): 1,
        (day(2026, 3, 3), "web"): 1,
        (day(2026, 3, 4), "web"): 1,
        (day(2026, 3, 27), "web"): 1,
        # started 28 March 23:40 UTC = 29 March 00:40 in Rome
        (day(2026, 3, 29), "telegram"): 1,
    }
    assert dict(summary.dialogs_with_request_by_day) == {
        day(2026, 3, 2): 1,
        day(2026, 3, 3): 2,
        day(2026, 3, 27): 1,
        day(2026, 3, 29): 1,
    }
    assert dict(summary.ratings) == {(5, 4): 1, (10, 7): 1, (2, 2): 1}


def test_an_operator_filter_keeps_only_that_operators_figures(dataset):
    summary = _compute(dataset, operator_id=dataset.bruno.pk)

    assert set(summary.sla) == {
        (dataset.bruno.pk, dataset.plain.pk),
        (dataset.bruno.pk, dataset.rome.pk),
    }
    assert set(summary.productivity) == {dataset.bruno.pk}
    assert summary.productivity[dataset.bruno.pk].messages_sent == 4
    assert dict(summary.ratings) == {(10, 7): 1}


def test_the_chats_and_the_date_filter_select_dialogs(dataset):
    rome_only = metrics_compute(
        chat_ids={dataset.rome.pk},
        filters=DialogFilters(date_from=datetime.date(2026, 3, 29)),
        now=NOW,
    )

    assert set(rome_only.sla) == {(dataset.anna.pk, dataset.rome.pk)}
    assert rome_only.sla_overall().first.measured == 1


def test_an_open_request_inside_its_sla_is_not_yet_counted(dataset):
    writer = DialogWriter(dataset.plain, "web", utc(2026, 4, 15, 11, 59, 0))
    writer.client(utc(2026, 4, 15, 11, 59, 0))
    writer.request(
        created_at=utc(2026, 4, 15, 11, 59, 40), operator=None, accepted_at=None, closed_at=None
    )
    late = DialogWriter(dataset.plain, "web", utc(2026, 4, 15, 11, 0, 0))
    late.request(
        created_at=utc(2026, 4, 15, 11, 0, 0), operator=None, accepted_at=None, closed_at=None
    )

    summary = metrics_compute(chat_ids={dataset.plain.pk}, filters=DialogFilters(), now=NOW)

    # 20 s waited of 30: not yet; an hour waited: unanswered
    nobody = summary.sla[(None, dataset.plain.pk)]
    assert (nobody.first.measured, nobody.first.unanswered) == (2, 2)


def test_no_chats_no_figures(dataset):
    summary = metrics_compute(chat_ids=set(), filters=DialogFilters(), now=NOW)

    assert summary.sla == {}
    assert summary.productivity == {}
    assert summary.sla_overall().overall.within_sla_fraction is None


def test_the_queries_do_not_grow_with_the_dialogs(dataset):
    chat_ids = {dataset.plain.pk, dataset.rome.pk}

    with CaptureQueriesContext(connection) as before:
        metrics_compute(chat_ids=chat_ids, filters=DialogFilters(), now=NOW)
    for minute in range(30):
        writer = DialogWriter(dataset.plain, "web", utc(2026, 3, 5, 10, minute))
        writer.request(
            created_at=utc(2026, 3, 5, 10, minute, 1),
            operator=dataset.anna,
            accepted_at=utc(2026, 3, 5, 10, minute, 2),
            closed_at=utc(2026, 3, 5, 10, minute, 50),
        )
        writer.client(utc(2026, 3, 5, 10, minute, 3))
        writer.operator(utc(2026, 3, 5, 10, minute, 4))

    with CaptureQueriesContext(connection) as after:
        summary = metrics_compute(chat_ids=chat_ids, filters=DialogFilters(), now=NOW)

    assert len(after.captured_queries) == len(before.captured_queries)
    assert summary.productivity[dataset.anna.pk].requests_accepted == 3 + 30
