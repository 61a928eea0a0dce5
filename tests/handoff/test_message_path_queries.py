"""What an operator's reply and a visitor's message in an accepted request cost in
statements (issue 9). The operator's path is counted as the console runs it: the
session check and the service in one database call (handoff.consumers._checked)."""

import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chats.services import dialog_receive_client_message
from handoff import services
from handoff.access import ConsoleSession
from handoff.consumers import _checked
from handoff.models import HandoffSettings, Request, WorkingPeriod
from handoff.services import handoff_settings_for, request_accept, request_open
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import ManagerFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def talk():
    chat = ChatFactory()
    olga = ManagerFactory(display_name="Olga", chats=[chat])
    dialog = DialogFactory(client__chat=chat)
    request = request_open(dialog=dialog, reason="headset")
    request_accept(request=request, operator=olga)
    client = Client()
    client.force_login(olga.user)
    session = ConsoleSession(
        session_key=client.cookies["sessionid"].value, user_id=olga.user_id, manager_id=olga.pk
    )
    # the console's first check is the full one; it remembers what it verified
    _checked(session, None, {})
    return {"olga": olga, "dialog": dialog, "request": request, "session": session}


def reply(talk, client_msg_id: str):
    return _checked(
        talk["session"],
        services.operator_message_post,
        {
            "request": talk["request"].pk,
            "dialog_id": talk["dialog"].pk,
            "visible_only": True,
            "text": "hello",
            "client_msg_id": client_msg_id,
        },
    )


def statements(context, table: str) -> list[str]:
    return [query["sql"] for query in context.captured_queries if f'"{table}"' in query["sql"]]


def test_an_operator_reply_costs_eight_statements_with_the_session_check(talk):
    reply(talk, "warm-up")
    # when
    with CaptureQueriesContext(connection) as context:
        _manager, (message, created) = reply(talk, "m-1")
    # then: session+profile read, BEGIN, dialog lock, request lock (with the settings
    # revision and the served check), dialog update, message insert, request update, COMMIT
    assert created
    assert len(context.captured_queries) == 8, [q["sql"][:80] for q in context]
    assert len(statements(context, "django_session")) == 1
    assert statements(context, "handoff_handoffsettings") == [
        statements(context, "handoff_request")[0]
    ]
    assert (
        len([sql for sql in statements(context, "chats_dialog") if sql.startswith("SELECT")]) == 1
    )
    # the chat comes with the dialog's lock, not lazily
    assert [
        sql for sql in statements(context, "chats_chat") if sql.startswith('SELECT "chats_chat"')
    ] == []


def test_a_visitor_message_in_an_accepted_request_costs_handoff_two_statements(talk):
    dialog_receive_client_message(dialog=talk["dialog"], text="warm", client_msg_id="c-0")
    # when
    with CaptureQueriesContext(connection) as context:
        dialog_receive_client_message(dialog=talk["dialog"], text="hi", client_msg_id="c-1")
    # then: one read of the open request (with the settings revision), one update of
    # its reply deadline; the settings come from the cache
    handoff = statements(context, "handoff_request")
    assert len(handoff) == 2, handoff
    assert handoff[1].lstrip().startswith("UPDATE")
    assert all('"handoff_handoffsettings"."id"' not in sql for sql in handoff)


def test_a_saved_setting_reaches_the_next_reply_at_once(talk):
    reply(talk, "m-1")
    settings = HandoffSettings.objects.get(chat_id=talk["request"].chat_id)
    settings.reply_timeout_seconds = 7
    settings.save()
    # when
    reply(talk, "m-2")
    # then
    request = Request.objects.get(pk=talk["request"].pk)
    message = talk["dialog"].messages.get(client_msg_id="m-2")
    assert (request.reply_deadline - message.created_at).total_seconds() == pytest.approx(7, abs=1)


def test_a_working_period_saved_or_deleted_revises_the_settings(talk):
    settings = handoff_settings_for(talk["request"].chat_id)
    before = settings.revision
    period = WorkingPeriod.objects.create(
        settings=settings, weekday=0, starts_at=datetime.time(9), ends_at=datetime.time(17)
    )
    after_save = HandoffSettings.objects.get(pk=settings.pk).revision
    period.delete()
    after_delete = HandoffSettings.objects.get(pk=settings.pk).revision
    assert len({before, after_save, after_delete}) == 3
    assert handoff_settings_for(settings.chat_id, revision=after_delete).revision == after_delete


def test_a_session_whose_data_changed_is_checked_in_full(talk):
    from django.contrib.sessions.models import Session

    # given: the session's data changed in the store (e.g. another login wrote it)
    key = talk["session"].session_key
    Session.objects.filter(session_key=key).update(session_data="garbage")
    # when
    with pytest.raises(Exception) as ended:
        reply(talk, "m-late")
    # then: the full check found no login, and nothing was written
    assert getattr(ended.value, "code", None) == 4401
    assert not talk["dialog"].messages.filter(client_msg_id="m-late").exists()
