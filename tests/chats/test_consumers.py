"""The widget websocket over the real (embedded Redis) channel layer."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from chats.enums import AuthorKind
from chats.models import Dialog, Message, PageVisit
from chats.services import message_post
from chats.visitor_tokens import visitor_token_issue
from config.asgi import application
from tests.chats.factories import ChatFactory, ScriptFactory, StepFactory

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def make_chat():
    chat = ChatFactory()
    StepFactory(script=ScriptFactory(chat=chat, name="Greeting", kind="start"), text="Hello!")
    StepFactory(
        script=ScriptFactory(chat=chat, name="Prices", keywords="price"), text="It costs 10."
    )
    StepFactory(script=ScriptFactory(chat=chat, name="Fallback", kind="fallback"), text="Pardon?")
    return chat


@pytest.fixture
async def chat():
    return await sync_to_async(make_chat)()


async def open_socket(public_key, origin=ORIGIN):
    communicator = WebsocketCommunicator(application, f"/ws/widget/{public_key}/", headers=[origin])
    connected, _subprotocol = await communicator.connect()
    return communicator, connected


async def receive_until(communicator, predicate, *, timeout=5):
    """Collect frames until one satisfies `predicate`; return all collected."""
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        frames.append(frame)
        if predicate(frame):
            return frames


def is_message_with(text):
    return lambda frame: frame["type"] == "message" and frame["message"]["text"] == text


async def hello(communicator, token, last_sequence=0, dialog=None):
    await communicator.send_json_to(
        {"type": "hello", "token": token, "last_sequence": last_sequence, "dialog": dialog}
    )
    welcome = await communicator.receive_json_from(timeout=5)
    assert welcome["type"] == "welcome"
    return welcome


async def count_messages():
    return await sync_to_async(Message.objects.count)()


async def test_hello_greets_then_a_message_is_acked_and_answered(chat):
    communicator, connected = await open_socket(chat.public_key)
    assert connected
    token = visitor_token_issue(public_key=chat.public_key)
    welcome = await hello(communicator, token)
    assert welcome["status"] == "bot"
    greeting = await communicator.receive_json_from(timeout=5)
    assert (greeting["message"]["sequence"], greeting["message"]["text"]) == (1, "Hello!")
    # when
    await communicator.send_json_to({"type": "message", "client_msg_id": "c1", "text": "price?"})
    frames = await receive_until(communicator, is_message_with("It costs 10."))
    # then
    ack = next(frame for frame in frames if frame["type"] == "ack")
    assert ack == {"type": "ack", "client_msg_id": "c1", "sequence": 2, "duplicate": False}
    sequences = [frame["message"]["sequence"] for frame in frames if frame["type"] == "message"]
    assert sequences == [2, 3]
    await communicator.disconnect()


async def test_repeated_client_msg_id_is_acked_again_and_stored_once(chat):
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.receive_json_from(timeout=5)  # greeting
    frame = {"type": "message", "client_msg_id": "same-id", "text": "price"}
    await communicator.send_json_to(frame)
    await receive_until(communicator, is_message_with("It costs 10."))
    # when
    await communicator.send_json_to(frame)
    ack = (await receive_until(communicator, lambda f: f["type"] == "ack"))[-1]
    # then
    assert ack["duplicate"] is True
    assert ack["sequence"] == 2
    stored = await sync_to_async(
        lambda: list(Message.objects.order_by("sequence").values_list("author_kind", "text"))
    )()
    assert stored == [("bot", "Hello!"), ("client", "price"), ("bot", "It costs 10.")]
    await communicator.disconnect()


async def test_reconnect_resumes_from_the_last_sequence_without_loss_or_repeats(chat):
    token = visitor_token_issue(public_key=chat.public_key)
    first, _connected = await open_socket(chat.public_key)
    welcome = await hello(first, token)
    await first.receive_json_from(timeout=5)
    await first.send_json_to({"type": "message", "client_msg_id": "c1", "text": "price"})
    await receive_until(first, is_message_with("It costs 10."))
    await first.disconnect()
    # given: while the visitor is away, the dialog gets two more messages
    dialog = await sync_to_async(Dialog.objects.get)(session_id=welcome["dialog"])
    for text in ("while away 1", "while away 2"):
        await sync_to_async(message_post)(dialog=dialog, author_kind=AuthorKind.SYSTEM, text=text)
    # when: it comes back having seen sequence 2
    second, _connected = await open_socket(chat.public_key)
    again = await hello(second, token, last_sequence=2, dialog=welcome["dialog"])
    frames = await receive_until(second, is_message_with("while away 2"))
    # then
    assert again["dialog"] == welcome["dialog"]
    assert [frame["message"]["sequence"] for frame in frames] == [3, 4, 5]
    assert await second.receive_nothing(timeout=0.3)
    await second.disconnect()


async def test_a_dropped_event_is_recovered_from_the_database(chat):
    communicator, _connected = await open_socket(chat.public_key)
    welcome = await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.receive_json_from(timeout=5)
    dialog = await sync_to_async(Dialog.objects.get)(session_id=welcome["dialog"])

    def write_without_event():
        dialog.refresh_from_db()
        dialog.last_sequence += 1
        dialog.save(update_fields=["last_sequence"])
        Message.objects.create(
            dialog=dialog, sequence=dialog.last_sequence, author_kind="system", text="event lost"
        )

    # given: a message whose doorbell never rang
    await sync_to_async(write_without_event)()
    # when: the next one rings
    await sync_to_async(message_post)(dialog=dialog, author_kind=AuthorKind.SYSTEM, text="next")
    frames = await receive_until(communicator, is_message_with("next"))
    # then
    assert [frame["message"]["text"] for frame in frames] == ["event lost", "next"]
    await communicator.disconnect()


async def test_token_of_another_chat_is_refused_and_the_socket_closed(chat):
    other = await sync_to_async(ChatFactory)()
    communicator, _connected = await open_socket(chat.public_key)
    await communicator.send_json_to(
        {"type": "hello", "token": visitor_token_issue(public_key=other.public_key)}
    )
    error = await communicator.receive_json_from(timeout=5)
    assert error["code"] == "bad_token"
    assert (await communicator.receive_output(timeout=5))["code"] == 4401
    assert await sync_to_async(Dialog.objects.count)() == 0


async def test_forged_token_is_refused(chat):
    token = visitor_token_issue(public_key=chat.public_key)
    visitor_id, signature = token.split(":")
    forged = f"someone-else:{signature}"
    communicator, _connected = await open_socket(chat.public_key)
    await communicator.send_json_to({"type": "hello", "token": forged})
    assert (await communicator.receive_json_from(timeout=5))["code"] == "bad_token"
    assert (await communicator.receive_output(timeout=5))["code"] == 4401


async def test_a_visitor_naming_another_visitors_dialog_gets_only_their_own(chat):
    alice, _connected = await open_socket(chat.public_key)
    alice_welcome = await hello(alice, visitor_token_issue(public_key=chat.public_key))
    await alice.send_json_to({"type": "message", "client_msg_id": "a1", "text": "my secret"})
    await receive_until(alice, lambda f: f["type"] == "ack")
    # when: bob says hello claiming alice's dialog
    bob, _connected = await open_socket(chat.public_key)
    bob_welcome = await hello(
        bob,
        visitor_token_issue(public_key=chat.public_key),
        last_sequence=0,
        dialog=alice_welcome["dialog"],
    )
    frames = await receive_until(bob, is_message_with("Hello!"))
    # then
    assert bob_welcome["dialog"] != alice_welcome["dialog"]
    assert await bob.receive_nothing(timeout=0.3)
    assert all(frame["message"]["text"] != "my secret" for frame in frames)
    await alice.disconnect()
    await bob.disconnect()


async def test_foreign_origin_is_refused(chat):
    _communicator, connected = await open_socket(
        chat.public_key, origin=(b"origin", b"https://evil.example")
    )
    assert connected is False


async def test_unknown_chat_is_refused():
    communicator, connected = await open_socket("no-such-chat")
    assert connected is False


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "malformed"),
        ("[1, 2]", "malformed"),
        ('{"no": "type"}', "malformed"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "message", "text": "hi"}', "malformed"),
        ('{"type": "message", "client_msg_id": "x", "text": ""}', "malformed"),
        ('{"type": "message", "client_msg_id": "bad id!", "text": "hi"}', "malformed"),
        ('{"type": "message", "client_msg_id": "x", "text": 5}', "malformed"),
        ('{"type": "button", "client_msg_id": "x", "button_id": "one"}', "malformed"),
        ('{"type": "button", "client_msg_id": "x", "button_id": 999999}', "unknown_button"),
        ('{"type": "page", "url": "javascript:alert(1)"}', "invalid"),
        ('{"type": "page", "url": "https://x.example/", "visited_at": 1e400}', "malformed"),
        ('{"type": "hello", "token": "again"}', "already_greeted"),
    ],
)
async def test_malformed_frames_get_an_error_and_change_nothing(chat, raw, code):
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.receive_json_from(timeout=5)
    before = (await count_messages(), await sync_to_async(PageVisit.objects.count)())
    # when
    await communicator.send_to(text_data=raw)
    error = await communicator.receive_json_from(timeout=5)
    # then
    assert (error["type"], error["code"]) == ("error", code)
    assert error["detail"]
    assert (await count_messages(), await sync_to_async(PageVisit.objects.count)()) == before
    # and the connection still works
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "pong"
    await communicator.disconnect()


async def test_frames_before_hello_are_refused(chat):
    communicator, _connected = await open_socket(chat.public_key)
    await communicator.send_json_to({"type": "message", "client_msg_id": "x", "text": "hi"})
    assert (await communicator.receive_json_from(timeout=5))["code"] == "hello_required"
    assert await sync_to_async(Dialog.objects.count)() == 0
    await communicator.disconnect()


async def test_binary_frame_is_refused(chat):
    communicator, _connected = await open_socket(chat.public_key)
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert (await communicator.receive_json_from(timeout=5))["code"] == "malformed"
    await communicator.disconnect()


@override_settings(BATON_WIDGET_MAX_FRAME_BYTES=1024)
async def test_oversized_frame_is_refused_and_nothing_stored(chat):
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.receive_json_from(timeout=5)
    before = await count_messages()
    await communicator.send_to(
        text_data=json.dumps({"type": "message", "client_msg_id": "big", "text": "x" * 2000})
    )
    assert (await communicator.receive_json_from(timeout=5))["code"] == "frame_too_large"
    assert await count_messages() == before
    await communicator.disconnect()


@override_settings(BATON_WIDGET_RATE_BURST=3, BATON_WIDGET_RATE_PER_SECOND=0)
async def test_frames_beyond_the_rate_limit_are_refused(chat):
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))  # 1st token
    await communicator.receive_json_from(timeout=5)
    for _ in range(4):
        await communicator.send_json_to({"type": "ping"})
    replies = [await communicator.receive_json_from(timeout=5) for _ in range(4)]
    assert [reply.get("code", reply["type"]) for reply in replies] == [
        "pong",
        "pong",
        "rate_limited",
        "rate_limited",
    ]
    await communicator.disconnect()


@override_settings(BATON_WIDGET_RATE_BURST=2, BATON_WIDGET_RATE_PER_SECOND=0)
async def test_the_rate_limit_error_states_the_configured_limits(chat):
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))  # 1st token
    await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to({"type": "ping"})
    await communicator.send_json_to({"type": "ping"})
    _pong, refusal = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
    assert refusal["detail"] == "too many frames: at most 2 at once and 0 a second; slow down"
    await communicator.disconnect()


async def test_page_visit_is_recorded(chat):
    communicator, _connected = await open_socket(chat.public_key)
    welcome = await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.send_json_to(
        {"type": "page", "url": "https://shop.example/cart", "title": "Cart"}
    )
    await communicator.send_json_to({"type": "ping"})
    await receive_until(communicator, lambda f: f["type"] == "pong")
    visit = await sync_to_async(PageVisit.objects.select_related("dialog").get)()
    assert (visit.url, visit.title, visit.dialog.session_id) == (
        "https://shop.example/cart",
        "Cart",
        welcome["dialog"],
    )
    await communicator.disconnect()


async def test_headset_opens_a_request_and_the_visitor_sees_the_wait(chat):
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to({"type": "handoff"})
    seen = []
    await receive_until(
        communicator,
        lambda f: (
            seen.append(f)
            or (
                any(x["type"] == "status" for x in seen)
                and any(
                    x["type"] == "message" and x["message"]["author_kind"] == "system" for x in seen
                )
            )
        ),
    )
    assert [f["status"] for f in seen if f["type"] == "status"] == ["waiting"]
    dialog = await sync_to_async(Dialog.objects.get)()
    assert dialog.status == "waiting"
    await communicator.disconnect()


async def test_headset_is_refused_when_the_chat_hides_it(chat):
    chat.headset_mode = "never"
    await sync_to_async(chat.save)()
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to({"type": "handoff"})
    assert (await communicator.receive_json_from(timeout=5))["code"] == "handoff_unavailable"
    assert (await sync_to_async(Dialog.objects.get)()).status == "bot"
    await communicator.disconnect()
