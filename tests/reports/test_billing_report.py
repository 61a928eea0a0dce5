"""The billing report's rows, every figure computed by hand: prices change mid-month,
two paid channels, a free one, a message exactly at a period's start and end, a chat
the analyst may not read."""

import datetime
from decimal import Decimal

import pytest

from chats.enums import AuthorKind, MessageDirection, Messenger
from chats.models import Dialog, Message, MessagePrice
from chats.services.billing import dialog_costs_recompute
from handoff.dialog_filters import DialogFilters
from handoff.models import HandoffSettings
from reports.builders import BUILDERS
from reports.builders.base import ColumnKind, ReportContext
from reports.builders.billing import BillingReportBuilder
from reports.enums import ReportType
from tests.chats.factories import ChatFactory, DialogFactory

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


def at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0):
    return datetime.datetime(2026, month, day, hour, minute, second, micro, tzinfo=UTC)


def local(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0):
    return datetime.datetime(2026, month, day, hour, minute, second)  # noqa: DTZ001 - a wall clock


MIDMONTH = at(3, 16)


def prices() -> None:
    def add(messenger, direction, amount, valid_from, valid_until=None):
        MessagePrice.objects.create(
            messenger=messenger,
            direction=direction,
            price=Decimal(amount),
            valid_from=valid_from,
            valid_until=valid_until,
        )

    inbound, outbound = MessageDirection.INBOUND, MessageDirection.OUTBOUND
    # web: inbound 0.01 until mid-March, then 0.015; outbound 0.002 from March 1
    add(Messenger.WEB, inbound, "0.0100", at(3, 1), MIDMONTH)
    add(Messenger.WEB, inbound, "0.0150", MIDMONTH)
    add(Messenger.WEB, outbound, "0.0020", at(3, 1))
    # Telegram: inbound 0.05 in March only; outbound 0.03 until mid-March, then free (0)
    add(Messenger.TELEGRAM, inbound, "0.0500", at(3, 1), at(4, 1))
    add(Messenger.TELEGRAM, outbound, "0.0300", at(3, 1), MIDMONTH)
    add(Messenger.TELEGRAM, outbound, "0.0000", MIDMONTH)
    # WhatsApp: no price at all


def dialog(chat, messenger, started, *messages):
    made = DialogFactory(client__chat=chat, client__messenger=messenger, started_at=started)
    for sequence, (kind, created) in enumerate(messages, start=1):
        Message.objects.create(
            dialog=made, sequence=sequence, author_kind=kind, text="x", created_at=created
        )
    return made


CLIENT, BOT, OPERATOR, SYSTEM = (
    AuthorKind.CLIENT,
    AuthorKind.BOT,
    AuthorKind.OPERATOR,
    AuthorKind.SYSTEM,
)


@pytest.fixture
def dataset():
    prices()
    alpha = ChatFactory(name="Alpha")  # Europe/Rome: UTC+1 in March, UTC+2 from March 29
    HandoffSettings.objects.create(chat=alpha, time_zone="Europe/Rome")
    beta = ChatFactory(name="Beta")  # no settings: UTC
    hidden = ChatFactory(name="Hidden")  # not granted: must not show
    dialogs = {
        # web: client 0.01, bot 0.002, client exactly at mid-month 0.015, operator 0.002
        "d1": dialog(
            alpha,
            Messenger.WEB,
            at(3, 10, 10),
            (CLIENT, at(3, 10, 10)),
            (BOT, at(3, 10, 10, 0, 1)),
            (CLIENT, MIDMONTH),
            (OPERATOR, at(3, 16, 0, 0, 1)),
        ),
        # Telegram: client 0.05, bot just before mid-month 0.03, bot at mid-month 0
        # (free: not paid), system later 0
        "d2": dialog(
            alpha,
            Messenger.TELEGRAM,
            at(3, 15, 23, 59, 59),
            (CLIENT, at(3, 15, 23, 59, 59)),
            (BOT, MIDMONTH - datetime.timedelta(microseconds=1)),
            (BOT, MIDMONTH),
            (SYSTEM, at(3, 20)),
        ),
        # WhatsApp: free channel
        "d3": dialog(
            alpha, Messenger.WHATSAPP, at(3, 12, 9), (CLIENT, at(3, 12, 9)), (BOT, at(3, 12, 9))
        ),
        # web before any price: the client's message is free; the bot's, exactly at
        # March 1 00:00 (outbound's valid_from), pays 0.002
        "d4": dialog(alpha, Messenger.WEB, at(2, 27, 8), (CLIENT, at(2, 27, 8)), (BOT, at(3, 1))),
        # web after mid-month: 2 x 0.015 in, 1 x 0.002 out
        "d5": dialog(
            beta,
            Messenger.WEB,
            at(3, 20, 14),
            (CLIENT, at(3, 20, 14)),
            (BOT, at(3, 20, 14, 0, 1)),
            (CLIENT, at(3, 20, 14, 5)),
        ),
        # Telegram in April: inbound ended at April 1 (exclusive), outbound is 0
        "d6": dialog(beta, Messenger.TELEGRAM, at(4, 2, 7), (CLIENT, at(4, 1)), (BOT, at(4, 2, 7))),
        # web without messages
        "d7": dialog(beta, Messenger.WEB, at(3, 25, 12)),
        "hidden": dialog(hidden, Messenger.WEB, at(3, 20), (CLIENT, at(3, 20))),
    }
    dialog_costs_recompute()
    return {"alpha": alpha, "beta": beta, "hidden": hidden, **dialogs}


