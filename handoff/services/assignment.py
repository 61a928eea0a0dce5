"""Who gets a request, and what the client is told while they wait.

Broadcast (the default): every eligible manager is alerted whatever their presence,
the first accept wins (request_accept). Automatic: the request is offered to one
manager, the least loaded ONLINE eligible one under their cap (load = the requests
they hold + the requests offered to them now; ties to the longest idle); only they
may accept it until offer_deadline. An offer not taken in time, or passed on, goes
to the next one (who passed are kept in rejected_by); nobody free: the request
waits, un-offered, and is offered when a manager comes online or frees a slot
(requests_drain, a task after commit, and the sweep as a backstop). The accept
timeout and the chat's fallback apply as in broadcast.

Eligible: serves the chat, and the dialog's channel (no OperatorChannel row for the
chat, or one for the messenger), and is in the channel's routing rule's managers
when it names some.

Locks, as everywhere: the dialog, the request, then the operator. The candidate's
row is taken with skip_locked (one being offered or accepting something right now
is passed over, not waited for) and their load is counted again under the lock: two
offers at once never put anyone over their cap, and a request (locked) is offered
to one manager at a time.

The candidates are ordered by their stored load (Operator.load_hint, which every
service that changes a load adjusts in the same transaction), not by counting every
manager's requests per decision; the count under the lock is what the cap is judged
by, and the sweep repairs a hint that drifted (operator_load_hints_repair: a request
deleted in Admin, a chat deleted)."""

from __future__ import annotations

import enum
import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import override

from chats.models import Dialog
from distributor.enums import DistributionMode, Presence
from distributor.models import ChatDistribution, Operator
from distributor.selectors import (
    Route,
    managers_eligible,
    online_filter,
    route_fresh,
)
from distributor.services import chat_distribution_for, presence_effective
from distributor.services.presence import operator_load_hint_add
from handoff.models import Request, RequestEvent
from handoff.services.errors import IllegalTransition
from handoff.services.lifecycle import announce, offer_clear, request_lock
from handoff.services.loads import offer_under_cap
from handoff.working_hours import WEEKDAY_ABBREVIATIONS, Window

logger = logging.getLogger(__name__)
DRAIN_BATCH = 200
# candidates tried (each with a skip_locked lock) before an offer is left to the drain
CANDIDATES_TRIED = 5


def hours_text(window: Window, *, language: str) -> str:
    """What {hours} stands for in the outside-hours auto-reply: 'Mon 09:00–18:00'."""
    with override(language):
        day = str(WEEKDAY_ABBREVIATIONS[window.starts_at.weekday()])
    return f"{day} {window.starts_at:%H:%M}–{window.ends_at:%H:%M}"


# --- the auto-reply ---------------------------------------------------------------


class Availability(enum.Enum):
    """Of the managers eligible for a request: none online, all online ones at their
    cap, or someone free."""

    OFFLINE = "reply_offline"
    ALL_BUSY = "reply_all_busy"
    FREE = "reply_received"


def availability(*, chat_id: int, messenger: str, route: Route, now: datetime) -> Availability:
    """One query: how many eligible managers are online, and how many of those are
    under their cap (by their load hint)."""
    online = managers_eligible(
        chat_id=chat_id, messenger=messenger, manager_ids=route.manager_ids
    ).filter(online_filter(now=now))
    found = online.aggregate(
        online=Count("pk"),
        free=Count("pk", filter=Q(load_hint__lt=F("max_simultaneous_dialogs"))),
    )
    if not found["online"]:
        return Availability.OFFLINE
    if not found["free"]:
        return Availability.ALL_BUSY
    return Availability.FREE


def auto_reply(distribution: ChatDistribution, found: Availability) -> str:
    return getattr(distribution, found.value)


# --- offering ----------------------------------------------------------------------


class Offer(enum.Enum):
    OFFERED = "offered"
    NOBODY_FREE = "nobody_free"  # no eligible online manager under their cap
    NOT_NOW = "not_now"  # the free ones passed on it, or are busy taking something now


def _best_free_locked(
    request: Request, route: Route, now: datetime, *, tried: list[int], passed_possible: bool
) -> Operator | None:
    """The best free eligible online manager (least loaded, longest idle, by their
    load hint) who has not passed on this request and is not in `tried`, locked: one
    statement (FOR NO KEY UPDATE SKIP LOCKED: one being offered or accepting something
    right now is passed over, not waited for; it conflicts with another offer or accept
    for them, not with rows that merely point at them). None: nobody free, or every
    free one is busy this instant. The caller counts the load again under the lock."""
    query = (
        managers_eligible(
            chat_id=request.chat_id,
            messenger=request.dialog.messenger,
            manager_ids=route.manager_ids,
        )
        .filter(online_filter(now=now))
        .filter(load_hint__lt=F("max_simultaneous_dialogs"))
    )
    if passed_possible:
        query = query.exclude(
            Exists(
                Request.rejected_by.through.objects.filter(
                    request_id=request.pk, operator_id=OuterRef("pk")
                )
            )
        )
    if tried:
        query = query.exclude(pk__in=tried)
    return (
        query.select_for_update(skip_locked=True, no_key=True, of=("self",))
        .order_by("load_hint", "idle_since", "pk")
        .first()
    )


