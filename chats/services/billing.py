"""What messages cost, and each dialog's `cost` kept in step with the message prices.

The rule, one for every path (the message path's UPDATE, the recompute, the billing
report): a message's price is the MessagePrice of its dialog's messenger and of its
direction (a client's message is inbound; the bot's, an operator's and system
messages are outbound) whose period [valid_from, valid_until) contains the message's
created_at; no such price: 0. Periods of one messenger and direction never overlap
(MessagePrice.clean, under `message_prices_lock`); were two ever to, the one that
starts later wins, everywhere alike.

Dialog.cost = the sum of its messages' prices. message_post adds the new message's
price in the UPDATE that hands out its sequence (chats.services.messages); a change of
prices recomputes the dialogs it touches in a Celery task after commit
(chats.tasks.dialog_costs_recompute_for_prices)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from chats.enums import AuthorKind, MessageDirection
from chats.models import Dialog, Message, MessagePrice

# dialogs recomputed per statement (and per transaction: their rows are locked meanwhile)
RECOMPUTE_BATCH = 1000


def message_direction(author_kind: str) -> MessageDirection:
    """A client's message comes in; everything else goes out to the client."""
    if author_kind == AuthorKind.CLIENT:
        return MessageDirection.INBOUND
    return MessageDirection.OUTBOUND


def price_lookup_sql(*, messenger: str, direction: str, at: str) -> str:
    """A scalar subquery: the price of a message, NULL where none applies. The
    arguments are SQL expressions (column references or placeholders), never input."""
    return f"""(SELECT "chats_messageprice"."price" FROM "chats_messageprice"
    WHERE "chats_messageprice"."messenger" = {messenger}
      AND "chats_messageprice"."direction" = {direction}
      AND "chats_messageprice"."valid_from" <= {at}
      AND ("chats_messageprice"."valid_until" IS NULL OR "chats_messageprice"."valid_until" > {at})
    ORDER BY "chats_messageprice"."valid_from" DESC, "chats_messageprice"."id" DESC
    LIMIT 1)"""  # noqa: S608


DIRECTION_SQL = (
    f"""CASE WHEN "chats_message"."author_kind" = '{AuthorKind.CLIENT.value}' """
    f"""THEN '{MessageDirection.INBOUND.value}' ELSE '{MessageDirection.OUTBOUND.value}' END"""
)

# the price of the message in "chats_message", for a dialog's messenger given as SQL
MESSAGE_PRICE_SQL = price_lookup_sql(
    messenger="{messenger}", direction=DIRECTION_SQL, at='"chats_message"."created_at"'
)

RECOMPUTE_SQL = """
UPDATE "chats_dialog" SET "cost" = COALESCE((
  SELECT SUM(COALESCE({price}, 0)) FROM "chats_message"
  WHERE "chats_message"."dialog_id" = "chats_dialog"."id"), 0)
WHERE "chats_dialog"."id" IN ({ids})
"""


def message_price(*, messenger: str, author_kind: str, at: datetime.datetime) -> Decimal:
    """The price of one message (see the module's rule); 0 where none applies."""
    price = (
        MessagePrice.objects.filter(
            messenger=messenger,
            direction=message_direction(author_kind),
            valid_from__lte=at,
        )
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=at))
        .order_by("-valid_from", "-pk")
        .values_list("price", flat=True)
        .first()
    )
    return price if price is not None else Decimal(0)


def messages_priced(messages: QuerySet[Message]) -> QuerySet[Message]:
    """`messages` annotated with `price`: each one's price by the module's rule, NULL
    where none applies (the same rule as the SQL of the message path, in the ORM, for
    reports). One correlated subquery per message row, no query per message."""
    direction = Case(
        When(author_kind=AuthorKind.CLIENT, then=Value(MessageDirection.INBOUND.value)),
        default=Value(MessageDirection.OUTBOUND.value),
        output_field=CharField(),
    )
    price = (
        MessagePrice.objects.filter(
            messenger=OuterRef("dialog__messenger"),
            direction=OuterRef("billing_direction"),
            valid_from__lte=OuterRef("created_at"),
        )
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=OuterRef("created_at")))
        .order_by("-valid_from", "-pk")
        .values("price")[:1]
    )
    return messages.annotate(billing_direction=direction, price=Subquery(price))


def _recompute_sql(count: int) -> str:
    price = MESSAGE_PRICE_SQL.format(messenger='"chats_dialog"."messenger"')
    return RECOMPUTE_SQL.format(price=price, ids=", ".join(["%s"] * count))


