"""The conversation list's frames on the console socket (issue 13, point 1): what the
snapshot carries, the closed list's `closed_page`, the `search` box, and bad frames
refused with a clear error while the socket keeps serving."""

import json
from datetime import datetime, timedelta

import pytest
from asgiref.sync import sync_to_async

from chats.services import dialog_receive_client_message
from handoff.models import HandoffSettings, Request
from handoff.services import request_accept, request_close, request_open
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.handoff.test_console_consumer import console_for, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


def make_world(closed_count: int):
    chat = ChatFactory()
    HandoffSettings.objects.create(chat=chat, sla_first_response_seconds=90)
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    ivan = OperatorFactory(display_name="Ivan", chats=[chat])
    ann = request_open(dialog=DialogFactory(client__chat=chat, client__name="Ann"), reason="api")
    dialog_receive_client_message(
        dialog=ann.dialog, text="where is my order 4411", client_msg_id="a"
    )
    ivans = request_open(dialog=DialogFactory(client__chat=chat, client__name="Bob"), reason="api")
    request_accept(request=ivans, operator=ivan)
    closed = []
    for _number in range(closed_count):
        request = request_open(dialog=DialogFactory(client__chat=chat), reason="api")
        closed.append(request_close(request=request, reason="client").pk)
    # another chat's visitor: never Olga's to see or find
    other_chat = ChatFactory()
    stranger = request_open(
        dialog=DialogFactory(client__chat=other_chat, client__name="Ann Secret"), reason="api"
    )
    dialog_receive_client_message(
        dialog=stranger.dialog, text="where is my order 4411", client_msg_id="s"
    )
    request_close(request=stranger, reason="client")
    return {
        "chat": chat,
        "olga": olga,
        "ivan": ivan,
        "ann": ann,
        "ivans": ivans,
        "closed": closed,
        "stranger": stranger,
    }


@pytest.fixture
async def world():
    return await sync_to_async(make_world)(2)


@pytest.fixture
async def paged_world():
    """52 closed requests: a page of 50 and two more."""
    return await sync_to_async(make_world)(52)


async def connected(user):
    console, ok, _code = await console_for(user)
    assert ok
    return console, await console.receive_json_from(timeout=5)


async def still_serving(console) -> None:
    await console.send_json_to({"type": "ping"})
    frames = await receive_until(console, lambda frame: frame["type"] == "pong")
    assert frames[-1] == {"type": "pong"}


async def test_the_snapshot_carries_the_list_rows_facts(paged_world):
    world = paged_world
    console, snapshot = await connected(world["olga"].user)
    rows = {row["id"]: row for row in snapshot["items"]}
    ann = rows[world["ann"].pk]
    # then: name, alias, channel, SLA, the colleague's conversation apart, the cursor
    assert (ann["client_name"], ann["channel"], ann["sla_seconds"]) == ("Ann", "web", 90)
    assert datetime.fromisoformat(ann["sla_deadline"]) == world["ann"].created_at + timedelta(
        seconds=90
    )
    assert len(ann["client_alias"]) == 4
    assert [row["id"] for row in snapshot["others"]] == [world["ivans"].pk]
    assert snapshot["sla"] == {str(world["chat"].pk): {"first": 90, "next": 120}}
    closed_rows = [row for row in snapshot["items"] if row["status"] == "closed"]
    assert len(closed_rows) == 50
    assert snapshot["closed_next"] == closed_rows[-1]["id"]
    await console.disconnect()


async def test_closed_page_gives_the_rest_once(paged_world):
    world = paged_world
    console, snapshot = await connected(world["olga"].user)
    # when
    await console.send_json_to({"type": "closed_page", "after": snapshot["closed_next"]})
    frames = await receive_until(console, lambda frame: frame["type"] == "closed_page")
    # then
    page = frames[-1]
    shown = [row["id"] for row in snapshot["items"] if row["status"] == "closed"]
    more = [row["id"] for row in page["items"]]
    assert (page["after"], page["next"], len(more)) == (snapshot["closed_next"], None, 2)
    assert sorted(shown + more) == sorted(world["closed"])
    await console.disconnect()


