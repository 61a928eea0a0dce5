"""The dialog page shows its messages a page at a time by sequence (?after= /
?before=): a huge dialog renders a bounded page, the "earlier" / "later" links reach
every message once, each message is a link target, the permanent link stays the
dialog's, and garbage in the page parameters shows the first page."""

from __future__ import annotations

import datetime
import html
import re

import pytest

from chats.enums import AuthorKind
from chats.models import Message
from reports.selectors_viewer import MESSAGES_PER_PAGE
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import UserFactory
from tests.reports.test_access import make_analyst

pytestmark = pytest.mark.django_db

MESSAGE_COUNT = 2 * MESSAGES_PER_PAGE + 234  # three pages, the last one short


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(username="boss", is_staff=True))
    return client


@pytest.fixture
def huge_dialog():
    dialog = DialogFactory(client__chat=ChatFactory())
    # sequences with gaps (every third skipped), as a dialog's can be
    sequences = [number for number in range(1, MESSAGE_COUNT * 3 // 2 + 10) if number % 3][
        :MESSAGE_COUNT
    ]
    Message.objects.bulk_create(
        Message(
            dialog=dialog,
            sequence=sequence,
            author_kind=AuthorKind.CLIENT,
            text=f"text {sequence}",
            created_at=dialog.started_at + datetime.timedelta(seconds=sequence),
        )
        for sequence in sequences
    )
    dialog.sequences = sequences
    return dialog


def page_of(client, url: str) -> tuple[list[int], str | None, str | None, str]:
    response = client.get(url)
    assert response.status_code == 200
    content = response.content.decode()
    shown = [
        int(number) for number in re.findall(r'<li class="message [^"]*" id="m(\d+)"', content)
    ]
    earlier = re.search(r'<a href="([^"]+)#messages" id="earlier-messages"', content)
    later = re.search(r'<a href="([^"]+)#messages" id="later-messages"', content)
    return (
        shown,
        html.unescape(earlier.group(1)) if earlier else None,
        html.unescape(later.group(1)) if later else None,
        content,
    )


def test_a_huge_dialog_shows_a_bounded_first_page_and_its_total(staff, huge_dialog):
    url = f"/reports/dialogs/{huge_dialog.session_id}/"

    shown, earlier, later, content = page_of(staff, url)

    assert shown == huge_dialog.sequences[:MESSAGES_PER_PAGE]
    assert earlier is None
    assert later == f"{url}?after={huge_dialog.sequences[MESSAGES_PER_PAGE - 1]}"
    assert f"{MESSAGE_COUNT:,} messages" in content or f"{MESSAGE_COUNT} messages" in content


def test_the_later_and_earlier_links_reach_every_message_once(staff, huge_dialog):
    url = f"/reports/dialogs/{huge_dialog.session_id}/"
    forward, pages, next_url = [], 0, url
    while next_url:
        shown, _earlier, next_url, _ = page_of(staff, next_url)
        assert 0 < len(shown) <= MESSAGES_PER_PAGE
        forward += shown
        pages += 1
    assert forward == huge_dialog.sequences
    assert pages == 3

    # and back from the last page to the first
    last_url = f"{url}?after={huge_dialog.sequences[2 * MESSAGES_PER_PAGE - 1]}"
    backward, previous_url = [], last_url
    while previous_url:
        shown, previous_url, _later, _ = page_of(staff, previous_url)
        assert 0 < len(shown) <= MESSAGES_PER_PAGE
        backward = shown + backward
    assert backward == huge_dialog.sequences


def test_the_dialog_page_takes_as_many_queries_for_a_huge_dialog_as_for_a_small_one(
    staff, huge_dialog, django_assert_max_num_queries
):
    small = DialogFactory(client__chat=huge_dialog.chat)
    Message.objects.create(
        dialog=small, sequence=1, author_kind=AuthorKind.BOT, text="hi", created_at=small.started_at
    )
    with django_assert_max_num_queries(20) as few:
        staff.get(f"/reports/dialogs/{small.session_id}/?after=0")
    with django_assert_max_num_queries(20) as many:
        staff.get(f"/reports/dialogs/{huge_dialog.session_id}/?after=600")

    assert len(many.captured_queries) == len(few.captured_queries)


def test_every_message_is_a_link_target_and_the_permalink_stays_the_dialogs(staff, huge_dialog):
    url = f"/reports/dialogs/{huge_dialog.session_id}/"
    after = huge_dialog.sequences[MESSAGES_PER_PAGE - 1]
    first_on_page = huge_dialog.sequences[MESSAGES_PER_PAGE]

    shown, earlier, _later, content = page_of(staff, f"{url}?after={after}")

    assert shown[0] == first_on_page
    assert f'id="m{first_on_page}"' in content
    assert f'href="{url}?after={after}#m{first_on_page}"' in content
    assert f'id="permalink" type="text" readonly value="http://testserver{url}"' in content
    assert earlier == f"{url}?before={first_on_page}"


@pytest.mark.parametrize(
    "query",
    ["after=abc", "after=-5", "after=%00", "before=%ED%A0%80", "after=" + "9" * 40, "after=1e3"],
)
def test_garbage_in_the_page_parameters_shows_the_first_page(staff, huge_dialog, query):
    url = f"/reports/dialogs/{huge_dialog.session_id}/"

    shown, earlier, _later, _ = page_of(staff, f"{url}?{query}")

    assert shown == huge_dialog.sequences[:MESSAGES_PER_PAGE]
    assert earlier is None


def test_past_either_end_shows_the_last_or_the_first_page(staff, huge_dialog):
    url = f"/reports/dialogs/{huge_dialog.session_id}/"

    past_last, _earlier, later, _ = page_of(staff, f"{url}?after={10**15}")
    before_first, earlier, _later, _ = page_of(staff, f"{url}?before=1")

    assert past_last == huge_dialog.sequences[-MESSAGES_PER_PAGE:]
    assert later is None
    assert before_first == huge_dialog.sequences[:MESSAGES_PER_PAGE]
    assert earlier is None


def test_a_dialog_without_messages_says_so_on_any_page(staff):
    dialog = DialogFactory(client__chat=ChatFactory())

    for query in ("", "?after=3", "?before=3"):
        shown, earlier, later, content = page_of(
            staff, f"/reports/dialogs/{dialog.session_id}/{query}"
        )
        assert shown == [] and earlier is None and later is None
        assert "No message." in content


def test_another_analysts_dialog_is_not_found_on_any_page(client, huge_dialog):
    client.force_login(make_analyst("ann", chats=[ChatFactory()]))

    for query in ("", "?after=10", "?before=900"):
        response = client.get(f"/reports/dialogs/{huge_dialog.session_id}/{query}")
        assert response.status_code == 404
