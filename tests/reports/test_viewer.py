"""The dialog viewer's pages: the list (columns, count, pages, filters kept, a fixed
number of queries) and one dialog's page (everything about it, escaped, its
permanent link)."""

from __future__ import annotations

import datetime
import html
import re
from decimal import Decimal

import pytest
from django.http import QueryDict
from django.urls import reverse

from chats.enums import AuthorKind, DialogStatus, Messenger
from chats.models import Chat, MarkerHit, PageVisit
from distributor.services import customer_bind
from handoff.enums import CloseReason, RequestReason, RequestStatus
from handoff.models import DialogFormAnswers, Feedback, RequestEvent
from reports.views import viewer
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory, UserFactory
from tests.reports.test_access import make_analyst
from tests.reports.test_filters import in_zone, request_for, say

pytestmark = pytest.mark.django_db

LIST = "/reports/dialogs/"


def detail_url(dialog) -> str:
    return f"/reports/dialogs/{dialog.session_id}/"


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(username="boss", is_staff=True))
    return client


def test_the_names_resolve_to_the_paths():
    assert reverse("reports:dialog_list") == LIST
    assert reverse("reports:dialog_detail", args=["abc"]) == "/reports/dialogs/abc/"


# --- the list --------------------------------------------------------------------


def test_a_row_shows_every_column_in_the_chats_time_zone(staff):
    chat = ChatFactory(name="Shop")
    in_zone(chat, "Asia/Tokyo")
    dialog = DialogFactory(
        client__chat=chat,
        client__messenger=Messenger.TELEGRAM,
        client__name="Ann Client",
        status=DialogStatus.CLOSED,
        started_at=datetime.datetime(2026, 1, 10, 15, 30, 7, tzinfo=datetime.UTC),
        cost=Decimal("1.2500"),
    )
    operator = OperatorFactory(display_name="Olga", chats=[chat])
    request_for(dialog, operator=operator)
    for kind in (AuthorKind.CLIENT, AuthorKind.BOT, AuthorKind.OPERATOR):
        say(dialog, kind)

    content = staff.get(LIST).content.decode()

    row = re.search(r"<tbody>(.*)</tbody>", content, re.S).group(1)
    for text in (
        "2026-01-11 00:30:07",  # Tokyo, UTC+9
        "Shop",
        "Telegram",
        "Ann Client",
        "closed",
        '1 · <span dir="auto">Olga</span>',
        ">3<",
        "1.25",
        detail_url(dialog),
    ):
        assert text in row, text


def test_the_total_is_shown_and_changes_with_the_filters(staff):
    chat = ChatFactory()
    for messenger in (Messenger.WEB, Messenger.WEB, Messenger.VIBER):
        DialogFactory(client__chat=chat, client__messenger=messenger)

    assert "3 dialogs" in staff.get(LIST).content.decode()
    assert "1 dialog<" in staff.get(LIST + "?messenger=viber").content.decode()
    assert "0 dialogs" in staff.get(LIST + "?messenger=line").content.decode()


def test_fifty_per_page_and_the_page_links_keep_the_filters(staff):
    chat = ChatFactory()
    base = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    dialogs = [
        DialogFactory(
            client__chat=chat,
            client__messenger=Messenger.WEB,
            started_at=base + datetime.timedelta(minutes=index),
        )
        for index in range(120)
    ]
    newest_first = [dialog.session_id for dialog in reversed(dialogs)]
    query = f"chat={chat.pk}&messenger=web"

    first = staff.get(f"{LIST}?{query}").content.decode()
    third = staff.get(f"{LIST}?{query}&page=3").content.decode()

    assert "120 dialogs" in first
    assert all(session in first for session in newest_first[:50])
    assert newest_first[50] not in first
    assert all(session in third for session in newest_first[100:])
    assert newest_first[99] not in third
    next_link = re.search(r'href="\?([^"]*)" rel="next"', first).group(1)
    assert QueryDict(html.unescape(next_link)) == QueryDict(query + "&page=2")
    assert "page 1 of 3" in first


def test_a_bad_page_number_shows_a_page_not_an_error(staff):
    chat = ChatFactory()
    DialogFactory(client__chat=chat)

    for page in ("abc", "0", "-1", "999999999999999999999999", "\u00e9"):
        response = staff.get(LIST, {"page": page})
        assert response.status_code == 200
        assert "1 dialog<" in response.content.decode()


