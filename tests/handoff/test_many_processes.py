"""A visitor on one Daphne process and an operator on another (one Redis, one
database) talk to each other."""

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from websockets.asyncio.client import connect

from handoff.models import Request
from tests.live_sockets import operator_cookie, visitor_and_operator_talk
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
        # the visitor on process A, the console on process B
        request_id, reply, heard = await visitor_and_operator_talk(visitor, operator)
        assert reply["message"]["author_name"] == "Olga"
        assert heard["message"]["author_kind"] == "client"
    status = await sync_to_async(lambda: Request.objects.get(pk=request_id).status)()
    assert status == "accepted"
