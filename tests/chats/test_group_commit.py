"""Group commit of visitors' messages: what several sockets of one process send while
the database thread is busy is stored in one transaction, each message on its own."""

import asyncio

import pytest
from django.core.exceptions import ValidationError

from chats.enums import AuthorKind, DialogStatus
from chats.group_commit import ClientMessageGroupCommit
from chats.models import Message
from chats.realtime import database_call
from chats.services import DialogClosed, dialog_status_set
from tests.chats.factories import DialogFactory

pytestmark = pytest.mark.django_db(transaction=True)


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
