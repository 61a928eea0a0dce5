"""The benchmarks' helpers (bench/harness.py) against a real Daphne and Redis."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import connection
from websockets.asyncio.client import connect

from bench.harness import subscriptions_left
from chats.visitor_tokens import visitor_token_issue
from tests.servers import DaphneServer, EmbeddedRedis

pytestmark = pytest.mark.django_db(transaction=True)


async def welcomed_visitor(server: DaphneServer):
    socket = await connect(
        f"{server.ws_url}/ws/widget/demo/", additional_headers={"Origin": server.http_url}
    )
    await socket.send(
        json.dumps({"type": "hello", "token": visitor_token_issue(public_key="demo")})
    )
    async with asyncio.timeout(30):
        while json.loads(await socket.recv())["type"] != "welcome":
            pass
    return socket


async def test_a_server_stopped_once_its_consumers_have_unsubscribed_logs_no_cleanup_error():
    # given: visitors in their dialogs' groups, on a server of this test's own
    await sync_to_async(call_command)("load_demo")
    database_name = await sync_to_async(lambda: connection.settings_dict["NAME"])()
    # a Redis of its own: other tests' servers may hold subscriptions in the suite's
    redis = EmbeddedRedis().start()
    redis_url = redis.url
    server = DaphneServer(redis_url=redis_url, database_name=str(database_name)).start()
    try:
        visitors = await asyncio.gather(*(welcomed_visitor(server) for _ in range(50)))
        assert await sync_to_async(subscriptions_left)(redis_url, seconds=0) > 0
        # when: every socket closes, and the bench waits before stopping the server
        await asyncio.gather(*(visitor.close() for visitor in visitors))
        left = await sync_to_async(subscriptions_left)(redis_url, seconds=30)
    finally:
        server.stop()
        redis.stop()
    # then: every consumer left its channel and groups, and none was cancelled mid-way
    assert left == 0
    assert "cleaning-up channel" not in server.output()
