"""The console's part of distribution (issue 11): presence (set on connect, the header's
toggle, the heartbeat), transfer to another operator or back to the bot, and requests
offered to one operator in automatic distribution — over the real channel layer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from config.asgi import application
from distributor.enums import DistributionMode
from distributor.models import ChatDistribution, Operator, OperatorChannel
from distributor.services import chat_distribution_for, operator_presence_set
from handoff.consumers import PRESENCE_TTL
from handoff.enums import CloseReason, RequestStatus
from handoff.models import Request, RequestEvent
from handoff.services import request_accept, request_offer_expire, request_open, requests_drain
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.handoff.test_console_consumer import ORIGIN, receive_until, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


async def console_for(user, query: str = ""):
    headers = [ORIGIN, await sync_to_async(session_cookie)(user)]
    path = "/ws/console/" + (f"?{query}" if query else "")
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _code = await communicator.connect()
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["type"] == "requests"
    return communicator, snapshot


def make_world():
    chat = ChatFactory()
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    ivan = OperatorFactory(display_name="Ivan", chats=[chat])
    petr = OperatorFactory(display_name="Petr", chats=[chat])
    request = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
    return {"chat": chat, "olga": olga, "ivan": ivan, "petr": petr, "request": request}


@pytest.fixture
async def world():
    return await sync_to_async(make_world)()


def fresh(operator: Operator) -> Operator:
    return Operator.objects.get(pk=operator.pk)


def stored_state() -> list:
    """What a refused frame must leave as it was: requests, their events, presences."""
    return [
        list(
            Request.objects.order_by("pk").values_list(
                "pk", "status", "operator_id", "close_reason", "offered_to_id"
            )
        ),
        RequestEvent.objects.count(),
        list(Operator.objects.order_by("pk").values_list("pk", "presence", "presence_expires_at")),
    ]


def held_by(request: Request, operator: Operator) -> Request:
    return request_accept(request=request.pk, operator=operator)


def online(*operators: Operator) -> None:
    for operator in operators:
        operator_presence_set(operator=operator, presence="online")


# --- presence ----------------------------------------------------------------------------


async def test_connecting_sets_the_operator_online_for_the_presence_ttl(world):
    before = timezone.now()
    console, snapshot = await console_for(world["olga"].user)
    olga = await sync_to_async(fresh)(world["olga"])
    assert (snapshot["presence"], olga.presence) == ("online", "online")
    assert before + PRESENCE_TTL <= olga.presence_expires_at <= timezone.now() + PRESENCE_TTL
    await console.disconnect()


async def test_connecting_keeps_the_presence_the_page_remembers(world):
    console, snapshot = await console_for(world["olga"].user, "presence=away")
    olga = await sync_to_async(fresh)(world["olga"])
    assert (snapshot["presence"], olga.presence) == ("away", "away")
    await console.disconnect()


async def test_an_unknown_presence_in_the_url_connects_online(world):
    console, snapshot = await console_for(world["olga"].user, "presence=sleeping")
    assert snapshot["presence"] == "online"
    await console.disconnect()


async def test_the_toggle_sets_the_presence_and_every_console_of_the_operator_follows(world):
    laptop, _snapshot = await console_for(world["olga"].user)
    phone, _snapshot = await console_for(world["olga"].user)
    # when
    await laptop.send_json_to({"type": "presence", "presence": "away"})
    # then
    for console in (laptop, phone):
        frames = await receive_until(
            console, lambda frame: frame["type"] == "presence" and frame["presence"] == "away"
        )
        assert frames[-1]["expires_at"] is not None
    assert (await sync_to_async(fresh)(world["olga"])).presence == "away"
    await laptop.send_json_to({"type": "presence", "presence": "offline"})
    frames = await receive_until(
        phone, lambda frame: frame["type"] == "presence" and frame["presence"] == "offline"
    )
    assert frames[-1]["expires_at"] is None
    olga = await sync_to_async(fresh)(world["olga"])
    assert (olga.presence, olga.presence_expires_at) == ("offline", None)
    await laptop.disconnect()
    await phone.disconnect()


async def test_the_heartbeat_renews_the_presence(world):
    console, _snapshot = await console_for(world["olga"].user)
    soon = timezone.now() + timedelta(seconds=5)
    await sync_to_async(Operator.objects.filter(pk=world["olga"].pk).update)(
        presence_expires_at=soon
    )
    # when
    await console.send_json_to({"type": "heartbeat"})
    # then
    answer = await receive_until(console, lambda frame: frame["type"] == "heartbeat")
    assert answer[-1]["presence"] == "online"
    olga = await sync_to_async(fresh)(world["olga"])
    assert olga.presence_expires_at > soon + timedelta(seconds=60)
    await console.disconnect()


async def test_a_heartbeat_after_the_presence_expired_says_offline(world):
    console, _snapshot = await console_for(world["olga"].user)
    await sync_to_async(Operator.objects.filter(pk=world["olga"].pk).update)(
        presence_expires_at=timezone.now() - timedelta(seconds=1)
    )
    await console.send_json_to({"type": "heartbeat"})
    answer = await receive_until(console, lambda frame: frame["type"] == "heartbeat")
    assert (answer[-1]["presence"], answer[-1]["expires_at"]) == ("offline", None)
    await console.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "presence"},
        {"type": "presence", "presence": "busy"},
        {"type": "presence", "presence": 1},
        {"type": "presence", "presence": ["online"]},
    ],
)
async def test_a_bad_presence_frame_is_refused_and_changes_nothing(world, frame):
    console, _snapshot = await console_for(world["olga"].user)
    before = await sync_to_async(stored_state)()
    await console.send_json_to(frame)
    error = await receive_until(console, lambda answer: answer["type"] == "error")
    assert error[-1]["code"] == "malformed"
    assert "presence" in error[-1]["detail"]
    assert await sync_to_async(stored_state)() == before
    await console.disconnect()


# --- transfer ----------------------------------------------------------------------------


async def test_transfer_targets_list_the_chats_operators_with_presence_and_load(world):
    await sync_to_async(held_by)(world["request"], world["olga"])
    await sync_to_async(online)(world["ivan"])
    olga, _snapshot = await console_for(world["olga"].user)
    # when
    await olga.send_json_to({"type": "transfer_targets", "request": world["request"].pk})
    # then
    answer = (await receive_until(olga, lambda frame: frame["type"] == "transfer_targets"))[-1]
    assert answer["bot"] is True
    assert [
        (target["name"], target["presence"], target["load"], target["max"], target["available"])
        for target in answer["operators"]
    ] == [("Ivan", "online", 0, 5, True), ("Petr", "offline", 0, 5, False)]
    await olga.disconnect()


async def test_transfer_targets_of_a_request_not_held_is_refused(world):
    olga, _snapshot = await console_for(world["olga"].user)
    await olga.send_json_to({"type": "transfer_targets", "request": world["request"].pk})
    error = (await receive_until(olga, lambda frame: frame["type"] == "error"))[-1]
    assert (error["code"], error["request"]) == ("not_yours", world["request"].pk)
    await olga.disconnect()


async def test_a_transfer_hands_the_conversation_to_the_other_operators_console(world):
    request = world["request"]
    await sync_to_async(held_by)(request, world["olga"])
    await sync_to_async(online)(world["ivan"])
    olga, _snapshot = await console_for(world["olga"].user)
    ivan, _snapshot = await console_for(world["ivan"].user)
    await olga.send_json_to({"type": "watch", "request": request.pk})
    await receive_until(olga, lambda frame: frame["type"] == "watching")
    # when
    await olga.send_json_to(
        {"type": "transfer", "request": request.pk, "to": world["ivan"].pk, "reason": "billing"}
    )
    # then: the sender is told, and its list sees the request held by Ivan
    frames = await receive_until(olga, lambda frame: frame["type"] == "transferred")
    assert (frames[-1]["request"], frames[-1]["to"]) == (request.pk, "Ivan")
    # the receiver's console gets it as theirs, with who gave it and why
    frames = await receive_until(ivan, lambda frame: frame["type"] == "transfer_received")
    changed = [frame for frame in frames if frame["type"] == "request_changed"]
    assert changed[-1]["request"]["operator_id"] == world["ivan"].pk
    assert (frames[-1]["from"], frames[-1]["reason"]) == ("Olga", "billing")
    # and may open its history
    await ivan.send_json_to({"type": "watch", "request": request.pk})
    watching = await receive_until(ivan, lambda frame: frame["type"] == "watching")
    assert watching[-1]["request"]["operator"] == "Ivan"
    stored = await sync_to_async(Request.objects.get)(pk=request.pk)
    assert (stored.status, stored.operator_id) == ("accepted", world["ivan"].pk)
    note = await sync_to_async(lambda: RequestEvent.objects.filter(request=request).last().note)()
    assert note == "transferred to Ivan: billing"
    # the sender can no longer write in it
    await olga.send_json_to(
        {"type": "message", "request": request.pk, "client_msg_id": "late", "text": "hi"}
    )
    error = (await receive_until(olga, lambda frame: frame["type"] == "error"))[-1]
    assert error["code"] == "not_yours"
    await olga.disconnect()
    await ivan.disconnect()


async def test_a_transfer_back_to_the_bot_closes_the_request(world):
    request = world["request"]
    await sync_to_async(held_by)(request, world["olga"])
    olga, _snapshot = await console_for(world["olga"].user)
    await olga.send_json_to(
        {"type": "transfer", "request": request.pk, "to": "bot", "reason": "only a FAQ"}
    )
    frames = await receive_until(olga, lambda frame: frame["type"] == "transferred")
    assert (frames[-1]["to"], frames[-1]["to_id"]) == (None, None)
    stored = await sync_to_async(Request.objects.get)(pk=request.pk)
    assert (stored.status, stored.close_reason) == ("closed", CloseReason.TRANSFERRED_TO_BOT)
    await olga.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "transfer", "request": "R", "to": "bot"}, "malformed"),  # no reason
        ({"type": "transfer", "request": "R", "to": "bot", "reason": "  "}, "malformed"),
        ({"type": "transfer", "request": "R", "to": "bot", "reason": 5}, "malformed"),
        ({"type": "transfer", "request": "R", "to": "people", "reason": "x"}, "malformed"),
        ({"type": "transfer", "request": "R", "to": -3, "reason": "x"}, "malformed"),
        ({"type": "transfer", "request": "R", "reason": "x"}, "malformed"),
        ({"type": "transfer", "request": "R", "to": "bot", "reason": "x" * 151}, "text_too_long"),
        ({"type": "transfer", "request": 0, "to": "bot", "reason": "x"}, "malformed"),
        ({"type": "transfer", "request": "R", "to": 999999, "reason": "x"}, "not_found"),
        ({"type": "transfer", "request": "R", "to": "OLGA", "reason": "x"}, "transfer_to_self"),
        ({"type": "transfer", "request": "R", "to": "PETR", "reason": "x"}, "target_offline"),
        ({"type": "transfer", "request": "OTHER", "to": "bot", "reason": "x"}, "not_found"),
        ({"type": "transfer_targets"}, "malformed"),
    ],
)
async def test_a_bad_transfer_is_refused_plainly_and_changes_nothing(world, frame, code):
    # given: Olga holds the request; another chat's request she cannot see
    request = world["request"]
    await sync_to_async(held_by)(request, world["olga"])
    other = await sync_to_async(
        lambda: request_open(dialog=DialogFactory(client__chat=ChatFactory()), reason="headset")
    )()
    names = {
        "R": request.pk,
        "OTHER": other.pk,
        "OLGA": world["olga"].pk,
        "PETR": world["petr"].pk,
    }
    frame = {
        key: names.get(value, value) if isinstance(value, str) else value
        for key, value in frame.items()
    }
    olga, _snapshot = await console_for(world["olga"].user)
    before = await sync_to_async(stored_state)()
    # when
    await olga.send_json_to(frame)
    # then
    error = (await receive_until(olga, lambda answer: answer["type"] == "error"))[-1]
    assert error["code"] == code
    assert error["detail"]
    assert await sync_to_async(stored_state)() == before
    await olga.disconnect()


async def test_a_transfer_to_an_operator_at_their_cap_is_refused(world):
    request = world["request"]
    await sync_to_async(held_by)(request, world["olga"])
    await sync_to_async(online)(world["ivan"])
    await sync_to_async(Operator.objects.filter(pk=world["ivan"].pk).update)(
        max_simultaneous_dialogs=1
    )
    busy = await sync_to_async(
        lambda: request_open(dialog=DialogFactory(client__chat=world["chat"]), reason="headset")
    )()
    await sync_to_async(held_by)(busy, world["ivan"])
    olga, _snapshot = await console_for(world["olga"].user)
    before = await sync_to_async(stored_state)()
    await olga.send_json_to(
        {"type": "transfer", "request": request.pk, "to": world["ivan"].pk, "reason": "x"}
    )
    error = (await receive_until(olga, lambda answer: answer["type"] == "error"))[-1]
    assert error["code"] == "target_at_capacity"
    assert await sync_to_async(stored_state)() == before
    await olga.disconnect()


# --- automatic distribution: offers ---------------------------------------------------------


def automatic(chat) -> None:
    distribution = chat_distribution_for(chat)
    ChatDistribution.objects.filter(pk=distribution.pk).update(mode=DistributionMode.AUTOMATIC)


def offered_to_ivan():
    """An automatic chat where only Ivan is online: a new request is offered to him."""
    chat = ChatFactory()
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    ivan = OperatorFactory(display_name="Ivan", chats=[chat])
    automatic(chat)
    online(ivan)
    request = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
    request.refresh_from_db()
    assert request.offered_to_id == ivan.pk
    return {"chat": chat, "olga": olga, "ivan": ivan, "request": request}


def offer_times_out(request: Request) -> Request:
    request.refresh_from_db()
    return request_offer_expire(request=request, now=request.offer_deadline + timedelta(seconds=1))


async def test_a_request_offered_to_another_operator_is_not_listed_nor_opened():
    world = await sync_to_async(offered_to_ivan)()
    request = world["request"]
    olga, snapshot = await console_for(world["olga"].user)
    ivan, ivan_snapshot = await console_for(world["ivan"].user)
    # then: Olga does not see it; Ivan sees it with the offer's deadline
    assert snapshot["items"] == []
    [item] = ivan_snapshot["items"]
    assert (item["id"], item["offered_to_id"]) == (request.pk, world["ivan"].pk)
    assert item["offer_deadline"] == request.offer_deadline.isoformat()
    # nor may Olga open or accept it
    await olga.send_json_to({"type": "watch", "request": request.pk})
    error = (await receive_until(olga, lambda answer: answer["type"] == "error"))[-1]
    assert error["code"] == "not_found"
    await olga.send_json_to({"type": "accept", "request": request.pk})
    error = (await receive_until(olga, lambda answer: answer["type"] == "error"))[-1]
    assert error["code"] == "offered_to_another"
    stored = await sync_to_async(Request.objects.get)(pk=request.pk)
    assert (stored.status, stored.operator_id) == (RequestStatus.PENDING, None)
    # Ivan may
    await ivan.send_json_to({"type": "accept", "request": request.pk})
    changed = await receive_until(
        ivan,
        lambda frame: (
            frame["type"] == "request_changed" and frame["request"]["status"] == "accepted"
        ),
    )
    assert changed[-1]["request"]["operator_id"] == world["ivan"].pk
    await olga.disconnect()
    await ivan.disconnect()


async def test_when_the_offer_times_out_the_first_operator_sees_it_go_with_a_notice():
    world = await sync_to_async(offered_to_ivan)()
    request = world["request"]
    olga, _snapshot = await console_for(world["olga"].user)  # connecting: online
    ivan, _snapshot = await console_for(world["ivan"].user)
    await ivan.send_json_to({"type": "watch", "request": request.pk})
    await receive_until(ivan, lambda frame: frame["type"] == "watching")
    # when: not accepted in time
    moved = await sync_to_async(offer_times_out)(request)
    # then: offered to Olga; Ivan's console drops it and says the offer moved on
    assert moved.offered_to_id == world["olga"].pk
    withdrawn = (await receive_until(ivan, lambda frame: frame["type"] == "request_withdrawn"))[-1]
    assert (withdrawn["request"], withdrawn["offer_moved"]) == (request.pk, True)
    # Olga's console gets it, offered to her, with its deadline
    changed = (await receive_until(olga, lambda frame: frame["type"] == "request_changed"))[-1]
    assert (changed["request"]["id"], changed["request"]["offered_to_id"]) == (
        request.pk,
        world["olga"].pk,
    )
    assert changed["request"]["offer_deadline"] is not None
    # and Ivan may no longer open it
    await ivan.send_json_to({"type": "watch", "request": request.pk})
    error = (await receive_until(ivan, lambda frame: frame["type"] == "error"))[-1]
    assert error["code"] == "not_found"
    await olga.disconnect()
    await ivan.disconnect()


async def test_an_offer_timing_out_with_nobody_next_still_leaves_the_first_operator():
    world = await sync_to_async(offered_to_ivan)()
    request = world["request"]
    ivan, _snapshot = await console_for(world["ivan"].user)
    # when: nobody else is online
    moved = await sync_to_async(offer_times_out)(request)
    # then
    assert moved.offered_to_id is None
    withdrawn = (await receive_until(ivan, lambda frame: frame["type"] == "request_withdrawn"))[-1]
    assert (withdrawn["request"], withdrawn["offer_moved"]) == (request.pk, True)
    await ivan.send_json_to({"type": "refresh"})
    snapshot = (await receive_until(ivan, lambda frame: frame["type"] == "requests"))[-1]
    assert snapshot["items"] == []
    await ivan.disconnect()


async def test_rejecting_an_offer_passes_it_on_without_a_notice_to_who_rejected():
    world = await sync_to_async(offered_to_ivan)()
    request = world["request"]
    olga, _snapshot = await console_for(world["olga"].user)
    ivan, _snapshot = await console_for(world["ivan"].user)
    # when
    await ivan.send_json_to({"type": "reject", "request": request.pk})
    # then: Olga is offered it; Ivan's list drops it, without "offered to the next"
    changed = (await receive_until(olga, lambda frame: frame["type"] == "request_changed"))[-1]
    assert changed["request"]["offered_to_id"] == world["olga"].pk
    frames = await receive_until(ivan, lambda frame: frame["type"] == "request_withdrawn")
    assert frames[-1]["offer_moved"] is False
    await olga.disconnect()
    await ivan.disconnect()


async def test_a_request_first_offered_elsewhere_is_withdrawn_without_a_notice():
    # given: an automatic chat where nobody is online: the request is offered to nobody
    world = await sync_to_async(offered_to_ivan)()
    await sync_to_async(Operator.objects.filter(pk=world["ivan"].pk).update)(presence="offline")
    request = await sync_to_async(
        lambda: request_open(dialog=DialogFactory(client__chat=world["chat"]), reason="headset")
    )()
    olga, snapshot = await console_for(world["olga"].user, "presence=away")
    assert request.pk in [item["id"] for item in snapshot["items"]]
    # when: Ivan comes online and the waiting requests are offered (the drain)
    await sync_to_async(online)(world["ivan"])
    await sync_to_async(requests_drain)(chat_ids=[world["chat"].pk])
    # then
    withdrawn = await receive_until(
        olga,
        lambda frame: frame["type"] == "request_withdrawn" and frame["request"] == request.pk,
    )
    assert withdrawn[-1]["offer_moved"] is False
    await olga.disconnect()


async def test_transfer_targets_leave_out_who_serves_another_channel_only(world):
    await sync_to_async(held_by)(world["request"], world["olga"])
    await sync_to_async(OperatorChannel.objects.create)(
        operator=world["petr"], chat=world["chat"], messenger="telegram"
    )
    olga, _snapshot = await console_for(world["olga"].user)
    await olga.send_json_to({"type": "transfer_targets", "request": world["request"].pk})
    answer = (await receive_until(olga, lambda frame: frame["type"] == "transfer_targets"))[-1]
    assert [target["name"] for target in answer["operators"]] == ["Ivan"]
    await olga.disconnect()
