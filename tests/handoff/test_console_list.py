"""The console's conversation list (issue 13, point 1), read by handoff.selectors: who
the visitor is (name or alias), the channel, the SLA deadline, the urgency order, the
filters' rows, the closed list's pages (one row per request) and the search."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chats.enums import Messenger
from chats.services import dialog_receive_client_message, dialog_start_or_resume
from distributor.models import Customer, Operator
from distributor.services import customer_bind
from handoff import selectors
from handoff.models import FormField, HandoffSettings, Request
from handoff.services import (
    client_form_submit,
    operator_message_post,
    request_accept,
    request_close,
    request_open,
    request_reject,
)
from handoff.visitors import client_alias
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    chat = ChatFactory()
    HandoffSettings.objects.create(
        chat=chat, sla_first_response_seconds=60, sla_next_response_seconds=300
    )
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    ivan = OperatorFactory(display_name="Ivan", chats=[chat])
    return {"chat": chat, "olga": olga, "ivan": ivan}


def row_of(operator, request) -> dict:
    return {row["id"]: row for row in selectors.requests_for_operator(operator=operator)}[
        request.pk
    ]


def ask(chat, **client) -> Request:
    return request_open(dialog=DialogFactory(client__chat=chat, **client), reason="api")


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- who the visitor is ----------------------------------------------------------------


def test_the_name_answered_in_the_form_names_the_row(desk):
    # given: a form with a name question, answered
    dialog = DialogFactory(client__chat=desk["chat"])
    settings = HandoffSettings.objects.get(chat=desk["chat"])
    name = FormField.objects.create(settings=settings, position=0, label="Who?", kind="name")
    request_open(dialog=dialog, reason="headset")
    # when
    request = client_form_submit(dialog=dialog, answers={str(name.pk): "  Ann Lee "})
    # then
    row = row_of(desk["olga"], request)
    assert (row["client_name"], row["channel"]) == ("Ann Lee", "web")


def test_a_telegram_profile_names_the_row_with_the_telegram_channel(desk):
    # given: the client as the Telegram receiver creates it (first and last name)
    dialog, _created = dialog_start_or_resume(
        chat=desk["chat"], messenger=Messenger.TELEGRAM, external_id="5001", name="Ivan Petrov"
    )
    request = request_open(dialog=dialog, reason="api")
    # then
    row = row_of(desk["olga"], request)
    assert (row["client_name"], row["channel"]) == ("Ivan Petrov", "telegram")


def test_a_nameless_visitor_bound_to_a_named_customer_reads_the_customers_name(desk):
    Customer.objects.create(name="Maria Rossi", phone="+393331234567")
    dialog = DialogFactory(client__chat=desk["chat"])
    customer_bind(client=dialog.client, phone="+39 333 123 4567")
    request = request_open(dialog=dialog, reason="api")
    # then
    assert row_of(desk["olga"], request)["client_name"] == "Maria Rossi"


def test_a_visitor_nobody_named_gets_a_stable_alias(desk):
    first = ask(desk["chat"])
    request_close(request=first, reason="client")
    again = request_open(dialog=first.dialog, reason="api")
    other = ask(desk["chat"])
    # then: no name, the same alias for the same client in both rows, four hex digits
    rows = {row["id"]: row for row in selectors.requests_for_operator(operator=desk["olga"])}
    assert rows[again.pk]["client_name"] == ""
    assert rows[again.pk]["client_alias"] == rows[first.pk]["client_alias"]
    assert rows[again.pk]["client_alias"] == client_alias(first.dialog.client_id)
    assert len(rows[again.pk]["client_alias"]) == 4
    assert int(rows[again.pk]["client_alias"], 16) >= 0
    assert rows[other.pk]["client_alias"] == client_alias(other.dialog.client_id)


def test_a_stored_name_is_sent_as_it_is_never_as_markup(desk):
    request = ask(desk["chat"], client__name='<img src=x onerror="alert(1)">')
    assert row_of(desk["olga"], request)["client_name"] == '<img src=x onerror="alert(1)">'


# --- SLA -------------------------------------------------------------------------------


def test_a_waiting_request_runs_against_the_first_response_sla(desk):
    request = ask(desk["chat"])
    row = row_of(desk["olga"], request)
    assert (row["sla_seconds"], row["answered"]) == (60, False)
    assert when(row["sla_deadline"]) == request.created_at + timedelta(seconds=60)


def test_an_accepted_request_nobody_answered_yet_still_runs_against_the_first_sla(desk):
    request = ask(desk["chat"])
    request_accept(request=request, operator=desk["olga"])
    row = row_of(desk["olga"], request)
    assert when(row["sla_deadline"]) == request.created_at + timedelta(seconds=60)


def test_after_an_answer_the_next_visitor_message_runs_against_the_next_response_sla(desk):
    request = ask(desk["chat"])
    request_accept(request=request, operator=desk["olga"])
    operator_message_post(request=request, operator=desk["olga"], text="Hi!", client_msg_id="o-1")
    # answered: nothing waits
    answered = row_of(desk["olga"], request)
    assert (answered["sla_deadline"], answered["answered"]) == (None, True)
    # when the visitor writes again
    result = dialog_receive_client_message(
        dialog=request.dialog, text="one more thing", client_msg_id="c-2"
    )
    # then
    row = row_of(desk["olga"], request)
    assert row["sla_seconds"] == 300
    assert when(row["sla_deadline"]) == result.message.created_at + timedelta(seconds=300)


def test_a_chat_without_settings_uses_the_default_slas():
    chat = ChatFactory()
    olga = OperatorFactory(chats=[chat])
    request = ask(chat)
    HandoffSettings.objects.filter(chat=chat).delete()
    row = row_of(olga, request)
    assert row["sla_seconds"] == 60
    snapshot = selectors.inbox_snapshot(operator=olga)
    assert snapshot["sla"] == {str(chat.pk): {"first": 60, "next": 120}}


def test_the_list_is_sorted_by_urgency(desk):
    # given: three waiting requests of two chats with different SLAs
    slow_chat = ChatFactory()
    HandoffSettings.objects.create(chat=slow_chat, sla_first_response_seconds=3600)
    desk["olga"].chats.add(slow_chat)
    now = timezone.now()
    patient = ask(slow_chat)  # an hour's SLA: much time left
    overdue = ask(desk["chat"])
    fresh = ask(desk["chat"])
    Request.objects.filter(pk=patient.pk).update(created_at=now - timedelta(minutes=10))
    Request.objects.filter(pk=overdue.pk).update(created_at=now - timedelta(minutes=5))
    Request.objects.filter(pk=fresh.pk).update(created_at=now - timedelta(seconds=10))
    # and one of Olga's, answered (nothing waits: last)
    answered = ask(desk["chat"])
    request_accept(request=answered, operator=desk["olga"])
    operator_message_post(request=answered, operator=desk["olga"], text="Hi", client_msg_id="a")
    # then: overdue first, then least time left, then nothing waiting
    ids = [row["id"] for row in selectors.requests_for_operator(operator=desk["olga"])]
    assert ids == [overdue.pk, fresh.pk, patient.pk, answered.pk]


# --- filters: all my chats -------------------------------------------------------------


def test_colleagues_conversations_are_listed_apart_for_all_my_chats(desk):
    ivans = ask(desk["chat"])
    request_accept(request=ivans, operator=desk["ivan"])
    olgas = ask(desk["chat"])
    request_accept(request=olgas, operator=desk["olga"])
    outsider = ask(ChatFactory())
    request_accept(request=outsider, operator=OperatorFactory(chats=[outsider.chat]))
    # when
    snapshot = selectors.inbox_snapshot(operator=desk["olga"])
    # then
    assert [row["id"] for row in snapshot["items"]] == [olgas.pk]
    assert [(row["id"], row["operator"]) for row in snapshot["others"]] == [(ivans.pk, "Ivan")]


# --- closed: one row per request, paged ------------------------------------------------


def test_each_closed_request_of_one_dialog_is_one_row_with_its_own_last_exchange(desk):
    # given: the visitor asked three times in one dialog (the rows used to be identical:
    # each showed the dialog's last message, the rating prompt)
    dialog = DialogFactory(client__chat=desk["chat"], client__name="Ann")
    for turn in range(3):
        request = request_open(dialog=dialog, reason="api")
        request_accept(request=request, operator=desk["olga"])
        dialog_receive_client_message(
            dialog=dialog, text=f"question {turn}", client_msg_id=f"{turn}"
        )
        request_close(request=request, actor=desk["olga"], reason="operator")
    # when
    rows = selectors.requests_for_operator(operator=desk["olga"])
    # then
    assert [row["preview"] for row in rows] == ["question 2", "question 1", "question 0"]
    assert len({row["id"] for row in rows}) == 3


def test_the_closed_list_is_paged_without_gaps_or_repeats(desk):
    # given: 53 closed requests, several closed at the same instant
    same_moment = timezone.now()
    closed = []
    for number in range(53):
        request = ask(desk["chat"])
        moment = same_moment if number % 4 == 0 else same_moment - timedelta(seconds=number)
        closed.append(request_close(request=request, reason="client", now=moment).pk)
    # when
    snapshot = selectors.inbox_snapshot(operator=desk["olga"])
    second = selectors.closed_page(operator=desk["olga"], after=snapshot["closed_next"])
    # then
    first_ids = [row["id"] for row in snapshot["items"]]
    second_ids = [row["id"] for row in second["items"]]
    assert (len(first_ids), len(second_ids), second["next"]) == (50, 3, None)
    assert snapshot["closed_next"] == first_ids[-1]
    assert sorted(first_ids + second_ids) == sorted(closed)
    moments = [when(row["closed_at"]) for row in snapshot["items"] + second["items"]]
    assert moments == sorted(moments, reverse=True)


def test_a_closed_page_after_a_request_not_in_the_list_is_not_found(desk):
    outsider = ask(ChatFactory())
    request_close(request=outsider, reason="client")
    still_open = ask(desk["chat"])
    for cursor in (outsider.pk, still_open.pk, 10**9):
        with pytest.raises(Request.DoesNotExist):
            selectors.closed_page(operator=desk["olga"], after=cursor)


def test_one_page_of_closed_requests_has_no_next_cursor(desk):
    request_close(request=ask(desk["chat"]), reason="client")
    assert selectors.inbox_snapshot(operator=desk["olga"])["closed_next"] is None


# --- search ----------------------------------------------------------------------------


@pytest.fixture
def searchable(desk):
    ann = ask(desk["chat"], client__name="Ann Lee")
    maria_dialog = DialogFactory(client__chat=desk["chat"])
    customer_bind(client=maria_dialog.client, name="Maria", phone="+39 333 123 4567")
    customer_bind(client=maria_dialog.client, email="maria@example.com", phone="+393331234567")
    maria = request_open(dialog=maria_dialog, reason="api")
    talk = ask(desk["chat"])
    dialog_receive_client_message(
        dialog=talk.dialog, text="My parcel 77-ZX never came", client_msg_id="p"
    )
    # another chat's visitor says the same: never Olga's to find
    elsewhere = ask(ChatFactory(), client__name="Ann Lee")
    dialog_receive_client_message(
        dialog=elsewhere.dialog, text="My parcel 77-ZX never came", client_msg_id="q"
    )
    return {"ann": ann, "maria": maria, "talk": talk, "elsewhere": elsewhere}


def found(operator, query: str) -> list[int]:
    return [row["id"] for row in selectors.requests_search(operator=operator, query=query)]


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("ann l", "ann"),
        ("MARIA@EXAMPLE", "maria"),
        ("333 123", "maria"),
        ("+39 333", "maria"),
        ("parcel 77-zx", "talk"),
    ],
)
def test_search_finds_names_phones_emails_and_message_text(desk, searchable, query, who):
    assert found(desk["olga"], query) == [searchable[who].pk]


def test_search_never_finds_what_the_operator_may_not_see(desk, searchable):
    # rejected by Olga while waiting
    request_reject(request=searchable["ann"], operator=desk["olga"])
    assert found(desk["olga"], "Ann Lee") == []
    assert found(desk["olga"], "parcel") == [searchable["talk"].pk]
    # and the other chat's operator finds only theirs
    outsider = OperatorFactory(chats=[searchable["elsewhere"].chat])
    assert found(outsider, "parcel") == [searchable["elsewhere"].pk]


def test_search_finds_closed_requests_and_ones_colleagues_hold(desk, searchable):
    request_accept(request=searchable["talk"], operator=desk["ivan"])
    request_close(request=searchable["ann"], reason="client")
    assert found(desk["olga"], "parcel") == [searchable["talk"].pk]
    assert found(desk["olga"], "ann lee") == [searchable["ann"].pk]


def test_search_treats_like_wildcards_as_text(desk, searchable):
    assert found(desk["olga"], "%%") == []
    assert found(desk["olga"], "__") == []


def test_search_costs_a_fixed_number_of_statements(desk, django_assert_max_num_queries):
    for number in range(30):
        request = ask(desk["chat"], client__name=f"Sam {number}")
        dialog_receive_client_message(
            dialog=request.dialog, text=f"Sam's note {number}", client_msg_id=f"s{number}"
        )
    # when / then: 30 matches cost what one does
    with django_assert_max_num_queries(4):
        rows = selectors.requests_search(operator=desk["olga"], query="sam")
    assert len(rows) == 30
    assert all(row["client_name"].startswith("Sam ") for row in rows)


def test_search_returns_at_most_fifty(desk):
    for number in range(55):
        ask(desk["chat"], client__name=f"Zed {number}")
    assert len(found(desk["olga"], "zed")) == 50


def test_the_snapshot_costs_the_same_statements_however_many_rows(desk):
    def statements() -> int:
        with CaptureQueriesContext(connection) as context:
            selectors.inbox_snapshot(operator=desk["olga"])
        return len(context.captured_queries)

    # given: one request of each kind (the operators may hold them all)
    Operator.objects.update(max_simultaneous_dialogs=50)

    def one_of_each(number: int) -> None:
        ask(desk["chat"], client__name=f"Wait {number}")
        mine = ask(desk["chat"])
        request_accept(request=mine, operator=desk["olga"])
        theirs = ask(desk["chat"])
        request_accept(request=theirs, operator=desk["ivan"])
        request_close(request=ask(desk["chat"]), reason="client")

    one_of_each(0)
    few = statements()
    # when: ten times as many
    for number in range(1, 10):
        one_of_each(number)
    # then
    assert statements() == few
    assert few <= 8