def offer_next(
    dialog: Dialog,
    request: Request,
    *,
    distribution: ChatDistribution,
    route: Route | None = None,
    now: datetime,
    passed_possible: bool = True,
) -> Offer:
    """Offer the locked, waiting, un-offered request to the best free manager who has
    not passed on it. Inside the caller's transaction, after the dialog and the request
    were locked. Does not announce (the caller does, once). `passed_possible` False
    (a request just opened): nobody has passed on it, so finding no candidate is
    answered NOBODY_FREE without asking again (request_distribute asks availability()
    for the auto-reply anyway, which tells a free manager busy this instant)."""
    if route is None:
        route = route_fresh(chat_id=request.chat_id, messenger=dialog.messenger)
    tried: list[int] = []
    while len(tried) < CANDIDATES_TRIED:
        operator = _best_free_locked(
            request, route, now, tried=tried, passed_possible=passed_possible
        )
        if operator is None:
            break
        deadline = now + timedelta(seconds=distribution.offer_timeout_seconds)
        if not offer_under_cap(request, operator, deadline):
            tried.append(operator.pk)
            continue
        request.offered_to = operator
        request.offer_deadline = deadline
        operator_load_hint_add(operator_id=operator.pk, delta=1)
        RequestEvent.objects.create(
            request=request,
            from_status=request.status,
            to_status=request.status,
            note=f"offered to {operator.display_name}"[:300],
        )
        return Offer.OFFERED
    if tried:
        return Offer.NOT_NOW
    if not passed_possible:
        return Offer.NOBODY_FREE
    found = availability(chat_id=request.chat_id, messenger=dialog.messenger, route=route, now=now)
    return Offer.NOT_NOW if found == Availability.FREE else Offer.NOBODY_FREE


def request_distribute(
    dialog: Dialog, request: Request, *, now: datetime
) -> tuple[ChatDistribution, Availability]:
    """A request just opened (locked by the caller): in automatic mode offer it; return
    the chat's distribution settings and what the client is to be told."""
    distribution = chat_distribution_for(dialog.chat)
    route = route_fresh(chat_id=request.chat_id, messenger=dialog.messenger)
    if distribution.mode == DistributionMode.AUTOMATIC:
        offered = offer_next(
            dialog, request, distribution=distribution, route=route, now=now, passed_possible=False
        )
        # offered, or someone is free but busy taking another one this instant
        if offered != Offer.NOBODY_FREE:
            return distribution, Availability.FREE
    found = availability(chat_id=request.chat_id, messenger=dialog.messenger, route=route, now=now)
    return distribution, found


def _withdraw(request: Request, note: str, *, actor=None, passed: bool = True) -> int | None:
    """Clear the locked request's offer; its manager, when they `passed` on it (rejected
    it, let it time out), is kept in rejected_by. Returns their id. The request carries
    it as `offer_withdrawn_from` for the surfaces that announce() tells (they drop
    it)."""
    withdrawn = request.offered_to_id
    if withdrawn is not None:
        operator_load_hint_add(operator_id=withdrawn, delta=-1)
        if passed:
            request.rejected_by.add(withdrawn)
    RequestEvent.objects.create(
        request=request,
        from_status=request.status,
        to_status=request.status,
        actor=actor,
        note=note[:300],
    )
    offer_clear(request)
    request.save(update_fields=["offered_to", "offer_deadline"])
    request.offer_withdrawn_from = withdrawn
    return withdrawn


def _offer_if_automatic(dialog: Dialog, request: Request, *, now: datetime) -> Offer | None:
    """Offer the locked request to the next manager, unless the chat was switched to
    broadcast since (then everyone eligible sees it again)."""
    distribution = chat_distribution_for(dialog.chat)
    if distribution.mode != DistributionMode.AUTOMATIC:
        return None
    return offer_next(dialog, request, distribution=distribution, now=now)


def request_offer_expire(*, request: Request, now: datetime | None = None) -> Request:
    """The manager a request was offered to did not accept it in time: it is offered to
    the next one (or waits for the drain), and the first is told (an event, and
    announce() with `offer_withdrawn_from`). Does nothing unless the offer is due, so a
    second sweep is a no-op."""
    now = now or timezone.now()
    with transaction.atomic():
        dialog, locked = request_lock(request)
        if (
            locked.status not in Request.WAITING_STATUSES
            or locked.offer_deadline is None
            or locked.offer_deadline > now
        ):
            return locked
        name = locked.offered_to.display_name if locked.offered_to_id else "a removed manager"
        _withdraw(locked, f"offer to {name} timed out")
        _offer_if_automatic(dialog, locked, now=now)
        announce(locked)
    return locked


