"""The console socket's conversation view: the `visitor_panel` frame and private
notes (`note`), over the real channel layer, next to the visitor's own widget socket."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from chats.models import Dialog
from chats.visitor_tokens import visitor_token_issue
from handoff.models import ConversationNote, Request
from handoff.services import operator_message_post, request_accept, request_open
from tests.chats.factories import ChatFactory, DialogFactory
from tests.chats.test_consumers import hello, open_socket
from tests.distributor.factories import OperatorFactory
from tests.handoff.test_console_consumer import console_for, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


def make_world():
    chat, other_chat = ChatFactory(), ChatFactory()
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    ivan = OperatorFactory(display_name="Ivan", chats=[chat])
    waiting = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
    ivans = request_accept(
        request=request_open(dialog=DialogFactory(client__chat=chat), reason="headset"),
        operator=ivan,
    )
    foreign = request_open(dialog=DialogFactory(client__chat=other_chat), reason="headset")
    return {"olga": olga, "ivan": ivan, "waiting": waiting, "ivans": ivans, "foreign": foreign}


@pytest.fixture
async def world():
    return await sync_to_async(make_world)()


async def console_watching(operator, request_id):
    console, connected, _code = await console_for(operator.user)
    assert connected
    await console.receive_json_from(timeout=5)  # the snapshot
    await console.send_json_to({"type": "watch", "request": request_id})
    await receive_until(console, lambda frame: frame["type"] == "watching")
    return console


async def notes_stored() -> list[str]:
    texts = ConversationNote.objects.values_list("text", flat=True)
    return await sync_to_async(list)(texts)


def note(request_id, text="VIP customer", client_msg_id="note-1"):
    return {"type": "note", "request": request_id, "client_msg_id": client_msg_id, "text": text}


# --- the panel -----------------------------------------------------------------------


async def test_the_visitor_panel_frame_carries_the_panel_and_the_notes(world):
    waiting = world["waiting"]
    await sync_to_async(ConversationNote.objects.create)(
        request=waiting, author=world["ivan"], author_name="Ivan", text="earlier", client_msg_id="x"
    )
    console = await console_watching(world["olga"], waiting.pk)
    await console.send_json_to({"type": "visitor_panel", "request": waiting.pk})
    frames = await receive_until(console, lambda frame: frame["type"] == "visitor_panel")
    panel = frames[-1]
    assert panel["request"] == waiting.pk
    assert panel["panel"]["client"]["channel"] == "web"
    assert [item["text"] for item in panel["notes"]] == ["earlier"]
    assert panel["notes"][0]["author"] == "Ivan"
    await console.disconnect()


@pytest.mark.parametrize("which", ["ivans", "foreign"])
async def test_another_operators_request_does_not_leak_a_panel(world, which):
    # given: Olga's console; Ivan holds one request, another chat has the other
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)
    # when: she asks for its panel
    await console.send_json_to({"type": "visitor_panel", "request": world[which].pk})
    # then: as for a request that does not exist, and no panel
    frames = await receive_until(console, lambda frame: frame["type"] == "error")
    assert [frame["type"] for frame in frames] == ["error"]
    assert (frames[0]["code"], frames[0]["request"]) == ("not_found", world[which].pk)
    await console.disconnect()


# --- notes ---------------------------------------------------------------------------


async def test_a_note_is_stored_once_and_reaches_every_console_watching(world):
    # given: Olga and Ivan both watch the waiting request, Olga in two tabs
    waiting = world["waiting"]
    olga = await console_watching(world["olga"], waiting.pk)
    ivan = await console_watching(world["ivan"], waiting.pk)
    # when: Olga writes a note, and her page sends it again (a reconnect)
    await olga.send_json_to(note(waiting.pk))
    answer = (await receive_until(olga, lambda f: f["type"] == "note" and "client_msg_id" in f))[-1]
    await olga.send_json_to(note(waiting.pk))
    again = (await receive_until(olga, lambda f: f["type"] == "note" and f.get("duplicate")))[-1]
    # then: stored once, answered with the stored note both times
    assert answer["duplicate"] is False
    assert answer["note"]["text"] == "VIP customer"
    assert answer["note"]["author"] == "Olga"
    assert again["note"]["id"] == answer["note"]["id"]
    assert await notes_stored() == ["VIP customer"]
    # and Ivan's console got it live
    pushed = (await receive_until(ivan, lambda frame: frame["type"] == "note"))[-1]
    assert pushed == {"type": "note", "request": waiting.pk, "note": answer["note"]}
    await olga.disconnect()
    await ivan.disconnect()


async def test_a_console_that_stopped_watching_gets_no_more_notes(world):
    waiting, ivans_own = world["waiting"], world["ivans"]
    ivan = await console_watching(world["ivan"], waiting.pk)
    olga = await console_watching(world["olga"], waiting.pk)
    # when: Ivan switches to his own conversation, then Olga writes a note on the first
    await ivan.send_json_to({"type": "watch", "request": ivans_own.pk})
    await receive_until(ivan, lambda frame: frame["type"] == "watching")
    await olga.send_json_to(note(waiting.pk))
    await receive_until(olga, lambda frame: frame["type"] == "note")
    # then: a later marker reaches Ivan with no note before it
    await ivan.send_json_to({"type": "ping"})
    frames = await receive_until(ivan, lambda frame: frame["type"] == "pong")
    assert "note" not in [frame["type"] for frame in frames]
    await olga.disconnect()
    await ivan.disconnect()


@pytest.mark.parametrize("which", ["ivans", "foreign"])
async def test_a_note_on_a_request_i_may_not_open_is_refused(world, which):
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)
    await console.send_json_to(note(world[which].pk))
    error = (await receive_until(console, lambda frame: frame["type"] == "error"))[-1]
    assert (error["code"], error["request"], error["client_msg_id"]) == (
        "not_found",
        world[which].pk,
        "note-1",
    )
    assert await notes_stored() == []
    await console.disconnect()


BAD_NOTES = [
    ({"text": 12}, "malformed"),
    ({"text": ""}, "malformed"),
    ({"text": "   "}, "malformed"),
    ({"text": None}, "malformed"),
    ({"text": ["a"]}, "malformed"),
    ({"text": "x" * 2001}, "text_too_long"),
    ({"request": "1"}, "malformed"),
    ({"request": True}, "malformed"),
    ({"request": 2**70}, "malformed"),
    ({"client_msg_id": "no spaces allowed"}, "malformed"),
    ({"client_msg_id": 7}, "malformed"),
]


@pytest.mark.parametrize(("change", "code"), BAD_NOTES)
async def test_a_bad_note_frame_is_refused_and_nothing_is_stored(world, change, code):
    console = await console_watching(world["olga"], world["waiting"].pk)
    await console.send_json_to({**note(world["waiting"].pk), **change})
    error = (await receive_until(console, lambda frame: frame["type"] == "error"))[-1]
    assert error["code"] == code
    assert await notes_stored() == []
    # the socket stays open
    await console.send_json_to({"type": "ping"})
    await receive_until(console, lambda frame: frame["type"] == "pong")
    await console.disconnect()


async def test_a_note_with_a_lone_surrogate_is_refused_and_nothing_is_stored(world):
    console = await console_watching(world["olga"], world["waiting"].pk)
    frame = json.dumps(note(world["waiting"].pk, text="x")).replace('"x"', '"a\\ud800b"')
    await console.send_to(text_data=frame)
    error = (await receive_until(console, lambda frame: frame["type"] == "error"))[-1]
    assert (error["code"], error["client_msg_id"]) == ("invalid", "note-1")
    assert await notes_stored() == []
    await console.disconnect()


async def test_the_visitors_widget_never_gets_a_note(world):
    # given: a visitor in the widget whose request Olga accepted and watches
    chat = await sync_to_async(lambda: world["waiting"].chat)()
    token = visitor_token_issue(public_key=chat.public_key)
    widget, _connected = await open_socket(chat.public_key)
    welcome = await hello(widget, token)
    dialog = await sync_to_async(Dialog.objects.get)(session_id=welcome["dialog"])
    request = await sync_to_async(request_open)(dialog=dialog, reason="headset")
    await sync_to_async(request_accept)(request=request, operator=world["olga"])
    olga = await console_watching(world["olga"], request.pk)
    # when: Olga writes a private note, then a reply
    await olga.send_json_to(note(request.pk, text="SECRET-NOTE"))
    await receive_until(olga, lambda frame: frame["type"] == "note")
    reply = await sync_to_async(operator_message_post)(
        request=await sync_to_async(Request.objects.get)(pk=request.pk),
        operator=world["olga"],
        text="Hello!",
        client_msg_id="reply-1",
    )
    # then: the widget gets the reply, and nothing of the note before it
    frames = await receive_until(
        widget, lambda frame: frame.get("message", {}).get("sequence") == reply[0].sequence
    )
    assert "SECRET-NOTE" not in json.dumps(frames)
    assert "note" not in [frame["type"] for frame in frames]
    await widget.disconnect()
    await olga.disconnect()
