"""The stored load hint (distributor.Operator.load_hint: the requests a manager holds
plus those offered to them) that automatic distribution orders its candidates by.

The services that change a load adjust it in the same transaction, as a relative
update under the operator's row lock (offer_next and _withdraw in assignment, accept's
operator_lock_for_taking, operator_slot_freed when a request closes or is transferred
away, the transfer's target): concurrent changes add up and a rollback takes its change
with it. What no service sees (a request or a dialog deleted in Admin, a chat deleted)
leaves it off by some; the sweep repairs that before it drains.

The cap is judged by counting, under the operator's lock: operator_load, and the offer's
conditional UPDATE (offer_under_cap), raw SQL from one fragment (LOAD_ROWS_SQL) built
once per process: every decision runs them, and building them with the ORM cost more
than running them."""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F

from distributor.models import Operator
from handoff.enums import RequestStatus
from handoff.models import Request
from handoff.selectors import with_load

logger = logging.getLogger(__name__)


def operator_load(operator_id: int, *, request_aside: int | None = None) -> tuple[int, int]:
    """What the operator holds (accepted) and what is offered to them now (waiting),
    `request_aside` not counted; one statement. Their load is the sum: it never passes
    their cap (accepts, transfers and offers count it under the operator's lock). Raw
    SQL built once per process: every decision runs it, and building it with the ORM
    cost more than running it."""
    with connection.cursor() as cursor:
        cursor.execute(
            request_sql(OPERATOR_LOAD_SQL),
            [
                RequestStatus.ACCEPTED,
                *Request.WAITING_STATUSES,
                request_aside or 0,
                *load_rows_params(operator_id),
            ],
        )
        held, offered = cursor.fetchone()
    return held, offered


# the requests that make an operator's load (load_rows_params): those they hold, and
# those offered to them now; handoff.selectors.load_counts is the ORM's form of it
LOAD_ROWS_SQL = (
    "({operator} = %s AND {status} = %s) OR ({offered_to} = %s AND {status} IN ({waiting}))"
)

OPERATOR_LOAD_SQL = """
SELECT count(*) FILTER (WHERE {status} = %s),
       count(*) FILTER (WHERE {status} IN ({waiting}) AND {pk} <> %s)
FROM {request} WHERE {load_rows}
"""


def load_rows_params(operator_id: int) -> list:
    return [operator_id, RequestStatus.ACCEPTED, operator_id, *Request.WAITING_STATUSES]


@functools.cache
def request_sql(template: str) -> str:
    """A statement on handoff_request with the model's table and column names:
    {request}, {pk}, {status}, {operator}, {offered_to}, {offer_deadline}, {waiting}
    (a placeholder per waiting status) and {load_rows} (LOAD_ROWS_SQL)."""
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(Request._meta.get_field(name).column)

    names = {
        "request": quote(Request._meta.db_table),
        "pk": quote(Request._meta.pk.column),
        "status": column("status"),
        "operator": column("operator"),
        "offered_to": column("offered_to"),
        "offer_deadline": column("offer_deadline"),
        "waiting": ", ".join(["%s"] * len(Request.WAITING_STATUSES)),
    }
    return template.format(load_rows=LOAD_ROWS_SQL.format(**names), **names)


# the offer, written only while the operator's load (counted in the same statement,
# after their row was locked: an offer or accept committed since the choosing
# statement's snapshot counts) is under their cap
OFFER_SQL = """
UPDATE {request} SET {offered_to} = %s, {offer_deadline} = %s
WHERE {pk} = %s AND (SELECT count(*) FROM {request} WHERE {load_rows}) < %s
"""


def offer_under_cap(request: Request, operator: Operator, deadline: datetime) -> bool:
    """Offer the request to the locked operator unless they are at their cap: one
    statement. False: nothing was written."""
    field = Request._meta.get_field("offer_deadline")
    with connection.cursor() as cursor:
        cursor.execute(
            request_sql(OFFER_SQL),
            [
                operator.pk,
                field.get_db_prep_save(deadline, connection),
                request.pk,
                *load_rows_params(operator.pk),
                operator.max_simultaneous_dialogs,
            ],
        )
        return cursor.rowcount == 1


def operator_load_hints_repair() -> int:
    """Set every load hint that differs from the count (held + offered) to the count;
    return how many. One statement finds them (hint and requests read in one snapshot,
    so a change in flight never looks like drift); each is then locked and counted
    again, so a change committed meanwhile is not undone."""
    drifted = list(
        with_load(Operator.objects.order_by())
        .exclude(load_hint=F("load"))
        .values_list("pk", flat=True)
    )
    repaired = 0
    for operator_id in drifted:
        with transaction.atomic():
            hint = (
                Operator.objects.select_for_update(no_key=True)
                .filter(pk=operator_id)
                .values_list("load_hint", flat=True)
                .first()
            )
            if hint is None:
                continue
            load = sum(operator_load(operator_id))
            if hint != load:
                Operator.objects.filter(pk=operator_id).update(load_hint=load)
                logger.info("load hint of manager %s was %s, counted %s", operator_id, hint, load)
                repaired += 1
    return repaired
