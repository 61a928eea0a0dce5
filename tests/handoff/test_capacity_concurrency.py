"""An operator's cap under concurrency: one operator with a cap of 1 accepting two
requests at the same instant gets exactly one (the Operator row is locked after the
dialog and the request, so the second accept counts the first)."""

import pytest
from django.db import connection

from chats.enums import DialogStatus
from chats.models import Dialog
from handoff.enums import RequestStatus
from handoff.models import Request
from handoff.services import OperatorAtCapacity, request_accept, request_open
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.threads import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 50 if connection.vendor == "postgresql" else 10
CAP = 1
RACERS = 3


def test_one_operator_accepting_at_once_never_exceeds_the_cap():
    chat = ChatFactory()
    for _round in range(ROUNDS):
        operator = OperatorFactory(chats=[chat], max_simultaneous_dialogs=CAP)
        requests = [
            request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
            for _ in range(RACERS)
        ]
        refused: list[int] = []

        def accept(index: int, requests=requests, refused=refused, operator=operator) -> None:
            try:
                request_accept(
                    request=Request.objects.get(pk=requests[index].pk), operator=operator
                )
            except OperatorAtCapacity:
                refused.append(index)

        assert run_in_threads(RACERS, accept) == []
        held = Request.objects.filter(operator=operator, status=RequestStatus.ACCEPTED)
        assert held.count() == CAP
        assert len(refused) == RACERS - CAP
        # the refused accepts' load hint additions rolled back with them
        operator.refresh_from_db()
        assert operator.load_hint == CAP
        # the refused requests are still waiting for someone else, and their dialogs say so
        waiting = Request.objects.filter(pk__in=[r.pk for r in requests], status="pending")
        assert waiting.count() == RACERS - CAP
        assert set(
            Dialog.objects.filter(handoff_requests__in=waiting).values_list("status", flat=True)
        ) == {DialogStatus.WAITING}
