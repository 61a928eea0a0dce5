"""The outbox records a round's outcomes while the round runs and renews its sender
lease meanwhile, so a worker killed mid-round resends (or, for a broadcast, reports as
interrupted) only what was in flight, and another sender takes over soon after; a
broadcast recipient is claimed only when its turn to be sent has come."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.utils import timezone

from telegram_bridge.models import (
    BroadcastRecipient,
    OutboundMessage,
    RecipientStatus,
    SendPurpose,
    SendStatus,
    TelegramBot,
)
from telegram_bridge.services.broadcasts import broadcast_feed, broadcast_start
from telegram_bridge.services.outbox import outbound_enqueue, outbox_deliver, sending
from tests.servers import wait_until
from tests.telegram_bridge.broadcast_helpers import broadcast_make, telegram_client

pytestmark = pytest.mark.django_db(transaction=True)

ANN = 821


def deliver_in_background(bot_id: int) -> threading.Thread:
    def run() -> None:
        try:
            outbox_deliver(bot_id=bot_id)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_rounds_sends_are_recorded_before_the_round_ends(telegram_world, settings):
    world = telegram_world
    settings.TELEGRAM_PRIVATE_CHAT_INTERVAL = 1  # three rows to one chat: a 2 s round
    rows = [
        outbound_enqueue(
            bot=world.bot,
            telegram_chat_id=ANN,
            method="sendMessage",
            payload={"text": text},
            purpose=SendPurpose.CLIENT,
        )
        for text in ("one", "two", "three")
    ]
    # when the round runs
    thread = deliver_in_background(world.bot.pk)
    # then the first row is recorded as sent while the last one still waits
    statuses = wait_until(
        lambda: (
            dict(OutboundMessage.objects.values_list("pk", "status"))
            if OutboundMessage.objects.filter(pk=rows[0].pk, status=SendStatus.SENT).exists()
            else None
        ),
        seconds=30,
    )
    assert statuses[rows[-1].pk] == SendStatus.PENDING
    thread.join(60)
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {SendStatus.SENT}


def test_the_lease_is_renewed_during_a_round(telegram_world, settings, monkeypatch):
    world = telegram_world
    settings.TELEGRAM_PRIVATE_CHAT_INTERVAL = 1
    monkeypatch.setattr(sending, "LEASE_RENEW", 0.3)
    for text in ("one", "two", "three"):
        outbound_enqueue(
            bot=world.bot,
            telegram_chat_id=ANN,
            method="sendMessage",
            payload={"text": text},
            purpose=SendPurpose.CLIENT,
        )
    leases: set = set()

    def lease_moved() -> bool:
        until = TelegramBot.objects.values_list("sending_until", flat=True).get(pk=world.bot.pk)
        if until is not None:
            leases.add(until)
        return len(leases) >= 2

    # when a round of about 2 s runs
    thread = deliver_in_background(world.bot.pk)
    # then the lease moves on while the first round is still being sent
    assert wait_until(lease_moved, seconds=30)
    assert OutboundMessage.objects.filter(status=SendStatus.PENDING).exists()
    thread.join(60)
    assert TelegramBot.objects.get(pk=world.bot.pk).sending_until <= timezone.now()


def test_a_broadcast_recipient_is_claimed_only_when_its_turn_has_come(telegram_world, settings):
    world = telegram_world
    settings.TELEGRAM_MAX_MESSAGES_PER_SECOND = 1  # three chats: sends 1 s apart
    for user in (ANN, ANN + 1, ANN + 2):
        telegram_client(world.bot, user)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    broadcast_feed(broadcast_id=broadcast.pk)
    # when the round runs
    thread = deliver_in_background(world.bot.pk)
    # then while the first is sent, the last still waits unclaimed: a worker killed now
    # would leave it to be sent, not reported as interrupted
    statuses = wait_until(
        lambda: (
            dict(BroadcastRecipient.objects.values_list("telegram_chat_id", "status"))
            if BroadcastRecipient.objects.filter(
                telegram_chat_id=ANN, status=RecipientStatus.SENT
            ).exists()
            else None
        ),
        seconds=30,
    )
    assert statuses[ANN + 2] == RecipientStatus.QUEUED
    thread.join(60)
    assert set(BroadcastRecipient.objects.values_list("status", flat=True)) == {
        RecipientStatus.SENT
    }
