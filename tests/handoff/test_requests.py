"""The request state machine: every transition, every illegal one, the fallbacks."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chats.enums import AuthorKind, DialogStatus
from chats.models import Message
from chats.services import dialog_receive_client_message
from distributor.models import Customer
from handoff.enums import CloseReason, Fallback, RequestStatus
from handoff.models import Feedback, HandoffSettings, Request, RequestEvent
from handoff.services import (
    HandoffError,
    IllegalTransition,
    NotYourRequest,
    RequestAlreadyTaken,
    client_contact_submit,
    deadlines_sweep,
    operator_message_post,
    request_accept,
    request_close,
    request_expire,
    request_open,
    request_rate,
    request_reject,
)
from tests.chats.factories import DialogFactory, ScriptFactory, StepFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dialog():
    return DialogFactory()


@pytest.fixture
def operator(dialog):
    return OperatorFactory(display_name="Olga", chats=[dialog.chat])


def texts(dialog, kind=AuthorKind.SYSTEM):
    return list(
        Message.objects.filter(dialog=dialog, author_kind=kind)
        .order_by("sequence")
        .values_list("text", flat=True)
    )


def events(request):
    return list(
        RequestEvent.objects.filter(request=request).values_list("from_status", "to_status")
    )


def set_fallback(dialog, fallback):
    HandoffSettings.objects.update_or_create(chat=dialog.chat, defaults={"fallback": fallback})


def test_open_sets_an_accept_deadline_and_the_dialog_waits(dialog):
    before = timezone.now()
    request = request_open(dialog=dialog, reason="headset")
    assert request.status == RequestStatus.PENDING
    assert request.accept_deadline >= before + timedelta(seconds=120)
    dialog.refresh_from_db()
    assert dialog.status == DialogStatus.WAITING


def test_open_twice_returns_the_same_request(dialog):
    first = request_open(dialog=dialog, reason="headset")
    assert request_open(dialog=dialog, reason="script").pk == first.pk
    assert Request.objects.count() == 1


def test_accept_connects_the_operator_by_name(dialog, operator):
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    assert (request.status, request.operator_id) == (RequestStatus.ACCEPTED, operator.pk)
    assert texts(dialog)[-1] == "Connected to Olga"
    dialog.refresh_from_db()
    assert dialog.status == DialogStatus.OPERATOR
    assert events(request) == [("", "pending"), ("pending", "accepted")]


def test_second_accept_is_refused_naming_the_owner_and_changes_nothing(dialog, operator):
    request = request_open(dialog=dialog, reason="headset")
    request_accept(request=request, operator=operator)
    rival = OperatorFactory(chats=[dialog.chat])
    with pytest.raises(RequestAlreadyTaken, match="already taken by Olga"):
        request_accept(request=request, operator=rival)
    request.refresh_from_db()
    assert request.operator_id == operator.pk
    assert len(events(request)) == 2


def test_operator_of_another_chat_cannot_accept(dialog):
    request = request_open(dialog=dialog, reason="headset")
    with pytest.raises(NotYourRequest):
        request_accept(request=request, operator=OperatorFactory())
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING


def test_operator_writes_as_their_name_and_only_the_owner_may(dialog, operator):
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    message, created = operator_message_post(
        request=request, operator=operator, text="Hi!", client_msg_id="o1"
    )
    assert (message.author_kind, message.author_name, created) == ("operator", "Olga", True)
    with pytest.raises(NotYourRequest):
        operator_message_post(
            request=request,
            operator=OperatorFactory(chats=[dialog.chat]),
            text="me too",
            client_msg_id="o2",
        )
    assert texts(dialog, AuthorKind.OPERATOR) == ["Hi!"]


def test_bot_is_silent_and_client_messages_push_the_reply_deadline(dialog, operator):
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    first_deadline = Request.objects.get(pk=request.pk).reply_deadline
    dialog.refresh_from_db()
    result = dialog_receive_client_message(dialog=dialog, text="hello", client_msg_id="c1")
    assert result.answers == []
    assert Request.objects.get(pk=request.pk).reply_deadline > first_deadline


def test_reject_keeps_the_request_open_for_others(dialog, operator):
    request = request_open(dialog=dialog, reason="headset")
    request_reject(request=request, operator=operator)
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert list(request.rejected_by.all()) == [operator]


def test_operator_close_hands_back_to_the_bot_asks_feedback_and_runs_the_script(dialog, operator):
    after = ScriptFactory(chat=dialog.chat, name="After")
    StepFactory(script=after, text="Anything else?")
    HandoffSettings.objects.update_or_create(
        chat=dialog.chat, defaults={"script_after_operator_end": after}
    )
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    closed = request_close(request=request, reason=CloseReason.OPERATOR, actor=operator)
    assert (closed.status, closed.close_reason) == ("closed", "operator")
    dialog.refresh_from_db()
    assert dialog.status == DialogStatus.BOT
    rating = Message.objects.filter(dialog=dialog, attachments__0__kind="rating").get()
    assert rating.attachments[0] == {"kind": "rating", "scale": 5, "request": request.pk}
    assert texts(dialog, AuthorKind.BOT)[-1] == "Anything else?"


def test_closed_request_never_resumes_and_asking_again_opens_a_new_one(dialog, operator):
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    request_close(request=request, reason=CloseReason.CLIENT)
    for illegal in (
        lambda: request_accept(request=request, operator=operator),
        lambda: request_close(request=request, reason=CloseReason.OPERATOR),
        lambda: operator_message_post(
            request=request, operator=operator, text="late", client_msg_id="late"
        ),
    ):
        with pytest.raises(IllegalTransition):
            illegal()
    again = request_open(dialog=dialog, reason="headset")
    assert again.pk != request.pk
    assert again.status == RequestStatus.PENDING


def test_rating_is_stored_on_the_chats_scale_linked_to_the_operator(dialog, operator):
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    request_close(request=request, reason=CloseReason.CLIENT)
    request_rate(dialog=dialog, request_id=request.pk, score=4)
    feedback = Feedback.objects.get()
    assert (feedback.score, feedback.scale, feedback.operator_name, feedback.operator_id) == (
        4,
        5,
        "Olga",
        operator.pk,
    )
    with pytest.raises(HandoffError):
        request_rate(dialog=dialog, request_id=request.pk, score=6)
    assert Feedback.objects.count() == 1


def test_rating_a_request_nobody_accepted_is_refused(dialog):
    request = request_open(dialog=dialog, reason="headset")
    with pytest.raises(HandoffError):
        request_rate(dialog=dialog, request_id=request.pk, score=3)
    assert Feedback.objects.count() == 0


def due(request):
    return Request.objects.get(pk=request.pk).accept_deadline + timedelta(seconds=1)


def test_expire_does_nothing_before_the_deadline(dialog):
    request = request_open(dialog=dialog, reason="headset")
    request_expire(request=request, now=timezone.now())
    assert Request.objects.get(pk=request.pk).status == RequestStatus.PENDING


def test_fallback_queue_tells_the_position_then_gives_up(dialog):
    set_fallback(dialog, Fallback.QUEUE)
    earlier = DialogFactory(client__chat=dialog.chat)
    request_open(dialog=earlier, reason="headset")
    request = request_open(dialog=dialog, reason="headset")
    now = due(request)
    queued = request_expire(request=request, now=now)
    assert queued.status == RequestStatus.QUEUED
    assert texts(dialog)[-1] == ("All operators are busy. You are number 2 in the queue.")
    # the notice repeats every N minutes
    assert deadlines_sweep(now=queued.next_queue_notice_at) >= 1
    assert texts(dialog)[-1].endswith("number 2 in the queue.")
    # and gives up after the longest wait
    gave_up = request_expire(request=queued, now=queued.queue_deadline + timedelta(seconds=1))
    assert (gave_up.status, gave_up.close_reason) == ("closed", "queue_timeout")
    assert [to for _from, to in events(gave_up)] == [
        "pending",
        "expired",
        "queued",
        "expired",
        "closed",
    ]


def test_queued_request_can_still_be_accepted(dialog, operator):
    set_fallback(dialog, Fallback.QUEUE)
    request = request_open(dialog=dialog, reason="headset")
    queued = request_expire(request=request, now=due(request))
    accepted = request_accept(request=queued, operator=operator)
    assert accepted.status == RequestStatus.ACCEPTED


def test_fallback_form_captures_the_lead_as_a_customer(dialog):
    set_fallback(dialog, Fallback.FORM)
    request = request_open(dialog=dialog, reason="headset")
    closed = request_expire(request=request, now=due(request))
    assert (closed.status, closed.close_reason) == ("closed", "lead_form")
    assert Message.objects.filter(dialog=dialog, attachments__0__kind="contact_form").exists()
    dialog.refresh_from_db()
    assert dialog.status == DialogStatus.BOT
    client_contact_submit(
        dialog=dialog, answers={"name": "Ann", "phone": "+39 06 1234 5678", "email": ""}
    )
    customer = Customer.objects.get()
    assert (customer.name, customer.phone) == ("Ann", "+390612345678")
    dialog.client.refresh_from_db()
    assert dialog.client.customer_binding.customer_id == customer.pk


def test_contact_form_without_phone_or_email_is_refused(dialog):
    with pytest.raises(HandoffError):
        client_contact_submit(dialog=dialog, answers={"name": "Ann"})
    assert Customer.objects.count() == 0


def test_fallback_message_says_nobody_is_available(dialog):
    set_fallback(dialog, Fallback.MESSAGE)
    request = request_open(dialog=dialog, reason="headset")
    closed = request_expire(request=request, now=due(request))
    assert closed.close_reason == "unavailable"
    assert texts(dialog)[-1].startswith("Sorry, no operator is available")


def test_reply_timeout_closes_the_request_with_that_reason(dialog, operator):
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    deadline = Request.objects.get(pk=request.pk).reply_deadline
    deadlines_sweep(now=deadline + timedelta(seconds=1))
    request.refresh_from_db()
    assert (request.status, request.close_reason) == ("closed", "client_timeout")


def test_operator_idle_hands_the_dialog_back_to_the_bot(dialog, operator):
    HandoffSettings.objects.update_or_create(
        chat=dialog.chat, defaults={"operator_idle_seconds": 10}
    )
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    deadlines_sweep(now=timezone.now() + timedelta(seconds=11))
    request.refresh_from_db()
    dialog.refresh_from_db()
    assert (request.close_reason, dialog.status) == ("operator_idle", DialogStatus.BOT)


def test_sweep_run_twice_acts_once(dialog):
    set_fallback(dialog, Fallback.MESSAGE)
    request = request_open(dialog=dialog, reason="headset")
    now = due(request)
    assert deadlines_sweep(now=now) == 1
    assert deadlines_sweep(now=now) == 0
    assert (
        texts(dialog).count("Sorry, no operator is available right now. Please try again later.")
        == 1
    )


def test_feedback_is_asked_n_seconds_after_the_start_and_not_again_at_the_end(dialog, operator):
    HandoffSettings.objects.update_or_create(
        chat=dialog.chat, defaults={"feedback_delay_seconds": 60}
    )
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    due_at = Request.objects.get(pk=request.pk).feedback_due_at
    assert due_at == dialog.started_at + timedelta(seconds=60)
    deadlines_sweep(now=due_at + timedelta(seconds=1))
    deadlines_sweep(now=due_at + timedelta(seconds=2))
    assert Message.objects.filter(dialog=dialog, attachments__0__kind="rating").count() == 1
    request_rate(dialog=dialog, request_id=request.pk, score=5)
    request_close(request=request, reason=CloseReason.OPERATOR, actor=operator)
    assert Message.objects.filter(dialog=dialog, attachments__0__kind="rating").count() == 1
    assert Feedback.objects.get().score == 5


def test_queued_visitors_are_told_their_new_place_when_someone_ahead_is_taken(
    dialog, operator, django_capture_on_commit_callbacks
):
    set_fallback(dialog, Fallback.QUEUE)
    ahead = request_open(dialog=DialogFactory(client__chat=dialog.chat), reason="headset")
    request = request_open(dialog=dialog, reason="headset")
    request_expire(request=ahead, now=due(ahead))
    request_expire(request=request, now=due(request))
    assert texts(dialog)[-1].endswith("number 2 in the queue.")
    from handoff.realtime import request_changed_publish
    from handoff.services import queue_position

    request_accept(request=ahead, operator=operator)
    assert queue_position(Request.objects.get(pk=request.pk)) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        request_changed_publish(request=Request.objects.get(pk=ahead.pk))
    assert len(callbacks) == 1
