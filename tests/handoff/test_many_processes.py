"""A visitor on one Daphne process and an operator on another (one Redis, one
database) talk to each other."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from websockets.asyncio.client import connect

from chats.visitor_tokens import visitor_token_issue
from handoff.models import Request
from tests.live_sockets import frames_until, is_text, operator_cookie
from tests.servers import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def second_daphne(daphne_server, redis_url, django_db_blocker):
    with django_db_blocker.unblock():
        database_name = connection.settings_dict["NAME"]
    server = DaphneServer(redis_url=redis_url, database_name=str(database_name)).start()
    yield server
    server.stop()


async def test_visitor_and_operator_on_different_processes_talk(daphne_server, second_daphne):
    cookie = await sync_to_async(operator_cookie)()
    visitor_origin = {"Origin": daphne_server.http_url}
    async with (
        connect(
            f"{daphne_server.ws_url}/ws/widget/demo/", additional_headers=visitor_origin
        ) as visitor,
        connect(
            f"{second_daphne.ws_url}/ws/console/",
            additional_headers={"Origin": second_daphne.http_url, "Cookie": cookie},
        ) as operator,
    ):
        await frames_until(operator, lambda f: f["type"] == "requests")
        await visitor.send(
            json.dumps({"type": "hello", "token": visitor_token_issue(public_key="demo")})
        )
        await frames_until(visitor, lambda f: f["type"] == "welcome")
        # the visitor asks for a human on process A; the console on process B hears of it
        await visitor.send(json.dumps({"type": "handoff"}))
        changed = await frames_until(operator, lambda f: f["type"] == "request_changed")
        request_id = changed["request"]["id"]
        await operator.send(json.dumps({"type": "watch", "request": request_id}))
        await operator.send(json.dumps({"type": "accept", "request": request_id}))
        await frames_until(visitor, is_text("Connected to Olga"))
        await operator.send(
            json.dumps(
                {
                    "type": "message",
                    "request": request_id,
                    "client_msg_id": "op-1",
                    "text": "Hello from B",
                }
            )
        )
        reply = await frames_until(visitor, is_text("Hello from B"))
        assert reply["message"]["author_name"] == "Olga"
        await visitor.send(
            json.dumps({"type": "message", "client_msg_id": "v-1", "text": "Hello from A"})
        )
        heard = await frames_until(operator, is_text("Hello from A"))
        assert heard["message"]["author_kind"] == "client"
    status = await sync_to_async(lambda: Request.objects.get(pk=request_id).status)()
    assert status == "accepted"
