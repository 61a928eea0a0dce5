"""Transfer: the operator holding a conversation hands it to another operator (who
serves the chat and channel, is not offline, is under their cap) or back to the bot,
with a reason recorded as an event. Every refusal changes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chats.enums import AuthorKind, DialogStatus
from chats.models import Dialog, Message
from distributor.enums import Presence
from distributor.models import Operator, OperatorChannel
from handoff.enums import CloseReason, RequestStatus
from handoff.models import Request, RequestEvent
from handoff.services import (
    TRANSFER_REASON_MAX,
    IllegalTransition,
    NotYourRequest,
    TransferInvalid,
    TransferTargetUnavailable,
    request_accept,
    request_close,
    request_open,
    request_transfer,
)
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def talk():
    chat = ChatFactory()
    olga = OperatorFactory(display_name="Olga", chats=[chat], presence=Presence.ONLINE)
    ivan = OperatorFactory(display_name="Ivan", chats=[chat], presence=Presence.ONLINE)
    dialog = DialogFactory(client__chat=chat)
    request = request_open(dialog=dialog, reason="headset")
    request_accept(request=request, operator=olga)
    return {"chat": chat, "olga": olga, "ivan": ivan, "dialog": dialog, "request": request}


def state(talk) -> tuple:
    request = Request.objects.get(pk=talk["request"].pk)
    return (
        request.status,
        request.operator_id,
        request.idle_deadline,
        RequestEvent.objects.filter(request=request).count(),
        Dialog.objects.get(pk=talk["dialog"].pk).status,
        Message.objects.filter(dialog=talk["dialog"]).count(),
        tuple(Operator.objects.order_by("pk").values_list("idle_since", flat=True)),
    )


def system_texts(dialog) -> list[str]:
    return list(
        Message.objects.filter(dialog=dialog, author_kind=AuthorKind.SYSTEM)
        .order_by("sequence")
        .values_list("text", flat=True)
    )


def test_a_transfer_to_another_operator_keeps_the_request_accepted_with_them(
    talk, django_capture_on_commit_callbacks
):
    before = timezone.now()
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        request_transfer(
            request=talk["request"],
            operator=talk["olga"],
            to_operator=talk["ivan"],
            reason="billing question",
        )
    # then
    request = Request.objects.get(pk=talk["request"].pk)
    assert (request.status, request.operator) == (RequestStatus.ACCEPTED, talk["ivan"])
    event = request.events.last()
    assert (event.from_status, event.to_status, event.actor) == (
        "accepted",
        "accepted",
        talk["olga"].user,
    )
    assert event.note == "transferred to Ivan: billing question"
    assert system_texts(talk["dialog"])[-1] == "Connected to Ivan"
    assert Dialog.objects.get(pk=talk["dialog"].pk).status == DialogStatus.OPERATOR
    olga, ivan = (Operator.objects.get(pk=talk[name].pk) for name in ("olga", "ivan"))
    assert olga.idle_since >= before
    assert ivan.idle_since >= before
    assert request.idle_deadline >= before
    # the consoles are told, the dialog's watchers get the notice, a drain is asked for
    assert len(callbacks) >= 3


def test_the_new_operator_may_close_it_and_the_old_one_may_not(talk):
    request_transfer(
        request=talk["request"], operator=talk["olga"], to_operator=talk["ivan"], reason="shift"
    )
    with pytest.raises(NotYourRequest):
        request_close(request=talk["request"], reason=CloseReason.OPERATOR, actor=talk["olga"])
    request_close(request=talk["request"], reason=CloseReason.OPERATOR, actor=talk["ivan"])
    assert Request.objects.get(pk=talk["request"].pk).status == RequestStatus.CLOSED


def test_a_transfer_to_an_away_operator_is_allowed(talk):
    Operator.objects.filter(pk=talk["ivan"].pk).update(presence=Presence.AWAY)
    request_transfer(
        request=talk["request"],
        operator=talk["olga"],
        to_operator=Operator.objects.get(pk=talk["ivan"].pk),
        reason="shift",
    )
    assert Request.objects.get(pk=talk["request"].pk).operator_id == talk["ivan"].pk


def test_a_transfer_back_to_the_bot_closes_the_request(talk, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        request_transfer(request=talk["request"], operator=talk["olga"], reason="just a FAQ")
    request = Request.objects.get(pk=talk["request"].pk)
    assert (request.status, request.close_reason) == (
        RequestStatus.CLOSED,
        CloseReason.TRANSFERRED_TO_BOT,
    )
    event = request.events.last()
    assert (event.to_status, event.note, event.actor) == (
        "closed",
        "transferred to the bot: just a FAQ",
        talk["olga"].user,
    )
    assert Dialog.objects.get(pk=talk["dialog"].pk).status == DialogStatus.BOT
    assert "The conversation with the operator has ended." in system_texts(talk["dialog"])
    assert callbacks


def test_only_the_holder_may_transfer(talk):
    before = state(talk)
    with pytest.raises(NotYourRequest) as refused:
        request_transfer(
            request=talk["request"], operator=talk["ivan"], to_operator=talk["olga"], reason="x"
        )
    assert "Only the operator who holds" in str(refused.value)
    with pytest.raises(NotYourRequest):
        request_transfer(request=talk["request"], operator=talk["ivan"], reason="to bot")
    assert state(talk) == before


def test_a_transfer_to_oneself_is_refused(talk):
    before = state(talk)
    with pytest.raises(TransferInvalid) as refused:
        request_transfer(
            request=talk["request"], operator=talk["olga"], to_operator=talk["olga"], reason="x"
        )
    assert refused.value.code == "transfer_to_self"
    assert state(talk) == before


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("", "reason_blank"),
        ("   \n", "reason_blank"),
        (None, "reason_blank"),
        ("x" * (TRANSFER_REASON_MAX + 1), "reason_too_long"),
    ],
)
def test_a_blank_or_oversized_reason_is_refused(talk, reason, code):
    before = state(talk)
    with pytest.raises(TransferInvalid) as refused:
        request_transfer(
            request=talk["request"], operator=talk["olga"], to_operator=talk["ivan"], reason=reason
        )
    assert refused.value.code == code
    with pytest.raises(TransferInvalid):
        request_transfer(request=talk["request"], operator=talk["olga"], reason=reason)
    assert state(talk) == before


def test_the_longest_reason_fits_the_event(talk):
    reason = "y" * TRANSFER_REASON_MAX
    request_transfer(
        request=talk["request"], operator=talk["olga"], to_operator=talk["ivan"], reason=reason
    )
    assert Request.objects.get(pk=talk["request"].pk).events.last().note.endswith(reason)


def test_a_target_not_serving_the_chat_is_refused(talk):
    stranger = OperatorFactory(display_name="Stranger", chats=[ChatFactory()])
    before = state(talk)
    with pytest.raises(TransferTargetUnavailable) as refused:
        request_transfer(
            request=talk["request"], operator=talk["olga"], to_operator=stranger, reason="x"
        )
    assert refused.value.code == "target_not_serving"
    assert "Stranger" in str(refused.value)
    assert state(talk) == before


def test_a_target_not_serving_the_dialogs_channel_is_refused(talk):
    OperatorChannel.objects.create(operator=talk["ivan"], chat=talk["chat"], messenger="telegram")
    before = state(talk)
    with pytest.raises(TransferTargetUnavailable) as refused:
        request_transfer(
            request=talk["request"], operator=talk["olga"], to_operator=talk["ivan"], reason="x"
        )
    assert refused.value.code == "target_not_serving"
    assert state(talk) == before


def test_a_target_serving_the_dialogs_channel_by_a_row_is_accepted(talk):
    OperatorChannel.objects.create(operator=talk["ivan"], chat=talk["chat"], messenger="web")
    request_transfer(
        request=talk["request"], operator=talk["olga"], to_operator=talk["ivan"], reason="x"
    )
    assert Request.objects.get(pk=talk["request"].pk).operator_id == talk["ivan"].pk


def test_an_offline_target_is_refused(talk):
    Operator.objects.filter(pk=talk["ivan"].pk).update(presence=Presence.OFFLINE)
    before = state(talk)
    with pytest.raises(TransferTargetUnavailable) as refused:
        request_transfer(
            request=talk["request"], operator=talk["olga"], to_operator=talk["ivan"], reason="x"
        )
    assert refused.value.code == "target_offline"
    assert state(talk) == before


def test_a_target_whose_presence_expired_is_refused_as_offline(talk):
    Operator.objects.filter(pk=talk["ivan"].pk).update(
        presence_expires_at=timezone.now() - timedelta(seconds=1)
    )
    before = state(talk)
    with pytest.raises(TransferTargetUnavailable) as refused:
        request_transfer(
            request=talk["request"], operator=talk["olga"], to_operator=talk["ivan"], reason="x"
        )
    assert refused.value.code == "target_offline"
    assert state(talk) == before


def test_a_target_at_capacity_is_refused(talk):
    Operator.objects.filter(pk=talk["ivan"].pk).update(max_simultaneous_dialogs=1)
    other = request_open(dialog=DialogFactory(client__chat=talk["chat"]), reason="headset")
    request_accept(request=other, operator=talk["ivan"])
    before = state(talk)
    with pytest.raises(TransferTargetUnavailable) as refused:
        request_transfer(
            request=talk["request"], operator=talk["olga"], to_operator=talk["ivan"], reason="x"
        )
    assert refused.value.code == "target_at_capacity"
    assert "(1)" in str(refused.value)
    assert state(talk) == before


def test_a_request_not_accepted_cannot_be_transferred(talk):
    waiting = request_open(dialog=DialogFactory(client__chat=talk["chat"]), reason="headset")
    with pytest.raises(IllegalTransition):
        request_transfer(
            request=waiting, operator=talk["olga"], to_operator=talk["ivan"], reason="x"
        )
    request_close(request=talk["request"], reason=CloseReason.OPERATOR, actor=talk["olga"])
    before = state(talk)
    with pytest.raises(IllegalTransition):
        request_transfer(request=talk["request"], operator=talk["olga"], reason="x")
    assert state(talk) == before
    assert Request.objects.get(pk=waiting.pk).status == RequestStatus.PENDING


def test_with_visible_only_a_chat_not_served_is_not_found(talk):
    outsider = OperatorFactory(chats=[ChatFactory()])
    before = state(talk)
    with pytest.raises(Request.DoesNotExist):
        request_transfer(
            request=talk["request"].pk,
            operator=outsider,
            to_operator=talk["ivan"],
            reason="x",
            visible_only=True,
        )
    assert state(talk) == before


def test_the_client_is_told_in_the_chats_language(talk):
    talk["chat"].language = "ru"
    talk["chat"].save()
    request_transfer(
        request=talk["request"], operator=talk["olga"], to_operator=talk["ivan"], reason="x"
    )
    assert system_texts(talk["dialog"])[-1] != "Connected to Ivan"
    assert system_texts(talk["dialog"])[-1].endswith("Ivan")
