"""Exactly one owner, and deadlines fired by a real Celery worker. On PostgreSQL these
exercise real row locks; on SQLite, IMMEDIATE transactions serialise the same code."""

from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection
from django.utils import timezone

from config.celery import app as celery_app
from handoff.enums import Fallback, RequestStatus
from handoff.models import HandoffSettings, Request, RequestEvent
from handoff.services import HandoffError, deadlines_sweep, request_accept, request_open
from handoff.tasks import sweep_deadlines
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.servers import wait_until
from tests.threads import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

RACERS = 20
ROUNDS = 200 if connection.vendor == "postgresql" else 20


def test_racing_accepts_leave_exactly_one_owner_every_time():
    chat = ChatFactory()
    # a winner keeps what it won: room for every round, the cap has its own test
    operators = [
        OperatorFactory(chats=[chat], max_simultaneous_dialogs=ROUNDS) for _ in range(RACERS)
    ]
    for _round in range(ROUNDS):
        request = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
        winners: list[int] = []

        def accept(index: int, request=request, winners=winners) -> None:
            try:
                request_accept(
                    request=Request.objects.get(pk=request.pk), operator=operators[index]
                )
                winners.append(index)
            except HandoffError:
                pass

        assert run_in_threads(RACERS, accept) == []
        request.refresh_from_db()
        assert len(winners) == 1
        assert request.status == RequestStatus.ACCEPTED
        assert request.operator_id == operators[winners[0]].pk
        assert RequestEvent.objects.filter(request=request, to_status="accepted").count() == 1


def test_two_sweeps_at_once_act_once():
    chat = ChatFactory()
    HandoffSettings.objects.create(chat=chat, fallback=Fallback.MESSAGE)
    requests = [
        request_open(dialog=DialogFactory(client__chat=chat), reason="headset") for _ in range(10)
    ]
    later = timezone.now() + timedelta(minutes=10)
    acted: list[int] = []
    assert run_in_threads(4, lambda _index: acted.append(deadlines_sweep(now=later))) == []
    assert sum(acted) == len(requests)
    assert RequestEvent.objects.filter(to_status="expired").count() == len(requests)


def test_a_real_celery_worker_fires_a_due_deadline(settings):
    # given: a request whose accept deadline has passed
    chat = ChatFactory()
    HandoffSettings.objects.create(chat=chat, fallback=Fallback.MESSAGE)
    request = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
    Request.objects.filter(pk=request.pk).update(
        accept_deadline=timezone.now() - timedelta(seconds=1)
    )
    celery_app.conf.broker_url = settings.CELERY_BROKER_URL
    celery_app.conf.result_backend = settings.CELERY_RESULT_BACKEND
    # when: the beat's task goes through Redis to a worker
    with start_worker(celery_app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        sweep_deadlines.delay()
        # then
        closed = wait_until(
            lambda: Request.objects.filter(pk=request.pk, status="closed").first(), seconds=30
        )
    assert closed.close_reason == "unavailable"
