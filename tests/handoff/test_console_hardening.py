"""Hostile input, bad stored data, lost access and every event type on the console
socket (issue 8), over the real channel layer."""

import re
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from chats.enums import AuthorKind
from chats.models import Dialog
from chats.realtime import EVENT_TYPES, dialog_group_name, message_payload
from chats.services import message_post
from chats.visitor_tokens import visitor_token_issue
from config.asgi import application
from handoff.consumers import ConsoleConsumer
from handoff.models import Request
from handoff.realtime import console_chat_group, request_summary
from handoff.services import request_accept, request_open
from handoff.widget_consumer import WidgetConsumer
from tests.chats.factories import ChatFactory, DialogFactory
from tests.chats.test_consumers import hello, open_socket
from tests.distributor.factories import OperatorFactory
from tests.handoff.test_console_consumer import (
    ORIGIN,
    console_for,
    receive_until,
    world,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.django_db(transaction=True)
# PostgreSQL's jsonb refuses a lone surrogate, so old bad data can only exist on SQLite
sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="PostgreSQL cannot hold a lone surrogate"
)

DEEP = '{"type":"watch","x":' + "[" * 5000 + "]" * 5000 + "}"
LONE = "a\\ud800b"


async def request_statuses():
    return await sync_to_async(lambda: sorted(Request.objects.values_list("status", flat=True)))()


async def message_count():
    from chats.models import Message

    return await sync_to_async(Message.objects.count)()


async def assert_still_serving(console):
    await console.send_json_to({"type": "refresh"})
    frames = await receive_until(console, lambda frame: frame["type"] == "requests")
    assert frames[-1]["type"] == "requests"


async def closed_with(communicator) -> int:
    """The close code the server sends next, skipping any frames before it."""
    while True:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output["code"]


# --- 1, 2: hostile frames ---------------------------------------------------------


async def test_deeply_nested_json_is_malformed_and_the_console_stays(world):  # noqa: F811
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)
    # when
    await console.send_to(text_data=DEEP)
    error = await console.receive_json_from(timeout=5)
    # then
    assert (error["type"], error["code"]) == ("error", "malformed")
    assert await request_statuses() == ["pending", "pending"]
    await assert_still_serving(console)
    await console.disconnect()


@pytest.mark.parametrize(
    ("template", "client_msg_id"),
    [
        ('{{"type":"message","request":{id},"client_msg_id":"o9","text":"' + LONE + '"}}', "o9"),
        ('{{"type":"' + LONE + '","request":{id}}}', None),
        ('{{"type":"accept","request":{id},"note":"' + LONE + '"}}', None),
    ],
)
async def test_lone_surrogates_are_invalid_and_nothing_changes(world, template, client_msg_id):  # noqa: F811
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)
    request_id = world["mine"].pk
    await console.send_json_to({"type": "accept", "request": request_id})
    await receive_until(console, lambda frame: frame["type"] == "request_changed")
    before = await message_count()
    # when
    await console.send_to(text_data=template.format(id=request_id))
    error = await receive_until(console, lambda frame: frame["type"] == "error")
    # then
    assert error[-1]["code"] == "invalid"
    assert error[-1].get("client_msg_id") == client_msg_id
    assert await message_count() == before
    assert await request_statuses() == ["accepted", "pending"]
    await assert_still_serving(console)
    await console.disconnect()


async def test_a_nul_in_a_reply_is_refused_and_nothing_changes(world):  # noqa: F811
    # "\u0000" is valid JSON, but PostgreSQL stores no NUL in text
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)
    request_id = world["mine"].pk
    await console.send_json_to({"type": "accept", "request": request_id})
    await receive_until(console, lambda frame: frame["type"] == "request_changed")
    before = await message_count()
    # when
    await console.send_to(
        text_data=f'{{"type":"message","request":{request_id},"client_msg_id":"o7",'
        '"text":"a\\u0000b"}'
    )
    error = await receive_until(console, lambda frame: frame["type"] == "error")
    # then: refused like a lone surrogate, not a database error closing the socket
    assert (error[-1]["code"], error[-1].get("client_msg_id")) == ("invalid", "o7")
    assert "NUL character" in error[-1]["detail"]
    assert await message_count() == before
    assert await request_statuses() == ["accepted", "pending"]
    await assert_still_serving(console)
    await console.disconnect()


# --- 3: stored text that cannot be encoded ----------------------------------------


