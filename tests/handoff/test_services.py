import pytest

from chats.enums import DialogStatus
from chats.services import DialogClosed, dialog_status_set
from handoff.enums import RequestStatus
from handoff.models import Request, RequestEvent
from handoff.services import request_open
from tests.chats.factories import DialogFactory

pytestmark = pytest.mark.django_db


def test_request_open_creates_a_pending_request_with_an_event_and_the_visitor_waits():
    dialog = DialogFactory()
    request = request_open(dialog=dialog, reason="headset")
    assert request.status == RequestStatus.PENDING
    assert list(RequestEvent.objects.values_list("to_status", flat=True)) == ["pending"]
    dialog.refresh_from_db()
    assert dialog.status == DialogStatus.WAITING
    assert dialog.messages.get().author_kind == "system"


def test_request_open_twice_returns_the_open_request_and_writes_nothing():
    dialog = DialogFactory()
    first = request_open(dialog=dialog, reason="script")
    again = request_open(dialog=dialog, reason="headset")
    assert again.pk == first.pk
    assert Request.objects.count() == 1
    assert dialog.messages.count() == 1


def test_request_open_on_a_closed_dialog_is_refused():
    dialog = DialogFactory()
    dialog_status_set(dialog=dialog, status=DialogStatus.CLOSED)
    with pytest.raises(DialogClosed):
        request_open(dialog=dialog, reason="headset")
    assert Request.objects.count() == 0


def test_transitions_are_data_on_the_model():
    request = Request(status=RequestStatus.PENDING)
    assert request.can_move_to(RequestStatus.ACCEPTED)
    assert not request.can_move_to(RequestStatus.QUEUED)
    assert Request(status=RequestStatus.CLOSED).can_move_to(RequestStatus.PENDING) is False
