"""Automatic distribution under concurrency (run on PostgreSQL: tests/with_postgres.sh):
opens, drains, accepts, rejects, closes and offer expiries at the same instant never put
a manager over their cap (held + offered), never offer a request to two managers, never
let two managers own one request, and leave every manager's load hint exact."""

import contextlib
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from distributor.enums import DistributionMode, Presence
from distributor.models import Operator
from distributor.services import chat_distribution_for
from handoff.enums import CloseReason, RequestStatus
from handoff.models import Request, RequestEvent
from handoff.services import (
    HandoffError,
    deadlines_sweep,
    request_accept,
    request_close,
    request_open,
    request_reject,
    request_transfer,
    requests_drain,
)
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.threads import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

POSTGRES = connection.vendor == "postgresql"
ROUNDS = 10 if POSTGRES else 2


def automatic_chat():
    chat = ChatFactory()
    settings = chat_distribution_for(chat)
    settings.mode = DistributionMode.AUTOMATIC
    settings.save()
    return chat


def managers(chat, count, cap, presence=Presence.ONLINE):
    return [
        OperatorFactory(chats=[chat], presence=presence, max_simultaneous_dialogs=cap)
        for _ in range(count)
    ]


def loads(chat) -> dict[int, int]:
    """Each manager's held + offered requests."""
    return {
        operator.pk: operator.held + operator.offered
        for operator in Operator.objects.filter(chats=chat).annotate(
            held=Count(
                "requests", filter=Q(requests__status=RequestStatus.ACCEPTED), distinct=True
            ),
            offered=Count(
                "offers", filter=Q(offers__status__in=Request.WAITING_STATUSES), distinct=True
            ),
        )
    }


def assert_within_caps(chat) -> None:
    caps = dict(Operator.objects.filter(chats=chat).values_list("pk", "max_simultaneous_dialogs"))
    over = {pk: load for pk, load in loads(chat).items() if load > caps[pk]}
    assert over == {}


def assert_hints_exact(chat) -> None:
    """Every manager's stored load hint is their count: the services adjust it in the
    transaction that changes a load, so concurrent changes add up."""
    hints = dict(Operator.objects.filter(chats=chat).values_list("pk", "load_hint"))
    assert hints == loads(chat)


