"""Handoff reads, scoped to the acting operator: nobody sees a request of a chat they
do not serve."""

from __future__ import annotations

from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib import auth
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


def user_of_session(*, session_key: str | None):
    """Who is logged in with this session now, read afresh (AnonymousUser once it is
    logged out, the account deactivated or its password changed): Django's own
    request check, run for a long-lived socket."""
    engine = import_module(settings.SESSION_ENGINE)
    return auth.get_user(SimpleNamespace(session=engine.SessionStore(session_key)))


def console_access_get(
    *, session_key: str | None, user_id: int | None, manager_id: int
) -> tuple[Manager | None, bool]:
    """The operator profile an open console may still act as, read afresh:
    (manager, True) while its session is still logged in as that profile's user, and
    the account active; (None, True) when it is, but the profile is gone or now another
    user's; (None, False) when the session ended (logout, expiry, password change,
    account switched off) or is now someone else's."""
    user = user_of_session(session_key=session_key)
    if not user.is_authenticated or not user.is_active or user.pk != user_id:
        return None, False
    return Manager.objects.filter(pk=manager_id, user=user).first(), True


def _visible(manager: Manager) -> QuerySet[Request]:
    # read afresh on every frame: a chat taken away or an account switched off
    # behind an open console refuses at once, even if its access event was lost
    return Request.objects.filter(
        chat__managers=manager, chat__managers__user__is_active=True
    ).select_related("chat", "operator", "dialog__client")


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
