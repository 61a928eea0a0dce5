"""Broadcasts under concurrency (real row locks on PostgreSQL; SQLite's IMMEDIATE
transactions serialise the same code): feeds running at once hand each recipient to the
outbox once; a cancel racing the outbox's claims leaves every recipient either claimed
(its call may go out) or skipped, never both."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection

from telegram_bridge.models import BroadcastRecipient, OutboundMessage, RecipientStatus
from telegram_bridge.services import broadcasts
from telegram_bridge.services.broadcasts import broadcast_cancel, broadcast_feed, broadcast_start
from telegram_bridge.services.outbox import sending
from tests.telegram_bridge.broadcast_helpers import broadcast_make, telegram_client
from tests.threads import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 10 if connection.vendor == "postgresql" else 3
USERS = range(3000, 3030)


def test_feeds_at_once_hand_each_recipient_to_the_outbox_once(telegram_world, monkeypatch):
    bot = telegram_world.bot
    monkeypatch.setattr(broadcasts, "FEED_AHEAD", 12)
    for user in USERS:
        telegram_client(bot, user)
    for _round in range(ROUNDS):
        broadcast = broadcast_make(bot)
        broadcast_start(broadcast=broadcast)
        # when four workers feed it at the same instant
        errors = run_in_threads(4, lambda _index, pk=broadcast.pk: broadcast_feed(broadcast_id=pk))
        # then the window holds, and no recipient has two outbox rows
        assert errors == []
        recipients = BroadcastRecipient.objects.filter(broadcast=broadcast)
        queued = recipients.filter(status=RecipientStatus.QUEUED)
        assert queued.count() == 12
        assert queued.filter(outbound__isnull=True).count() == 0
        rows = OutboundMessage.objects.filter(broadcast_recipient__broadcast=broadcast)
        assert rows.count() == 12
        assert set(Counter(rows.values_list("telegram_chat_id", flat=True)).values()) == {1}
        # the bot's window is shared by its broadcasts: free it for the next round
        broadcast_cancel(broadcast=broadcast)


def test_a_cancel_racing_the_outbox_claims_leaves_each_recipient_claimed_or_skipped(
    telegram_world, monkeypatch
):
    bot = telegram_world.bot
    monkeypatch.setattr(broadcasts, "FEED_AHEAD", len(USERS))
    for user in USERS:
        telegram_client(bot, user)
    for _round in range(ROUNDS):
        broadcast = broadcast_make(bot)
        broadcast_start(broadcast=broadcast)
        broadcast_feed(broadcast_id=broadcast.pk)
        row_ids = list(
            OutboundMessage.objects.filter(broadcast_recipient__broadcast=broadcast).values_list(
                "pk", flat=True
            )
        )
        claims: dict[int, str | None] = {}

        def act(index: int, row_ids=row_ids, claims=claims, broadcast=broadcast) -> None:
            if index == 0:
                broadcast_cancel(broadcast=broadcast)
                return
            for row_id in row_ids[index - 1 :: 3]:
                claims[row_id] = sending._broadcast_claim(row_id)

        # when the cancel and three senders' claims run at once
        errors = run_in_threads(4, act)
        # then a claim that won found the recipient queued and left it being sent; every
        # other recipient is skipped
        assert errors == []
        statuses = dict(
            BroadcastRecipient.objects.filter(broadcast=broadcast).values_list(
                "outbound_id", "status"
            )
        )
        for row_id, found in claims.items():
            if found == RecipientStatus.QUEUED:
                assert statuses[row_id] == RecipientStatus.SENDING
            else:
                assert (found, statuses[row_id]) == (
                    RecipientStatus.SKIPPED,
                    RecipientStatus.SKIPPED,
                )
        assert set(statuses.values()) <= {RecipientStatus.SENDING, RecipientStatus.SKIPPED}
