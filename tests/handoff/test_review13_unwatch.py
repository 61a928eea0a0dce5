"""Review of issue 13's phone layout: the conversation's back button (console.js
deselect) showed the lists again but left the request watched on the server, so the
visitor's next messages were marked read ("Seen" in their widget) while the operator
looked at the lists, and the list row got no unread count (they came as "message"
frames of the watched dialog, not "inbox" entries). The page now says `unwatch`."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from handoff.models import ConversationRead
from tests.handoff.test_live_signals import (  # noqa: F401
    console_for,
    of_type,
    receive_until,
    visitor_in_request,
    watch,
    world,
)

pytestmark = pytest.mark.django_db(transaction=True)


def read_to(operator, dialog_id) -> int:
    read = ConversationRead.objects.filter(operator=operator, dialog_id=dialog_id).first()
    return read.last_read_sequence if read else 0


async def test_after_unwatch_a_visitors_message_is_an_inbox_entry_and_not_read(world):  # noqa: F811
    # given: Olga holds the request and watches it
    widget, request, _welcome = await visitor_in_request(world, accepted_by=world["olga"])
    olga = await console_for(world["olga"].user)
    await watch(olga, request)
    await olga.send_json_to({"type": "ping"})
    await receive_until(olga, of_type("pong"))
    read_before = await sync_to_async(read_to)(world["olga"], request.dialog_id)

    # when: she goes back to the lists, and the visitor writes
    await olga.send_json_to({"type": "unwatch"})
    await olga.send_json_to({"type": "ping"})
    frames = await receive_until(olga, of_type("pong"))
    assert not [frame for frame in frames if frame["type"] == "error"]
    await widget.send_json_to({"type": "message", "client_msg_id": "c1", "text": "Still there?"})
    ack = (await receive_until(widget, of_type("ack")))[-1]

    # then: it reaches her list as an inbox entry, and is not marked read
    frames = await receive_until(olga, lambda frame: frame["type"] in ("inbox", "message"))
    assert frames[-1]["type"] == "inbox"
    assert frames[-1]["message"]["sequence"] == ack["sequence"]
    assert await sync_to_async(read_to)(world["olga"], request.dialog_id) == read_before
    await widget.disconnect()
    await olga.disconnect()


async def test_unwatch_with_nothing_watched_is_no_error(world):  # noqa: F811
    olga = await console_for(world["olga"].user)
    await olga.send_json_to({"type": "unwatch"})
    await olga.send_json_to({"type": "ping"})
    frames = await receive_until(olga, of_type("pong"))
    assert not [frame for frame in frames if frame["type"] == "error"]
    await olga.disconnect()