def _recompute_batch(dialog_ids: list[int]) -> int:
    """Lock the dialogs' rows, then set their cost in one UPDATE. The lock comes first
    so that the UPDATE's snapshot (a new statement) sees every message committed to
    them: message_post locks a dialog's row before it inserts, so no message of these
    dialogs is in flight while the sum is taken (PostgreSQL; SQLite's writers are
    serialised anyway)."""
    with transaction.atomic():
        locked = list(
            Dialog.objects.select_for_update()
            .filter(pk__in=dialog_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not locked:
            return 0
        with connection.cursor() as cursor:
            cursor.execute(_recompute_sql(len(locked)), locked)
            return cursor.rowcount


def dialog_costs_recompute(
    *,
    dialog_ids: Iterable[int] | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    messenger: str | None = None,
    direction: str | None = None,
) -> int:
    """Set Dialog.cost to the sum of its messages' prices; returns how many dialogs
    were recomputed. Which dialogs: those in `dialog_ids` if given; of them (or of
    all) those of `messenger` if given; and, when a period or a direction is given,
    only those with a message of that direction created in [since, until).

    Batched by id ranges of RECOMPUTE_BATCH dialogs, each batch its own transaction
    (its dialogs' rows locked for one UPDATE). Idempotent: it writes what the prices
    say, however often it runs."""
    dialogs = Dialog.objects.all()
    if messenger is not None:
        dialogs = dialogs.filter(messenger=messenger)
    if since is not None or until is not None or direction is not None:
        messages = Message.objects.filter(dialog=OuterRef("pk"))
        if since is not None:
            messages = messages.filter(created_at__gte=since)
        if until is not None:
            messages = messages.filter(created_at__lt=until)
        if direction == MessageDirection.INBOUND:
            messages = messages.filter(author_kind=AuthorKind.CLIENT)
        elif direction == MessageDirection.OUTBOUND:
            messages = messages.exclude(author_kind=AuthorKind.CLIENT)
        dialogs = dialogs.filter(Exists(messages))
    if dialog_ids is not None:
        wanted = sorted(set(dialog_ids))
        chunks = (
            wanted[start : start + RECOMPUTE_BATCH]
            for start in range(0, len(wanted), RECOMPUTE_BATCH)
        )
        return sum(
            _recompute_batch(list(dialogs.filter(pk__in=chunk).values_list("pk", flat=True)))
            for chunk in chunks
        )
    total = 0
    last_id = 0
    while True:
        # keyset pagination by id: each batch reads the next RECOMPUTE_BATCH ids
        batch = list(
            dialogs.filter(pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:RECOMPUTE_BATCH]
        )
        if not batch:
            return total
        total += _recompute_batch(batch)
        last_id = batch[-1]


@dataclass(frozen=True)
class PricePeriod:
    """Where a price applied or applies: the messages it prices."""

    messenger: str
    direction: str
    valid_from: datetime.datetime
    valid_until: datetime.datetime | None

    @classmethod
    def of(cls, price: MessagePrice) -> PricePeriod:
        return cls(price.messenger, price.direction, price.valid_from, price.valid_until)

    def to_json(self) -> dict:
        return {
            "messenger": self.messenger,
            "direction": self.direction,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
        }

    @classmethod
    def from_json(cls, data: dict) -> PricePeriod:
        until = data.get("valid_until")
        return cls(
            data["messenger"],
            data["direction"],
            datetime.datetime.fromisoformat(data["valid_from"]),
            datetime.datetime.fromisoformat(until) if until else None,
        )


def dialog_costs_recompute_for_periods(periods: Iterable[PricePeriod]) -> int:
    """Recompute the dialogs with messages in these price periods (the task's work)."""
    return sum(
        dialog_costs_recompute(
            messenger=period.messenger,
            direction=period.direction,
            since=period.valid_from,
            until=period.valid_until,
        )
        for period in set(periods)
    )


def message_prices_lock() -> None:
    """Serialise writers of message prices until the end of the transaction, so the
    overlap check (MessagePrice.clean) and the write are one step. PostgreSQL: a
    table lock that conflicts with itself and with row writes but not with reads (the
    message path only reads prices). SQLite: writers are serialised already (IMMEDIATE
    transactions), nothing to do."""
    if not connection.in_atomic_block:
        raise transaction.TransactionManagementError("message_prices_lock needs a transaction")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute('LOCK TABLE "chats_messageprice" IN SHARE ROW EXCLUSIVE MODE')


def _recompute_on_commit(periods: list[PricePeriod]) -> None:
    from chats.tasks import dialog_costs_recompute_for_prices

    payload = [period.to_json() for period in dict.fromkeys(periods)]
    transaction.on_commit(lambda: dialog_costs_recompute_for_prices.delay(payload))


def message_price_save(*, price: MessagePrice) -> MessagePrice:
    """Create or change a price: validated (full_clean, overlap included) under
    `message_prices_lock`, saved, and the costs of the dialogs with messages in its old
    and new periods recomputed by a task after commit. Raises ValidationError and
    writes nothing when the price is bad."""
    with transaction.atomic():
        message_prices_lock()
        previous = None
        if price.pk is not None:
            previous = MessagePrice.objects.select_for_update().filter(pk=price.pk).first()
        price.full_clean()
        price.save()
        periods = [PricePeriod.of(price)]
        if previous is not None:
            periods.append(PricePeriod.of(previous))
        _recompute_on_commit(periods)
    return price


def message_prices_delete(*, prices: Iterable[MessagePrice]) -> int:
    """Delete prices; the dialogs with messages in their periods are recomputed by a
    task after commit. Returns how many were deleted."""
    with transaction.atomic():
        message_prices_lock()
        ids = [price.pk for price in prices]
        stored = list(MessagePrice.objects.select_for_update().filter(pk__in=ids))
        MessagePrice.objects.filter(pk__in=[price.pk for price in stored]).delete()
        if stored:
            _recompute_on_commit([PricePeriod.of(price) for price in stored])
    return len(stored)
