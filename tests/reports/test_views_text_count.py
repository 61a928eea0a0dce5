"""With the text filter set, the list counts at most TEXT_COUNT_CAP matching dialogs
(a LIMITed count) and says "more than N dialogs", paging only those with a hint to
narrow the search; without it the count stays exact."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chats.enums import AuthorKind
from reports import selectors_viewer
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import UserFactory
from tests.reports.test_filters import say

pytestmark = pytest.mark.django_db

LIST = "/reports/dialogs/"
CAP = 6


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(username="boss", is_staff=True))
    return client


@pytest.fixture
def small_cap(monkeypatch):
    monkeypatch.setattr(selectors_viewer, "TEXT_COUNT_CAP", CAP)


@pytest.fixture
def dialogs():
    chat = ChatFactory()
    made = []
    for index in range(130):
        dialog = DialogFactory(client__chat=chat)
        say(dialog, AuthorKind.CLIENT, "delivery please" if index % 10 else "refund")
        made.append(dialog)
    return made


def sessions(content: str) -> list[str]:
    return re.findall(r'href="/reports/dialogs/([0-9a-f]{32})/"', content)


def test_a_text_search_past_the_cap_says_more_than_and_pages_only_the_capped(
    staff, small_cap, dialogs, monkeypatch
):
    monkeypatch.setattr("reports.views.viewer.DIALOGS_PER_PAGE", 2)

    with CaptureQueriesContext(connection) as queries:
        content = staff.get(LIST, {"text": "delivery"}).content.decode()

    assert f"more than {CAP} dialogs" in content
    assert 'id="narrow-search"' in content
    assert f"page 1 of {CAP // 2}" in content
    assert f'page={CAP // 2}">last' in content
    # the count is a LIMITed subquery: it stops at CAP + 1
    counts = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT COUNT(*)")
    ]
    assert counts and all(f"LIMIT {CAP + 1}" in sql for sql in counts)
    # the last page offered holds dialogs; past it is the last page offered
    last = staff.get(LIST, {"text": "delivery", "page": CAP // 2}).content.decode()
    beyond = staff.get(LIST, {"text": "delivery", "page": 999}).content.decode()
    assert len(sessions(last)) == 2
    assert sessions(beyond) == sessions(last)


def test_a_text_search_under_the_cap_is_counted_exactly(staff, monkeypatch, dialogs):
    monkeypatch.setattr(selectors_viewer, "TEXT_COUNT_CAP", 20)

    content = staff.get(LIST, {"text": "refund"}).content.decode()

    assert "13 dialogs<" in content
    assert "more than" not in content and 'id="narrow-search"' not in content


def test_a_text_search_at_exactly_the_cap_is_exact(staff, monkeypatch, dialogs):
    monkeypatch.setattr(selectors_viewer, "TEXT_COUNT_CAP", 13)

    content = staff.get(LIST, {"text": "refund"}).content.decode()

    assert "13 dialogs<" in content and "more than" not in content


def test_without_a_text_filter_the_count_is_exact_however_many(staff, small_cap, dialogs):
    with CaptureQueriesContext(connection) as queries:
        content = staff.get(LIST).content.decode()

    assert 'id="dialog-total">130 dialogs ' in content
    assert "more than" not in content
    assert "page 1 of 3" in content
    counts = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT COUNT(*)")
    ]
    assert counts and not any("LIMIT" in sql for sql in counts)


def test_one_past_the_cap_is_more_than_the_cap(staff, monkeypatch, dialogs):
    monkeypatch.setattr(selectors_viewer, "TEXT_COUNT_CAP", 12)

    content = staff.get(LIST, {"text": "refund"}).content.decode()

    assert "more than 12 dialogs" in content and "13 dialogs" not in content
