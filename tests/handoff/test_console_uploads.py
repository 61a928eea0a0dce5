"""The console's reply with attachments: the operator's own upload, in the request they
hold, once; the visitor's widget gets the photo."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client as HttpClient

from chats.models import Message, Upload
from handoff.services import request_accept, request_open
from tests.chats import upload_files as files
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.handoff.test_console_consumer import console_for, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def make_world():
    chat = ChatFactory()
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    ivan = OperatorFactory(display_name="Ivan", chats=[chat])
    mine = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
    request_accept(request=mine, operator=olga)
    theirs = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
    request_accept(request=theirs, operator=ivan)
    return {"olga": olga, "ivan": ivan, "mine": mine, "theirs": theirs}


@pytest.fixture
async def world():
    return await sync_to_async(make_world)()


def upload(operator, request, name="price.png", content=None) -> str:
    client = HttpClient()
    client.force_login(operator.user)
    response = client.post(
        f"/console/requests/{request.pk}/uploads",
        {"file": files.uploaded(name, content or files.png())},
    )
    assert response.status_code == 201, response.content
    return response.json()["upload"]


async def watching(operator, request):
    console, _connected, _code = await console_for(operator.user)
    await console.receive_json_from(timeout=5)  # the list
    await console.send_json_to({"type": "watch", "request": request.pk})
    await receive_until(console, lambda frame: frame["type"] == "watching")
    return console


async def test_a_reply_with_an_image_is_stored_with_its_attachment(world):
    console = await watching(world["olga"], world["mine"])
    token = await sync_to_async(upload)(world["olga"], world["mine"])
    frame = {
        "type": "message",
        "request": world["mine"].pk,
        "client_msg_id": "r1",
        "text": "Our prices",
        "attachments": [{"upload": token}],
    }
    await console.send_json_to(frame)
    frames = await receive_until(
        console, lambda f: f["type"] == "message" and f["message"]["client_msg_id"] == "r1"
    )
    ack = next(f for f in frames if f["type"] == "ack")
    assert ack["duplicate"] is False
    message = frames[-1]["message"]
    assert (message["author_name"], message["text"]) == ("Olga", "Our prices")
    assert [item["kind"] for item in message["attachments"]] == ["photo"]
    # a resend is a duplicate, not a refusal (the upload is attached to this very reply)
    await console.send_json_to(frame)
    again = await receive_until(console, lambda f: f["type"] == "ack")
    assert again[-1]["duplicate"] is True
    # the same upload in a new reply is refused
    await console.send_json_to({**frame, "client_msg_id": "r2"})
    error = await receive_until(console, lambda f: f["type"] == "error")
    assert (error[-1]["code"], error[-1]["request"], error[-1]["client_msg_id"]) == (
        "bad_upload",
        world["mine"].pk,
        "r2",
    )
    assert not await sync_to_async(Message.objects.filter(client_msg_id="r2").exists)()
    await console.disconnect()


async def test_another_operators_upload_is_refused(world):
    console = await watching(world["olga"], world["mine"])
    ivans = await sync_to_async(upload)(world["ivan"], world["theirs"])
    await console.send_json_to(
        {
            "type": "message",
            "request": world["mine"].pk,
            "client_msg_id": "r1",
            "attachments": [{"upload": ivans}],
        }
    )
    error = await receive_until(console, lambda f: f["type"] == "error")
    assert error[-1]["code"] == "bad_upload"
    assert await sync_to_async(lambda: Upload.objects.get(token=ivans).message_id)() is None
    await console.disconnect()


async def test_a_reply_with_files_in_another_operators_request_is_refused(world):
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)
    token = await sync_to_async(upload)(world["olga"], world["mine"])
    await console.send_json_to(
        {
            "type": "message",
            "request": world["theirs"].pk,
            "client_msg_id": "r1",
            "attachments": [{"upload": token}],
        }
    )
    error = await receive_until(console, lambda f: f["type"] == "error")
    assert (error[-1]["code"], error[-1]["request"]) == ("not_yours", world["theirs"].pk)
    assert await sync_to_async(lambda: Upload.objects.get(token=token).message_id)() is None
    await console.disconnect()


@pytest.mark.parametrize(
    "attachments",
    [{"upload": "x"}, [{"upload": None}], [{"upload": "ok", "extra": 1}], ["tok"]],
)
async def test_malformed_attachments_are_refused(world, attachments):
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)
    await console.send_json_to(
        {
            "type": "message",
            "request": world["mine"].pk,
            "client_msg_id": "r1",
            "text": "hi",
            "attachments": attachments,
        }
    )
    error = await console.receive_json_from(timeout=5)
    assert (error["code"], error["request"], error["client_msg_id"]) == (
        "malformed",
        world["mine"].pk,
        "r1",
    )
    assert not await sync_to_async(Message.objects.filter(client_msg_id="r1").exists)()
    await console.disconnect()
