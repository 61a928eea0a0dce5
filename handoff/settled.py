"""Which requests this process knows are no longer waiting (accepted or closed).

A request never goes back to waiting, so the fact is final once committed: an accept
of a request listed here is refused on the event loop, without a database call. In an
accept storm that keeps the losers' accepts from queuing behind the winners' on the
process's one database thread. Filled from committed accepts and closes in this
process and from the request_changed events every console receives."""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock
from typing import TYPE_CHECKING

from django.db import transaction

if TYPE_CHECKING:
    from handoff.models import Request

REMEMBERED = 20_000
WAITING = ("pending", "queued")

# request id -> (status, the accepting operator's name or None)
_settled: OrderedDict[int, tuple[str, str | None]] = OrderedDict()
_guard = Lock()


def settled_note(request_id: int, status: str, operator_name: str | None) -> None:
    """Remember a committed status of a request. A waiting status names a new request
    (none goes back to waiting): whatever was remembered of that id is forgotten. A
    real database never hands an id out twice, but the test suite's flushed one does,
    and a long-lived Daphne would otherwise refuse the new request's accepts as
    "already taken" by the old one's operator. (A late event only costs a database
    call: the database still refuses a settled request.)"""
    if status in WAITING:
        with _guard:
            _settled.pop(request_id, None)
        return
    with _guard:
        _settled[request_id] = (status, operator_name)
        _settled.move_to_end(request_id)
        while len(_settled) > REMEMBERED:
            _settled.popitem(last=False)


def settled_record(request: Request) -> None:
    """Remember the request's status once the caller's transaction commits."""
    request_id, status = request.pk, request.status
    name = request.operator.display_name if request.operator_id else None
    transaction.on_commit(lambda: settled_note(request_id, status, name))


def settled_get(request_id: object) -> tuple[str, str | None] | None:
    if isinstance(request_id, bool) or not isinstance(request_id, int):
        return None
    return _settled.get(request_id)


def settled_forget_all() -> None:
    """Forget everything (the test suite: its flushed databases hand out ids again)."""
    with _guard:
        _settled.clear()
