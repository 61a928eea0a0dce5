"""Group commit of visitors' messages: what several sockets of one process send while
the database thread is busy is stored in one transaction, each message on its own."""

import asyncio

import pytest
from celery import current_app
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from chats.enums import AuthorKind, DialogStatus, HeadsetMode
from chats.group_commit import ClientMessageGroupCommit, ClientMessageNotStored
from chats.models import Message
from chats.realtime import database_call, dialog_group_name
from chats.services import DialogClosed, dialog_status_set
from chats.visitor_tokens import visitor_token_issue
from tests.chats.factories import ChatFactory, DialogFactory
from tests.chats.test_consumers import hello, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="ends the database session from a trigger"
)
# a message with this text ends its database session the first time it is inserted
SESSION_ENDING_TEXT = "this message ends the database session"


def client_texts(dialog):
    return list(
        Message.objects.filter(dialog=dialog, author_kind=AuthorKind.CLIENT)
        .order_by("sequence")
        .values_list("text", flat=True)
    )


async def test_messages_sent_together_are_each_stored_and_answered():
    # given three dialogs, each on its own socket
    dialogs = [await database_call(DialogFactory.create) for _ in range(3)]
    group_commit = ClientMessageGroupCommit()
    # when all three send at once
    results = await asyncio.gather(
        *(
            group_commit.store(dialog=dialog, text=f"hi {n}", client_msg_id=f"m{n}")
            for n, dialog in enumerate(dialogs)
        )
    )
    # then each got its own stored message
    assert [result.message.text for result in results] == ["hi 0", "hi 1", "hi 2"]
    assert [result.created for result in results] == [True, True, True]
    for n, dialog in enumerate(dialogs):
        assert await database_call(client_texts, dialog=dialog) == [f"hi {n}"]


async def test_a_message_that_fails_fails_alone():
    # given an open dialog, a closed one and a message with no text
    open_dialog, closed, other = [await database_call(DialogFactory.create) for _ in range(3)]
    await database_call(dialog_status_set, dialog=closed, status=DialogStatus.CLOSED)
    group_commit = ClientMessageGroupCommit()
    # when they arrive together
    outcomes = await asyncio.gather(
        group_commit.store(dialog=closed, text="late", client_msg_id="c1"),
        group_commit.store(dialog=open_dialog, text="hello", client_msg_id="o1"),
        group_commit.store(dialog=other, text="   ", client_msg_id="e1"),
        return_exceptions=True,
    )
    # then each failure is its own, and the good message is stored
    assert isinstance(outcomes[0], DialogClosed)
    assert outcomes[1].message.text == "hello"
    assert isinstance(outcomes[2], ValidationError)
    assert await database_call(client_texts, dialog=open_dialog) == ["hello"]
    assert await database_call(client_texts, dialog=closed) == []
    assert await database_call(client_texts, dialog=other) == []


async def test_one_dialogs_messages_keep_their_order_in_a_batch():
    dialog, other = [await database_call(DialogFactory.create) for _ in range(2)]
    group_commit = ClientMessageGroupCommit()
    results = await asyncio.gather(
        group_commit.store(dialog=dialog, text="first", client_msg_id="a1"),
        group_commit.store(dialog=other, text="elsewhere", client_msg_id="b1"),
        group_commit.store(dialog=dialog, text="second", client_msg_id="a2"),
    )
    assert results[0].message.sequence < results[2].message.sequence
    assert await database_call(client_texts, dialog=dialog) == ["first", "second"]