@sqlite_only
async def test_a_stored_form_answer_with_a_lone_surrogate_reaches_the_console_as_fffd(world):  # noqa: F811
    # given: an old request whose form answers (JSON, so the database took it) are bad
    request_id = world["mine"].pk
    await sync_to_async(Request.objects.filter(pk=request_id).update)(
        form_answers=[{"label": "Name", "answer": "x\ud800y"}]
    )
    # when
    console, _connected, _code = await console_for(world["olga"].user)
    snapshot_text = await console.receive_from(timeout=5)
    await console.send_json_to({"type": "watch", "request": request_id, "last_sequence": 0})
    watching_text = await console.receive_from(timeout=5)
    # then: UTF-8 that can be sent, the bad character replaced, the socket open
    for text in (snapshot_text, watching_text):
        text.encode("utf-8")
        assert "x\ufffdy" in text
    await receive_until(console, lambda frame: frame["type"] == "message")  # the history
    await assert_still_serving(console)
    await console.disconnect()


@sqlite_only
async def test_an_event_carrying_a_stored_lone_surrogate_still_reaches_the_console(world):  # noqa: F811
    # given: bad old form answers, and Olga's console open
    request_id = world["mine"].pk
    await sync_to_async(Request.objects.filter(pk=request_id).update)(
        form_answers=[{"label": "Name", "answer": "x\ud800y"}]
    )
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_from(timeout=5)
    # when: Ivan accepts it, which publishes the request's summary to the chat's consoles
    request = await sync_to_async(Request.objects.get)(pk=request_id)
    await sync_to_async(request_accept)(request=request, operator=world["ivan"])
    # then: the channel layer (msgpack) carried it, with U+FFFD
    frames = await receive_until(console, is_request_changed(request_id))
    assert frames[-1]["request"]["form_answers"][0]["answer"] == "x\ufffdy"
    await console.disconnect()


# --- 6: watch beyond the dialog's last sequence -------------------------------------


@pytest.mark.parametrize("beyond", [1_000_000, 2**63, 10**30])
async def test_watch_beyond_the_last_sequence_is_clamped_and_delivery_goes_on(world, beyond):  # noqa: F811
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)
    request = world["mine"]
    # when
    await console.send_json_to({"type": "watch", "request": request.pk, "last_sequence": beyond})
    await receive_until(console, lambda frame: frame["type"] == "watching")
    dialog = await sync_to_async(Dialog.objects.get)(pk=request.dialog_id)
    await sync_to_async(message_post)(
        dialog=dialog, author_kind=AuthorKind.CLIENT, text="a later message"
    )
    # then
    frames = await receive_until(
        console,
        lambda frame: frame["type"] == "message" and frame["message"]["text"] == "a later message",
    )
    assert frames[-1]["message"]["sequence"] == dialog.last_sequence
    await console.disconnect()


# --- 7: access lost while the console is open --------------------------------------


def admin_client() -> Client:
    client = Client()
    client.force_login(
        get_user_model().objects.create_superuser("root", "root@example.com", "root-password")
    )
    return client


