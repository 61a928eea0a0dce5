"""Handoff reads, scoped to the acting operator: nobody sees a request of a chat they
do not serve."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from distributor.models import Manager
from handoff.enums import RequestStatus
from handoff.models import Request
from handoff.realtime import request_summary

CLOSED_SHOWN = 50


def manager_for_user(user) -> Manager | None:
    if user is None or not user.is_authenticated:
        return None
    return Manager.objects.filter(user=user).first()


def _visible(manager: Manager) -> QuerySet[Request]:
    return Request.objects.filter(chat__in=manager.chats.all()).select_related(
        "chat", "operator", "dialog__client"
    )


def requests_for_manager(*, manager: Manager) -> list[dict]:
    """What the console lists: waiting requests of the operator's chats (minus those
    they rejected), their own open ones, and the latest closed ones they took part in."""
    waiting = (
        _visible(manager)
        .filter(status__in=Request.WAITING_STATUSES)
        .exclude(rejected_by=manager)
        .order_by("created_at")
    )
    mine = _visible(manager).filter(status=RequestStatus.ACCEPTED, operator=manager)
    closed = (
        _visible(manager)
        .filter(Q(status="closed") & (Q(operator=manager) | Q(operator__isnull=True)))
        .order_by("-closed_at")[:CLOSED_SHOWN]
    )
    return [request_summary(request) for request in [*waiting, *mine, *closed]]


def request_get_for_manager(*, manager: Manager, request_id: object) -> Request:
    """The request if this operator may see it; Request.DoesNotExist otherwise."""
    if isinstance(request_id, bool) or not isinstance(request_id, int):
        raise Request.DoesNotExist
    return _visible(manager).get(pk=request_id)


def served_chat_ids(*, manager: Manager) -> list[int]:
    return list(manager.chats.values_list("pk", flat=True))
