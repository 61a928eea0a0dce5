"""Hostile and odd input on the widget socket (issue 8): the socket answers an error
frame and stays open, nothing is stored, and stored data can always be sent."""

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from chats.enums import AuthorKind
from chats.models import Dialog, Message, PageVisit
from chats.services import message_post
from chats.visitor_tokens import visitor_token_issue
from tests.chats.test_consumers import (
    chat,  # noqa: F401 - fixture
    hello,
    is_message_with,
    open_socket,
    receive_until,
)

pytestmark = pytest.mark.django_db(transaction=True)
# PostgreSQL's jsonb refuses a lone surrogate, so old bad data can only exist on SQLite
sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="PostgreSQL cannot hold a lone surrogate"
)

DEEP = '{"type":"hello","x":' + "[" * 5000 + "]" * 5000 + "}"


async def stored_counts():
    return await sync_to_async(
        lambda: (Message.objects.count(), PageVisit.objects.count(), Dialog.objects.count())
    )()


async def assert_still_serving(communicator):
    await communicator.send_json_to({"type": "ping"})
    frames = await receive_until(communicator, lambda frame: frame["type"] == "pong")
    assert frames[-1] == {"type": "pong"}


async def test_deeply_nested_json_before_hello_is_malformed_and_the_socket_stays(chat):  # noqa: F811
    communicator, _connected = await open_socket(chat.public_key)
    # when
    await communicator.send_to(text_data=DEEP)
    error = await communicator.receive_json_from(timeout=5)
    # then
    assert (error["type"], error["code"]) == ("error", "malformed")
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.disconnect()


async def test_deeply_nested_json_after_hello_is_malformed_and_the_socket_stays(chat):  # noqa: F811
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.receive_json_from(timeout=5)  # greeting
    before = await stored_counts()
    # when
    await communicator.send_to(text_data=DEEP.replace('"hello"', '"message"'))
    error = await communicator.receive_json_from(timeout=5)
    # then
    assert (error["type"], error["code"]) == ("error", "malformed")
    assert await stored_counts() == before
    await assert_still_serving(communicator)
    await communicator.disconnect()


async def test_nesting_deeper_than_a_frame_needs_is_malformed(chat):  # noqa: F811
    communicator, _connected = await open_socket(chat.public_key)
    await communicator.send_to(text_data='{"type":"ping","x":' + "[" * 50 + "]" * 50 + "}")
    error = await communicator.receive_json_from(timeout=5)
    assert (error["type"], error["code"]) == ("error", "malformed")
    await communicator.disconnect()


# JSON escapes, so the text on the wire is valid UTF-8 but decodes to a lone surrogate
LONE = "a\\ud800b"


@pytest.mark.parametrize(
    ("raw", "client_msg_id"),
    [
        (f'{{"type":"message","client_msg_id":"c9","text":"{LONE}"}}', "c9"),
        (f'{{"type":"{LONE}"}}', None),
        (f'{{"type":"page","url":"https://example.com/","title":"{LONE}"}}', None),
        (f'{{"type":"page","url":"https://example.com/{LONE}","title":"t"}}', None),
        (f'{{"type":"form","answers":{{"1":"{LONE}"}}}}', None),
        (f'{{"type":"contact","answers":{{"{LONE}":"x"}}}}', None),
        (f'{{"type":"button","client_msg_id":"c8","button_id":1,"extra":["{LONE}"]}}', "c8"),
        # a client_msg_id that is itself bad is not echoed
        (f'{{"type":"message","client_msg_id":"{LONE}","text":"hi"}}', None),
    ],
)
async def test_lone_surrogates_are_invalid_and_nothing_is_stored(chat, raw, client_msg_id):  # noqa: F811
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.receive_json_from(timeout=5)  # greeting
    before = await stored_counts()
    # when
    await communicator.send_to(text_data=raw)
    error = await communicator.receive_json_from(timeout=5)
    # then
    assert (error["type"], error["code"]) == ("error", "invalid")
    assert error.get("client_msg_id") == client_msg_id
    assert await stored_counts() == before
    await assert_still_serving(communicator)
    await communicator.disconnect()


