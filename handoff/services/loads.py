"""The stored load hint (distributor.Operator.load_hint: the requests a manager holds
plus those offered to them) that automatic distribution orders its candidates by.

The services that change a load adjust it in the same transaction, as a relative
update under the operator's row lock (offer_next and _withdraw in assignment, accept's
operator_lock_for_taking, operator_slot_freed when a request closes or is transferred
away, the transfer's target): concurrent changes add up and a rollback takes its change
with it. What no service sees (a request or a dialog deleted in Admin, a chat deleted)
leaves it off by some; the sweep repairs that before it drains."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F

from distributor.models import Operator
from handoff.selectors import with_load
from handoff.services.lifecycle import operator_load

logger = logging.getLogger(__name__)


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
