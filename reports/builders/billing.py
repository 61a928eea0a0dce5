"""The billing report: paid messages and cost per chat and channel, and per dialog,
from the message prices an admin sets (docs/reports.md, "Billing").

A message's price follows chats.services.billing (messenger of its dialog, direction
by author, the period containing its created_at); a paid message is one whose price is
above 0. Figures are computed from the messages when the report is built, by the same
rule that keeps Dialog.cost in step, so both sheets agree with each other."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

from django.db.models import Count, DecimalField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from chats.enums import MessageDirection
from chats.models import Dialog, Message
from chats.services.billing import messages_priced
from handoff.selectors_dialogs import chat_time_zones
from reports.builders.base import Column, ColumnKind, ReportBuilder, Sheet
from reports.builders.dialog_data import (
    CHUNK_SIZE,
    Labels,
    WallClock,
    channel_labels,
    chat_names,
    dialog_ids,
    report_dialogs,
)
from reports.enums import ReportType

# sums of prices: wider than one price (10 digits), as wide as any cost can get
MONEY = DecimalField(max_digits=20, decimal_places=4)
ZERO = Value(Decimal(0), output_field=MONEY)


class BillingReportBuilder(ReportBuilder):
    """Sheet "Billing": one row per chat and channel of the selected dialogs; sheet
    "Dialogs": one row per selected dialog. "With time in dialogs" changes nothing:
    neither sheet has a row per message."""

    report_type = ReportType.BILLING

    def dialogs(self) -> QuerySet[Dialog]:
        return report_dialogs(self.context)

    def rows_total(self) -> int:
        dialogs = self.dialogs().order_by()
        groups = dialogs.values("chat_id", "messenger").distinct().count()
        return dialogs.count() + groups

    def sheets(self) -> Iterator[Sheet]:
        names = chat_names(self.context)
        channel = channel_labels()
        yield Sheet(
            title=_("Billing"),
            columns=[
                Column(_("Chat"), width=24),
                Column(_("Channel"), width=14),
                Column(_("Dialogs"), ColumnKind.INTEGER, width=10),
                Column(_("Paid inbound messages"), ColumnKind.INTEGER, width=14),
                Column(_("Paid outbound messages"), ColumnKind.INTEGER, width=14),
                Column(_("Paid messages"), ColumnKind.INTEGER, width=12),
                Column(_("Cost"), ColumnKind.DECIMAL, width=14),
            ],
            rows=self._channel_rows(names, channel),
        )
        yield Sheet(
            title=_("Dialogs"),
            columns=[
                Column(_("Session id"), width=34),
                Column(_("Chat"), width=24),
                Column(_("Channel"), width=14),
                Column(_("Started"), ColumnKind.DATETIME, width=20),
                Column(_("Paid messages"), ColumnKind.INTEGER, width=12),
                Column(_("Cost"), ColumnKind.DECIMAL, width=14),
            ],
            rows=self._dialog_rows(names, channel),
        )

    def _channel_rows(self, names: dict[int, str], channel: Labels) -> Iterator[tuple]:
        """Two grouped queries: dialogs per chat and channel, and paid messages and
        cost per chat, channel and direction (summed in the database)."""
        dialogs = self.dialogs().order_by()
        dialog_counts = dict(
            ((chat_id, messenger), count)
            for chat_id, messenger, count in dialogs.values("chat_id", "messenger")
            .annotate(count=Count("pk"))
            .values_list("chat_id", "messenger", "count")
        )
        paid: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
        cost: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
        priced = (
            messages_priced(Message.objects.filter(dialog__in=dialog_ids(dialogs)))
            .order_by()
            .values("dialog__chat_id", "dialog__messenger", "billing_direction")
            .annotate(
                paid=Count("pk", filter=Q(price__gt=0)),
                cost=Coalesce(Sum("price", output_field=MONEY), ZERO, output_field=MONEY),
            )
            .values_list(
                "dialog__chat_id", "dialog__messenger", "billing_direction", "paid", "cost"
            )
        )
        for chat_id, messenger, direction, paid_count, total in priced:
            paid[(chat_id, messenger)][direction] = paid_count
            cost[(chat_id, messenger)] += total
        keys = sorted(
            dialog_counts,
            key=lambda key: (names.get(key[0], ""), key[0], channel(key[1])),
        )
        for key in keys:
            inbound = paid[key].get(MessageDirection.INBOUND.value, 0)
            outbound = paid[key].get(MessageDirection.OUTBOUND.value, 0)
            yield (
                names.get(key[0], ""),
                channel(key[1]),
                dialog_counts[key],
                inbound,
                outbound,
                inbound + outbound,
                cost[key],
            )

    def _dialog_rows(self, names: dict[int, str], channel: Labels) -> Iterator[tuple]:
        """One streamed query: each dialog with its paid messages and cost as
        correlated subqueries (no query per dialog)."""
        per_dialog = (
            messages_priced(Message.objects.filter(dialog=OuterRef("pk")))
            .order_by()
            .values("dialog")
        )
        paid = per_dialog.annotate(paid=Count("pk", filter=Q(price__gt=0))).values("paid")
        cost = per_dialog.annotate(cost=Sum("price", output_field=MONEY)).values("cost")
        rows = (
            self.dialogs()
            .annotate(
                paid_messages=Coalesce(Subquery(paid), 0),
                priced_cost=Coalesce(Subquery(cost, output_field=MONEY), ZERO, output_field=MONEY),
            )
            .values_list(
                "session_id", "chat_id", "messenger", "started_at", "paid_messages", "priced_cost"
            )
        )
        # the job engine gives every chat's zone; a context made by hand may not
        wall_clock = WallClock(self.context.time_zones or chat_time_zones(self.context.chat_ids))
        for session_id, chat_id, messenger, started_at, paid_messages, priced_cost in rows.iterator(
            chunk_size=CHUNK_SIZE
        ):
            yield (
                session_id,
                names.get(chat_id, ""),
                channel(messenger),
                wall_clock(chat_id, started_at),
                paid_messages,
                priced_cost,
            )