def build(dataset, with_times=False, **filters):
    context = ReportContext(
        user=None,
        chat_ids=frozenset({dataset["alpha"].pk, dataset["beta"].pk}),
        filters=DialogFilters(**filters),
        with_times=with_times,
    )
    return BillingReportBuilder(context)


def rows(builder) -> dict[str, list[tuple]]:
    return {sheet.title: list(sheet.rows) for sheet in builder.sheets()}


def test_billing_is_registered():
    assert BUILDERS[ReportType.BILLING] is BillingReportBuilder


def test_the_billing_sheet_has_one_row_per_chat_and_channel_computed_by_hand(dataset):
    billing = rows(build(dataset))["Billing"]
    assert billing == [
        # chat, channel, dialogs, paid in, paid out, paid, cost
        ("Alpha", "Telegram", 1, 1, 1, 2, Decimal("0.0800")),  # 0.05 + 0.03
        ("Alpha", "Web", 2, 2, 3, 5, Decimal("0.0310")),  # d1 0.029 + d4 0.002
        ("Alpha", "WhatsApp", 1, 0, 0, 0, Decimal("0")),
        ("Beta", "Telegram", 1, 0, 0, 0, Decimal("0")),
        ("Beta", "Web", 2, 2, 1, 3, Decimal("0.0320")),  # 0.015 x 2 + 0.002
    ]


def test_the_dialogs_sheet_has_one_row_per_dialog_in_the_chats_wall_clock(dataset):
    dialogs = rows(build(dataset))["Dialogs"]
    session = {key: dataset[key].session_id for key in ("d1", "d2", "d3", "d4", "d5", "d6", "d7")}
    assert dialogs == [
        # newest first; Alpha's times in Rome (UTC+1 in March), Beta's in UTC
        (session["d6"], "Beta", "Telegram", local(4, 2, 7), 0, Decimal("0")),
        (session["d7"], "Beta", "Web", local(3, 25, 12), 0, Decimal("0")),
        (session["d5"], "Beta", "Web", local(3, 20, 14), 3, Decimal("0.0320")),
        (session["d2"], "Alpha", "Telegram", local(3, 16, 0, 59, 59), 2, Decimal("0.0800")),
        (session["d3"], "Alpha", "WhatsApp", local(3, 12, 10), 0, Decimal("0")),
        (session["d1"], "Alpha", "Web", local(3, 10, 11), 4, Decimal("0.0290")),
        (session["d4"], "Alpha", "Web", local(2, 27, 9), 1, Decimal("0.0020")),
    ]


def test_the_sheets_agree_with_each_other_and_with_the_stored_costs(dataset):
    sheets = rows(build(dataset))
    by_session = {row[0]: row[5] for row in sheets["Dialogs"]}
    stored = dict(
        Dialog.objects.filter(session_id__in=by_session).values_list("session_id", "cost")
    )
    assert by_session == stored
    assert sum(row[6] for row in sheets["Billing"]) == sum(by_session.values())
    assert sum(row[5] for row in sheets["Billing"]) == sum(row[4] for row in sheets["Dialogs"])


