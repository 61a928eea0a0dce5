"""Publishing dialog events: a consumer's database call hands what its commits
publish to the consumer's event loop, so the database thread never waits on Redis."""

import threading

import channels.consumer
import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import transaction

from chats.enums import AuthorKind
from chats.models import Dialog
from chats.realtime import database_call, dialog_group_name
from chats.services import message_post
from chats.visitor_tokens import visitor_token_issue
from config.asgi import application
from tests.chats.factories import ChatFactory, DialogFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def recorded_sends(monkeypatch):
    """The channel layer's group_send, recording the thread each call ran on."""
    layer = get_channel_layer()
    original = layer.group_send
    sends = []

    async def recording_group_send(group, event):
        sends.append((group, event["type"], threading.current_thread().name))
        await original(group, event)

    monkeypatch.setattr(layer, "group_send", recording_group_send)
    return sends


async def test_database_call_publishes_from_the_event_loop_thread(recorded_sends):
    # given a dialog
    dialog = await database_call(DialogFactory.create)
    loop_thread = threading.current_thread().name
    # when a consumer stores a message through database_call
    message, created = await database_call(
        message_post, dialog=dialog, author_kind=AuthorKind.BOT, text="Hello"
    )
    # then its event went out once, from the event loop's thread (not the database one)
    assert created
    assert recorded_sends == [(dialog_group_name(dialog.pk), "dialog.message", loop_thread)]


async def test_database_call_publishes_what_committed_before_an_error(recorded_sends):
    dialog = await database_call(DialogFactory.create)

    def post_then_fail():
        message_post(dialog=dialog, author_kind=AuthorKind.BOT, text="committed")
        with transaction.atomic():
            message_post(dialog=dialog, author_kind=AuthorKind.BOT, text="rolled back")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await database_call(post_then_fail)
    # the first message committed and was published; the rolled-back one was not
    assert [send[1] for send in recorded_sends] == ["dialog.message"]


def test_a_sync_caller_still_publishes_after_commit(recorded_sends):
    # a Celery task or a view: no consumer loop, the event goes out on commit
    dialog = DialogFactory()
    message_post(dialog=dialog, author_kind=AuthorKind.BOT, text="from a task")
    assert [send[:2] for send in recorded_sends] == [
        (dialog_group_name(dialog.pk), "dialog.message")
    ]


async def test_a_socket_handles_a_channel_layer_event_without_visiting_the_database_thread(
    monkeypatch,
):
    # given a widget socket that said hello (Channels' own dispatch would hop to the
    # database thread to close old connections before every event it handles)

    chat = await database_call(ChatFactory.create)
    socket = WebsocketCommunicator(
        application,
        f"/ws/widget/{chat.public_key}/",
        headers=[(b"origin", b"http://127.0.0.1:8000")],
    )
    await socket.connect()
    await socket.send_json_to(
        {
            "type": "hello",
            "token": visitor_token_issue(public_key=chat.public_key),
            "last_sequence": 0,
        }
    )
    assert (await socket.receive_json_from(timeout=5))["type"] == "welcome"
    dialog = await database_call(Dialog.objects.get, chat=chat)
    hops = []

    async def counting_close_old_connections():
        hops.append(1)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting_close_old_connections)
    # when an event rings the dialog's group
    await get_channel_layer().group_send(dialog_group_name(dialog.pk), {"type": "dialog.headset"})
    # then the socket forwards it without a hop to the database thread
    assert await socket.receive_json_from(timeout=5) == {"type": "headset", "visible": True}
    assert hops == []
    await socket.disconnect()