def test_bad_filter_values_are_said_and_the_rest_applies(staff):
    chat = ChatFactory()
    DialogFactory(client__chat=chat, client__messenger=Messenger.VIBER)
    DialogFactory(client__chat=chat, client__messenger=Messenger.WEB)

    response = staff.get(LIST + "?messenger=viber&status=bogus&date_from=2026-13-01&chat=x")
    content = response.content.decode()

    assert response.status_code == 200
    assert "Unknown status." in content
    assert "Enter a date as YYYY-MM-DD." in content
    assert "Unknown chat." in content
    assert "1 dialog<" in content


def test_the_form_offers_only_the_users_chats_and_their_operators(client):
    mine, theirs = ChatFactory(name="Mine"), ChatFactory(name="Theirs")
    OperatorFactory(display_name="Olga", chats=[mine])
    OperatorFactory(display_name="Boris", chats=[theirs])
    client.force_login(make_analyst("ann", chats=[mine]))

    content = client.get(LIST).content.decode()

    assert f'<option value="{mine.pk}"' in content
    assert f'<option value="{theirs.pk}"' not in content
    assert "Olga" in content
    assert "Boris" not in content
    assert all(f'value="{value}"' in content for value in Messenger.values)


def test_the_form_shows_the_chosen_filters(staff):
    chat = ChatFactory()

    content = staff.get(
        LIST,
        {
            "chat": chat.pk,
            "messenger": ["web", "line"],
            "status": "no_operator_response",
            "date_from": "2026-03-01",
            "text": '"><b>x',
        },
    ).content.decode()

    assert f'<option value="{chat.pk}" selected>' in content
    assert 'value="web" checked' in content and 'value="line" checked' in content
    assert 'value="no_operator_response" selected' in content
    assert 'value="2026-03-01"' in content
    assert 'value="&quot;&gt;&lt;b&gt;x"' in content


def test_the_list_takes_the_same_number_of_queries_for_5_or_50_rows(
    staff, django_assert_max_num_queries
):
    chat = ChatFactory()
    operator = OperatorFactory(chats=[chat])

    def add(count):
        for _ in range(count):
            dialog = DialogFactory(client__chat=chat)
            request_for(dialog, operator=operator)
            say(dialog, AuthorKind.CLIENT)

    add(5)
    with django_assert_max_num_queries(12) as few:
        staff.get(LIST)
    add(45)
    with django_assert_max_num_queries(12) as many:
        staff.get(LIST)

    assert len(many.captured_queries) == len(few.captured_queries)


# --- one dialog ------------------------------------------------------------------


@pytest.fixture
def full_dialog():
    chat = ChatFactory(name="Shop")
    in_zone(chat, "Europe/Rome")
    dialog = DialogFactory(
        client__chat=chat,
        client__messenger=Messenger.WEB,
        client__external_id="visitor-77",
        client__name="Ann Client",
        status=DialogStatus.CLOSED,
        started_at=datetime.datetime(2026, 3, 29, 7, 5, 9, tzinfo=datetime.UTC),
        closed_at=datetime.datetime(2026, 3, 29, 7, 45, 1, tzinfo=datetime.UTC),
        cost=Decimal("0.3300"),
    )
    customer_bind(client=dialog.client, name="Ann Customer", email="ann@example.com")
    MarkerHit.objects.create(dialog=dialog, marker="lead")
    PageVisit.objects.create(dialog=dialog, url="https://shop.example/cart", title="Cart")
    DialogFormAnswers.objects.create(
        dialog=dialog, answers=[{"label": "Order number", "value": "A-1234"}]
    )
    operator = OperatorFactory(display_name="Olga", chats=[chat])
    request = request_for(
        dialog,
        operator=operator,
        reason=RequestReason.HEADSET,
        status=RequestStatus.CLOSED,
        accepted_at=datetime.datetime(2026, 3, 29, 7, 10, 0, tzinfo=datetime.UTC),
        closed_at=datetime.datetime(2026, 3, 29, 7, 40, 0, tzinfo=datetime.UTC),
        close_reason=CloseReason.OPERATOR,
    )
    RequestEvent.objects.create(
        request=request,
        from_status=RequestStatus.PENDING,
        to_status=RequestStatus.ACCEPTED,
        actor=operator.user,
        note="taken from the queue",
        created_at=datetime.datetime(2026, 3, 29, 7, 10, 0, tzinfo=datetime.UTC),
    )
    Feedback.objects.create(
        dialog=dialog,
        request=request,
        operator=operator,
        operator_name="Olga",
        scale=5,
        score=4,
        comment="quick and kind",
    )
    say(
        dialog,
        AuthorKind.CLIENT,
        "Where is my order?",
        at=datetime.datetime(2026, 3, 29, 7, 6, 1, tzinfo=datetime.UTC),
    )
    message = say(
        dialog,
        AuthorKind.OPERATOR,
        "Checking now",
        at=datetime.datetime(2026, 3, 29, 7, 11, 2, tzinfo=datetime.UTC),
    )
    message.author_name = "Olga"
    message.attachments = [{"kind": "document", "file_name": "invoice.pdf", "url": "/x"}]
    message.save()
    return dialog