def assert_owned_once(chat) -> None:
    # every accepted request was accepted once, and is held by one operator
    twice = (
        RequestEvent.objects.filter(request__chat=chat, to_status="accepted", from_status="pending")
        .values("request")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    assert list(twice) == []
    assert not Request.objects.filter(chat=chat, status="accepted", operator__isnull=True).exists()
    assert not Request.objects.filter(
        chat=chat, status="accepted", offered_to__isnull=False
    ).exists()


def waiting(chat, count) -> list[Request]:
    return [
        request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
        for _ in range(count)
    ]


def test_concurrent_opens_offer_no_manager_over_their_cap():
    for _round in range(ROUNDS):
        chat = automatic_chat()
        managers(chat, count=3, cap=2)
        dialogs = [DialogFactory(client__chat=chat) for _ in range(10)]

        def open_one(index: int, dialogs=dialogs) -> None:
            request_open(dialog=dialogs[index], reason="headset")

        assert run_in_threads(len(dialogs), open_one) == []
        assert_within_caps(chat)
        assert_hints_exact(chat)
        # whatever skip_locked passed over, the drain offers: every free slot is used
        requests_drain(chat_ids=[chat.pk])
        assert sum(loads(chat).values()) == 6
        assert Request.objects.filter(chat=chat, offered_to__isnull=False).count() == 6


def test_concurrent_drains_fill_the_free_slots_once():
    for _round in range(ROUNDS):
        chat = automatic_chat()
        team = managers(chat, count=4, cap=2, presence=Presence.OFFLINE)
        requests = waiting(chat, 12)
        Operator.objects.filter(pk__in=[m.pk for m in team]).update(presence=Presence.ONLINE)
        # when
        assert run_in_threads(6, lambda _index, chat=chat: requests_drain(chat_ids=[chat.pk])) == []
        # then
        assert_within_caps(chat)
        assert_hints_exact(chat)
        requests_drain(chat_ids=[chat.pk])
        offered = Request.objects.filter(pk__in=[r.pk for r in requests], offered_to__isnull=False)
        assert offered.count() == 8
        # one "offered to" event per offer: nobody offered one request twice
        offers = RequestEvent.objects.filter(request__chat=chat, note__startswith="offered to ")
        assert offers.count() == 8


def test_accepts_rejects_closes_and_drains_at_once_keep_caps_and_single_owners():
    for _round in range(ROUNDS):
        chat = automatic_chat()
        team = managers(chat, count=3, cap=2)
        first = waiting(chat, 6)  # offered: 2 each
        later = waiting(chat, 6)  # waiting, unoffered
        requests = first + later

        def act(index: int, chat=chat, team=team, requests=requests) -> None:
            kind = index % 4
            try:
                if kind == 0:  # each manager accepts what is offered to them
                    operator = team[index // 4 % len(team)]
                    for request in Request.objects.filter(offered_to=operator, chat=chat):
                        request_accept(request=request.pk, operator=operator)
                elif kind == 1:  # anyone grabs any waiting request
                    operator = team[index % len(team)]
                    for request in requests[::3]:
                        request_accept(request=request.pk, operator=operator)
                elif kind == 2:  # offers passed on, holders close
                    operator = team[index % len(team)]
                    for request in Request.objects.filter(chat=chat):
                        if request.offered_to_id == operator.pk:
                            request_reject(request=request.pk, operator=operator)
                        elif request.operator_id == operator.pk and request.status == "accepted":
                            request_close(
                                request=request.pk, reason=CloseReason.OPERATOR, actor=operator
                            )
                else:
                    requests_drain(chat_ids=[chat.pk])
            except HandoffError:
                pass  # refusals are expected; the invariants below are what matters

        assert run_in_threads(12, act) == []
        assert_within_caps(chat)
        assert_hints_exact(chat)
        assert_owned_once(chat)
        requests_drain(chat_ids=[chat.pk])
        assert_within_caps(chat)
        assert_hints_exact(chat)


def test_offer_expiries_and_accepts_at_once_leave_one_owner():
    for _round in range(ROUNDS):
        chat = automatic_chat()
        team = managers(chat, count=3, cap=3)
        requests = waiting(chat, 6)
        later = timezone.now() + timedelta(minutes=5)

        def act(index: int, team=team, requests=requests, later=later) -> None:
            if index < 2:
                deadlines_sweep(now=later)
                return
            operator = team[index % len(team)]
            for request in requests:
                with contextlib.suppress(HandoffError):
                    request_accept(request=request.pk, operator=operator)

        assert run_in_threads(5, act) == []
        assert_within_caps(chat)
        assert_hints_exact(chat)
        assert_owned_once(chat)


def test_transfers_between_two_operators_at_once_never_exceed_a_cap():
    for _round in range(ROUNDS):
        chat = automatic_chat()
        olga, ivan = managers(chat, count=2, cap=3)
        requests = waiting(chat, 4)
        for request in Request.objects.filter(pk__in=[r.pk for r in requests]):
            request_accept(request=request, operator=request.offered_to)

        def act(index: int, olga=olga, ivan=ivan) -> None:
            giver, taker = (olga, ivan) if index % 2 == 0 else (ivan, olga)
            for request in Request.objects.filter(operator=giver, status="accepted"):
                with contextlib.suppress(HandoffError):
                    request_transfer(
                        request=request.pk, operator=giver, to_operator=taker, reason="swap"
                    )

        assert run_in_threads(4, act) == []
        assert_within_caps(chat)
        assert_hints_exact(chat)
        assert Request.objects.filter(chat=chat, status="accepted").count() == 4