def request_reject(
    *,
    request: Request | int,
    operator: Operator,
    dialog_id: int | None = None,
    visible_only: bool = False,
    now: datetime | None = None,
) -> Request:
    """The operator passes on this request: it stays open for the others, and is never
    offered to them again (rejected_by). When it was offered to them (automatic
    distribution), it is offered to the next one at once and every surface is told.
    A request no longer waiting raises IllegalTransition and changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        dialog, locked = request_lock(
            request, dialog_id=dialog_id, visible_to=operator if visible_only else None
        )
        if locked.status not in Request.WAITING_STATUSES:
            raise IllegalTransition(locked.status, "rejected")
        if locked.offered_to_id == operator.pk:
            _withdraw(locked, f"rejected by {operator.display_name}", actor=operator.user)
            _offer_if_automatic(dialog, locked, now=now)
            announce(locked)
            return locked
        locked.rejected_by.add(operator)
        RequestEvent.objects.create(
            request=locked,
            from_status=locked.status,
            to_status=locked.status,
            actor=operator.user,
            note=f"rejected by {operator.display_name}",
        )
    return locked


# --- the drain ---------------------------------------------------------------------


def requests_drain(
    *, chat_ids: list[int] | None, operator_id: int | None = None, now: datetime | None = None
) -> int:
    """Offer the waiting requests of these chats that are offered to nobody, or to a
    manager no longer online (that offer is withdrawn first, without counting as
    passing on it), oldest first, in the chats that distribute automatically. None:
    of every chat; with `operator_id` and no chats: of the chats that operator serves.
    Returns how many were offered.

    Idempotent and safe to run concurrently: each request is claimed with its dialog
    (skip_locked) and checked again under the lock. Once nobody is free for a chat and
    channel, its other un-offered requests are not tried in this run."""
    now = now or timezone.now()
    automatic = ChatDistribution.objects.filter(mode=DistributionMode.AUTOMATIC)
    if chat_ids is not None:
        automatic = automatic.filter(chat_id__in=chat_ids)
    elif operator_id is not None:
        automatic = automatic.filter(chat__operators=operator_id)
    waiting = list(
        Request.objects.filter(
            Q(offered_to__isnull=True) | _offered_to_someone_not_online(now),
            chat_id__in=Subquery(automatic.values("chat_id")),
            status__in=Request.WAITING_STATUSES,
        )
        .order_by("created_at", "pk")
        .values_list("pk", "dialog_id", "chat_id", "dialog__messenger", "offered_to_id")[
            :DRAIN_BATCH
        ]
    )
    offered = 0
    exhausted: set[tuple[int, str]] = set()
    for request_id, dialog_id, chat_id, messenger, offered_to_id in waiting:
        if offered_to_id is None and (chat_id, messenger) in exhausted:
            continue
        try:
            outcome = _drain_one(request_id, dialog_id, now)
        except Exception:  # one bad row must not stop the drain
            logger.exception("offering request %s failed", request_id)
            continue
        if outcome == Offer.OFFERED:
            offered += 1
        elif outcome == Offer.NOBODY_FREE:
            exhausted.add((chat_id, messenger))
    return offered


def _offered_to_someone_not_online(now: datetime) -> Q:
    return Q(offered_to__isnull=False) & (
        ~Q(offered_to__presence=Presence.ONLINE) | Q(offered_to__presence_expires_at__lte=now)
    )


def _drain_one(request_id: int, dialog_id: int, now: datetime) -> Offer | None:
    with transaction.atomic():
        claimed = Dialog.objects.select_for_update(skip_locked=True).filter(pk=dialog_id).exists()
        if not claimed:
            return None
        dialog, locked = request_lock(request_id, dialog_id=dialog_id)
        if locked.status not in Request.WAITING_STATUSES:
            return None
        distribution = chat_distribution_for(dialog.chat)
        if distribution.mode != DistributionMode.AUTOMATIC:
            return None
        if locked.offered_to_id is not None:
            offered_to = locked.offered_to
            if presence_effective(offered_to, now=now) == Presence.ONLINE:
                return None
            # not a pass: back online, they may be offered it again
            _withdraw(
                locked, f"offer to {offered_to.display_name} withdrawn: not online", passed=False
            )
            outcome = offer_next(dialog, locked, distribution=distribution, now=now)
            announce(locked)
            return outcome
        outcome = offer_next(dialog, locked, distribution=distribution, now=now)
        if outcome == Offer.OFFERED:
            announce(locked)
        return outcome