def test_the_dialog_page_shows_everything_about_the_dialog(staff, full_dialog):
    content = staff.get(detail_url(full_dialog)).content.decode()

    for text in (
        full_dialog.session_id,
        "2026-03-29 09:05:09",  # Rome, the day the clocks went forward: UTC+2
        "2026-03-29 09:45:01",
        "Europe/Rome",
        "0.3300",
        "visitor-77",
        "Ann Client",
        "Ann Customer",
        "ann@example.com",
        "Web",
        "lead",
        "https://shop.example/cart",
        "Order number",
        "A-1234",
        "the visitor tapped the headset",
        "closed by the operator",
        "taken from the queue",
        operator_username(full_dialog),
        "4/5",
        "quick and kind",
        "Where is my order?",
        "2026-03-29 09:06:01",
        "Checking now",
        "2026-03-29 09:11:02",
        "invoice.pdf",
    ):
        assert text in content, text


def operator_username(dialog) -> str:
    return dialog.handoff_requests.get().operator.user.username


def test_the_dialog_page_has_its_permanent_link_and_a_copy_button(staff, full_dialog):
    content = staff.get(detail_url(full_dialog)).content.decode()

    assert f'value="http://testserver/reports/dialogs/{full_dialog.session_id}/"' in content
    assert 'id="copy-link"' in content
    assert "reports/viewer.js" in content
    # the site's CSP allows no inline script or style
    assert "<script>" not in content and " style=" not in content and "onclick" not in content


def test_the_permanent_link_is_the_session_id_not_a_counter(staff, full_dialog):
    assert staff.get(f"/reports/dialogs/{full_dialog.pk}/").status_code == 404
    assert len(full_dialog.session_id) == 32


def test_message_text_is_escaped_and_marked_for_its_own_direction(staff):
    dialog = DialogFactory()
    say(dialog, AuthorKind.CLIENT, '<script>alert("x")</script><img src=x onerror=alert(1)>')
    say(dialog, AuthorKind.CLIENT, "مرحبا بالعالم")
    dialog.client.name = "<b>bold</b>"
    dialog.client.save()

    content = staff.get(detail_url(dialog)).content.decode()

    assert "<script>alert" not in content
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in content
    assert "<img src=x" not in content
    assert "<b>bold</b>" not in content
    assert '<div class="text" dir="auto">مرحبا بالعالم</div>' in content


def test_odd_and_huge_texts_do_not_break_the_page(staff):
    dialog = DialogFactory()
    odd = "\ufffd\u200b\u202eevil\u202c \U0001f600 e\u0301 \x07bell"
    huge = "word " * 200_000  # a megabyte
    say(dialog, AuthorKind.CLIENT, odd)
    say(dialog, AuthorKind.BOT, huge)
    say(dialog, AuthorKind.CLIENT, "")

    response = staff.get(detail_url(dialog))

    assert response.status_code == 200
    content = response.content.decode()
    assert "\U0001f600" in content
    assert content.count("word ") >= 200_000
    assert content.rstrip().endswith("</html>")


def test_a_garbage_session_id_is_not_found(staff):
    for path in (
        "/reports/dialogs/%ED%A0%80/",  # a lone surrogate, UTF-8 encoded
        "/reports/dialogs/%00/",
        "/reports/dialogs/" + "a" * 5000 + "/",
        "/reports/dialogs/' OR 1=1 --/",
    ):
        assert staff.get(path).status_code == 404, path


