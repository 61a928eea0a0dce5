"""Broadcasts run by a real Celery worker (in this process) against the fake Bot API:
started, fed and sent by the worker's tasks with a 429 and a blocked user on the way;
and a broadcast left as a killed worker leaves it, resumed by the sweep with nothing
sent twice and nothing lost."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from config.celery import TELEGRAM_SEND_QUEUE
from config.celery import app as celery_app
from telegram_bridge.models import (
    Broadcast,
    BroadcastRecipient,
    BroadcastStatus,
    OutboundMessage,
    RecipientStatus,
    SendStatus,
    TelegramBot,
)
from telegram_bridge.services import broadcasts
from telegram_bridge.services.broadcasts import broadcast_feed, broadcast_start
from telegram_bridge.services.outbox import outbox_deliver
from telegram_bridge.services.outbox.sending import INTERRUPTED
from telegram_bridge.services.sweep import telegram_sweep
from tests.servers import wait_until
from tests.telegram_bridge.broadcast_helpers import broadcast_make, telegram_client

pytestmark = pytest.mark.django_db(transaction=True)

USERS = list(range(2000, 2040))


@pytest.fixture
def worker(fake_api, settings):
    celery_app.conf.broker_url = settings.CELERY_BROKER_URL
    celery_app.conf.result_backend = settings.CELERY_RESULT_BACKEND
    with start_worker(
        celery_app,
        perform_ping_check=False,
        pool="threads",
        concurrency=2,
        queues=["celery", TELEGRAM_SEND_QUEUE],
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as started:
        yield started


def finished(broadcast: Broadcast) -> Broadcast | None:
    return Broadcast.objects.filter(
        pk=broadcast.pk, status__in=[BroadcastStatus.DONE, BroadcastStatus.CANCELLED]
    ).first()


def successes_by_chat(api) -> Counter:
    return Counter(call.params["chat_id"] for call in api.succeeded("sendMessage"))


def test_the_worker_sends_a_broadcast_to_everyone_once(telegram_world, worker, monkeypatch):
    world = telegram_world
    monkeypatch.setattr(broadcasts, "FEED_AHEAD", 10)  # several feeds, driven by the outbox
    for user in USERS:
        telegram_client(world.bot, user)
    world.api.fail_flood("sendMessage", retry_after=1, chat_id=USERS[3])
    world.api.fail_blocked("sendMessage", chat_id=USERS[7])
    broadcast = broadcast_make(world.bot)
    # when: started as the admin's Send does; the worker does the rest
    broadcast_start(broadcast=broadcast)
    done = wait_until(lambda: finished(broadcast), seconds=60)
    # then
    assert done.status == BroadcastStatus.DONE
    sent = successes_by_chat(world.api)
    assert set(sent) == set(USERS) - {USERS[7]}
    assert set(sent.values()) == {1}
    statuses = Counter(
        BroadcastRecipient.objects.filter(broadcast=broadcast).values_list("status", flat=True)
    )
    assert statuses == {RecipientStatus.SENT: len(USERS) - 1, RecipientStatus.BLOCKED: 1}


def test_a_broadcast_left_by_a_killed_worker_is_resumed_with_nothing_sent_twice(
    telegram_world, monkeypatch, settings
):
    world = telegram_world
    monkeypatch.setattr(broadcasts, "FEED_AHEAD", 10)
    for user in USERS:
        telegram_client(world.bot, user)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    # given what a worker killed mid-way leaves: ten recipients handed on, five of them
    # sent and recorded, one claimed for its Bot API call when the worker died (whether
    # the call reached Telegram is unknown), the bot's sender lease left behind
    broadcast_feed(broadcast_id=broadcast.pk)
    first_five = list(OutboundMessage.objects.filter(status=SendStatus.PENDING).order_by("id")[:5])
    OutboundMessage.objects.exclude(pk__in=[row.pk for row in first_five]).update(
        not_before=timezone.now() + timedelta(days=1)
    )
    outbox_deliver(bot_id=world.bot.pk)
    OutboundMessage.objects.update(not_before=None)
    interrupted = (
        BroadcastRecipient.objects.filter(status=RecipientStatus.QUEUED).order_by("id").first()
    )
    BroadcastRecipient.objects.filter(pk=interrupted.pk).update(status=RecipientStatus.SENDING)
    TelegramBot.objects.filter(pk=world.bot.pk).update(
        sending_until=timezone.now() - timedelta(seconds=1)  # its lease ran out
    )
    assert len(world.api.succeeded("sendMessage")) == 5
    # when a worker starts again and the periodic sweep runs
    celery_app.conf.broker_url = settings.CELERY_BROKER_URL
    celery_app.conf.result_backend = settings.CELERY_RESULT_BACKEND
    with start_worker(
        celery_app,
        perform_ping_check=False,
        pool="threads",
        concurrency=2,
        queues=["celery", TELEGRAM_SEND_QUEUE],
        loglevel="WARNING",
        shutdown_timeout=30,
    ):
        telegram_sweep()
        done = wait_until(lambda: finished(broadcast), seconds=60)
    # then: everyone but the interrupted one got it exactly once; that one is not sent
    # again and says why
    assert done.status == BroadcastStatus.DONE
    sent = successes_by_chat(world.api)
    assert set(sent) == set(USERS) - {interrupted.telegram_chat_id}
    assert set(sent.values()) == {1}
    interrupted.refresh_from_db()
    assert (interrupted.status, interrupted.error) == (RecipientStatus.FAILED, INTERRUPTED)


def test_rows_left_behind_a_dead_senders_lease_go_out_when_it_ends(telegram_world, worker):
    world = telegram_world
    # given a sender that died holding the bot's lease for 2 s more
    TelegramBot.objects.filter(pk=world.bot.pk).update(
        sending_until=timezone.now() + timedelta(seconds=2)
    )
    telegram_client(world.bot, USERS[0])
    broadcast = broadcast_make(world.bot)
    # when a broadcast starts (its row's delivery finds the lease held)
    broadcast_start(broadcast=broadcast)
    # then it is sent once the lease has ended, with no sweep to help
    done = wait_until(lambda: finished(broadcast), seconds=60)
    assert done.status == BroadcastStatus.DONE
    assert successes_by_chat(world.api) == {USERS[0]: 1}
