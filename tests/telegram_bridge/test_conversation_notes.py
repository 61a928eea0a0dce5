"""A private note on a Telegram conversation stays in the console: neither the Telegram
client nor the manager who holds the request on Telegram gets anything."""

from __future__ import annotations

import pytest

from handoff.enums import RequestStatus
from handoff.models import ConversationNote, Request
from handoff.services import conversation_note_add
from tests.telegram_bridge.telegram_updates import callback_update, text_update
from tests.telegram_bridge.test_handoff_flow import connect_operator

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 511
OPERATOR_USER = 611


def test_a_private_note_sends_nothing_to_telegram(telegram_world):
    # given: a Telegram client talking to an operator who accepted on Telegram
    world = telegram_world
    operator = connect_operator(world, OPERATOR_USER)
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="hello"))
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="/human"))
    world.settle()
    request = Request.objects.get()
    alert = world.api.succeeded("sendMessage", chat_id=OPERATOR_USER)[-1]
    world.receive(
        callback_update(
            world.next_update_id(),
            user_id=OPERATOR_USER,
            data=f"a:{request.pk}",
            message_id=alert.params.get("message_id", 1),
        )
    )
    world.settle()
    request.refresh_from_db()
    assert request.status == RequestStatus.ACCEPTED
    calls_before = len(world.api.calls())
    # when: the operator writes a private note (from the console)
    conversation_note_add(
        request_id=request.pk, operator=operator, text="SECRET-NOTE", client_msg_id="n1"
    )
    world.settle()
    # then: stored, and the Bot API was not called at all
    assert ConversationNote.objects.get().text == "SECRET-NOTE"
    assert world.api.calls()[calls_before:] == []
    assert not any("SECRET-NOTE" in text for text in world.texts_to(CLIENT))
    assert not any("SECRET-NOTE" in text for text in world.texts_to(OPERATOR_USER))