def operator_chats_set_in_admin(operator, chats) -> None:
    response = admin_client().post(
        f"/admin/distributor/operator/{operator.pk}/change/",
        {
            "user": operator.user_id,
            "display_name": operator.display_name,
            "chats": [chat.pk for chat in chats],
            "max_simultaneous_dialogs": operator.max_simultaneous_dialogs,
            # issue 11: the page's inline of channels served (none here)
            "channels-TOTAL_FORMS": "0",
            "channels-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def open_request_in(chat) -> Request:
    return request_open(dialog=DialogFactory(client__chat=chat), reason="headset")


def is_request_changed(request_id):
    return lambda frame: frame["type"] == "request_changed" and frame["request"]["id"] == request_id


async def test_a_chat_taken_away_in_the_admin_stops_its_events_on_an_open_console(world):  # noqa: F811
    # given: Olga serves two chats and watches a request of the first
    olga = world["olga"]
    kept_chat = await sync_to_async(ChatFactory)()
    await sync_to_async(olga.chats.add)(kept_chat)
    console, _connected, _code = await console_for(olga.user)
    await console.receive_json_from(timeout=5)
    watched = world["mine"]
    await console.send_json_to({"type": "watch", "request": watched.pk})
    await receive_until(console, lambda frame: frame["type"] == "watching")
    # when: the admin takes the first chat away
    await sync_to_async(operator_chats_set_in_admin)(olga, [kept_chat])
    snapshot = await receive_until(console, lambda frame: frame["type"] == "requests")
    # then: the fresh list has nothing of the lost chat, nor does anything later
    assert snapshot[-1]["items"] == []
    lost = await sync_to_async(open_request_in)(world["chat"])
    dialog = await sync_to_async(Dialog.objects.get)(pk=watched.dialog_id)
    await sync_to_async(message_post)(dialog=dialog, author_kind=AuthorKind.CLIENT, text="psst")
    kept = await sync_to_async(open_request_in)(kept_chat)
    frames = await receive_until(console, is_request_changed(kept.pk))
    assert [frame for frame in frames if frame["type"] == "message"] == []
    assert lost.pk not in [frame["request"]["id"] for frame in frames if "request" in frame]
    # and frames about the lost chat's requests are refused
    await console.send_json_to({"type": "accept", "request": lost.pk})
    error = await receive_until(console, lambda frame: frame["type"] == "error")
    assert error[-1]["code"] == "not_found"
    assert await sync_to_async(lambda: Request.objects.get(pk=lost.pk).status)() == "pending"
    await console.disconnect()


async def test_a_chat_given_in_the_admin_starts_its_events_on_an_open_console(world):  # noqa: F811
    olga = world["olga"]
    new_chat = await sync_to_async(ChatFactory)()
    console, _connected, _code = await console_for(olga.user)
    await console.receive_json_from(timeout=5)
    # when
    await sync_to_async(operator_chats_set_in_admin)(olga, [world["chat"], new_chat])
    await receive_until(console, lambda frame: frame["type"] == "requests")
    fresh = await sync_to_async(open_request_in)(new_chat)
    # then
    await receive_until(console, is_request_changed(fresh.pk))
    await console.disconnect()


def user_deactivate_in_admin(user) -> None:
    response = admin_client().post(
        f"/admin/auth/user/{user.pk}/change/",
        {
            "username": user.username,
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
            # the user page's inline of the chats an analyst may read (none)
            "analyst_chat_grants-TOTAL_FORMS": "0",
            "analyst_chat_grants-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert get_user_model().objects.get(pk=user.pk).is_active is False


async def test_a_user_deactivated_in_the_admin_is_disconnected(world):  # noqa: F811
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)
    # when
    await sync_to_async(user_deactivate_in_admin)(world["olga"].user)
    # then
    assert await closed_with(console) == 4401


async def test_an_operator_profile_deleted_in_the_admin_is_disconnected(world):  # noqa: F811
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)
    # when
    response = await sync_to_async(
        lambda: admin_client().post(
            f"/admin/distributor/operator/{world['olga'].pk}/delete/", {"post": "yes"}
        )
    )()
    assert response.status_code == 302
    # then
    assert await closed_with(console) == 4403


async def test_a_deactivated_user_is_refused_even_without_an_event(world):  # noqa: F811
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)
    # given: the account is switched off behind the socket's back (no event)
    await sync_to_async(
        lambda: get_user_model().objects.filter(pk=world["olga"].user_id).update(is_active=False)
    )()
    # when
    await console.send_json_to({"type": "accept", "request": world["mine"].pk})
    # then: its session no longer logs anyone in
    assert await closed_with(console) == 4401
    assert await request_statuses() == ["pending", "pending"]


def logged_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def console_with(client: Client):
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=[ORIGIN, cookie])
    connected, _code = await communicator.connect()
    assert connected
    await communicator.receive_json_from(timeout=5)
    return communicator


async def test_logging_out_closes_that_sessions_console_only(world):  # noqa: F811
    olga = world["olga"].user
    laptop = await sync_to_async(logged_in_client)(olga)
    phone = await sync_to_async(logged_in_client)(olga)
    laptop_console = await console_with(laptop)
    phone_console = await console_with(phone)
    # when
    response = await sync_to_async(laptop.post)("/console/logout/")
    assert response.status_code == 302
    # then
    assert await closed_with(laptop_console) == 4401
    await assert_still_serving(phone_console)
    await phone_console.disconnect()


# --- 14: every event type has a handler in both consumers ---------------------------


def test_every_published_event_type_has_a_handler_in_both_consumers():
    assert {"dialog.message", "dialog.queue", "console.request"} <= EVENT_TYPES
    for consumer in (WidgetConsumer, ConsoleConsumer):
        missing = [kind for kind in EVENT_TYPES if not hasattr(consumer, kind.replace(".", "_"))]
        assert missing == [], f"{consumer.__name__} has no handler for {missing}"


APPS = ["chats", "distributor", "handoff", "telegram_bridge", "reports"]


def app_sources():
    root = Path(__file__).resolve().parents[2]
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path.relative_to(root).as_posix(), path.read_text()


def test_events_are_sent_only_through_the_registered_publisher():
    # every group_send goes through chats.realtime.group_send_after_commit (which
    # refuses unregistered types), and no code spells an unregistered event type
    senders = [name for name, text in app_sources() if re.search(r"\.group_send\b", text)]
    assert senders == ["chats/realtime.py"]
    # (API bots' webhook events, e.g. "dialog.assigned", are not channel-layer events;
    # a serializer's source="dialog.session_id" is an attribute path)
    not_events = {"distributor/services/api_bots.py", "handoff/api/serializers.py"}
    spelled = {
        kind
        for name, text in app_sources()
        if name not in not_events
        for kind in re.findall(r"""["'](?:dialog|console|access)\.[a-z_]+["']""", text)
    }
    assert {kind.strip("\"'") for kind in spelled} <= EVENT_TYPES


