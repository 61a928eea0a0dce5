"""Asking a Celery worker to process a chat's updates or send a bot's rows, at most
once per pending task. Every stored update and every outbound row asks; without this
a burst queued thousands of tasks that found nothing to do.

A marker in the cache says "a task is queued"; the task removes it when it starts, so
anything committed after that start asks again and nothing is left waiting. Services
schedule by task name: they never import tasks."""

from __future__ import annotations

import logging
import math

from celery import current_app
from django.core.cache import cache

logger = logging.getLogger(__name__)

MARKER_SECONDS = 60  # a lost task (broker restart) is covered by the periodic sweep


def _marker(task: str, args: list) -> str:
    return "telegram:queued:" + task + ":" + ":".join(str(arg) for arg in args)


def task_schedule(task: str, args: list, *, countdown: float = 0) -> None:
    try:
        if not countdown and not cache.add(_marker(task, args), 1, MARKER_SECONDS):
            return  # one is queued already and has not started yet
        current_app.send_task(task, args=args, countdown=countdown or None, ignore_result=True)
    except Exception:  # the broker or cache is away: the periodic sweep schedules later
        logger.warning("could not schedule %s%s", task, args, exc_info=True)


def task_schedule_later(task: str, args: list, *, countdown: float) -> None:
    """Run `task` in `countdown` s, once: while such a later run is pending, asking again
    does nothing (so a task that keeps asking while something waits makes no chain of
    copies)."""
    try:
        if not cache.add(_marker(task, args) + ":later", 1, max(1, math.ceil(countdown))):
            return
        current_app.send_task(task, args=args, countdown=countdown, ignore_result=True)
    except Exception:  # the broker or cache is away: the periodic sweep schedules later
        logger.warning("could not schedule %s%s later", task, args, exc_info=True)


def task_started(task: str, args: list) -> None:
    """Called first thing by the task: from now on, new work schedules a new task."""
    try:
        cache.delete(_marker(task, args))
    except Exception:
        logger.warning("could not clear the schedule marker of %s%s", task, args, exc_info=True)


BROADCAST_FEED_TASK = "telegram_bridge.feed_broadcast"


def broadcast_feed_schedule(*, broadcast_id: int) -> None:
    """Ask a worker to hand the broadcast's next recipients to the outbox (once while one
    is queued); the outbox asks again as it records broadcast results."""
    task_schedule(BROADCAST_FEED_TASK, [broadcast_id])
