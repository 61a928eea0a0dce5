"""The reads the viewer, dashboard and job list views call (reports.selectors_viewer):
access is checked in them, not left to the views."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from chats.enums import AuthorKind
from handoff.dialog_filters import DialogFilters
from handoff.selectors_dialogs import dialogs_filtered
from reports.selectors_viewer import (
    DASHBOARD_DEFAULT_DAYS,
    dashboard_date_range,
    dialog_detail_read,
    dialog_for_analyst,
    dialog_page_ids,
    dialog_page_rows,
    dialog_paginator,
    filter_names,
    operators_of_chats,
)
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory, UserFactory
from tests.reports.test_access import make_analyst
from tests.reports.test_filters import request_for, say

pytestmark = pytest.mark.django_db


def test_dialog_for_analyst_finds_only_dialogs_of_the_users_chats():
    mine, theirs = ChatFactory(), ChatFactory()
    analyst = make_analyst("ann", chats=[mine])
    shown, hidden = DialogFactory(client__chat=mine), DialogFactory(client__chat=theirs)

    assert dialog_for_analyst(user=analyst, session_id=shown.session_id) == shown
    assert dialog_for_analyst(user=analyst, session_id=hidden.session_id) is None
    assert dialog_for_analyst(user=UserFactory(), session_id=shown.session_id) is None


def test_dialog_detail_read_gathers_the_requests_and_the_first_messages():
    dialog = DialogFactory(client__chat=ChatFactory())
    operator = OperatorFactory(chats=[dialog.chat])
    request = request_for(dialog, operator=operator)
    for text in ("one", "two"):
        say(dialog, AuthorKind.CLIENT, text)

    detail = dialog_detail_read(dialog)

    assert detail.requests == [request]
    assert [message.text for message, _ in detail.messages.messages] == ["one", "two"]
    assert detail.messages.total == 2
    assert detail.messages.earlier_before is None and detail.messages.later_after is None
    assert detail.time_zone == "UTC"


def test_a_page_of_rows_is_the_pages_dialogs_newest_first_with_their_columns():
    chat = ChatFactory()
    operator = OperatorFactory(display_name="Olga", chats=[chat])
    dialogs = [
        DialogFactory(client__chat=chat, started_at=timezone.now() - datetime.timedelta(hours=n))
        for n in range(5)
    ]
    request_for(dialogs[1], operator=operator)
    say(dialogs[1], AuthorKind.CLIENT)
    paginator = dialog_paginator(
        dialogs_filtered(chat_ids={chat.pk}, filters=DialogFilters()),
        filters=DialogFilters(),
        per_page=2,
    )

    rows = dialog_page_rows(dialog_page_ids(paginator.get_page(1), read_whole_up_to=10))

    assert [row["dialog"] for row in rows] == dialogs[:2]
    assert rows[1]["operators"] == ["Olga"] and rows[1]["request_count"] == 1
    assert rows[1]["dialog"].message_count == 1
    assert operators_of_chats([chat.pk]) == [operator]


def test_filter_names_names_only_the_users_chats_and_their_operators():
    mine, theirs = ChatFactory(name="Mine"), ChatFactory(name="Theirs")
    ours, other = OperatorFactory(chats=[mine]), OperatorFactory(chats=[theirs])
    analyst = make_analyst("ann", chats=[mine])

    names = filter_names(
        user=analyst,
        filters=[
            DialogFilters(chat_ids=(mine.pk, theirs.pk), operator_id=ours.pk),
            DialogFilters(operator_id=other.pk),
        ],
    )

    assert names.chats == {mine.pk: "Mine"}
    assert names.operators == {ours.pk: ours.display_name}


def test_the_dashboards_range_defaults_to_the_last_days():
    chat = ChatFactory()

    date_from, date_to, notes = dashboard_date_range(DialogFilters(), {chat.pk})

    assert (date_to - date_from).days == DASHBOARD_DEFAULT_DAYS - 1
    assert notes == {}
