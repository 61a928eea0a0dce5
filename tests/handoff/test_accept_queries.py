"""What a console operator's accept costs in statements (issue 9, the accept storm):
counted as the console runs it, the session check and the service in one database
call (handoff.consumers._checked). Each row is locked once: the dialog (with its chat,
the chat's Telegram bot and the client), the request, the operator's profile."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chats.enums import DialogStatus
from chats.models import Dialog
from handoff import services
from handoff.access import ConsoleSession
from handoff.consumers import _checked
from handoff.enums import RequestStatus
from handoff.models import Request, RequestEvent
from handoff.services import request_open
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def desk():
    chat = ChatFactory()
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    client = Client()
    client.force_login(olga.user)
    session = ConsoleSession(
        session_key=client.cookies["sessionid"].value, user_id=olga.user_id, operator_id=olga.pk
    )
    _checked(session, None, {})  # the console's first check is the full one
    return {"chat": chat, "olga": olga, "session": session}


def waiting(chat) -> Request:
    return request_open(dialog=DialogFactory(client__chat=chat), reason="headset")


def accept(desk, request: Request):
    return _checked(
        desk["session"],
        services.request_accept,
        {"request": request.pk, "dialog_id": request.dialog_id, "visible_only": True},
    )


def verbs(context) -> list[str]:
    return [query["sql"].split(None, 1)[0] for query in context.captured_queries]


def test_a_console_accept_costs_thirteen_statements(desk):
    accept(desk, waiting(desk["chat"]))  # warm-up: the settings cached
    request = waiting(desk["chat"])
    # when
    with CaptureQueriesContext(connection) as context:
        _operator, accepted = accept(desk, request)
    # then: session read, BEGIN, dialog lock (with chat, client and the chat's bot),
    # request lock, operator lock, count of what they hold, event insert, request
    # update, dialog status update, queued-requests check, the notice's sequence and
    # insert, COMMIT
    sql = [query["sql"] for query in context.captured_queries]
    assert len(sql) == 13, [statement[:80] for statement in sql]
    assert accepted.status == RequestStatus.ACCEPTED
    dialog_reads = [s for s in sql if s.startswith("SELECT") and ' FROM "chats_dialog"' in s]
    assert len(dialog_reads) == 1
    assert not any("SAVEPOINT" in statement for statement in sql)
    assert not any(' FROM "telegram_bridge_telegrambot"' in statement for statement in sql)
    # and all of it was written
    assert Dialog.objects.get(pk=request.dialog_id).status == DialogStatus.OPERATOR
    assert RequestEvent.objects.filter(request=request, to_status="accepted").count() == 1
    assert Request.objects.get(pk=request.pk).operator == desk["olga"]


def test_a_refused_accept_changes_nothing(desk):
    request = waiting(desk["chat"])
    ivan = OperatorFactory(display_name="Ivan", chats=[desk["chat"]])
    services.request_accept(request=request, operator=ivan)
    events = RequestEvent.objects.count()
    # when
    with pytest.raises(services.RequestAlreadyTaken):
        accept(desk, Request.objects.get(pk=request.pk))
    # then
    stored = Request.objects.get(pk=request.pk)
    assert (stored.status, stored.operator) == (RequestStatus.ACCEPTED, ivan)
    assert RequestEvent.objects.count() == events
    assert Dialog.objects.get(pk=request.dialog_id).status == DialogStatus.OPERATOR