def test_the_dialog_page_links_back_to_its_chats_list(staff, full_dialog):
    content = staff.get(detail_url(full_dialog)).content.decode()

    assert f'href="/reports/dialogs/?chat={full_dialog.chat_id}"' in content


def test_the_chat_lists_view_dialogs_link_opens_the_viewer_on_that_chat(admin_client):
    chat = ChatFactory(name="Shop")
    other = ChatFactory(name="Other")
    shown = DialogFactory(client__chat=chat)
    hidden = DialogFactory(client__chat=other)

    changelist = admin_client.get("/admin/chats/chat/").content.decode()
    link = f"/reports/dialogs/?chat={chat.pk}"
    content = admin_client.get(link).content.decode()

    assert f'href="{link}"' in changelist
    assert shown.session_id in content
    assert hidden.session_id not in content
    assert Chat.objects.count() == 2


def test_the_nav_links_the_viewer_reports_and_dashboard(staff):
    content = staff.get(LIST).content.decode()

    assert 'href="/reports/dialogs/" aria-current="page"' in content
    assert 'href="/reports/jobs/"' in content
    assert 'href="/reports/dashboard/"' in content


@pytest.mark.parametrize("small_selection", [10_000, 20])
def test_every_page_holds_its_own_dialogs_newest_first_to_the_last(
    staff, monkeypatch, small_selection
):
    # a small selection is cut in Python; a large one is read from the nearer end
    # (pages past the middle reversed): either way the same rows in the same order
    monkeypatch.setattr(viewer, "SMALL_SELECTION", small_selection)
    chat = ChatFactory()
    same_time = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    dialogs = [
        DialogFactory(
            client__chat=chat,
            # pairs share a start: the id breaks the tie the same way from both ends
            started_at=same_time + datetime.timedelta(minutes=index // 2),
        )
        for index in range(161)
    ]
    expected = sorted(dialogs, key=lambda dialog: (dialog.started_at, dialog.pk), reverse=True)

    shown = []
    for page in range(1, 5):
        content = staff.get(LIST, {"page": page}).content.decode()
        shown += re.findall(r'href="/reports/dialogs/([0-9a-f]{32})/"', content)

    assert shown == [dialog.session_id for dialog in expected]


def test_nul_bytes_and_lone_surrogates_in_the_query_do_not_break_the_list(staff):
    chat = ChatFactory()
    dialog = DialogFactory(client__chat=chat)
    say(dialog, AuthorKind.CLIENT, "ab")

    for query in (
        "?text=a%00b",
        "?marker=%00",
        "?text=%ED%A0%80",
        "?date_from=%00",
        "?operator=%00",
        "?chat=%00",
        "?messenger=%00",
        "?page=%00",
    ):
        response = staff.get(LIST + query)
        assert response.status_code == 200, query
    assert "1 dialog<" in staff.get(LIST + "?text=a%00b").content.decode()


def test_the_dialog_page_takes_the_same_number_of_queries_for_one_or_many_requests(
    staff, full_dialog, django_assert_max_num_queries
):
    with django_assert_max_num_queries(20) as one:
        staff.get(detail_url(full_dialog))
    operator = OperatorFactory(chats=[full_dialog.chat])
    for _ in range(3):
        request = request_for(full_dialog, operator=operator)
        RequestEvent.objects.create(
            request=request, from_status="", to_status=RequestStatus.PENDING, actor=operator.user
        )
        Feedback.objects.create(
            dialog=full_dialog, request=request, operator=operator, scale=5, score=5
        )
        say(full_dialog, AuthorKind.OPERATOR, "more")
    with django_assert_max_num_queries(20) as many:
        content = staff.get(detail_url(full_dialog)).content.decode()

    assert len(many.captured_queries) == len(one.captured_queries)
    assert content.count('class="request"') == 4


def test_an_analyst_without_grants_sees_an_empty_list_not_an_error(client):
    DialogFactory()
    OperatorFactory(display_name="Olga", chats=[ChatFactory()])
    client.force_login(make_analyst("ann"))

    response = client.get(LIST)

    assert response.status_code == 200
    content = response.content.decode()
    assert "0 dialogs" in content
    assert "No chat is shared with you yet." in content
    assert "Olga" not in content
