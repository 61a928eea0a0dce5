"""All sessions: one row per dialog the filters select, and its messages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from django.db.models import Count
from django.utils.translation import gettext as _

from chats.enums import AuthorKind
from chats.models import MarkerHit, Message
from handoff.models import Request
from reports.builders.base import Column, ColumnKind, ReportBuilder, Sheet
from reports.builders.dialog_data import (
    CHUNK_SIZE,
    WallClock,
    channel_labels,
    chat_names,
    in_chunks,
    messages_of,
    messages_sheet,
    report_dialogs,
    status_labels,
)
from reports.enums import ReportType

DIALOG_FIELDS = (
    "pk",
    "session_id",
    "chat_id",
    "messenger",
    "client__external_id",
    "client__name",
    "client__customer_binding__customer__name",
    "client__customer_binding__customer__email",
    "client__customer_binding__customer__phone",
    "started_at",
    "closed_at",
    "status",
    "cost",
)


def customer_label(name: str | None, email: str | None, phone: str | None) -> str:
    """A bound customer's name, else their e-mail, else their phone."""
    return name or email or phone or ""


def distinct_in_order(values) -> list[str]:
    return list(dict.fromkeys(value for value in values if value))


class AllSessionsBuilder(ReportBuilder):
    report_type = ReportType.ALL_SESSIONS

    def rows_total(self) -> int:
        dialogs = report_dialogs(self.context)
        return dialogs.count() + messages_of(dialogs).count()

    def sheets(self) -> Iterator[Sheet]:
        dialogs = report_dialogs(self.context)
        yield Sheet(title=_("Sessions"), columns=self.columns(), rows=self.rows(dialogs))
        yield messages_sheet(self.context, dialogs)

    def columns(self) -> list[Column]:
        return [
            Column(_("Session id"), width=34),
            Column(_("Chat"), width=20),
            Column(_("Channel"), width=12),
            Column(_("Client id"), width=24),
            Column(_("Client name"), width=20),
            Column(_("Customer"), width=24),
            Column(_("Started"), ColumnKind.DATETIME, width=20),
            Column(_("Closed"), ColumnKind.DATETIME, width=20),
            Column(_("Status"), width=22),
            Column(_("Messages"), ColumnKind.INTEGER, width=10),
            Column(_("Client messages"), ColumnKind.INTEGER, width=10),
            Column(_("Bot messages"), ColumnKind.INTEGER, width=10),
            Column(_("Operator messages"), ColumnKind.INTEGER, width=10),
            Column(_("Requests"), ColumnKind.INTEGER, width=10),
            Column(_("Operators"), width=24),
            Column(_("Markers"), width=24),
            Column(_("Cost"), ColumnKind.DECIMAL, width=12),
        ]

    def rows(self, dialogs) -> Iterator[tuple]:
        names = chat_names(self.context)
        channel_label = channel_labels()
        status_label = status_labels()
        wall_clock = WallClock(self.context.time_zones)
        stream = dialogs.values_list(*DIALOG_FIELDS).iterator(chunk_size=CHUNK_SIZE)
        for chunk in in_chunks(stream):
            ids = [row[0] for row in chunk]
            counts = _message_counts(ids)
            requests, operators = _requests(ids)
            markers = _markers(ids)
            for (
                pk,
                session_id,
                chat_id,
                messenger,
                client_id,
                client_name,
                customer_name,
                customer_email,
                customer_phone,
                started_at,
                closed_at,
                status,
                cost,
            ) in chunk:
                by_kind = counts.get(pk, {})
                yield (
                    session_id,
                    names.get(chat_id, ""),
                    channel_label(messenger),
                    client_id,
                    client_name,
                    customer_label(customer_name, customer_email, customer_phone),
                    wall_clock(chat_id, started_at),
                    wall_clock(chat_id, closed_at),
                    status_label(status),
                    sum(by_kind.values()),
                    by_kind.get(AuthorKind.CLIENT, 0),
                    by_kind.get(AuthorKind.BOT, 0),
                    by_kind.get(AuthorKind.OPERATOR, 0),
                    requests.get(pk, 0),
                    ", ".join(operators.get(pk, [])),
                    ", ".join(markers.get(pk, [])),
                    cost,
                )


def _message_counts(ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for dialog_id, kind, number in (
        Message.objects.filter(dialog_id__in=ids)
        .order_by()
        .values_list("dialog_id", "author_kind")
        .annotate(number=Count("pk"))
    ):
        counts[dialog_id][kind] = number
    return counts


def _requests(ids: list[int]) -> tuple[dict[int, int], dict[int, list[str]]]:
    """Per dialog: how many requests, and their operators' names in request order."""
    requests: dict[int, int] = defaultdict(int)
    names: dict[int, list[str]] = defaultdict(list)
    for dialog_id, operator_name in (
        Request.objects.filter(dialog_id__in=ids)
        .order_by("dialog_id", "created_at", "pk")
        .values_list("dialog_id", "operator__display_name")
    ):
        requests[dialog_id] += 1
        names[dialog_id].append(operator_name)
    return requests, {pk: distinct_in_order(found) for pk, found in names.items()}


def _markers(ids: list[int]) -> dict[int, list[str]]:
    """Per dialog: its markers, each once, in the order they were first hit."""
    found: dict[int, list[str]] = defaultdict(list)
    for dialog_id, marker in (
        MarkerHit.objects.filter(dialog_id__in=ids)
        .order_by("dialog_id", "created_at", "pk")
        .values_list("dialog_id", "marker")
    ):
        found[dialog_id].append(marker)
    return {pk: distinct_in_order(markers) for pk, markers in found.items()}
