"""Several Daphne processes on one listening socket (what `make run` and the image run):
the kernel hands each connection to one of them, and the channel layer carries a
dialog between a visitor on one process and an operator on another."""

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import connection
from websockets.asyncio.client import ClientConnection, connect

from handoff.models import Request
from tests.live_sockets import operator_cookie, visitor_and_operator_talk
from tests.servers import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def two_processes(django_db_setup, django_db_blocker, redis_url):
    with django_db_blocker.unblock():
        database_name = connection.settings_dict["NAME"]
    server = DaphneServer(redis_url=redis_url, database_name=str(database_name), processes=2)
    yield server.start()
    server.stop()


async def widget_on_another_process(server: DaphneServer, pid: int) -> ClientConnection:
    """A widget socket served by a process other than `pid`: the kernel picks the process
    for each connection, so connect until one lands elsewhere (closing the others)."""
    for _ in range(200):
        socket = await connect(
            f"{server.ws_url}/ws/widget/demo/", additional_headers={"Origin": server.http_url}
        )
        if server.pid_serving(socket.local_address) not in (pid, None):
            return socket
        await socket.close()
    raise AssertionError(f"200 connections in a row went to process {pid}")


async def test_two_processes_serve_one_port(two_processes):
    await sync_to_async(call_command)("load_demo")
    assert len(set(two_processes.pids)) == 2
    async with connect(
        f"{two_processes.ws_url}/ws/widget/demo/",
        additional_headers={"Origin": two_processes.http_url},
    ) as first:
        pid = two_processes.pid_serving(first.local_address)
        second = await widget_on_another_process(two_processes, pid)
        await second.close()
    assert pid in two_processes.pids


async def test_a_visitor_and_an_operator_on_different_processes_of_one_port_talk(two_processes):
    cookie = await sync_to_async(operator_cookie)()
    async with connect(
        f"{two_processes.ws_url}/ws/console/",
        additional_headers={"Origin": two_processes.http_url, "Cookie": cookie},
    ) as operator:
        operator_pid = two_processes.pid_serving(operator.local_address)
        visitor = await widget_on_another_process(two_processes, operator_pid)
        async with visitor:
            # the visitor on one process, the console on the other
            request_id, reply, heard = await visitor_and_operator_talk(visitor, operator)
            assert reply["message"]["author_name"] == "Olga"
            assert heard["message"]["author_kind"] == "client"
    status = await sync_to_async(lambda: Request.objects.get(pk=request_id).status)()
    assert status == "accepted"
