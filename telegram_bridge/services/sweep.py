"""The periodic safety net: updates nobody processed (a worker died, the broker was
away), outbound rows that are due, updates waiting for the parallel bot's webhook and
broadcasts still sending are scheduled again."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from telegram_bridge.models import OutboundMessage, SendStatus
from telegram_bridge.services.broadcasts import broadcasts_unfinished
from telegram_bridge.services.outbox import delivery_schedule
from telegram_bridge.services.proxy import forwarding_due_bots, forwarding_schedule
from telegram_bridge.services.scheduling import broadcast_feed_schedule
from telegram_bridge.services.updates import processing_schedule, stale_updates


def telegram_sweep() -> int:
    now = timezone.now()
    scheduled = 0
    for bot_id, chat_id in stale_updates():
        processing_schedule(bot_id=bot_id, telegram_chat_id=chat_id)
        scheduled += 1
    bots = (
        OutboundMessage.objects.filter(status=SendStatus.PENDING)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .values_list("bot_id", flat=True)
        .distinct()
    )
    for bot_id in bots:
        delivery_schedule(bot_id=bot_id)
        scheduled += 1
    for bot_id in forwarding_due_bots():
        forwarding_schedule(bot_id=bot_id)
        scheduled += 1
    for broadcast_id in broadcasts_unfinished():
        broadcast_feed_schedule(broadcast_id=broadcast_id)
        scheduled += 1
    return scheduled
