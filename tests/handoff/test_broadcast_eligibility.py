"""Broadcast distribution (issue 11) reaches exactly the managers eligible for a request's
chat, channel and route (distributor.selectors): the console's list and the request it
opens, accepting (console and services), and the console's live events and messages.
An operator serving only Telegram in a chat neither sees, hears nor accepts a web
request; a routing rule's manager set limits it to that set; no channel row for the
chat is every channel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chats.enums import DialogStatus, Messenger
from chats.models import Dialog
from chats.services import dialog_receive_client_message
from config.asgi import application
from distributor.enums import RouteTarget
from distributor.models import Operator, OperatorChannel, RoutingRule
from distributor.services import chat_distribution_for
from handoff import selectors
from handoff.enums import Fallback, RequestStatus
from handoff.models import HandoffSettings, Request, RequestEvent
from handoff.services import (
    NotYourRequest,
    RequestAlreadyTaken,
    request_accept,
    request_close,
    request_expire,
    request_open,
)
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.handoff.test_console_consumer import ORIGIN, receive_until, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def make_world():
    chat, other_chat = ChatFactory(), ChatFactory()
    # Olga serves only Telegram in the chat, Ivan every channel (no row), Petr only the web
    olga = OperatorFactory(display_name="Olga", chats=[chat, other_chat])
    ivan = OperatorFactory(display_name="Ivan", chats=[chat])
    petr = OperatorFactory(display_name="Petr", chats=[chat])
    OperatorChannel.objects.create(operator=olga, chat=chat, messenger=Messenger.TELEGRAM)
    OperatorChannel.objects.create(operator=petr, chat=chat, messenger=Messenger.WEB)
    web = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
    return {
        "chat": chat,
        "other_chat": other_chat,
        "olga": olga,
        "ivan": ivan,
        "petr": petr,
        "web": web,
    }


@pytest.fixture
def world():
    return make_world()


def telegram_request(chat) -> Request:
    dialog = DialogFactory(client__chat=chat, client__messenger=Messenger.TELEGRAM)
    return request_open(dialog=dialog, reason="headset")


def listed(operator: Operator) -> set[int]:
    return {item["id"] for item in selectors.requests_for_operator(operator=operator)}


def sees(operator: Operator, request: Request) -> bool:
    try:
        selectors.request_get_for_operator(operator=operator, request_id=request.pk)
    except Request.DoesNotExist:
        return False
    return True


def rule(chat, messenger: str, managers: list[Operator], target: str = RouteTarget.MANAGERS):
    routing = RoutingRule.objects.create(
        distribution=chat_distribution_for(chat), messenger=messenger, target=target
    )
    routing.managers.set(managers)
    return routing


def queue_when_nobody_accepts(chat) -> None:
    settings = HandoffSettings.objects.get(chat=chat)
    settings.fallback = Fallback.QUEUE
    settings.save()


def stored(request: Request) -> tuple:
    """What a refused accept must leave as it was."""
    fresh = Request.objects.get(pk=request.pk)
    return (
        fresh.status,
        fresh.operator_id,
        fresh.accepted_at,
        RequestEvent.objects.filter(request=request).count(),
        Dialog.objects.get(pk=request.dialog_id).status,
    )


# --- the list and the request a console opens ---------------------------------------------


def test_an_operator_serving_only_telegram_neither_lists_nor_opens_a_web_request(world):
    web = world["web"]
    assert web.pk not in listed(world["olga"])
    assert not sees(world["olga"], web)
    # who serves the web (a row for it, or no row for the chat: every channel) does
    for operator in (world["ivan"], world["petr"]):
        assert web.pk in listed(operator)
        assert sees(operator, web)


def test_a_telegram_request_is_for_olga_and_ivan_not_for_petr(world):
    request = telegram_request(world["chat"])
    assert request.pk in listed(world["olga"])
    assert request.pk in listed(world["ivan"])
    assert request.pk not in listed(world["petr"])


def test_a_queued_request_follows_the_same_rule(world):
    queue_when_nobody_accepts(world["chat"])
    web = world["web"]
    request_expire(request=web, now=web.accept_deadline + timedelta(seconds=1))
    assert Request.objects.get(pk=web.pk).status == RequestStatus.QUEUED
    assert web.pk not in listed(world["olga"])
    assert web.pk in listed(world["ivan"])


def test_a_routing_rule_with_managers_limits_the_request_to_them(world):
    rule(world["chat"], Messenger.WEB, [world["petr"]])
    web = world["web"]  # opened before the rule: the rule as stored now decides
    assert web.pk in listed(world["petr"])
    assert web.pk not in listed(world["ivan"])
    assert not sees(world["ivan"], web)
    # a member of the set who does not serve the channel is still not eligible
    rule_of_web = RoutingRule.objects.get()
    rule_of_web.managers.add(world["olga"])
    assert web.pk not in listed(world["olga"])


def test_a_rule_without_managers_leaves_every_operator_serving_the_channel(world):
    rule(world["chat"], Messenger.WEB, [])
    assert world["web"].pk in listed(world["ivan"])
    assert world["web"].pk in listed(world["petr"])
    assert world["web"].pk not in listed(world["olga"])


def test_a_rule_of_another_channel_changes_nothing_for_this_one(world):
    rule(world["chat"], Messenger.TELEGRAM, [world["olga"]])
    assert world["web"].pk in listed(world["ivan"])


def test_an_accepted_request_stays_with_its_holder_when_they_lose_the_channel(world):
    web = world["web"]
    request_accept(request=web, operator=world["ivan"])
    # when: Ivan now serves only Telegram in the chat
    OperatorChannel.objects.create(
        operator=world["ivan"], chat=world["chat"], messenger=Messenger.TELEGRAM
    )
    # then: he still lists and opens the conversation he holds
    assert web.pk in listed(world["ivan"])
    assert sees(world["ivan"], web)


def test_a_request_closed_before_anyone_took_it_is_listed_for_the_eligible_only(world):
    web = world["web"]
    request_close(request=web, reason="client")
    assert web.pk in listed(world["ivan"])
    assert web.pk not in listed(world["olga"])


def test_another_chats_request_is_still_not_found(world):
    foreign = request_open(dialog=DialogFactory(), reason="headset")
    assert not sees(world["olga"], foreign)
    assert foreign.pk not in listed(world["olga"])


# --- accepting ---------------------------------------------------------------------------


def test_an_ineligible_operator_cannot_accept_and_nothing_changes(world):
    web = world["web"]
    before = stored(web)
    with pytest.raises(NotYourRequest):
        request_accept(request=web.pk, operator=world["olga"])
    # the console's path: not found, as if it were not there
    with pytest.raises(Request.DoesNotExist):
        request_accept(
            request=web.pk, dialog_id=web.dialog_id, operator=world["olga"], visible_only=True
        )
    assert stored(web) == before
    # an eligible one still can
    accepted = request_accept(request=web.pk, operator=world["petr"])
    assert (accepted.status, accepted.operator_id) == (RequestStatus.ACCEPTED, world["petr"].pk)
    assert Dialog.objects.get(pk=web.dialog_id).status == DialogStatus.OPERATOR


def test_outside_the_rules_set_an_accept_is_refused(world):
    rule(world["chat"], Messenger.WEB, [world["petr"]])
    web = world["web"]
    before = stored(web)
    with pytest.raises(NotYourRequest):
        request_accept(request=web, operator=world["ivan"])
    assert stored(web) == before
    assert request_accept(request=web, operator=world["petr"]).operator_id == world["petr"].pk


def test_an_operator_without_channel_rows_accepts_any_channel(world):
    request = telegram_request(world["chat"])
    assert request_accept(request=request, operator=world["ivan"]).operator_id == world["ivan"].pk


def test_an_accept_of_another_chats_request_is_refused_as_before(world):
    foreign = request_open(dialog=DialogFactory(), reason="headset")
    before = stored(foreign)
    with pytest.raises(NotYourRequest):
        request_accept(request=foreign.pk, operator=world["petr"])
    with pytest.raises(Request.DoesNotExist):
        request_accept(
            request=foreign.pk,
            dialog_id=foreign.dialog_id,
            operator=world["petr"],
            visible_only=True,
        )
    assert stored(foreign) == before


def test_a_request_taken_by_someone_else_is_refused_as_taken_whoever_asks(world):
    web = world["web"]
    request_accept(request=web, operator=world["ivan"])
    with pytest.raises(RequestAlreadyTaken):
        request_accept(request=web.pk, operator=world["olga"])
    assert Request.objects.get(pk=web.pk).operator_id == world["ivan"].pk


# --- the console, live ------------------------------------------------------------------


async def console_of(operator: Operator):
    headers = [ORIGIN, await sync_to_async(session_cookie)(operator.user)]
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _code = await communicator.connect()
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["type"] == "requests"
    return communicator, snapshot


def about(frame: dict) -> int | None:
    """The request a console frame is about."""
    request = frame.get("request")
    return request.get("id") if isinstance(request, dict) else request


async def frames_until_about(console, request_id: int, frame_type: str) -> list[dict]:
    """Every frame up to the first of `frame_type` about `request_id`: the channel layer
    delivers a socket's events in order, so an event published before that one has been
    handled (passed on or dropped) by then."""
    return await receive_until(
        console, lambda frame: frame["type"] == frame_type and about(frame) == request_id
    )


def client_writes(request: Request, text: str) -> None:
    dialog = Dialog.objects.get(pk=request.dialog_id)
    dialog_receive_client_message(dialog=dialog, text=text, client_msg_id=f"{text}-{request.pk}")


async def test_a_web_request_and_its_messages_never_reach_a_telegram_only_console(world):
    olga, snapshot = await console_of(world["olga"])
    ivan, _snapshot = await console_of(world["ivan"])
    assert world["web"].pk not in {item["id"] for item in snapshot["items"]}
    # when: a web request opens and its visitor writes, then a Telegram one does the same
    web = await sync_to_async(request_open)(
        dialog=await sync_to_async(DialogFactory)(client__chat=world["chat"]), reason="headset"
    )
    await sync_to_async(client_writes)(web, "web-hello")
    telegram = await sync_to_async(telegram_request)(world["chat"])
    await sync_to_async(client_writes)(telegram, "tg-hello")
    # then: Ivan (every channel) hears both; Olga only the Telegram one
    ivan_frames = await frames_until_about(ivan, web.pk, "inbox")
    assert any(
        frame["type"] == "request_changed" and about(frame) == web.pk for frame in ivan_frames
    )
    olga_frames = await frames_until_about(olga, telegram.pk, "inbox")
    assert [frame for frame in olga_frames if about(frame) == web.pk] == []
    assert any(
        frame["type"] == "request_changed" and about(frame) == telegram.pk for frame in olga_frames
    )
    # and her console cannot open or accept it either
    await olga.send_json_to({"type": "watch", "request": web.pk, "last_sequence": 0})
    refused = await receive_until(olga, lambda frame: frame["type"] == "error")
    assert refused[-1]["code"] == "not_found"
    await olga.send_json_to({"type": "accept", "request": web.pk})
    refused = await receive_until(olga, lambda frame: frame["type"] == "error")
    assert refused[-1]["code"] == "not_found"
    assert (await sync_to_async(Request.objects.get)(pk=web.pk)).status == RequestStatus.PENDING
    await olga.disconnect()
    await ivan.disconnect()


async def test_the_accept_of_a_request_olga_never_saw_does_not_reach_her(world):
    olga, _snapshot = await console_of(world["olga"])
    web = world["web"]
    # when: Ivan takes the web request, then a Telegram request opens
    await sync_to_async(request_accept)(request=web.pk, operator=world["ivan"])
    telegram = await sync_to_async(telegram_request)(world["chat"])
    # then
    frames = await frames_until_about(olga, telegram.pk, "request_changed")
    assert [frame for frame in frames if about(frame) == web.pk] == []
    await olga.disconnect()


async def test_a_console_showing_a_request_is_told_when_a_rule_takes_it_away(world):
    await sync_to_async(queue_when_nobody_accepts)(world["chat"])
    ivan, snapshot = await console_of(world["ivan"])
    web = world["web"]
    assert web.pk in {item["id"] for item in snapshot["items"]}
    # when: the web channel is routed to Petr alone, and the request changes (queued)
    await sync_to_async(rule)(world["chat"], Messenger.WEB, [world["petr"]])
    await sync_to_async(request_expire)(request=web, now=timezone.now() + timedelta(days=1))
    # then: Ivan's console drops it, and hears no more of its messages
    frames = await frames_until_about(ivan, web.pk, "request_withdrawn")
    assert not any(frame["type"] == "request_changed" for frame in frames)
    await sync_to_async(client_writes)(web, "after")
    telegram = await sync_to_async(telegram_request)(world["chat"])
    frames = await frames_until_about(ivan, telegram.pk, "request_changed")
    assert [frame for frame in frames if about(frame) == web.pk] == []
    await ivan.disconnect()


async def test_petr_in_the_rule_hears_the_request_and_its_messages(world):
    await sync_to_async(rule)(world["chat"], Messenger.WEB, [world["petr"]])
    petr, snapshot = await console_of(world["petr"])
    web = world["web"]
    assert web.pk in {item["id"] for item in snapshot["items"]}
    await sync_to_async(client_writes)(web, "for-petr")
    frames = await frames_until_about(petr, web.pk, "inbox")
    assert frames[-1]["message"]["preview"] == "for-petr"
    await petr.disconnect()


# --- the message path asks nothing more ---------------------------------------------------


def test_a_visitor_message_in_a_waiting_request_reads_no_eligibility(world):
    web = world["web"]
    client_writes(web, "warm")
    with CaptureQueriesContext(connection) as context:
        client_writes(web, "again")
    # the consoles judge its event by what they show (handoff.consumers): no channel
    # rows or routing rules (nor their managers) are read for it
    read = " ".join(query["sql"] for query in context.captured_queries)
    for table in ("distributor_operatorchannel", "distributor_routingrule"):
        assert f'"{table}' not in read, table