# "\u0000" is valid JSON, but PostgreSQL stores no NUL in text or jsonb
NUL = "a\\u0000b"


@pytest.mark.parametrize(
    ("raw", "client_msg_id"),
    [
        (f'{{"type":"message","client_msg_id":"c9","text":"{NUL}"}}', "c9"),
        (f'{{"type":"page","url":"https://example.com/","title":"{NUL}"}}', None),
        (f'{{"type":"page","url":"https://example.com/{NUL}","title":"t"}}', None),
    ],
    ids=["message", "page-title", "page-address"],
)
async def test_a_nul_in_stored_text_is_invalid_and_nothing_is_stored(chat, raw, client_msg_id):  # noqa: F811
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.receive_json_from(timeout=5)  # greeting
    before = await stored_counts()
    # when
    await communicator.send_to(text_data=raw)
    error = await communicator.receive_json_from(timeout=5)
    # then: refused like a lone surrogate, not a database error closing the socket
    assert (error["type"], error["code"]) == ("error", "invalid")
    assert error.get("client_msg_id") == client_msg_id
    assert "NUL character" in error["detail"]
    assert await stored_counts() == before
    await assert_still_serving(communicator)
    await communicator.disconnect()


async def test_a_lone_surrogate_before_hello_is_invalid_too(chat):  # noqa: F811
    communicator, _connected = await open_socket(chat.public_key)
    await communicator.send_to(text_data=f'{{"type":"hello","token":"{LONE}"}}')
    error = await communicator.receive_json_from(timeout=5)
    assert (error["type"], error["code"]) == ("error", "invalid")
    await communicator.disconnect()


@sqlite_only
async def test_stored_text_with_a_lone_surrogate_is_sent_as_replacement_characters(chat):  # noqa: F811
    # given: an old message whose buttons (JSON, so the database took it) hold a lone surrogate
    token = visitor_token_issue(public_key=chat.public_key)
    first, _connected = await open_socket(chat.public_key)
    welcome = await hello(first, token)
    await first.receive_json_from(timeout=5)  # greeting
    await first.disconnect()
    dialog = await sync_to_async(Dialog.objects.get)(session_id=welcome["dialog"])
    old, _created = await sync_to_async(message_post)(
        dialog=dialog, author_kind=AuthorKind.BOT, text="Choose"
    )
    await sync_to_async(Message.objects.filter(pk=old.pk).update)(
        buttons=[{"id": 1, "label": "x\ud800y"}], attachments=[{"name": "f\udfffg"}]
    )
    # when: the visitor comes back and gets the history
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, token)
    raw = await communicator.receive_from(timeout=5)
    while '"Choose"' not in raw:
        raw = await communicator.receive_from(timeout=5)
    # then: the frame is UTF-8 that can be sent, with U+FFFD for the bad characters
    raw.encode("utf-8")
    assert "x\ufffdy" in raw
    assert "f\ufffdg" in raw
    await assert_still_serving(communicator)
    await communicator.disconnect()


@pytest.mark.parametrize("beyond", [1_000_000, 2**63, 10**30])
async def test_hello_beyond_the_dialogs_last_sequence_is_clamped_and_delivery_goes_on(
    chat,  # noqa: F811
    beyond,
):
    token = visitor_token_issue(public_key=chat.public_key)
    first, _connected = await open_socket(chat.public_key)
    welcome = await hello(first, token)
    await first.receive_json_from(timeout=5)  # greeting
    await first.disconnect()
    # when: the visitor claims to have seen far more than there is
    communicator, _connected = await open_socket(chat.public_key)
    again = await hello(communicator, token, last_sequence=beyond, dialog=welcome["dialog"])
    assert again["last_sequence"] == 1
    dialog = await sync_to_async(Dialog.objects.get)(session_id=welcome["dialog"])
    await sync_to_async(message_post)(
        dialog=dialog, author_kind=AuthorKind.SYSTEM, text="a later message"
    )
    # then: what comes later is delivered on this socket
    frames = await receive_until(communicator, is_message_with("a later message"))
    assert frames[-1]["message"]["sequence"] == 2
    await communicator.disconnect()
