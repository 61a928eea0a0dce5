"""Regression: a date at the end of the calendar (9999-12-31) made the date range
overflow (its end is the next day's start) and the pages fail."""

import datetime

import pytest
from django.http import QueryDict

from handoff.dialog_filters import DialogFilters
from handoff.selectors_dialogs import dialogs_filtered
from tests.chats.factories import ChatFactory, ClientFactory, DialogFactory


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "1969-12-31"])
def test_a_date_outside_the_calendar_we_can_count_is_refused_and_ignored(value):
    filters = DialogFilters.from_query(QueryDict(f"date_to={value}&date_from={value}"))
    assert filters.date_to is None and filters.date_from is None
    assert "between" in filters.errors["date_to"] and "between" in filters.errors["date_from"]


@pytest.mark.django_db
def test_the_last_accepted_date_still_selects():
    chat = ChatFactory()
    dialog = DialogFactory(chat=chat, client=ClientFactory(chat=chat))
    filters = DialogFilters.from_query(QueryDict("date_from=1970-01-01&date_to=9998-12-31"))
    assert filters.errors == {}
    assert filters.date_to == datetime.date(9998, 12, 31)
    assert list(dialogs_filtered(chat_ids={chat.pk}, filters=filters)) == [dialog]