@pytest.fixture
def session_ending_message(transactional_db):
    """A PostgreSQL trigger: the first insert of SESSION_ENDING_TEXT terminates the
    inserting session (the sequence is not transactional, so a resend goes through)."""
    table = Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE ending_session_once")
        cursor.execute(
            """
            CREATE FUNCTION ending_session() RETURNS trigger AS $$
            BEGIN
                IF nextval('ending_session_once') = 1 THEN
                    PERFORM pg_terminate_backend(pg_backend_pid());
                    PERFORM pg_sleep(5);  -- the termination is taken here
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql
            """
        )
        cursor.execute(
            f"CREATE TRIGGER ending_session BEFORE INSERT ON {table} FOR EACH ROW "
            f"WHEN (NEW.text = %s) EXECUTE FUNCTION ending_session()",
            [SESSION_ENDING_TEXT],
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER ending_session ON {table}")
        cursor.execute("DROP FUNCTION ending_session()")
        cursor.execute("DROP SEQUENCE ending_session_once")


@pytest.fixture
def published(monkeypatch):
    """The (group, event type) pairs sent on the channel layer."""
    layer = get_channel_layer()
    original = layer.group_send
    sends = []

    async def recording_group_send(group, event):
        sends.append((group, event["type"]))
        await original(group, event)

    monkeypatch.setattr(layer, "group_send", recording_group_send)
    return sends


@on_postgresql
async def test_a_batch_whose_connection_dies_midway_acknowledges_none_of_it(
    session_ending_message,
):
    # given two dialogs; the second one's message ends the database session
    first, second = [await database_call(DialogFactory.create) for _ in range(2)]
    group_commit = ClientMessageGroupCommit()
    # when they are stored in one batch (the first before the second: dialog order)
    outcomes = await asyncio.gather(
        group_commit.store(dialog=first, text="hello", client_msg_id="a1"),
        group_commit.store(dialog=second, text=SESSION_ENDING_TEXT, client_msg_id="b1"),
        return_exceptions=True,
    )
    # then neither is acknowledged, and neither is stored
    assert [type(outcome) for outcome in outcomes] == [ClientMessageNotStored] * 2
    assert await database_call(client_texts, dialog=first) == []
    assert await database_call(client_texts, dialog=second) == []
    # and sent again, both are stored once, on a new connection
    again = await asyncio.gather(
        group_commit.store(dialog=first, text="hello", client_msg_id="a1"),
        group_commit.store(dialog=second, text=SESSION_ENDING_TEXT, client_msg_id="b1"),
    )
    assert [result.created for result in again] == [True, True]
    assert await database_call(client_texts, dialog=first) == ["hello"]
    assert await database_call(client_texts, dialog=second) == [SESSION_ENDING_TEXT]


@on_postgresql
async def test_a_socket_whose_message_was_not_stored_is_told_and_closed_to_resend(
    session_ending_message,
):
    # given a visitor's socket
    chat = await database_call(ChatFactory.create)
    token = visitor_token_issue(public_key=chat.public_key)
    communicator, _connected = await open_socket(chat.public_key)
    welcome = await hello(communicator, token)
    # when its message's batch loses the database connection
    await communicator.send_json_to(
        {"type": "message", "client_msg_id": "c1", "text": SESSION_ENDING_TEXT}
    )
    # then it is told, with the message's id, and the socket closes (the widget reconnects
    # and resends its outbox in order); nothing is stored
    error = await communicator.receive_json_from(timeout=5)
    closed = await communicator.receive_output(timeout=5)
    assert (error["type"], error["code"], error["client_msg_id"]) == ("error", "not_stored", "c1")
    assert closed == {"type": "websocket.close", "code": 1013}
    await communicator.disconnect()
    assert await database_call(Message.objects.filter(client_msg_id="c1").count) == 0
    # and the resend on a new socket is acknowledged and stored
    again, _connected = await open_socket(chat.public_key)
    await hello(again, token, dialog=welcome["dialog"])
    await again.send_json_to(
        {"type": "message", "client_msg_id": "c1", "text": SESSION_ENDING_TEXT}
    )
    ack = await again.receive_json_from(timeout=5)
    await again.disconnect()
    assert (ack["type"], ack["client_msg_id"], ack["duplicate"]) == ("ack", "c1", False)
    assert await database_call(Message.objects.filter(client_msg_id="c1").count) == 1


def trigger_and_plain_dialogs():
    return DialogFactory(
        client__chat=ChatFactory(headset_mode=HeadsetMode.TRIGGER)
    ), DialogFactory()


async def test_a_broker_away_fails_no_message_of_the_batch(monkeypatch, published):
    # given a dialog whose messages schedule the trigger's task, and a plain one
    triggered, plain = await database_call(trigger_and_plain_dialogs)

    def broker_away(*args, **kwargs):
        raise ConnectionError("broker away")

    monkeypatch.setattr(current_app, "send_task", broker_away)
    group_commit = ClientMessageGroupCommit()
    # when both send in one batch while the broker is away
    results = await asyncio.gather(
        group_commit.store(dialog=triggered, text="hello", client_msg_id="t1"),
        group_commit.store(dialog=plain, text="unrelated", client_msg_id="p1"),
    )
    # then both are acknowledged, stored and published
    assert [result.message.text for result in results] == ["hello", "unrelated"]
    assert await database_call(client_texts, dialog=triggered) == ["hello"]
    assert await database_call(client_texts, dialog=plain) == ["unrelated"]
    assert (dialog_group_name(triggered.pk), "dialog.message") in published
    assert (dialog_group_name(plain.pk), "dialog.message") in published


def schedule_failing_hook(execute, sql, params, many, context):
    """Someone else's after-commit hook, not robust, that raises: registered by every
    statement run in a transaction (a query wrapper: Django's own extension point)."""
    if context["connection"].in_atomic_block:
        transaction.on_commit(lambda: 1 / 0)
    return execute(sql, params, many, context)


def database_thread_wrappers():
    return connection.execute_wrappers


@pytest.fixture
async def failing_hooks():
    """Call the returned function to add the failing hook on the database thread."""
    wrappers = await database_call(database_thread_wrappers)

    async def add():
        wrappers.append(schedule_failing_hook)

    yield add
    wrappers.remove(schedule_failing_hook)


async def test_a_hook_that_raises_after_the_commit_fails_no_message_of_the_batch(
    failing_hooks, published
):
    # given two dialogs, and a hook that raises after each message's commit
    first, second = [await database_call(DialogFactory.create) for _ in range(2)]
    await failing_hooks()
    group_commit = ClientMessageGroupCommit()
    # when both send in one batch
    results = await asyncio.gather(
        group_commit.store(dialog=first, text="one", client_msg_id="a1"),
        group_commit.store(dialog=second, text="two", client_msg_id="b1"),
    )
    # then both are acknowledged and published: they were committed
    assert [result.message.text for result in results] == ["one", "two"]
    assert await database_call(client_texts, dialog=second) == ["two"]
    assert (dialog_group_name(first.pk), "dialog.message") in published
    assert (dialog_group_name(second.pk), "dialog.message") in published
