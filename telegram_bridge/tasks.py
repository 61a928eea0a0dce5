"""Celery tasks: thin, named, idempotent; each calls one service."""

from __future__ import annotations

from celery import shared_task

from telegram_bridge.services.broadcasts import broadcast_feed
from telegram_bridge.services.outbox import outbox_deliver
from telegram_bridge.services.proxy import FORWARD_TASK, parallel_updates_forward
from telegram_bridge.services.scheduling import BROADCAST_FEED_TASK, task_started
from telegram_bridge.services.sweep import telegram_sweep
from telegram_bridge.services.updates import updates_process


@shared_task(name="telegram_bridge.process_updates", ignore_result=True)
def process_updates(bot_id: int, telegram_chat_id: int | None) -> int:
    return updates_process(bot_id=bot_id, telegram_chat_id=telegram_chat_id)


@shared_task(name="telegram_bridge.deliver_outbox", ignore_result=True)
def deliver_outbox(bot_id: int) -> int:
    return outbox_deliver(bot_id=bot_id).sent


@shared_task(name="telegram_bridge.sweep", ignore_result=True)
def sweep() -> int:
    return telegram_sweep()


@shared_task(name=BROADCAST_FEED_TASK, ignore_result=True)
def feed_broadcast(broadcast_id: int) -> int:
    task_started(BROADCAST_FEED_TASK, [broadcast_id])
    return broadcast_feed(broadcast_id=broadcast_id)


@shared_task(name=FORWARD_TASK, ignore_result=True)
def forward_updates(bot_id: int) -> int:
    """Send the bot's stored updates on to the parallel bot's webhook (the "webhooks"
    queue: a slow or dead parallel bot delays nothing else)."""
    return parallel_updates_forward(bot_id=bot_id)
