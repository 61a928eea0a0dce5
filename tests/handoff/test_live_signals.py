"""Typing both ways and the "seen" mark (handoff.live_signals) over the real channel
layer: the visitor's widget socket and operators' console sockets. Typing is never
stored, goes only to the other side of that request, is throttled per socket, and
a bad frame gets a clear error. Absence is shown by order, not by waiting: after a
frame that must not arrive, one that must arrive is the next frame."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chats.enums import AuthorKind
from chats.models import Dialog, Message
from chats.services import message_post
from chats.visitor_tokens import visitor_token_issue
from config.asgi import application
from handoff.models import ConversationRead, Request
from handoff.services import request_accept, request_open
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def console_for(user):
    headers = [ORIGIN, await sync_to_async(session_cookie)(user)]
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _code = await communicator.connect()
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["type"] == "requests"
    return communicator


async def receive_until(communicator, predicate, timeout=5):
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        frames.append(frame)
        if predicate(frame):
            return frames


def of_type(kind):
    return lambda frame: frame["type"] == kind


def make_world():
    chat = ChatFactory()
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    ivan = OperatorFactory(display_name="Ivan", chats=[chat])
    other = request_open(dialog=DialogFactory(client__chat=chat), reason="script")
    return {"chat": chat, "olga": olga, "ivan": ivan, "other": other}


@pytest.fixture
async def world():
    return await sync_to_async(make_world)()


async def visitor_in_request(world, *, accepted_by=None):
    """A visitor's widget socket whose dialog has an open request (accepted by
    `accepted_by` when given); returns (widget, request, welcome)."""
    chat = world["chat"]
    widget = WebsocketCommunicator(application, f"/ws/widget/{chat.public_key}/", headers=[ORIGIN])
    connected, _ = await widget.connect()
    assert connected
    token = await sync_to_async(visitor_token_issue)(public_key=chat.public_key)
    await widget.send_json_to({"type": "hello", "token": token, "last_sequence": 0, "dialog": None})
    welcome = await widget.receive_json_from(timeout=5)
    assert welcome["type"] == "welcome"
    dialog = await sync_to_async(Dialog.objects.get)(session_id=welcome["dialog"])
    request = await sync_to_async(request_open)(dialog=dialog, reason="script")
    await receive_until(widget, lambda frame: frame == {"type": "status", "status": "waiting"})
    if accepted_by is not None:
        await sync_to_async(request_accept)(request=request.pk, operator=accepted_by)
        await receive_until(widget, lambda frame: frame == {"type": "status", "status": "operator"})
    return widget, request, welcome


async def watch(console, request):
    await console.send_json_to({"type": "watch", "request": request.pk, "last_sequence": 0})
    await receive_until(console, of_type("watching"))


async def stored_messages() -> int:
    return await sync_to_async(Message.objects.count)()


# --- the visitor types ---------------------------------------------------------------


async def test_the_visitors_typing_reaches_the_watching_operator_and_is_not_stored(world):
    # given: Olga watches the visitor's waiting request
    widget, request, _welcome = await visitor_in_request(world)
    olga = await console_for(world["olga"].user)
    await watch(olga, request)
    before = await stored_messages()

    # when: the visitor types, then stops
    await widget.send_json_to({"type": "typing", "typing": True})
    started = await receive_until(olga, of_type("typing"))
    await widget.send_json_to({"type": "typing", "typing": False})
    stopped = await receive_until(olga, of_type("typing"))

    # then: Olga's console is told both, naming the request; nothing was stored
    assert started[-1] == {"type": "typing", "request": request.pk, "typing": True}
    assert stopped[-1] == {"type": "typing", "request": request.pk, "typing": False}
    assert await stored_messages() == before
    await widget.disconnect()
    await olga.disconnect()


async def test_a_burst_of_typing_frames_is_passed_on_once(world):
    # given
    widget, request, _welcome = await visitor_in_request(world)
    olga = await console_for(world["olga"].user)
    await watch(olga, request)

    # when: the visitor's client sends "typing" three times at once, then "stopped"
    for _ in range(3):
        await widget.send_json_to({"type": "typing", "typing": True})
    await widget.send_json_to({"type": "typing", "typing": False})

    # then: the console gets one "typing" and the "stopped" right after it
    first = await receive_until(olga, of_type("typing"))
    second = await receive_until(olga, of_type("typing"))
    assert [first[-1]["typing"], second[-1]["typing"]] == [True, False]
    await widget.disconnect()
    await olga.disconnect()


async def test_the_visitors_typing_does_not_reach_a_console_watching_another_request(world):
    # given: Ivan watches another request of the same chat, Olga watches this one
    widget, request, _welcome = await visitor_in_request(world)
    ivan = await console_for(world["ivan"].user)
    await watch(ivan, world["other"])
    olga = await console_for(world["olga"].user)
    await watch(olga, request)

    # when: the visitor types, then the other request's visitor writes a message
    await widget.send_json_to({"type": "typing", "typing": True})
    await receive_until(olga, of_type("typing"))
    await sync_to_async(_client_writes)(world["other"], "hello from the other visitor")

    # then: Ivan's next frame about a dialog is that message, not the typing
    frames = await receive_until(
        ivan,
        lambda frame: (
            frame["type"] == "message"
            and frame["message"]["text"] == "hello from the other visitor"
        ),
    )
    assert [frame for frame in frames if frame["type"] == "typing"] == []
    await widget.disconnect()
    await olga.disconnect()
    await ivan.disconnect()


def _client_writes(request: Request, text: str) -> None:
    message_post(
        dialog=request.dialog, author_kind=AuthorKind.CLIENT, text=text, client_msg_id="c-other"
    )


async def test_the_visitors_typing_with_the_bot_goes_nowhere_and_is_no_error(world):
    # given: a visitor with the bot (no request)
    chat = world["chat"]
    widget = WebsocketCommunicator(application, f"/ws/widget/{chat.public_key}/", headers=[ORIGIN])
    await widget.connect()
    token = await sync_to_async(visitor_token_issue)(public_key=chat.public_key)
    await widget.send_json_to({"type": "hello", "token": token, "last_sequence": 0, "dialog": None})
    await receive_until(widget, of_type("welcome"))

    # when
    await widget.send_json_to({"type": "typing", "typing": True})
    await widget.send_json_to({"type": "ping"})

    # then: the frames up to the pong hold no error and no typing
    frames = await receive_until(widget, of_type("pong"))
    assert [frame for frame in frames if frame["type"] in ("error", "typing")] == []
    await widget.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "typing"},
        {"type": "typing", "typing": "yes"},
        {"type": "typing", "typing": 1},
        {"type": "typing", "typing": None},
    ],
)
async def test_a_bad_typing_frame_from_the_widget_is_refused(world, frame):
    # given
    widget, _request, _welcome = await visitor_in_request(world)

    # when
    await widget.send_json_to(frame)

    # then
    error = (await receive_until(widget, of_type("error")))[-1]
    assert (error["code"], error["detail"]) == ("malformed", "'typing' must be true or false")
    await widget.disconnect()


# --- the operator types ---------------------------------------------------------------


async def test_the_operators_typing_reaches_the_visitor_with_their_name(world):
    # given: Olga holds the visitor's request
    widget, request, _welcome = await visitor_in_request(world, accepted_by=world["olga"])
    olga = await console_for(world["olga"].user)
    before = await stored_messages()

    # when
    await olga.send_json_to({"type": "typing", "request": request.pk, "typing": True})
    started = await receive_until(widget, of_type("typing"))
    await olga.send_json_to({"type": "typing", "request": request.pk, "typing": False})
    stopped = await receive_until(widget, of_type("typing"))

    # then
    assert started[-1] == {"type": "typing", "name": "Olga", "typing": True}
    assert stopped[-1] == {"type": "typing", "name": "Olga", "typing": False}
    assert await stored_messages() == before
    await widget.disconnect()
    await olga.disconnect()


async def test_the_operators_typing_reaches_neither_other_visitors_nor_consoles(world):
    # given: Olga holds this request; Ivan watches the other request; another visitor
    widget, request, _welcome = await visitor_in_request(world, accepted_by=world["olga"])
    stranger, _other_request, _ = await visitor_in_request(world)
    olga = await console_for(world["olga"].user)
    await watch(olga, request)

    # when: Olga types, then writes a reply
    await olga.send_json_to({"type": "typing", "request": request.pk, "typing": True})
    await receive_until(widget, of_type("typing"))
    await olga.send_json_to(
        {"type": "message", "request": request.pk, "client_msg_id": "r1", "text": "Hello"}
    )

    # then: Olga's own console is not shown her typing (her next dialog frame is her
    # reply), and the other visitor's next frame is a pong
    frames = await receive_until(olga, lambda frame: frame["type"] == "message")
    assert not [frame for frame in frames if frame["type"] == "typing"]
    await stranger.send_json_to({"type": "ping"})
    frames = await receive_until(stranger, of_type("pong"))
    assert not [frame for frame in frames if frame["type"] == "typing"]
    await widget.disconnect()
    await stranger.disconnect()
    await olga.disconnect()


async def test_typing_in_a_request_the_operator_does_not_hold_is_refused(world):
    # given: Olga holds the request, Ivan serves the same chat
    widget, request, _welcome = await visitor_in_request(world, accepted_by=world["olga"])
    ivan = await console_for(world["ivan"].user)

    # when: Ivan says he types in it
    await ivan.send_json_to({"type": "typing", "request": request.pk, "typing": True})

    # then: refused, and the visitor's next frame is Olga's typing, not Ivan's
    error = (await receive_until(ivan, of_type("error")))[-1]
    assert (error["code"], error["request"]) == ("not_yours", request.pk)
    olga = await console_for(world["olga"].user)
    await olga.send_json_to({"type": "typing", "request": request.pk, "typing": True})
    frame = (await receive_until(widget, of_type("typing")))[-1]
    assert frame["name"] == "Olga"
    await widget.disconnect()
    await ivan.disconnect()
    await olga.disconnect()


async def test_typing_in_a_waiting_request_is_refused(world):
    # given: a waiting request (nobody holds it)
    widget, request, _welcome = await visitor_in_request(world)
    olga = await console_for(world["olga"].user)

    # when
    await olga.send_json_to({"type": "typing", "request": request.pk, "typing": True})

    # then
    error = (await receive_until(olga, of_type("error")))[-1]
    assert error["code"] == "not_yours"
    await widget.disconnect()
    await olga.disconnect()


async def test_typing_in_another_chats_request_is_not_found(world):
    # given: a request of a chat Olga does not serve
    foreign = await sync_to_async(
        lambda: request_open(dialog=DialogFactory(client__chat=ChatFactory()), reason="script")
    )()
    olga = await console_for(world["olga"].user)

    # when
    await olga.send_json_to({"type": "typing", "request": foreign.pk, "typing": True})

    # then
    error = (await receive_until(olga, of_type("error")))[-1]
    assert (error["code"], error["request"]) == ("not_found", foreign.pk)
    await olga.disconnect()


@pytest.mark.parametrize(
    ("frame", "detail"),
    [
        ({"type": "typing", "request": 1}, "'typing' must be true or false"),
        ({"type": "typing", "request": 1, "typing": "true"}, "'typing' must be true or false"),
        (
            {"type": "typing", "request": 2**63, "typing": True},
            "'request' must be an integer from 1 to 9223372036854775807",
        ),
        (
            {"type": "typing", "request": "1", "typing": True},
            "'request' must be an integer from 1 to 9223372036854775807",
        ),
    ],
)
async def test_a_bad_typing_frame_from_the_console_is_refused(world, frame, detail):
    olga = await console_for(world["olga"].user)
    await olga.send_json_to(frame)
    error = (await receive_until(olga, of_type("error")))[-1]
    assert (error["code"], error["detail"]) == ("malformed", detail)
    await olga.disconnect()


# --- seen ------------------------------------------------------------------------------


async def test_the_visitor_is_told_when_an_operator_reads_the_conversation(world):
    # given: a visitor who wrote in a waiting request nobody opened yet
    widget, request, welcome = await visitor_in_request(world)
    assert welcome["seen"] == 0
    await widget.send_json_to({"type": "message", "client_msg_id": "v1", "text": "Anyone?"})
    ack = (await receive_until(widget, of_type("ack")))[-1]

    # when: Olga opens the request
    olga = await console_for(world["olga"].user)
    await watch(olga, request)

    # then: the widget is told how far it is read, and a new socket's welcome says so
    seen = (await receive_until(widget, of_type("seen")))[-1]
    assert seen["sequence"] >= ack["sequence"]
    mark = await sync_to_async(
        lambda: ConversationRead.objects.get(operator=world["olga"]).last_read_sequence
    )()
    assert mark == seen["sequence"]
    await widget.disconnect()
    await olga.disconnect()


async def test_a_message_the_watching_operator_is_shown_live_is_seen(world):
    # given: Olga watches the request
    widget, request, _welcome = await visitor_in_request(world, accepted_by=world["olga"])
    olga = await console_for(world["olga"].user)
    await watch(olga, request)
    await receive_until(widget, of_type("seen"))

    # when: the visitor writes
    await widget.send_json_to({"type": "message", "client_msg_id": "v2", "text": "Still there?"})
    ack = (await receive_until(widget, of_type("ack")))[-1]

    # then
    seen = (await receive_until(widget, of_type("seen")))[-1]
    assert seen["sequence"] == ack["sequence"]
    await widget.disconnect()
    await olga.disconnect()


async def test_the_welcome_carries_how_far_operators_read(world):
    # given: Olga read the dialog
    widget, request, _welcome = await visitor_in_request(world)
    olga = await console_for(world["olga"].user)
    await watch(olga, request)
    seen = (await receive_until(widget, of_type("seen")))[-1]
    await widget.disconnect()
    await olga.disconnect()

    # when: the visitor comes back (a new socket, the same dialog)
    dialog = await sync_to_async(lambda: Request.objects.get(pk=request.pk).dialog)()
    again = WebsocketCommunicator(
        application, f"/ws/widget/{world['chat'].public_key}/", headers=[ORIGIN]
    )
    await again.connect()
    token = await sync_to_async(_token_of)(dialog)
    await again.send_json_to(
        {"type": "hello", "token": token, "last_sequence": 0, "dialog": dialog.session_id}
    )
    welcome = await again.receive_json_from(timeout=5)

    # then
    assert (welcome["dialog"], welcome["seen"]) == (dialog.session_id, seen["sequence"])
    await again.disconnect()


def _token_of(dialog: Dialog) -> str:
    """A token of the dialog's visitor (the id the widget's token carries)."""
    from chats.visitor_tokens import _signer

    return _signer(dialog.chat.public_key).sign(dialog.client.external_id)
