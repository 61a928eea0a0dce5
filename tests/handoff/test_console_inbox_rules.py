"""The console's live inbox keeps to the same rules as its snapshot, over the real
channel layer: a console stops receiving a conversation it no longer has (another
operator took it, or it was rejected), a message older than its request is not counted
live (nor in the list), and an accepted request not answered yet waits from its opening."""

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from chats.enums import Messenger
from chats.models import Chat, Message
from chats.services import dialog_receive_client_message, dialog_start_or_resume
from distributor.models import Operator
from handoff.models import Request
from handoff.services import operator_message_post, request_accept, request_open
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.handoff.test_console_consumer import console_for, receive_until

pytestmark = pytest.mark.django_db(transaction=True)
QUIET = 1  # seconds a socket is listened to for a frame that must not come


def make_world():
    chat = ChatFactory()
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    petr = OperatorFactory(display_name="Petr", chats=[chat])
    request = request_open(
        dialog=DialogFactory(client__chat=chat, client__name="Ann"), reason="api"
    )
    return {"olga": olga, "petr": petr, "request": request}


@pytest.fixture
async def world():
    return await sync_to_async(make_world)()


def write(request, text, client_msg_id):
    dialog_receive_client_message(dialog=request.dialog, text=text, client_msg_id=client_msg_id)


async def watching(user, request_id):
    console, connected, _code = await console_for(user)
    assert connected
    await receive_until(console, lambda frame: frame["type"] == "requests")
    await console.send_json_to({"type": "watch", "request": request_id})
    await receive_until(console, lambda frame: frame["type"] == "watching")
    return console


def is_message(text):
    return lambda frame: frame["type"] == "message" and frame["message"]["text"] == text


async def test_both_accept_and_the_loser_no_longer_receives_the_conversation(world):
    # given: Olga and Petr both watch the pending request
    request_id = world["request"].pk
    petr = await watching(world["petr"].user, request_id)
    olga = await watching(world["olga"].user, request_id)
    # when: Petr accepts, then Olga (her accept is refused)
    await petr.send_json_to({"type": "accept", "request": request_id})
    await receive_until(olga, lambda frame: frame["type"] == "request_changed")
    await olga.send_json_to({"type": "accept", "request": request_id})
    error = await receive_until(olga, lambda frame: frame["type"] == "error")
    assert error[-1]["code"] == "already_taken"
    # and the visitor writes
    await sync_to_async(write)(world["request"], "for Petr only", "p-1")
    # then: Petr gets it, Olga gets nothing
    await receive_until(petr, is_message("for Petr only"))
    assert await olga.receive_nothing(timeout=QUIET)
    await olga.disconnect()
    await petr.disconnect()


async def test_a_request_taken_by_another_stops_the_stream_without_an_accept(world):
    # given: Olga watches; Petr accepts elsewhere (she only gets the request's event)
    request_id = world["request"].pk
    olga = await watching(world["olga"].user, request_id)
    await sync_to_async(request_accept)(request=world["request"], operator=world["petr"])
    await receive_until(olga, lambda frame: frame["type"] == "request_changed")
    # when
    await sync_to_async(write)(world["request"], "for Petr only", "p-2")
    # then
    assert await olga.receive_nothing(timeout=QUIET)
    await olga.disconnect()


async def test_rejecting_stops_the_stream_and_the_inbox_of_the_request(world):
    # given: Olga and Petr watch the pending request
    request_id = world["request"].pk
    petr = await watching(world["petr"].user, request_id)
    olga = await watching(world["olga"].user, request_id)
    # when: Olga rejects it (she gets a fresh list without it), and the visitor writes
    await olga.send_json_to({"type": "reject", "request": request_id})
    frames = await receive_until(olga, lambda frame: frame["type"] == "requests")
    assert request_id not in [item["id"] for item in frames[-1]["items"]]
    await sync_to_async(write)(world["request"], "still waiting", "r-1")
    # then: Petr still gets it; Olga neither as a message nor as an inbox row
    await receive_until(petr, is_message("still waiting"))
    assert await olga.receive_nothing(timeout=QUIET)
    await olga.disconnect()
    await petr.disconnect()