async def test_a_colleagues_change_reaches_the_all_my_chats_row(world):
    console, _snapshot = await connected(world["olga"].user)
    # when: Ivan closes his conversation
    await sync_to_async(request_close)(request=world["ivans"].pk, reason="client")
    frames = await receive_until(
        console,
        lambda frame: (
            frame["type"] == "request_changed" and frame["request"]["id"] == world["ivans"].pk
        ),
    )
    # then
    assert frames[-1]["request"]["status"] == "closed"
    await console.disconnect()


async def test_search_answers_with_the_operators_requests_only(world):
    console, _snapshot = await connected(world["olga"].user)
    # when
    await console.send_json_to({"type": "search", "query": "  order 4411 "})
    frames = await receive_until(console, lambda frame: frame["type"] == "search_results")
    # then: Ann's request, not the other chat's visitor who wrote the same
    result = frames[-1]
    assert result["query"] == "order 4411"
    assert [row["id"] for row in result["items"]] == [world["ann"].pk]
    assert result["items"][0]["client_name"] == "Ann"
    # nor by name
    await console.send_json_to({"type": "search", "query": "Secret"})
    frames = await receive_until(console, lambda frame: frame["type"] == "search_results")
    assert frames[-1]["items"] == []
    await console.disconnect()


async def test_the_other_chats_operator_finds_their_own(world):
    outsider = await sync_to_async(OperatorFactory)(chats=[world["stranger"].chat])
    console, _snapshot = await connected(outsider.user)
    await console.send_json_to({"type": "search", "query": "order 4411"})
    frames = await receive_until(console, lambda frame: frame["type"] == "search_results")
    assert [row["id"] for row in frames[-1]["items"]] == [world["stranger"].pk]
    await console.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "search"}, "malformed"),
        ({"type": "search", "query": 42}, "malformed"),
        ({"type": "search", "query": ["ann"]}, "malformed"),
        ({"type": "search", "query": None}, "malformed"),
        ({"type": "search", "query": " a "}, "query_too_short"),
        ({"type": "search", "query": "x" * 201}, "query_too_long"),
        ({"type": "closed_page"}, "malformed"),
        ({"type": "closed_page", "after": "12"}, "malformed"),
        ({"type": "closed_page", "after": 0}, "malformed"),
        ({"type": "closed_page", "after": True}, "malformed"),
        ({"type": "closed_page", "after": 2**64}, "malformed"),
        ({"type": "closed_page", "after": 10**12}, "not_found"),
    ],
)
async def test_bad_list_frames_get_a_clear_error_and_change_nothing(world, frame, code):
    console, _snapshot = await connected(world["olga"].user)
    before = await sync_to_async(lambda: sorted(Request.objects.values_list("pk", "status")))()
    # when
    await console.send_to(text_data=json.dumps(frame))
    frames = await receive_until(console, lambda received: received["type"] == "error")
    # then
    assert (frames[-1]["code"], frames[-1]["request"]) == (code, None)
    assert frames[-1]["detail"]
    after = await sync_to_async(lambda: sorted(Request.objects.values_list("pk", "status")))()
    assert after == before
    await still_serving(console)
    await console.disconnect()


async def test_a_closed_page_after_another_chats_request_is_not_found(world):
    console, _snapshot = await connected(world["olga"].user)
    # when: the cursor names a closed request of a chat Olga does not serve
    await console.send_json_to({"type": "closed_page", "after": world["stranger"].pk})
    frames = await receive_until(console, lambda frame: frame["type"] in ("error", "closed_page"))
    # then: nothing of it leaks
    assert (frames[-1]["type"], frames[-1]["code"]) == ("error", "not_found")
    await still_serving(console)
    await console.disconnect()


async def test_a_search_after_the_session_ended_closes_the_socket(world):
    console, _snapshot = await connected(world["olga"].user)
    await sync_to_async(
        lambda: (
            world["olga"]
            .user.__class__.objects.filter(pk=world["olga"].user_id)
            .update(is_active=False)
        )
    )()
    # when
    await console.send_json_to({"type": "search", "query": "order"})
    # then
    output = await console.receive_output(timeout=5)
    assert (output["type"], output.get("code")) == ("websocket.close", 4401)
