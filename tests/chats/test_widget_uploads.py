"""The widget socket's message frame with attachments: the upload's token, once, by its
uploader; bad frames refused with nothing changed."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client as HttpClient

from chats.models import Message, Upload
from chats.visitor_tokens import visitor_token_issue
from tests.chats import upload_files as files
from tests.chats.test_consumers import hello, make_chat, open_socket, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
async def chat():
    return await sync_to_async(make_chat)()


def upload(chat, token, name="cat.png", content=None) -> str:
    response = HttpClient().post(
        f"/widget/{chat.public_key}/uploads",
        {"token": token, "file": files.uploaded(name, content or files.png())},
    )
    assert response.status_code == 201, response.content
    return response.json()["upload"]


async def greeted(chat):
    communicator, _connected = await open_socket(chat.public_key)
    token = visitor_token_issue(public_key=chat.public_key)
    await hello(communicator, token)
    await communicator.receive_json_from(timeout=5)  # the greeting
    return communicator, token


async def test_a_message_with_an_upload_is_acked_and_streamed_with_its_photo(chat):
    communicator, token = await greeted(chat)
    upload_token = await sync_to_async(upload)(chat, token)
    await communicator.send_json_to(
        {"type": "message", "client_msg_id": "f1", "attachments": [{"upload": upload_token}]}
    )
    frames = await receive_until(communicator, lambda frame: frame["type"] == "message")
    ack = next(frame for frame in frames if frame["type"] == "ack")
    assert (ack["client_msg_id"], ack["duplicate"]) == ("f1", False)
    [attachment] = frames[-1]["message"]["attachments"]
    assert (attachment["kind"], attachment["file_name"]) == ("photo", "cat.png")
    assert attachment["url"].startswith("/files/")
    # the same frame again (the outbox resends it): acknowledged as a duplicate
    await communicator.send_json_to(
        {"type": "message", "client_msg_id": "f1", "attachments": [{"upload": upload_token}]}
    )
    again = await receive_until(communicator, lambda frame: frame["type"] == "ack")
    assert again[-1]["duplicate"] is True
    stored = await sync_to_async(Message.objects.filter(client_msg_id="f1").count)()
    assert stored == 1
    await communicator.disconnect()


async def test_an_attached_upload_sent_in_another_message_is_refused(chat):
    communicator, token = await greeted(chat)
    upload_token = await sync_to_async(upload)(chat, token)
    frame = {"type": "message", "client_msg_id": "f1", "attachments": [{"upload": upload_token}]}
    await communicator.send_json_to(frame)
    await receive_until(communicator, lambda frame: frame["type"] == "ack")
    await communicator.send_json_to({**frame, "client_msg_id": "f2"})
    error = await receive_until(communicator, lambda frame: frame["type"] == "error")
    assert (error[-1]["code"], error[-1]["client_msg_id"]) == ("bad_upload", "f2")
    assert "sent already" in error[-1]["detail"]
    assert not await sync_to_async(Message.objects.filter(client_msg_id="f2").exists)()
    await communicator.disconnect()


async def test_another_visitors_upload_is_refused(chat):
    communicator, _token = await greeted(chat)
    other, other_token = await greeted(chat)
    theirs = await sync_to_async(upload)(chat, other_token)
    await communicator.send_json_to(
        {"type": "message", "client_msg_id": "f1", "attachments": [{"upload": theirs}]}
    )
    error = await receive_until(communicator, lambda frame: frame["type"] == "error")
    assert error[-1]["code"] == "bad_upload"
    assert await sync_to_async(lambda: Upload.objects.get(token=theirs).message_id)() is None
    await communicator.disconnect()
    await other.disconnect()


@pytest.mark.parametrize(
    "attachments",
    [
        "abc",
        [{"upload": 5}],
        [{"upload": "a b"}],
        [{"upload": "x" * 41}],
        [{"upload": "abc", "url": "/etc/passwd"}],
        [{"kind": "photo", "url": "https://evil.example/x.png"}],
        [{"upload": f"t{number}"} for number in range(11)],
        [],
    ],
)
async def test_malformed_attachments_are_refused(chat, attachments):
    communicator, _token = await greeted(chat)
    await communicator.send_json_to(
        {"type": "message", "client_msg_id": "f1", "attachments": attachments}
    )
    error = await communicator.receive_json_from(timeout=5)
    assert (error["type"], error["code"], error["client_msg_id"]) == ("error", "malformed", "f1")
    assert not await sync_to_async(Message.objects.filter(client_msg_id="f1").exists)()
    await communicator.disconnect()
