"""Managers' presence: whether they take new dialogs now.

A console sets ONLINE with an expiry (PRESENCE_TTL) and renews it with its heartbeat;
an explicit toggle (console, Telegram's /online, /away, /offline) sets it with or
without an expiry. Only ONLINE managers are offered requests in automatic distribution;
AWAY keeps what they hold. The deadline sweep turns a presence nobody renewed into
OFFLINE (presences_expire).

A manager who comes ONLINE may take the requests waiting in their chats: the
handoff app's drain task is sent after commit, by its name (distributor sits below
handoff and does not import it)."""

from __future__ import annotations

from datetime import datetime

from celery import current_app
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from distributor.enums import Presence
from distributor.models import Operator

# handoff.tasks registers the task under this name (handoff.services.assignment's
# requests_drain): waiting requests of these chats are offered in created order
REQUESTS_DRAIN_TASK = "handoff.requests_drain"


def requests_drain_schedule(*, chat_ids: list[int] | None = None, operator_id: int | None = None):
    """After commit, ask the handoff app to offer the waiting requests of `chat_ids`
    (or of every chat `operator_id` serves). Robust: a broker that is away must not fail
    what committed; the sweep drains as a backstop."""
    kwargs = {"chat_ids": sorted(set(chat_ids)) if chat_ids else None, "operator_id": operator_id}
    if not kwargs["chat_ids"] and operator_id is None:
        return
    transaction.on_commit(
        lambda: current_app.send_task(REQUESTS_DRAIN_TASK, kwargs=kwargs), robust=True
    )


def presence_check(presence: str) -> Presence:
    """The presence named by `presence`, or a ValidationError naming the choices."""
    if presence not in Presence.values:
        raise ValidationError(
            _("Unknown presence “%(value)s”: choose online, away or offline."),
            code="invalid_presence",
            params={"value": str(presence)[:40]},
        )
    return Presence(presence)


def presence_effective(operator: Operator, *, now: datetime | None = None) -> str:
    """The operator's presence as of `now`: an expired one is OFFLINE even before the
    sweep has written it."""
    now = now or timezone.now()
    if operator.presence_expires_at is not None and operator.presence_expires_at <= now:
        return Presence.OFFLINE
    return operator.presence


def operator_presence_set(
    *,
    operator: Operator,
    presence: Presence | str,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> Operator:
    """Set the operator's presence, until `expires_at` (None: until changed; ignored
    for OFFLINE). Records presence_changed_at when the presence changes; setting the
    one they have only moves the expiry (idempotent: nothing else is written and no
    drain is scheduled). Coming ONLINE (from away, offline or an expired presence),
    or leaving it, schedules the drain of their chats after commit: the waiting
    requests are offered to them, or what was offered to them goes to someone else.

    Raises ValidationError for an unknown presence or an expiry not in the future;
    nothing is changed then. Returns the operator as stored."""
    now = now or timezone.now()
    presence = presence_check(presence)
    if presence == Presence.OFFLINE:
        expires_at = None
    elif expires_at is not None and expires_at <= now:
        raise ValidationError(
            _("A presence must last until a moment in the future."), code="expiry_in_past"
        )
    with transaction.atomic():
        locked = Operator.objects.select_for_update().get(pk=operator.pk)
        before = presence_effective(locked, now=now)
        fields = []
        if before != presence or locked.presence != presence:
            locked.presence = presence
            fields.append("presence")
            if before != presence:
                locked.presence_changed_at = now
                fields.append("presence_changed_at")
        if locked.presence_expires_at != expires_at:
            locked.presence_expires_at = expires_at
            fields.append("presence_expires_at")
        if fields:
            locked.save(update_fields=fields)
        if (presence == Presence.ONLINE) != (before == Presence.ONLINE):
            # online: they may take waiting requests; no longer: what was offered to
            # them goes to someone else
            requests_drain_schedule(operator_id=locked.pk)
    for field in ("presence", "presence_expires_at", "presence_changed_at"):
        setattr(operator, field, getattr(locked, field))
    return locked


def operator_presence_renew(*, operator: Operator, until: datetime) -> bool:
    """The console's heartbeat: push the expiry of an ONLINE or AWAY presence forward
    to `until`. Never shortens it, never gives an expiry to a presence set without
    one (Telegram's /online), never brings back an expired or OFFLINE presence (the
    console sets it again). One UPDATE; returns whether it renewed."""
    now = timezone.now()
    renewed = Operator.objects.filter(
        Q(pk=operator.pk),
        Q(presence__in=(Presence.ONLINE, Presence.AWAY)),
        Q(presence_expires_at__gt=now),
        Q(presence_expires_at__lt=until),
    ).update(presence_expires_at=until)
    if renewed:
        operator.presence_expires_at = until
    return bool(renewed)


def presences_expire(*, now: datetime | None = None) -> int:
    """Turn every presence whose expiry has passed into OFFLINE; return how many.
    Rows another transaction holds are skipped until the next sweep; running it twice,
    or two at once, changes nothing twice."""
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(
            Operator.objects.select_for_update(skip_locked=True)
            .filter(presence_expires_at__lte=now)
            .values_list("pk", flat=True)
        )
        if not expired:
            return 0
        # OFFLINE never has an expiry (operator_presence_set), so each of these changes
        Operator.objects.filter(pk__in=expired).update(
            presence=Presence.OFFLINE, presence_expires_at=None, presence_changed_at=now
        )
    return len(expired)


# locks the row, starts the idle time and records the load in one statement (the ORM
# has no UPDATE ... RETURNING)
OPERATOR_TAKES_SQL = """
UPDATE "distributor_operator" SET "idle_since" = %s, "load_hint" = "load_hint" + %s
WHERE "id" = %s
RETURNING "max_simultaneous_dialogs"
"""


def operator_lock_for_taking(*, operator_id: int, now: datetime, load_added: int) -> int | None:
    """The operator is about to be given a dialog: lock their row (inside the caller's
    transaction, after the dialog and the request), start their idle time, add
    `load_added` to their load hint (the caller's rollback undoes both when it refuses)
    and return their cap; None when there is no such operator. One statement."""
    idle_since = Operator._meta.get_field("idle_since").get_db_prep_save(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(OPERATOR_TAKES_SQL, [idle_since, load_added, operator_id])
        row = cursor.fetchone()
    return row[0] if row else None


def operator_load_hint_add(
    *, operator_id: int, delta: int, idle_since: datetime | None = None
) -> None:
    """The operator holds or is offered `delta` requests more (or fewer): add it to
    their load hint, in the transaction that made the change (a relative update: two at
    once add up), and with `idle_since` start their idle time (they were given a
    dialog, or freed one: automatic distribution breaks ties in favour of the longest
    idle). Locks their row: call it after the dialog and the request."""
    changes = {"load_hint": F("load_hint") + delta}
    if idle_since is not None:
        changes["idle_since"] = idle_since
    Operator.objects.filter(pk=operator_id).update(**changes)
