"""What processing one update costs the database: a client's text message in a dialog
with the bot, and in a dialog an operator holds. All of it runs on the worker's own
thread (no event loop, no database thread), so one CaptureQueriesContext sees every
statement; the Telegram part is held exactly, the rest (chats, handoff) is theirs."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from handoff.models import Request
from handoff.services import request_accept
from telegram_bridge.services.updates import updates_process
from tests.distributor.factories import OperatorFactory
from tests.telegram_bridge.telegram_updates import callback_update, text_update
from tests.telegram_bridge.test_handoff_flow import connect_operator

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 503
OPERATOR_USER = 603


def process_one(world, payload: dict, chat_id: int) -> list[str]:
    assert world.receive(payload)
    with CaptureQueriesContext(connection) as queries:
        assert updates_process(bot_id=world.bot.pk, telegram_chat_id=chat_id) == 1
    return [query["sql"] for query in queries.captured_queries]


TARGET = {
    "SELECT": re.compile(r' FROM "(\w+)"'),
    "UPDATE": re.compile(r'^UPDATE "(\w+)"'),
    "INSERT": re.compile(r'^INSERT INTO "(\w+)"'),
    "DELETE": re.compile(r'^DELETE FROM "(\w+)"'),
}


def telegram_statements(statements: list[str]) -> list[str]:
    """The statements on telegram_bridge's own tables (the table read or written, not
    one joined), as 'VERB table'."""
    found = []
    for sql in statements:
        verb = sql.split(" ", 1)[0]
        target = TARGET[verb].search(sql) if verb in TARGET else None
        if target and target[1].startswith("telegram_bridge_"):
            found.append(f"{verb} {target[1].removeprefix('telegram_bridge_')}")
    return found


LEASE_AND_CLAIM = [
    "SELECT telegrambot",  # the bot with its chat, once per task
    "UPDATE telegramchat",  # the chat's lease
    "SELECT telegramupdate",  # its unfinished updates, a batch at a time
    "UPDATE telegramupdate",  # the attempt counted before handling
]
RELEASE = [
    "UPDATE telegramchat",  # the lease let go
    "SELECT telegramupdate",  # anything stored meanwhile?
]


def test_a_client_message_in_a_bot_dialog(telegram_world):
    world = telegram_world
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="hello"))
    world.settle()

    statements = process_one(
        world, text_update(world.next_update_id(), user_id=CLIENT, text="again"), CLIENT
    )

    assert telegram_statements(statements) == [
        *LEASE_AND_CLAIM,
        "UPDATE telegramchat",  # writing again unblocks
        "SELECT operatoraccount",  # an operator or a client?
        "SELECT formprogress",  # a form being asked?
        "INSERT outboundmessage",  # the bot's answer
        "UPDATE telegramupdate",  # processed, in the handling's transaction
        *RELEASE,
    ]
    print(f"\nclient message in a bot dialog: {len(statements)} statements")


def test_a_client_message_in_an_operator_dialog(telegram_world):
    world = telegram_world
    connect_operator(world, OPERATOR_USER)
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="/human"))
    world.settle()
    request = Request.objects.get()
    world.receive(
        callback_update(
            world.next_update_id(), user_id=OPERATOR_USER, data=f"a:{request.pk}", message_id=1
        )
    )
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="first"))
    world.settle()

    statements = process_one(
        world, text_update(world.next_update_id(), user_id=CLIENT, text="my order"), CLIENT
    )

    assert telegram_statements(statements) == [
        *LEASE_AND_CLAIM,
        "UPDATE telegramchat",
        "SELECT operatoraccount",
        "SELECT formprogress",
        # the operator on Telegram who holds it came with the request (a JOIN)
        "INSERT outboundmessage",  # relayed to them
        "UPDATE telegramupdate",
        *RELEASE,
    ]
    assert not any('FROM "telegram_bridge_operatorsession"' in sql for sql in statements)
    world.settle()
    assert world.texts_to(OPERATOR_USER)[-1].endswith(": my order")  # and it was relayed
    print(f"\nclient message in an operator dialog: {len(statements)} statements")


def test_a_client_message_in_a_dialog_a_console_operator_holds(telegram_world):
    world = telegram_world
    operator = OperatorFactory(display_name="Ivan", chats=[world.bot.chat])
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="/human"))
    world.settle()
    request_accept(request=Request.objects.get(), operator=operator)
    world.settle()

    statements = process_one(
        world, text_update(world.next_update_id(), user_id=CLIENT, text="still there?"), CLIENT
    )

    # nothing is sent on Telegram, and no one looked for an operator on Telegram
    assert telegram_statements(statements) == [
        *LEASE_AND_CLAIM,
        "UPDATE telegramchat",
        "SELECT operatoraccount",
        "SELECT formprogress",
        "UPDATE telegramupdate",
        *RELEASE,
    ]
    assert not any('FROM "telegram_bridge_operatorsession"' in sql for sql in statements)
