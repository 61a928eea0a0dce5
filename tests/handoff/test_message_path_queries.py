"""What an operator's reply and a visitor's message in an accepted request cost in
statements (issue 9). The operator's path is counted as the console runs it: the
session check and the service in one database call (handoff.consumers._checked)."""

import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chats.enums import DialogStatus
from chats.services import DialogClosed, dialog_receive_client_message
from handoff import services
from handoff.access import ConsoleSession
from handoff.consumers import _checked
from handoff.enums import CloseReason
from handoff.models import HandoffSettings, Request, WorkingPeriod
from handoff.services import handoff_settings_for, request_accept, request_open
from handoff.services.errors import IllegalTransition, NotYourRequest
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def talk():
    chat = ChatFactory()
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    dialog = DialogFactory(client__chat=chat)
    request = request_open(dialog=dialog, reason="headset")
    request_accept(request=request, operator=olga)
    client = Client()
    client.force_login(olga.user)
    session = ConsoleSession(
        session_key=client.cookies["sessionid"].value, user_id=olga.user_id, operator_id=olga.pk
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


def test_an_operator_reply_costs_six_statements_with_the_session_check(talk):
    reply(talk, "warm-up")
    # when
    with CaptureQueriesContext(connection) as context:
        _operator, (message, created) = reply(talk, "m-1")
    # then: session+profile read, BEGIN, dialog update (its lock and the sequence),
    # message insert, request update (its lock, the checks, the deadlines, returning the
    # settings revision), COMMIT: no locking read, nothing compiled by the ORM
    assert created
    assert len(context.captured_queries) == 6, [q["sql"][:80] for q in context]
    assert len(statements(context, "django_session")) == 1
    assert statements(context, "handoff_handoffsettings") == statements(context, "handoff_request")
    assert [sql.lstrip()[:6] for sql in statements(context, "handoff_request")] == ["UPDATE"]
    assert [sql for sql in statements(context, "chats_dialog") if sql.startswith("SELECT")] == []
    assert [
        sql for sql in statements(context, "chats_chat") if sql.startswith('SELECT "chats_chat"')
    ] == []
    request = Request.objects.get(pk=talk["request"].pk)
    settings = handoff_settings_for(request.chat_id)
    assert (request.reply_deadline - message.created_at).total_seconds() == pytest.approx(
        settings.reply_timeout_seconds, abs=1
    )
    assert (request.idle_deadline - message.created_at).total_seconds() == pytest.approx(
        settings.operator_idle_seconds, abs=1
    )


def test_a_chat_idle_time_changed_reaches_the_next_reply_at_once(talk):
    reply(talk, "m-1")
    settings = HandoffSettings.objects.get(chat_id=talk["dialog"].chat_id)
    settings.operator_idle_seconds = 11
    settings.save(update_fields=["operator_idle_seconds"])
    # when
    _operator, (message, _created) = reply(talk, "m-2")
    # then
    request = Request.objects.get(pk=talk["request"].pk)
    assert (request.idle_deadline - message.created_at).total_seconds() == pytest.approx(11, abs=1)


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


# --- the console's path (an id with its dialog id) refuses as the full path does ---


def post_by_id(talk, operator, client_msg_id: str, **kwargs):
    return services.operator_message_post(
        request=talk["request"].pk,
        dialog_id=kwargs.pop("dialog_id", talk["dialog"].pk),
        operator=operator,
        text="hello",
        client_msg_id=client_msg_id,
        visible_only=True,
        **kwargs,
    )


def written(talk) -> tuple:
    dialog = talk["dialog"].__class__.objects.get(pk=talk["dialog"].pk)
    request = Request.objects.get(pk=talk["request"].pk)
    return (
        dialog.last_sequence,
        dialog.messages.count(),
        request.idle_deadline,
        request.reply_deadline,
    )


def test_by_id_a_resend_after_the_request_closed_returns_the_stored_reply(talk):
    stored, created = post_by_id(talk, talk["olga"], "m-1")
    assert created
    services.request_close(request=talk["request"], reason=CloseReason.CLIENT)
    before = written(talk)
    # when
    resent, created = post_by_id(talk, talk["olga"], "m-1")
    # then
    assert (resent.pk, created) == (stored.pk, False)
    assert written(talk) == before


def test_by_id_a_resend_while_accepted_writes_nothing(talk):
    stored, _created = post_by_id(talk, talk["olga"], "m-1")
    before = written(talk)
    resent, created = post_by_id(talk, talk["olga"], "m-1")
    assert (resent.pk, created) == (stored.pk, False)
    assert written(talk) == before


def test_by_id_a_new_reply_after_the_request_closed_is_refused_with_nothing_written(talk):
    services.request_close(request=talk["request"], reason=CloseReason.CLIENT)
    before = written(talk)
    with pytest.raises(IllegalTransition):
        post_by_id(talk, talk["olga"], "late")
    assert written(talk) == before


def test_by_id_another_operator_is_refused_with_nothing_written(talk):
    stranger = OperatorFactory(display_name="Olga", chats=[talk["dialog"].chat])
    before = written(talk)
    with pytest.raises(NotYourRequest):
        post_by_id(talk, stranger, "x")
    assert written(talk) == before


def test_by_id_an_operator_not_serving_the_chat_finds_no_request(talk):
    outsider = OperatorFactory(display_name="Ivan", chats=[ChatFactory()])
    before = written(talk)
    with pytest.raises(Request.DoesNotExist):
        post_by_id(talk, outsider, "x")
    assert written(talk) == before


def test_by_id_a_request_of_another_dialog_finds_no_request(talk):
    other = DialogFactory(client__chat=talk["dialog"].chat)
    before = written(talk)
    with pytest.raises(Request.DoesNotExist):
        post_by_id(talk, talk["olga"], "x", dialog_id=other.pk)
    assert written(talk) == before


def test_by_id_a_closed_dialog_refuses(talk):
    from chats.models import Dialog

    Dialog.objects.filter(pk=talk["dialog"].pk).update(status=DialogStatus.CLOSED)
    before = written(talk)
    with pytest.raises(DialogClosed):
        post_by_id(talk, talk["olga"], "x")
    assert written(talk) == before
