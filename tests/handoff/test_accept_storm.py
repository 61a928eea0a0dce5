"""Accepts in a storm (issue 9): a request this process knows is taken is refused on
the event loop, without a database call; accepts run concurrently but every frame
still acts in the order it was sent."""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from handoff import console_accepts, settled
from handoff.models import Request
from handoff.realtime import console_chat_group, request_summary
from handoff.services import request_open
from tests.chats.factories import DialogFactory
from tests.handoff.test_console_consumer import (
    console_for,
    receive_until,
    world,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.django_db(transaction=True)


def taken_elsewhere(request: Request) -> dict:
    """The event another process publishes when its operator won the request."""
    request = Request.objects.select_related("chat", "dialog__client").get(pk=request.pk)
    summary = request_summary(request)
    summary.update(status="accepted", operator="Zoe", operator_id=10**6)
    return {"type": "console.request", "request": summary}


async def test_an_accept_of_a_request_heard_taken_is_refused_without_the_database(world):  # noqa: F811
    console, _connected, _code = await console_for(world["ivan"].user)
    await console.receive_json_from(timeout=5)
    request = world["mine"]
    # given: this process heard that another process's operator took the request
    # (the database is not asked: here it still says pending)
    event = await sync_to_async(taken_elsewhere)(request)
    await get_channel_layer().group_send(console_chat_group(request.chat_id), event)
    await receive_until(console, lambda frame: frame["type"] == "request_changed")
    # when
    await console.send_json_to({"type": "accept", "request": request.pk})
    # then: refused from what the process knows
    error = await console.receive_json_from(timeout=5)
    assert (error["code"], error["detail"], error["request"]) == (
        "already_taken",
        "already taken by Zoe",
        request.pk,
    )
    await console.disconnect()
    settled._settled.pop(request.pk)  # the made-up fact must not outlive the test


async def test_a_reply_sent_right_after_an_accept_acts_after_it(world):  # noqa: F811
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)
    request_id = world["mine"].pk
    # when: accept and reply without waiting for anything in between
    await console.send_json_to({"type": "accept", "request": request_id})
    await console.send_json_to(
        {"type": "message", "request": request_id, "client_msg_id": "r-1", "text": "hello"}
    )
    # then: the reply was stored (the accept ran first)
    frames = await receive_until(
        console, lambda frame: frame["type"] in ("ack", "error") and "client_msg_id" in frame
    )
    assert frames[-1]["type"] == "ack", frames[-1]
    await console.disconnect()


async def test_many_accepts_of_one_socket_are_each_answered(world):  # noqa: F811
    console, _connected, _code = await console_for(world["ivan"].user)
    await console.receive_json_from(timeout=5)
    request_id = world["mine"].pk
    # when: the same accept many times at once
    for _ in range(20):
        await console.send_json_to({"type": "accept", "request": request_id})
    # then: one wins, the other nineteen are told it is taken (by Ivan himself)
    frames = await receive_until(
        console,
        lambda frame: frame["type"] == "error",
    )
    errors = [frames[-1]]
    while len(errors) < 19:
        frame = await console.receive_json_from(timeout=5)
        if frame["type"] == "error":
            errors.append(frame)
    assert {(error["code"], error["detail"]) for error in errors} == {
        ("already_taken", "already taken by Ivan")
    }
    status = await sync_to_async(lambda: Request.objects.get(pk=request_id).status)()
    assert status == "accepted"
    await console.disconnect()


def more_waiting_requests(chat, count: int) -> list[Request]:
    return [
        request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
        for _ in range(count)
    ]


async def test_events_reach_a_console_whose_accepts_all_wait_for_the_database(world):  # noqa: F811
    console, _connected, _code = await console_for(world["olga"].user)
    requests = [world["mine"], *await sync_to_async(more_waiting_requests)(world["chat"], 5)]
    await console.send_json_to({"type": "refresh"})
    await receive_until(
        console, lambda frame: frame["type"] == "requests" and len(frame["items"]) == 6
    )
    last = requests[-1]
    event = await sync_to_async(taken_elsewhere)(last)
    # given: the process's database thread is busy, so every accept waits for it
    database_busy, database_blocked = threading.Event(), threading.Event()

    def block_the_database_thread() -> None:
        database_blocked.set()
        database_busy.wait(10)

    busy = asyncio.ensure_future(database_sync_to_async(block_the_database_thread)())
    await asyncio.to_thread(database_blocked.wait, 30)
    try:
        # when: the operator accepts more requests than the socket runs at once, and
        # meanwhile another process's operator takes the last one
        for request in requests:
            await console.send_json_to({"type": "accept", "request": request.pk})
        await get_channel_layer().group_send(console_chat_group(last.chat_id), event)
        # then: the console hears of it while its accepts still wait (before, the socket
        # stopped reading frames and events once four accepts were waiting)
        changed = await receive_until(
            console,
            lambda frame: (
                frame["type"] == "request_changed" and frame["request"]["status"] == "accepted"
            ),
        )
        assert (changed[-1]["request"]["id"], changed[-1]["request"]["operator"]) == (
            last.pk,
            "Zoe",
        )
    finally:
        database_busy.set()
        await busy
    # and the waiting accept of that request is refused from what the process heard,
    # while the others are accepted
    answers = {}

    def answered(frame: dict) -> bool:
        if frame["type"] == "error":
            answers[frame["request"]] = (frame["code"], frame["detail"])
        elif frame["type"] == "request_changed" and frame["request"]["operator"] == "Olga":
            answers[frame["request"]["id"]] = "accepted"
        return len(answers) == len(requests)

    await receive_until(console, answered)
    assert answers == {
        **{request.pk: "accepted" for request in requests[:-1]},
        last.pk: ("already_taken", "already taken by Zoe"),
    }
    await console.disconnect()
    settled._settled.pop(last.pk)  # the made-up fact must not outlive the test
    # the others were accepted in the database
    statuses = await sync_to_async(
        lambda: list(
            Request.objects.filter(pk__in=[r.pk for r in requests[:-1]]).values_list(
                "status", flat=True
            )
        )
    )()
    assert statuses == ["accepted"] * 5


async def test_accepts_beyond_what_may_wait_are_refused_as_busy(world, monkeypatch):  # noqa: F811
    monkeypatch.setattr(console_accepts, "ACCEPTS_WAITING", 2)
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)
    # given: the database thread is busy, so the socket's accepts wait
    database_busy, database_blocked = threading.Event(), threading.Event()

    def block_the_database_thread() -> None:
        database_blocked.set()
        database_busy.wait(10)

    busy = asyncio.ensure_future(database_sync_to_async(block_the_database_thread)())
    await asyncio.to_thread(database_blocked.wait, 10)
    try:
        # when: more accepts than run at once plus what may wait (4 + 2)
        for number in range(console_accepts.ACCEPTS_IN_FLIGHT + 3):
            await console.send_json_to({"type": "accept", "request": 10_000 + number})
        # then: the last is refused at once, naming the limit
        refused = await receive_until(console, lambda frame: frame["type"] == "error")
    finally:
        database_busy.set()
        await busy
    assert (refused[-1]["code"], refused[-1]["request"]) == ("busy", 10_006)
    assert refused[-1]["detail"] == "at most 2 accepts may wait at once; wait for their answers"
    await console.disconnect()
