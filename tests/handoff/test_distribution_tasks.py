"""The drain runs as a Celery task, sent by name after commit: a real worker (one,
in-process) offers the waiting requests when a manager comes online or frees a slot."""

import pytest
from celery.contrib.testing.worker import start_worker

from config.celery import app as celery_app
from distributor.enums import DistributionMode, Presence
from distributor.services import chat_distribution_for, operator_presence_set
from distributor.services.presence import REQUESTS_DRAIN_TASK
from handoff.enums import CloseReason
from handoff.models import Request
from handoff.services import request_accept, request_close, request_open
from handoff.tasks import drain_requests
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.servers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(settings):
    celery_app.conf.broker_url = settings.CELERY_BROKER_URL
    celery_app.conf.result_backend = settings.CELERY_RESULT_BACKEND
    with start_worker(celery_app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        yield


@pytest.fixture
def chat():
    chat = ChatFactory()
    settings = chat_distribution_for(chat)
    settings.mode = DistributionMode.AUTOMATIC
    settings.save()
    return chat


def ask(chat) -> Request:
    return request_open(dialog=DialogFactory(client__chat=chat), reason="headset")


def offered_to(request, operator):
    return Request.objects.filter(pk=request.pk, offered_to=operator).first()


def test_the_drain_task_has_the_name_the_presence_sends():
    assert drain_requests.name == REQUESTS_DRAIN_TASK == "handoff.requests_drain"


def test_the_drain_task_without_chats_or_operator_does_nothing(chat):
    OperatorFactory(chats=[chat], presence=Presence.ONLINE)
    request = ask(chat)  # offered at once
    Request.objects.filter(pk=request.pk).update(offered_to=None, offer_deadline=None)
    assert drain_requests() == 0
    assert Request.objects.get(pk=request.pk).offered_to is None


def test_a_manager_coming_online_is_offered_the_waiting_request_by_the_worker(chat, worker):
    olga = OperatorFactory(chats=[chat], presence=Presence.OFFLINE)
    request = ask(chat)
    assert Request.objects.get(pk=request.pk).offered_to is None
    # when
    operator_presence_set(operator=olga, presence="online")
    # then
    assert wait_until(lambda: offered_to(request, olga), seconds=30)


def test_a_slot_freed_by_a_close_is_offered_by_the_worker(chat, worker):
    olga = OperatorFactory(chats=[chat], presence=Presence.ONLINE, max_simultaneous_dialogs=1)
    held = ask(chat)
    request_accept(request=held, operator=olga)
    request = ask(chat)
    assert Request.objects.get(pk=request.pk).offered_to is None
    # when
    request_close(request=held, reason=CloseReason.OPERATOR, actor=olga)
    # then
    assert wait_until(lambda: offered_to(request, olga), seconds=30)
