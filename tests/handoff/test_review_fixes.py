"""Regression tests for the code review of issue 8 (handoff services)."""

import pytest
from asgiref.sync import sync_to_async

from chats.enums import AuthorKind
from chats.models import Message
from handoff.enums import CloseReason, RequestStatus
from handoff.models import Request, RequestEvent
from handoff.services import (
    IllegalTransition,
    NotYourRequest,
    operator_message_post,
    request_accept,
    request_close,
    request_open,
)
from tests.chats.factories import DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.handoff.test_console_consumer import console_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def dialog():
    return DialogFactory()


@pytest.fixture
def operator(dialog):
    return OperatorFactory(display_name="Olga", chats=[dialog.chat])


def operator_texts(dialog):
    return list(
        Message.objects.filter(dialog=dialog, author_kind=AuthorKind.OPERATOR).values_list(
            "text", flat=True
        )
    )


# --- review item 5: a resend after the request closed is still a duplicate -------


def test_a_reply_resent_after_the_request_closed_returns_the_stored_reply(dialog, operator):
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    stored, created = operator_message_post(
        request=request, operator=operator, text="Hi!", client_msg_id="console-1"
    )
    assert created
    # the ack was lost; the request closes before the console resends
    request_close(request=request, reason=CloseReason.CLIENT)
    resent, created = operator_message_post(
        request=request, operator=operator, text="Hi!", client_msg_id="console-1"
    )
    assert (resent.pk, created) == (stored.pk, False)
    assert operator_texts(dialog) == ["Hi!"]


def test_a_new_reply_after_the_request_closed_is_still_refused(dialog, operator):
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    request_close(request=request, reason=CloseReason.CLIENT)
    count = Message.objects.filter(dialog=dialog).count()
    with pytest.raises(IllegalTransition):
        operator_message_post(
            request=request, operator=operator, text="late", client_msg_id="console-2"
        )
    assert Message.objects.filter(dialog=dialog).count() == count


def test_another_operators_client_msg_id_is_not_returned_to_a_stranger(dialog, operator):
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    operator_message_post(request=request, operator=operator, text="Hi!", client_msg_id="same")
    stranger = OperatorFactory(display_name="Olga", chats=[dialog.chat])
    with pytest.raises(NotYourRequest):
        operator_message_post(request=request, operator=stranger, text="x", client_msg_id="same")
    request_close(request=request, reason=CloseReason.CLIENT)
    with pytest.raises(NotYourRequest):
        operator_message_post(request=request, operator=stranger, text="x", client_msg_id="same")
    assert operator_texts(dialog) == ["Hi!"]


def test_a_visitors_client_msg_id_is_not_an_operators_reply(dialog, operator):
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    Message.objects.create(
        dialog=dialog, sequence=999, author_kind=AuthorKind.CLIENT, client_msg_id="c-1"
    )
    request_close(request=request, reason=CloseReason.CLIENT)
    with pytest.raises(IllegalTransition):
        operator_message_post(request=request, operator=operator, text="x", client_msg_id="c-1")


# --- review item 7: a dead request is an illegal transition, not "at capacity" --------


def test_accepting_a_closed_request_at_the_cap_is_an_illegal_transition(dialog):
    operator = OperatorFactory(chats=[dialog.chat], max_simultaneous_dialogs=1)
    busy = request_accept(
        request=request_open(dialog=DialogFactory(client__chat=dialog.chat), reason="headset"),
        operator=operator,
    )
    assert busy.status == RequestStatus.ACCEPTED
    request = request_open(dialog=dialog, reason="headset")
    request_close(request=request, reason=CloseReason.CLIENT)
    events_before = RequestEvent.objects.filter(request=request).count()
    with pytest.raises(IllegalTransition) as refusal:
        request_accept(request=request, operator=operator)
    assert refusal.value.code == "illegal_transition"
    request.refresh_from_db()
    assert request.status == RequestStatus.CLOSED
    assert request.operator_id is None
    assert RequestEvent.objects.filter(request=request).count() == events_before
    assert Request.objects.filter(operator=operator, status=RequestStatus.ACCEPTED).count() == 1


# the console's resend, end to end: a reply stored, its ack lost, the request closed


@pytest.mark.django_db(transaction=True)
async def test_the_console_resend_of_a_delivered_reply_is_acked_after_the_request_closed():
    def given():
        dialog = DialogFactory()
        olga = OperatorFactory(display_name="Olga", chats=[dialog.chat])
        request = request_accept(
            request=request_open(dialog=dialog, reason="headset"), operator=olga
        )
        stored, _created = operator_message_post(
            request=request, operator=olga, text="Hi!", client_msg_id="console-1"
        )
        request_close(request=request, reason=CloseReason.CLIENT)
        return olga, request, stored

    olga, request, stored = await sync_to_async(given)()
    console, connected, _code = await console_for(olga.user)
    assert connected
    # when the console's outbox resends the reply after reconnecting
    await console.send_json_to(
        {"type": "message", "request": request.pk, "client_msg_id": "console-1", "text": "Hi!"}
    )
    while (frame := await console.receive_json_from(timeout=5))["type"] not in ("ack", "error"):
        pass
    # then it is acked as the duplicate it is, not refused
    assert frame == {
        "type": "ack",
        "client_msg_id": "console-1",
        "sequence": stored.sequence,
        "duplicate": True,
    }
    await console.disconnect()
