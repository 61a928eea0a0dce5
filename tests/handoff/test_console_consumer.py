"""The console websocket over the real channel layer: who may connect, what they see,
first accept wins, replies reach the visitor."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from config.asgi import application
from handoff.models import Request
from handoff.services import request_open
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def console_for(user=None):
    headers = [ORIGIN] + ([await sync_to_async(session_cookie)(user)] if user else [])
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def receive_until(communicator, predicate, timeout=5):
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        frames.append(frame)
        if predicate(frame):
            return frames


def make_world():
    chat, other_chat = ChatFactory(), ChatFactory()
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    ivan = OperatorFactory(display_name="Ivan", chats=[chat])
    mine = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
    foreign = request_open(dialog=DialogFactory(client__chat=other_chat), reason="headset")
    return {"olga": olga, "ivan": ivan, "mine": mine, "foreign": foreign, "chat": chat}


@pytest.fixture
async def world():
    return await sync_to_async(make_world)()


async def test_anonymous_is_refused(world):
    _communicator, connected, code = await console_for()
    assert (connected, code) == (False, 4401)


async def test_a_user_who_is_not_an_operator_is_refused(world):
    user = await sync_to_async(get_user_model().objects.create_user)("visitor", password="x")
    _communicator, connected, code = await console_for(user)
    assert (connected, code) == (False, 4403)


async def test_operator_sees_only_the_requests_of_their_chats(world):
    console, connected, _code = await console_for(world["olga"].user)
    assert connected
    snapshot = await console.receive_json_from(timeout=5)
    assert [item["id"] for item in snapshot["items"]] == [world["mine"].pk]
    await console.send_json_to({"type": "watch", "request": world["foreign"].pk})
    error = await console.receive_json_from(timeout=5)
    assert (error["type"], error["code"]) == ("error", "not_found")
    await console.disconnect()


async def test_a_new_request_appears_live(world):
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)
    dialog = await sync_to_async(DialogFactory)(client__chat=world["chat"])
    request = await sync_to_async(request_open)(dialog=dialog, reason="script")
    frame = await console.receive_json_from(timeout=5)
    assert frame["type"] == "request_changed"
    assert (frame["request"]["id"], frame["request"]["status"]) == (request.pk, "pending")
    await console.disconnect()


async def test_first_accept_wins_and_the_loser_is_told(world):
    olga, _c, _ = await console_for(world["olga"].user)
    ivan, _c, _ = await console_for(world["ivan"].user)
    await olga.receive_json_from(timeout=5)
    await ivan.receive_json_from(timeout=5)
    request_id = world["mine"].pk
    await olga.send_json_to({"type": "accept", "request": request_id})
    changed = await receive_until(ivan, lambda f: f["type"] == "request_changed")
    assert changed[-1]["request"]["operator"] == "Olga"
    await ivan.send_json_to({"type": "accept", "request": request_id})
    error = await receive_until(ivan, lambda f: f["type"] == "error")
    assert (error[-1]["code"], error[-1]["detail"]) == ("already_taken", "already taken by Olga")
    owner = await sync_to_async(lambda: Request.objects.get(pk=request_id).operator_id)()
    assert owner == world["olga"].pk
    await olga.disconnect()
    await ivan.disconnect()


async def test_operator_reply_is_acked_and_streamed_with_their_name(world):
    olga, _c, _ = await console_for(world["olga"].user)
    await olga.receive_json_from(timeout=5)
    request_id = world["mine"].pk
    await olga.send_json_to({"type": "watch", "request": request_id, "last_sequence": 0})
    await receive_until(olga, lambda f: f["type"] == "message")  # the waiting notice
    # writing before accepting is refused
    await olga.send_json_to(
        {"type": "message", "request": request_id, "client_msg_id": "o1", "text": "too early"}
    )
    assert (await receive_until(olga, lambda f: f["type"] == "error"))[-1]["code"] == "not_yours"
    await olga.send_json_to({"type": "accept", "request": request_id})
    await olga.send_json_to(
        {
            "type": "message",
            "request": request_id,
            "client_msg_id": "o2",
            "text": "Hello, Olga here",
        }
    )
    frames = await receive_until(
        olga, lambda f: f["type"] == "message" and f["message"]["text"] == "Hello, Olga here"
    )
    assert frames[-1]["message"]["author_name"] == "Olga"
    assert any(f["type"] == "ack" and f["client_msg_id"] == "o2" for f in frames)
    await olga.disconnect()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("nope", "malformed"),
        ('{"type": 1}', "malformed"),
        ('{"type": "fly"}', "unknown_type"),
        ('{"type": "accept", "request": "1"}', "malformed"),
        ('{"type": "accept", "request": true}', "malformed"),
        ('{"type": "watch", "request": 999999}', "not_found"),
        ('{"type": "message", "request": 1, "client_msg_id": "bad id", "text": "x"}', "malformed"),
    ],
)
async def test_malformed_console_frames_get_an_error_and_change_nothing(world, raw, code):
    olga, _c, _ = await console_for(world["olga"].user)
    await olga.receive_json_from(timeout=5)
    await olga.send_to(text_data=raw)
    error = await olga.receive_json_from(timeout=5)
    assert (error["type"], error["code"]) == ("error", code)
    statuses = await sync_to_async(
        lambda: sorted(Request.objects.values_list("status", flat=True))
    )()
    assert statuses == ["pending", "pending"]
    await olga.disconnect()
