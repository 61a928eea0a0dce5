"""Handoff's operator surface on Telegram (TelegramSurface) and the Telegram client's
channel take the chat's bot loaded with the locked request's chat, so a request's
change and its notice cost no bot lookup (issue 9: every accept of an accept storm ran
one, and one more for the notice in a Telegram dialog)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chats.enums import AuthorKind
from chats.models import Dialog
from chats.services import message_post
from handoff.enums import RequestStatus
from handoff.models import Request
from handoff.services import request_accept, request_close
from telegram_bridge.models import AlertState, OperatorAlert
from telegram_bridge.services.operators.relay import TelegramSurface
from tests.distributor.factories import OperatorFactory
from tests.telegram_bridge.test_operators import (
    OLGA,
    accept,
    alerts_to,
    ask_for_human,
    connect,
    last_text_to,
)

pytestmark = pytest.mark.django_db(transaction=True)

BOT_READ = ' FROM "telegram_bridge_telegrambot"'


def test_a_console_accept_reads_no_bot_and_still_settles_the_alerts(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    request = ask_for_human(world)
    [alert] = alerts_to(world, OLGA, request)
    carl = OperatorFactory(display_name="Carl", chats=[world.bot.chat])
    # when
    with CaptureQueriesContext(connection) as context:
        request_accept(request=request.pk, operator=carl, dialog_id=request.dialog_id)
    world.settle()
    # then
    assert not any(BOT_READ in query["sql"] for query in context.captured_queries)
    assert OperatorAlert.objects.get(request=request).state == AlertState.TAKEN
    assert world.texts_to(OLGA)[-1].endswith("\n\nTaken by Carl.")


def test_a_close_reads_no_bot_either(telegram_world):
    world = telegram_world
    request = ask_for_human(world)
    carl = OperatorFactory(display_name="Carl", chats=[world.bot.chat])
    request_accept(request=request, operator=carl)
    # when
    with CaptureQueriesContext(connection) as context:
        closed = request_close(request=request.pk, reason="operator", actor=carl)
    # then
    assert closed.status == RequestStatus.CLOSED
    assert not any(BOT_READ in query["sql"] for query in context.captured_queries)


def test_a_client_message_for_a_request_read_without_its_session_reaches_the_operator(
    telegram_world,
):
    world = telegram_world
    connect(world, OLGA, "Olga")
    request = ask_for_human(world)
    accept(world, OLGA, request)
    dialog = Dialog.objects.get(pk=request.dialog_id)
    message, _created = message_post(dialog=dialog, author_kind=AuthorKind.CLIENT, text="Hi?")
    # when: a caller that did not load the request's session with it
    TelegramSurface().client_message(Request.objects.get(pk=request.pk), message)
    world.settle()
    # then: the open session is read and the message relayed to its operator
    assert last_text_to(world, OLGA) == "Ann: Hi?"
