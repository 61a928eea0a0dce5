"""The six report builders of the jobs part, on the hand-made dataset
(tests/reports/jobs_dataset.py: every figure below is worked out there)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chats.enums import AuthorKind
from chats.models import Message
from handoff.dialog_filters import DialogFilters
from handoff.selectors_dialogs import chat_time_zones
from reports.builders import BUILDERS
from reports.builders.base import ReportContext
from reports.builders.dialog_data import WallClock
from reports.builders.popular_phrases import PopularPhrasesBuilder
from reports.enums import ReportType
from tests.chats.factories import ClientFactory, DialogFactory
from tests.reports.jobs_dataset import dataset_make, messages_add, utc, wall

pytestmark = pytest.mark.django_db
A = "https://shop.example/a"


def local(day, hour, minute=0, second=0):
    """A wall-clock time in Rome in January 2026."""
    return wall(2026, 1, day, hour, minute, second)


def build(report_type, chats, *, with_times=False, filters=None):
    chat_ids = {chat.pk for chat in chats}
    context = ReportContext(
        user=None,
        chat_ids=frozenset(chat_ids),
        filters=filters or DialogFilters(),
        with_times=with_times,
        time_zones=chat_time_zones(chat_ids),
    )
    builder = BUILDERS[report_type](context)
    sheets = {
        sheet.title: ([column.header for column in sheet.columns], list(sheet.rows))
        for sheet in builder.sheets()
    }
    return builder, sheets


@pytest.fixture
def data():
    return dataset_make()


def test_all_sessions_one_row_per_dialog_newest_first(data):
    builder, sheets = build(ReportType.ALL_SESSIONS, [data.shop])
    headers, rows = sheets["Sessions"]
    assert headers == [
        "Session id", "Chat", "Channel", "Client id", "Client name", "Customer", "Started",
        "Closed", "Status", "Messages", "Client messages", "Bot messages", "Operator messages",
        "Requests", "Operators", "Markers", "Cost",
    ]  # fmt: skip
    assert rows == [
        (data.d2.session_id, "Shop", "Telegram", "tg-2", "", "", local(11, 13), None,
         "waiting for an operator", 2, 1, 1, 0, 1, "", "", Decimal("0.0000")),
        (data.d1.session_id, "Shop", "Web", "visitor-1", "Anna", "Anna Rossi", local(10, 10),
         local(10, 10, 30), "closed", 6, 3, 1, 1, 1, "Marco", "sale, vip", Decimal("0.1234")),
        (data.d3.session_id, "Shop", "Web", "visitor-3", "", "", local(9, 9), local(9, 9, 20),
         "closed", 3, 2, 1, 0, 0, "", "", Decimal("0.0000")),
    ]  # fmt: skip
    # rows_total: 3 dialogs + 11 messages
    assert builder.rows_total() == 14


def test_all_sessions_messages_sheet_has_times_only_with_time_in_dialogs(data):
    _builder, without = build(ReportType.ALL_SESSIONS, [data.shop])
    _builder, with_times = build(ReportType.ALL_SESSIONS, [data.shop], with_times=True)
    headers, rows = without["Messages"]
    assert headers == ["Session id", "Author", "Author name", "Text"]
    assert rows[:2] == [
        (data.d2.session_id, "client", "", "Cancel ＯＲＤＥＲ"),
        (data.d2.session_id, "bot", "Bot", "OK"),
    ]
    assert len(rows) == 11
    headers, rows = with_times["Messages"]
    assert headers == ["Session id", "Time", "Author", "Author name", "Text"]
    assert rows[2:8] == [
        (data.d1.session_id, local(10, 10, 0, 5), "client", "Anna", "Where is my order?"),
        (data.d1.session_id, local(10, 10, 0, 6), "bot", "Bot", "Let me check"),
        (data.d1.session_id, local(10, 10, 1), "client", "Anna", "I want to cancel my order"),
        (data.d1.session_id, local(10, 10, 4), "system", "", "Marco joined"),
        (data.d1.session_id, local(10, 10, 5), "operator", "Marco", "Hello, I can help"),
        (data.d1.session_id, local(10, 10, 6), "client", "Anna", "=cancel order please"),
    ]
    assert [row[0] for row in rows[8:]] == [data.d3.session_id] * 3


def test_all_sessions_follows_the_viewers_filters(data):
    filters = DialogFilters.from_query({"messenger": "telegram"})
    _builder, sheets = build(ReportType.ALL_SESSIONS, [data.shop], filters=filters)
    assert [row[0] for row in sheets["Sessions"][1]] == [data.d2.session_id]
    assert {row[0] for row in sheets["Messages"][1]} == {data.d2.session_id}


def test_all_sessions_queries_do_not_grow_with_dialogs(data):
    # given: 30 more dialogs with a message each
    for number in range(30):
        dialog = DialogFactory(client=ClientFactory(chat=data.shop), started_at=utc(1, 8, number))
        messages_add(dialog, [(AuthorKind.CLIENT, "", "hello", utc(1, 8, number, 1))])
    # when
    with CaptureQueriesContext(connection) as queries:
        _builder, sheets = build(ReportType.ALL_SESSIONS, [data.shop])
    # then: a fixed handful of queries for 33 dialogs (no query per dialog)
    assert len(sheets["Sessions"][1]) == 33
    assert len(queries) <= 8


def test_sessions_with_markers_one_row_per_hit(data):
    builder, sheets = build(ReportType.SESSIONS_WITH_MARKERS, [data.shop], with_times=True)
    headers, rows = sheets["Markers"]
    assert headers == [
        "Session id", "Chat", "Channel", "Client id", "Client name", "Marker", "Marked at",
        "Started", "Status",
    ]  # fmt: skip
    session = data.d1.session_id
    dialog = (session, "Shop", "Web", "visitor-1", "Anna")
    assert rows == [
        (*dialog, "sale", local(10, 10, 0, 30), local(10, 10), "closed"),
        (*dialog, "sale", local(10, 10, 10), local(10, 10), "closed"),
        (*dialog, "vip", local(10, 10, 20), local(10, 10), "closed"),
    ]
    # the marked dialog's six messages, with their times
    assert [row[:2] for row in sheets["Messages"][1]][0] == (session, local(10, 10, 0, 5))
    assert len(sheets["Messages"][1]) == 6
    assert builder.rows_total() == 3 + 6


def test_bot_vs_operator_per_chat_and_channel_with_a_total(data):
    builder, sheets = build(ReportType.BOT_VS_OPERATOR, [data.shop])
    headers, rows = sheets["Bot vs operator"]
    assert headers == [
        "Chat", "Channel", "Dialogs", "Bot messages", "Operator messages",
        "Operator share of messages", "Dialogs with a request",
        "Dialogs transferred to operators", "Transferred, % of dialogs",
    ]  # fmt: skip
    assert rows == [
        # D2: one bot message, a request nobody accepted
        ("Shop", "Telegram", 1, 1, 0, 0.0, 1, 0, 0.0),
        # D1 + D3: bot 1 + 1, operator 1 (D1), D1's request accepted: 1 of 2 dialogs
        ("Shop", "Web", 2, 2, 1, 1 / 3, 1, 1, 0.5),
        ("Total", "", 3, 3, 1, 0.25, 2, 1, 1 / 3),
    ]
    assert builder.rows_total() == 3


def test_bot_vs_operator_with_no_dialogs_has_an_empty_total(data):
    filters = DialogFilters.from_query({"messenger": "viber"})
    _builder, sheets = build(ReportType.BOT_VS_OPERATOR, [data.shop], filters=filters)
    assert sheets["Bot vs operator"][1] == [("Total", "", 0, 0, 0, None, 0, 0, None)]


def test_pages_visited_one_row_per_visit_and_a_summary_by_url(data):
    builder, sheets = build(ReportType.PAGES_VISITED, [data.shop])
    headers, rows = sheets["Pages visited"]
    assert headers == ["Session id", "Chat", "Channel", "Client id", "Visited at", "URL", "Title"]
    d1 = (data.d1.session_id, "Shop", "Web", "visitor-1")
    assert rows == [
        (data.d2.session_id, "Shop", "Telegram", "tg-2", local(11, 13), A, "Home"),
        (*d1, local(10, 9, 59), A, "Home"),
        (*d1, local(10, 10, 1), "https://shop.example/b", "Cart"),
    ]
    headers, summary = sheets["By URL"]
    assert headers == ["URL", "Visits", "Dialogs"]
    assert summary == [("https://shop.example/a", 2, 2), ("https://shop.example/b", 1, 1)]
    assert builder.rows_total() == 3 + 2


def test_popular_phrases_normalised_counted_and_ranked(data):
    _builder, sheets = build(ReportType.POPULAR_PHRASES, [data.shop])
    assert list(sheets) == ["Words", "Two-word phrases", "Three-word phrases"]
    headers, words = sheets["Words"]
    assert headers == ["Rank", "Phrase", "Count", "Dialogs"]
    # order: D1 ×3 ("order?", "my order", "order please") + D2's full-width "ＯＲＤＥＲ"
    # cancel: D1 ×2 + D2; stop words (where, is, my, i, to, please, ciao, l, где, мой) gone
    assert words == [
        (1, "order", 4, 2),
        (2, "cancel", 3, 2),
        (3, "ordine", 1, 1),
        (4, "voglio", 1, 1),
        (5, "want", 1, 1),
        (6, "заказ", 1, 1),
    ]
    assert sheets["Two-word phrases"][1] == [
        (1, "cancel order", 3, 2),
        (2, "voglio ordine", 1, 1),
        (3, "want cancel", 1, 1),
    ]
    assert sheets["Three-word phrases"][1] == [(1, "want cancel order", 1, 1)]


def test_popular_phrases_prune_rare_phrases_when_the_table_is_full(data):
    # given: room for four phrases per length. Dialogs are read in id order: D3
    # (voglio, ordine, заказ), then D1 (order ×3, want, cancel ×2): six words, so
    # only the two most frequent are kept (order 3, cancel 2); D2 adds one of each
    PopularPhrasesBuilder.max_tracked = 4
    try:
        _builder, sheets = build(ReportType.POPULAR_PHRASES, [data.shop])
    finally:
        PopularPhrasesBuilder.max_tracked = None
    # then: the frequent words keep exact counts, the rare ones are gone
    assert sheets["Words"][1] == [(1, "order", 4, 2), (2, "cancel", 3, 2)]
    # two-word phrases never passed four: exact
    assert sheets["Two-word phrases"][1] == [
        (1, "cancel order", 3, 2),
        (2, "voglio ordine", 1, 1),
        (3, "want cancel", 1, 1),
    ]


def test_client_phrases_every_client_message_with_text(data):
    builder, sheets = build(ReportType.CLIENT_PHRASES, [data.shop], with_times=True)
    headers, rows = sheets["Client phrases"]
    assert headers == ["Session id", "Chat", "Channel", "Client id", "Time", "Text"]
    d1, d2, d3 = data.d1.session_id, data.d2.session_id, data.d3.session_id
    assert rows == [
        (d2, "Shop", "Telegram", "tg-2", local(11, 13, 0, 1), "Cancel ＯＲＤＥＲ"),
        (d1, "Shop", "Web", "visitor-1", local(10, 10, 0, 5), "Where is my order?"),
        (d1, "Shop", "Web", "visitor-1", local(10, 10, 1), "I want to cancel my order"),
        (d1, "Shop", "Web", "visitor-1", local(10, 10, 6), "=cancel order please"),
        (d3, "Shop", "Web", "visitor-3", local(9, 9, 1), "Ciao, VOGLIO l'ordine!!"),
        (d3, "Shop", "Web", "visitor-3", local(9, 9, 2), "Где мой заказ?"),
    ]
    assert builder.rows_total() == 6
    _builder, without = build(ReportType.CLIENT_PHRASES, [data.shop])
    assert without["Client phrases"][0] == ["Session id", "Chat", "Channel", "Client id", "Text"]
    assert without["Client phrases"][1][0] == (d2, "Shop", "Telegram", "tg-2", "Cancel ＯＲＤＥＲ")


def test_client_phrases_leave_out_messages_without_text(data):
    Message.objects.create(
        dialog=data.d2,
        sequence=3,
        author_kind=AuthorKind.CLIENT,
        text="",
        created_at=utc(11, 12, 5),
    )
    builder, sheets = build(ReportType.CLIENT_PHRASES, [data.shop])
    assert len(sheets["Client phrases"][1]) == 6
    assert builder.rows_total() == 6


@pytest.mark.parametrize("report_type", sorted(BUILDERS))
def test_no_builder_shows_a_chat_outside_the_context(data, report_type):
    _builder, sheets = build(report_type, [data.shop], with_times=True)
    text = repr(sheets)
    assert data.hidden_dialog.session_id not in text
    assert "secret" not in text
    assert "hidden.example" not in text
    assert "Hidden" not in text


def test_wall_clock_follows_the_chats_zone_across_a_dst_change():
    clock = WallClock({1: "Europe/Rome"})
    # Rome springs forward at 01:00Z on 2026-03-29 (02:00 → 03:00 local)
    assert clock(1, utc(29, 0, 30, month=3)) == wall(2026, 3, 29, 1, 30)
    assert clock(1, utc(29, 1, 30, month=3)) == wall(2026, 3, 29, 3, 30)
    # a chat without settings is shown in UTC
    assert clock(2, utc(29, 1, 30, month=3)) == wall(2026, 3, 29, 1, 30)
    assert clock(1, None) is None