async def test_a_request_another_operator_holds_or_this_one_rejected_is_not_watched(world):
    # given: Petr holds the request, and another waiting one Olga rejected
    other = await sync_to_async(
        lambda: request_open(dialog=DialogFactory(client__chat=world["request"].chat), reason="api")
    )()
    await sync_to_async(request_accept)(request=world["request"], operator=world["petr"])
    olga, _connected, _code = await console_for(world["olga"].user)
    await receive_until(olga, lambda frame: frame["type"] == "requests")
    await olga.send_json_to({"type": "reject", "request": other.pk})
    await receive_until(olga, lambda frame: frame["type"] == "requests")
    # when / then: a watch of either is refused
    await olga.send_json_to({"type": "watch", "request": world["request"].pk})
    error = await receive_until(olga, lambda frame: frame["type"] == "error")
    assert (error[-1]["code"], error[-1]["detail"]) == ("already_taken", "already taken by Petr")
    await olga.send_json_to({"type": "watch", "request": other.pk})
    error = await receive_until(olga, lambda frame: frame["type"] == "error")
    assert (error[-1]["code"], error[-1]["request"]) == ("not_yours", other.pk)
    # and nothing of them reaches her
    await sync_to_async(write)(world["request"], "for Petr", "h-1")
    await sync_to_async(write)(other, "rejected by Olga", "h-2")
    assert await olga.receive_nothing(timeout=QUIET)
    await olga.disconnect()


def demo_operator():
    call_command("load_demo")
    return Chat.objects.get(public_key="demo"), Operator.objects.select_related("user").get(
        user__username="operator"
    )


def visitor_types_operator(chat):
    """The demo's script opens a request for a typed "operator" (no form first) and
    posts a notice: the visitor's message is older than the request."""
    dialog, _created = dialog_start_or_resume(
        chat=chat, messenger=Messenger.WEB, external_id="typed-operator", name=""
    )
    dialog_receive_client_message(dialog=dialog, text="operator", client_msg_id="t-1")
    return Request.objects.get(dialog=dialog)


async def test_a_typed_operator_is_neither_counted_live_nor_in_the_list():
    chat, operator = await sync_to_async(demo_operator)()
    console, _connected, _code = await console_for(operator.user)
    await receive_until(console, lambda frame: frame["type"] == "requests")
    # when: the visitor types "operator"
    request = await sync_to_async(visitor_types_operator)(chat)
    # then: the notice (sequence 4) is the request's only inbox frame: the visitor's
    # "operator" (sequence 2) was written before the request opened
    await receive_until(console, lambda frame: frame["type"] == "request_changed")
    frames = await receive_until(console, lambda frame: frame["type"] == "inbox")
    notice = frames[-1]["message"]
    assert (frames[-1]["request"], notice["author_kind"]) == (request.pk, "system")
    assert await console.receive_nothing(timeout=QUIET)
    await console.disconnect()
    # and a fresh list says the same: the notice's preview, nothing unread
    again, _connected, _code = await console_for(operator.user)
    snapshot = await receive_until(again, lambda frame: frame["type"] == "requests")
    row = {item["id"]: item for item in snapshot[-1]["items"]}[request.pk]
    assert (row["preview"], row["unread"], row["last_sequence"]) == (
        notice["preview"],
        0,
        notice["sequence"],
    )
    await again.disconnect()


def accepted_unanswered(world):
    write(world["request"], "hello?", "w-1")
    request_accept(request=world["request"], operator=world["petr"])
    return Request.objects.get(pk=world["request"].pk)


async def row_of(user, request_id):
    console, _connected, _code = await console_for(user)
    snapshot = await receive_until(console, lambda frame: frame["type"] == "requests")
    await console.disconnect()
    return {item["id"]: item for item in snapshot[-1]["items"]}[request_id]


async def test_an_accepted_request_waits_from_its_opening_until_a_person_answers(world):
    # given: the visitor wrote while the request waited, then Petr accepted it
    request = await sync_to_async(accepted_unanswered)(world)
    # then: the visitor still waits, since the request opened (as it was shown pending)
    row = await row_of(world["petr"].user, request.pk)
    assert row["waiting_since"] == request.created_at.isoformat()
    # when: Petr answers
    await sync_to_async(operator_message_post)(
        request=request.pk, operator=world["petr"], client_msg_id="o-1", text="Hi Ann"
    )
    # then: nobody waits
    assert (await row_of(world["petr"].user, request.pk))["waiting_since"] is None
    # when: the visitor writes twice
    await sync_to_async(write)(request, "one more thing", "w-2")
    await sync_to_async(write)(request, "and another", "w-3")
    # then: they wait from the first of them
    first = await sync_to_async(
        lambda: Message.objects.get(dialog_id=request.dialog_id, client_msg_id="w-2")
    )()
    row = await row_of(world["petr"].user, request.pk)
    assert row["waiting_since"] == first.created_at.isoformat()
