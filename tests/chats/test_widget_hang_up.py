"""A client that hangs up while the server is still sending costs the server nothing.

Between a client's close frame and the websocket.disconnect that follows it, Daphne
raises autobahn's Disconnected ("Attempt to send on a closed protocol") on every send.
Before, that ended the consumer with an exception before its disconnect ran, and its
groups stayed subscribed in Redis for the life of the process (seen in
tests/bench/test_harness.py on a loaded machine). The window is a few event-loop turns
on a real Daphne, so these tests drive the real ASGI application with a server that
behaves as Daphne does inside it."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis as redis_client
from asgiref.sync import sync_to_async
from autobahn.exception import Disconnected
from django.conf import settings
from django.test import Client

from chats.enums import Messenger
from chats.services import dialog_start_or_resume
from chats.visitor_tokens import visitor_token_issue, visitor_token_read
from config.asgi import application
from handoff.models import Request
from handoff.realtime import console_operator_group
from handoff.services import request_open
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


class HungUpServer:
    """An ASGI server whose client has sent its close frame: the application's sends
    raise as Daphne's do, and the websocket.disconnect is queued behind what came in."""

    def __init__(self, path: str, headers: list[tuple[bytes, bytes]]):
        self.scope = {
            "type": "websocket",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [ORIGIN, *headers],
            "subprotocols": [],
        }
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.sent: list[dict] = []
        self.closed = False
        self.refused_sends = 0

    async def send(self, message: dict) -> None:
        if self.closed and message["type"] == "websocket.send":
            self.refused_sends += 1
            raise Disconnected("Attempt to send on a closed protocol")
        self.sent.append(message)

    async def run(self, frames_then_hang_up: list[dict]) -> None:
        task = asyncio.ensure_future(application(self.scope, self.inbox.get, self.send))
        await self.inbox.put({"type": "websocket.connect"})
        async with asyncio.timeout(10):
            while not any(message["type"] == "websocket.accept" for message in self.sent):
                await asyncio.sleep(0.01)
        self.closed = True
        for frame in frames_then_hang_up:
            await self.inbox.put({"type": "websocket.receive", "text": json.dumps(frame)})
        await self.inbox.put({"type": "websocket.disconnect", "code": 1000})
        async with asyncio.timeout(10):
            await task  # before: raised Disconnected


def group_subscribed(group: str, *, seconds: float = 5) -> bool:
    """Whether Redis still has the channel layer's subscription to `group` once the
    unsubscribe a consumer sent has had `seconds` to arrive."""
    client = redis_client.Redis.from_url(settings.REDIS_URL)
    try:
        deadline = time.monotonic() + seconds
        while client.pubsub_channels(f"asgi__group__{group}"):
            if time.monotonic() > deadline:
                return True
            time.sleep(0.05)
        return False
    finally:
        client.close()


async def test_a_visitor_hanging_up_after_hello_leaves_the_dialog_group():
    # given: a visitor with a dialog
    chat = await sync_to_async(ChatFactory)()
    token = visitor_token_issue(public_key=chat.public_key)
    dialog, _created = await sync_to_async(dialog_start_or_resume)(
        chat=chat,
        messenger=Messenger.WEB,
        external_id=visitor_token_read(public_key=chat.public_key, token=token),
    )
    server = HungUpServer(f"/ws/widget/{chat.public_key}/", [])
    # when: it says hello and hangs up before the welcome goes out
    await server.run([{"type": "hello", "token": token}])
    # then: the welcome was dropped, and the consumer left the group it had joined
    assert server.refused_sends == 1
    assert not await sync_to_async(group_subscribed)(f"dialog.{dialog.pk}")


def operator_with_a_waiting_request() -> tuple[list[tuple[bytes, bytes]], int, Request]:
    chat = ChatFactory()
    operator = OperatorFactory(display_name="Olga", chats=[chat])
    request = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
    client = Client()
    client.force_login(operator.user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return [(b"cookie", cookie.encode())], operator.pk, request


async def test_an_operator_hanging_up_while_watching_leaves_every_group():
    # given: an operator whose console may accept a waiting request
    headers, operator_id, request = await sync_to_async(operator_with_a_waiting_request)()
    server = HungUpServer("/ws/console/", headers)
    # when: the console asks to watch the dialog and hangs up before any answer
    await server.run([{"type": "watch", "request": request.pk}])
    # then: nothing it sends ends it with an exception, and no group stays subscribed
    assert server.refused_sends >= 1
    assert not await sync_to_async(group_subscribed)(f"dialog.{request.dialog_id}")
    assert not await sync_to_async(group_subscribed)(console_operator_group(operator_id))
