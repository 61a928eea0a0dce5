"""The deadline sweep: deadlines are columns (an automatic offer's too); a beat task
calls this every few seconds, and it also expires stale presences, repairs drifted
load hints and drains the waiting requests of automatic chats. Rows are claimed with
select_for_update(skip_locked=True), and every service re-checks its deadline under
the lock, so two sweeps at once, or one run twice, act once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from chats.models import Dialog
from distributor.services import presences_expire
from handoff.models import Request
from handoff.services.assignment import request_offer_expire, requests_drain
from handoff.services.deadlines import (
    request_ask_feedback,
    request_close_on_operator_idle,
    request_close_on_reply_timeout,
    request_expire,
    request_queue_notify,
)
from handoff.services.loads import operator_load_hints_repair

logger = logging.getLogger(__name__)
BATCH = 200

DEADLINES: list[tuple[str, Callable[..., Request]]] = [
    ("accept_deadline", request_expire),
    ("queue_deadline", request_expire),
    ("next_queue_notice_at", request_queue_notify),
    ("reply_deadline", request_close_on_reply_timeout),
    ("idle_deadline", request_close_on_operator_idle),
    ("feedback_due_at", request_ask_feedback),
    ("offer_deadline", request_offer_expire),
]


def deadlines_sweep(*, now: datetime | None = None) -> int:
    """Act on every due deadline; return how many requests were handed to a service."""
    now = now or timezone.now()
    acted = 0
    # first, so that offers due now go past managers whose presence ran out
    try:
        presences_expire(now=now)
    except Exception:
        logger.exception("presence expiry failed")
    for field, service in DEADLINES:
        due = list(
            Request.objects.filter(**{f"{field}__lte": now})
            .order_by(field)
            .values_list("pk", "dialog_id")[:BATCH]
        )
        for request_id, dialog_id in due:
            try:
                with transaction.atomic():
                    # claim in the services' lock order: dialog first, skipping rows
                    # another sweep (or an accept) holds right now
                    claimed = (
                        Dialog.objects.select_for_update(skip_locked=True)
                        .filter(pk=dialog_id)
                        .exists()
                    )
                    # still due? another sweep may have acted since the list was read
                    request = Request.objects.filter(
                        pk=request_id, **{f"{field}__lte": now}
                    ).first()
                    if not claimed or request is None:
                        continue
                    service(request=request, now=now)
                    acted += 1
            except Exception:  # one bad row must not stop the sweep
                logger.exception("deadline %s of request %s failed", field, request_id)
    # a load hint that drifted (a request deleted in Admin) would hide a free manager
    # from the drain below
    try:
        operator_load_hints_repair()
    except Exception:
        logger.exception("repairing load hints failed")
    # waiting requests a drain task missed (a broker away, a manager's cap raised in
    # Admin) are offered: the backstop
    try:
        acted += requests_drain(chat_ids=None, now=now)
    except Exception:
        logger.exception("the drain failed")
    return acted
