"""The channel layer survives a Redis restart: the first websocket after it works
(each pooled connection to the old Redis is reconnected, not failed)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import connection
from websockets.asyncio.client import connect

from chats.visitor_tokens import visitor_token_issue
from tests.servers import DaphneServer, EmbeddedRedis

pytestmark = pytest.mark.django_db(transaction=True)


async def frames_until(socket, frame_type: str) -> list[str]:
    seen = []
    async with asyncio.timeout(15):
        while not seen or seen[-1] != frame_type:
            seen.append(json.loads(await socket.recv())["type"])
    return seen


async def visitor_says_hello_and_a_message(server: DaphneServer) -> list[str]:
    async with connect(
        f"{server.ws_url}/ws/widget/demo/", additional_headers={"Origin": server.http_url}
    ) as visitor:
        token = await sync_to_async(visitor_token_issue)(public_key="demo")
        await visitor.send(json.dumps({"type": "hello", "token": token}))
        seen = await frames_until(visitor, "welcome")
        await visitor.send(json.dumps({"type": "message", "client_msg_id": "m-1", "text": "hi"}))
        return seen + await frames_until(visitor, "ack")


async def test_the_first_websocket_after_a_redis_restart_works():
    # given: a server on a Redis of its own, its pooled connections in use
    await sync_to_async(call_command)("load_demo")
    database_name = await sync_to_async(lambda: connection.settings_dict["NAME"])()
    redis = EmbeddedRedis().start()
    server = DaphneServer(redis_url=redis.url, database_name=str(database_name)).start()
    try:
        assert (await visitor_says_hello_and_a_message(server))[-1] == "ack"
        # when: Redis restarts on the same port
        redis.stop()
        redis.start()
        # then: the next visitor is served, nothing is logged as lost
        seen = await visitor_says_hello_and_a_message(server)
    finally:
        server.stop()
        redis.stop()
    assert seen[-1] == "ack"
    assert "welcome" in seen
    output = server.output()
    assert "Exception inside application" not in output
    assert "not published" not in output
    Path(server.log.name).unlink(missing_ok=True)