def test_the_columns_are_typed(dataset):
    billing, dialogs = build(dataset).sheets()
    assert [column.kind for column in billing.columns] == [
        ColumnKind.TEXT,
        ColumnKind.TEXT,
        ColumnKind.INTEGER,
        ColumnKind.INTEGER,
        ColumnKind.INTEGER,
        ColumnKind.INTEGER,
        ColumnKind.DECIMAL,
    ]
    assert [column.header for column in dialogs.columns] == [
        "Session id",
        "Chat",
        "Channel",
        "Started",
        "Paid messages",
        "Cost",
    ]
    assert dialogs.columns[3].kind == ColumnKind.DATETIME


def test_filters_narrow_both_sheets(dataset):
    sheets = rows(build(dataset, messengers=("web",), date_from=datetime.date(2026, 3, 1)))
    assert sheets["Billing"] == [
        ("Alpha", "Web", 1, 2, 2, 4, Decimal("0.0290")),
        ("Beta", "Web", 2, 2, 1, 3, Decimal("0.0320")),
    ]
    assert [row[0] for row in sheets["Dialogs"]] == [
        dataset[key].session_id for key in ("d7", "d5", "d1")
    ]


def test_a_chat_filter_outside_the_granted_chats_selects_nothing_of_it(dataset):
    sheets = rows(build(dataset, chat_ids=(dataset["hidden"].pk,)))
    assert all(row[0] != "Hidden" for row in sheets["Billing"])
    assert dataset["hidden"].session_id not in [row[0] for row in sheets["Dialogs"]]


def test_with_times_changes_nothing(dataset):
    assert rows(build(dataset, with_times=True)) == rows(build(dataset))


def test_no_dialogs_gives_empty_sheets(dataset):
    sheets = rows(build(dataset, date_from=datetime.date(2030, 1, 1)))
    assert sheets == {"Billing": [], "Dialogs": []}


def test_rows_total_counts_dialogs_and_chat_channel_rows(dataset):
    assert build(dataset).rows_total() == 7 + 5


def test_the_statement_count_does_not_grow_with_the_dialogs(dataset, django_assert_max_num_queries):
    def statements() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as context:
            rows(build(dataset))
        return len(context.captured_queries)

    before = statements()
    for number in range(20):
        dialog(
            dataset["beta"],
            Messenger.WEB,
            at(3, 21, number),
            (CLIENT, at(3, 21, number)),
            (BOT, at(3, 21, number, 1)),
        )
    assert statements() == before
    with django_assert_max_num_queries(before):
        rows(build(dataset))


def test_the_report_opens_back_in_openpyxl_with_real_numbers_and_dates(dataset, tmp_path):
    from openpyxl import load_workbook

    from reports.xlsx import workbook_write

    # when the report is written by the real writer and opened again
    path = tmp_path / "billing.xlsx"
    written = workbook_write(build(dataset).sheets(), path)
    workbook = load_workbook(path)
    # then both sheets are there with their headers, the figures are numbers and the
    # start is a date in the chat's wall clock
    assert written == 5 + 7
    assert workbook.sheetnames == ["Billing", "Dialogs"]
    billing = [tuple(cell.value for cell in row) for row in workbook["Billing"].iter_rows()]
    assert billing[0] == (
        "Chat",
        "Channel",
        "Dialogs",
        "Paid inbound messages",
        "Paid outbound messages",
        "Paid messages",
        "Cost",
    )
    assert billing[2][:6] == ("Alpha", "Web", 2, 2, 3, 5)
    assert billing[2][6] == pytest.approx(0.031)
    assert workbook["Billing"]["G3"].number_format == "0.0000"
    d1 = next(
        row
        for row in workbook["Dialogs"].iter_rows(min_row=2)
        if row[0].value == dataset["d1"].session_id
    )
    assert d1[3].value == local(3, 10, 11)
    assert d1[3].is_date
    assert (d1[4].value, d1[5].value) == (4, pytest.approx(0.029))