def test_publishing_an_unregistered_event_type_is_refused():
    from chats.realtime import group_send_after_commit

    with pytest.raises(ValueError, match="dialog.unheard"):
        group_send_after_commit([("dialog.1", {"type": "dialog.unheard"})])


def sample_events(request: Request) -> dict[str, dict]:
    """One real-looking event of every type; a new type must be added here."""
    message, _created = message_post(
        dialog=request.dialog, author_kind=AuthorKind.SYSTEM, text="sample"
    )
    return {
        "dialog.message": {"type": "dialog.message", "message": message_payload(message)},
        "dialog.headset": {"type": "dialog.headset"},
        "dialog.status": {"type": "dialog.status", "status": "waiting", "last_sequence": 1},
        "dialog.queue": {"type": "dialog.queue", "position": 2},
        "console.request": {"type": "console.request", "request": request_summary(request)},
        # a message of another dialog (the watched one's come from the dialog's group)
        "console.inbox": {
            "type": "console.inbox",
            "request": request.pk,
            "chat_id": request.chat_id,
            "dialog_id": 0,
            "message": message_payload(message),
        },
        "access.changed": {"type": "access.changed"},
        # the visitor types (shown to the watching console; the widget does not echo it)
        "dialog.typing": {
            "type": "dialog.typing",
            "dialog_id": request.dialog_id,
            "from": "client",
            "typing": True,
            "name": "",
        },
        "dialog.seen": {"type": "dialog.seen", "dialog_id": request.dialog_id, "sequence": 1},
        "console.presence": {"type": "console.presence", "presence": "away", "expires_at": None},
        "console.transfer": {
            "type": "console.transfer",
            "request": request.pk,
            "chat_id": request.chat_id,
            "from": "Ivan",
            "reason": "sample",
        },
        # a private note: consoles watching its request only (their own group)
        "console.note": {
            "type": "console.note",
            "note": {"id": 1, "request": request.pk, "author": "Ivan", "text": "sample"},
        },
    }


WIDGET_FRAME = {
    "dialog.message": "message",
    "dialog.headset": "headset",
    "dialog.status": "status",
    "dialog.queue": "queue",
    "dialog.seen": "seen",
}
CONSOLE_FRAME = {
    "dialog.message": "message",
    "dialog.status": "dialog_status",
    "console.request": "request_changed",
    "console.inbox": "inbox",
    "access.changed": "requests",
    "console.presence": "presence",
    "console.transfer": "transfer_received",
    "console.note": "note",
    "dialog.typing": "typing",
}


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
async def test_every_event_type_reaches_both_consumers_without_closing_them(kind):
    # given: a visitor's widget and an operator's console, both on the request's dialog
    chat = await sync_to_async(ChatFactory)()
    olga = await sync_to_async(OperatorFactory)(chats=[chat])
    token = visitor_token_issue(public_key=chat.public_key)
    widget, _connected = await open_socket(chat.public_key)
    welcome = await hello(widget, token)
    dialog = await sync_to_async(Dialog.objects.get)(session_id=welcome["dialog"])
    request = await sync_to_async(request_open)(dialog=dialog, reason="headset")
    console, _connected, _code = await console_for(olga.user)
    await console.receive_json_from(timeout=5)
    await console.send_json_to({"type": "watch", "request": request.pk})
    await receive_until(console, lambda frame: frame["type"] == "watching")
    events = await sync_to_async(sample_events)(
        await sync_to_async(Request.objects.select_related("dialog").get)(pk=request.pk)
    )
    layer = get_channel_layer()
    # when: the event goes to the dialog's group (both listen there) and to the console's
    await layer.group_send(dialog_group_name(dialog.pk), events[kind])
    await layer.group_send(console_chat_group(chat.pk), events[kind])
    # and a closing marker both answer visibly
    marker = {"type": "dialog.status", "status": "marker", "last_sequence": 0}
    await layer.group_send(dialog_group_name(dialog.pk), marker)
    # then: each answers the event where it is theirs and stays open for the marker
    widget_frames = await receive_until(
        widget, lambda frame: frame == {"type": "status", "status": "marker"}
    )
    console_frames = await receive_until(
        console, lambda frame: frame == {"type": "dialog_status", "status": "marker"}
    )
    if kind in WIDGET_FRAME:
        assert WIDGET_FRAME[kind] in [frame["type"] for frame in widget_frames]
    if kind in CONSOLE_FRAME:
        assert CONSOLE_FRAME[kind] in [frame["type"] for frame in console_frames]
    await widget.disconnect()
    await console.disconnect()
