"""Accepts in a storm (issue 9): a request this process knows is taken is refused on
the event loop, without a database call; accepts run concurrently but every frame
still acts in the order it was sent."""

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from handoff import settled
from handoff.models import Request
from handoff.realtime import console_chat_group, request_summary
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
