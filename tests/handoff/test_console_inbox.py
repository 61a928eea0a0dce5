"""The console's live inbox over the real channel layer: one event per recipient for
every message of a request an operator owns or may accept, unread counts in the
snapshot, and the watched dialog's messages delivered once."""

import pytest
from asgiref.sync import sync_to_async

from chats.realtime import user_access_changed_publish
from chats.services import dialog_receive_client_message
from handoff.services import request_accept, request_open
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.handoff.test_console_consumer import console_for, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


def make_world():
    chat = ChatFactory()
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    ivan = OperatorFactory(display_name="Ivan", chats=[chat])
    waiting = request_open(
        dialog=DialogFactory(client__chat=chat, client__name="Ann"), reason="api"
    )
    ivans = request_open(dialog=DialogFactory(client__chat=chat, client__name="Bob"), reason="api")
    request_accept(request=ivans, operator=ivan)
    return {"olga": olga, "ivan": ivan, "waiting": waiting, "ivans": ivans}


@pytest.fixture
async def world():
    return await sync_to_async(make_world)()


def write(request, text, client_msg_id):
    dialog_receive_client_message(dialog=request.dialog, text=text, client_msg_id=client_msg_id)


async def snapshot_of(user):
    console, connected, _code = await console_for(user)
    assert connected
    snapshot = await console.receive_json_from(timeout=5)
    return console, {item["id"]: item for item in snapshot["items"]}


async def test_a_visitor_message_reaches_every_console_that_may_accept_it(world):
    olga, _items = await snapshot_of(world["olga"].user)
    ivan, _items = await snapshot_of(world["ivan"].user)
    # when
    await sync_to_async(write)(world["waiting"], "anyone there?", "w-1")
    # then: both get it once, as an inbox frame of the request
    for console in (olga, ivan):
        frames = await receive_until(console, lambda frame: frame["type"] == "inbox")
        assert (frames[-1]["request"], frames[-1]["message"]["preview"]) == (
            world["waiting"].pk,
            "anyone there?",
        )
        await console.disconnect()


async def test_a_message_in_an_accepted_request_reaches_only_its_operator(world):
    olga, _items = await snapshot_of(world["olga"].user)
    ivan, _items = await snapshot_of(world["ivan"].user)
    # when: Bob writes to Ivan, then Ann (waiting) writes
    await sync_to_async(write)(world["ivans"], "for Ivan", "b-1")
    await sync_to_async(write)(world["waiting"], "for anyone", "a-1")
    # then: Olga's next inbox frame is Ann's, Ivan gets Bob's first
    olga_frames = await receive_until(olga, lambda frame: frame["type"] == "inbox")
    ivan_frames = await receive_until(ivan, lambda frame: frame["type"] == "inbox")
    assert olga_frames[-1]["message"]["preview"] == "for anyone"
    assert [f["message"]["preview"] for f in olga_frames if f["type"] == "inbox"] == ["for anyone"]
    assert ivan_frames[-1]["message"]["preview"] == "for Ivan"
    await olga.disconnect()
    await ivan.disconnect()


async def test_the_watched_dialogs_message_comes_once_as_a_message(world):
    olga, _items = await snapshot_of(world["olga"].user)
    await olga.send_json_to({"type": "watch", "request": world["waiting"].pk})
    await receive_until(olga, lambda frame: frame["type"] == "watching")
    # when
    await sync_to_async(write)(world["waiting"], "watched", "w-2")
    await sync_to_async(write)(world["ivans"], "not Olga's", "b-2")
    # and a marker after it: a message of another waiting request
    other = await sync_to_async(
        lambda: request_open(dialog=DialogFactory(client__chat=world["waiting"].chat), reason="api")
    )()
    await sync_to_async(write)(other, "marker", "m-1")
    frames = await receive_until(
        olga, lambda frame: frame["type"] == "inbox" and frame["message"]["preview"] == "marker"
    )
    # then: "watched" once, as a message frame; no inbox frame for it; nothing of Ivan's
    texts = [
        (frame["type"], frame["message"].get("text", frame["message"].get("preview")))
        for frame in frames
        if frame["type"] in ("message", "inbox")
    ]
    assert texts.count(("message", "watched")) == 1
    assert ("inbox", "watched") not in texts
    assert all(text != "not Olga's" for _kind, text in texts)
    await olga.disconnect()


async def test_the_snapshot_counts_unread_and_watching_reads(world):
    await sync_to_async(write)(world["waiting"], "one", "u-1")
    await sync_to_async(write)(world["waiting"], "two", "u-2")
    olga, items = await snapshot_of(world["olga"].user)
    row = items[world["waiting"].pk]
    assert (row["unread"], row["preview"], row["client"]) == (2, "two", "Ann")
    assert row["waiting_since"] == row["created_at"]
    # when: Olga opens it, then comes back later
    await olga.send_json_to({"type": "watch", "request": world["waiting"].pk})
    await receive_until(
        olga, lambda frame: frame["type"] == "message" and frame["message"]["text"] == "two"
    )
    await olga.disconnect()
    again, items = await snapshot_of(world["olga"].user)
    # then
    assert items[world["waiting"].pk]["unread"] == 0
    await again.disconnect()
    # and Ivan, who never opened it, still has both unread
    ivan, items = await snapshot_of(world["ivan"].user)
    assert items[world["waiting"].pk]["unread"] == 2
    await ivan.disconnect()


def owner_of_two_chats():
    chat, kept = ChatFactory(), ChatFactory()
    ivan = OperatorFactory(display_name="Ivan", chats=[chat, kept])
    request = request_open(
        dialog=DialogFactory(client__chat=chat, client__name="Bob"), reason="api"
    )
    request_accept(request=request, operator=ivan)
    marker = request_open(dialog=DialogFactory(client__chat=kept), reason="api")
    return ivan, request, chat, marker


def chat_taken_away(operator, chat):
    operator.chats.remove(chat)
    user_access_changed_publish(user_id=operator.user_id)  # as the admin does


async def test_an_owner_whose_chat_was_taken_away_gets_no_more_of_its_messages():
    ivan, request, chat, marker = await sync_to_async(owner_of_two_chats)()
    console, _items = await snapshot_of(ivan.user)
    # given: the admin takes the chat of Ivan's accepted request away (a fresh list without it)
    await sync_to_async(chat_taken_away)(ivan, chat)
    frames = await receive_until(console, lambda frame: frame["type"] == "requests")
    assert request.pk not in [item["id"] for item in frames[-1]["items"]]
    # when: its visitor writes, then a visitor of a chat Ivan still serves
    await sync_to_async(write)(request, "secret of another chat", "x-1")
    await sync_to_async(write)(marker, "marker", "m-1")
    frames = await receive_until(
        console, lambda frame: frame["type"] == "inbox" and frame["message"]["preview"] == "marker"
    )
    # then: only the marker
    assert [frame["request"] for frame in frames if frame["type"] == "inbox"] == [marker.pk]
    await console.disconnect()


async def test_the_snapshot_names_the_last_message_each_row_counted(world):
    await sync_to_async(write)(world["waiting"], "one", "s-1")
    await sync_to_async(write)(world["waiting"], "two", "s-2")
    olga, items = await snapshot_of(world["olga"].user)
    # then: an inbox event of a message up to this sequence is one the row has counted
    last = await sync_to_async(
        lambda: world["waiting"].dialog.messages.order_by("sequence").last()
    )()
    assert (items[world["waiting"].pk]["last_sequence"], last.text) == (last.sequence, "two")
    await olga.disconnect()
