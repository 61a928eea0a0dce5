"""Reads for the dialog viewer, the dashboard and the job list: the page of dialogs a
list shows (its count capped for text searches), one dialog's page with its messages
in pages by sequence, the dashboard's date range, and the names a filter summary
shows. The views only parse, authorise through these, and render."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable
from functools import cached_property
from zoneinfo import ZoneInfo

from django.core.paginator import Page, Paginator
from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from chats.enums import AttachmentKind
from chats.models import Dialog, MarkerHit, Message
from distributor.models import Customer, CustomerBinding, Operator
from handoff.dialog_filters import DialogFilters
from handoff.models import DialogFormAnswers, Feedback, Request, RequestEvent
from handoff.selectors_dialogs import DEFAULT_TIME_ZONE, chat_time_zones
from reports.access import chats_for_analyst

# a text search counts at most this many matching dialogs (+1 to know there are more):
# counting every dialog that holds a common word was most of a page's time
TEXT_COUNT_CAP = 10_000
MESSAGES_PER_PAGE = 500
# a dialog's page shows at most this many of its latest page visits and marker hits:
# a visitor's widget can report visits for as long as the tab is open, and a page
# holding all of them would grow without bound
PAGE_VISITS_SHOWN = 200
MARKERS_SHOWN = 200
# a client can open and close requests over and over: the page shows the latest ones
REQUESTS_SHOWN = 100
DASHBOARD_DEFAULT_DAYS = 30
DASHBOARD_MAX_RANGE_DAYS = 5 * 366  # drawn by month: at most 62 bars


# --- the list of dialogs ------------------------------------------------------------


class DialogPaginator(Paginator):
    """A paginator whose count stops at `count_cap` (None: the exact count). `capped`
    says whether more dialogs matched than were counted."""

    def __init__(self, object_list, per_page: int, *, count_cap: int | None = None) -> None:
        super().__init__(object_list, per_page)
        self.count_cap = count_cap
        self.capped = False

    @cached_property
    def count(self) -> int:
        if self.count_cap is None:
            return super().count
        # a LIMITed subquery: the database stops at the first count_cap + 1 matches
        found = self.object_list[: self.count_cap + 1].count()
        self.capped = found > self.count_cap
        return min(found, self.count_cap)


def dialog_paginator(dialogs: QuerySet[Dialog], *, filters: DialogFilters, per_page: int):
    """The list's paginator over these dialogs' ids: exact, or capped at TEXT_COUNT_CAP
    when the text filter is set."""
    return DialogPaginator(
        dialogs.values_list("pk", flat=True),
        per_page,
        count_cap=TEXT_COUNT_CAP if filters.text else None,
    )


def dialog_page_ids(page: Page, *, read_whole_up_to: int) -> list[int]:
    """The page's dialog ids, read the cheap way for the count the page already has.

    With LIMIT/OFFSET PostgreSQL walks the dialogs newest first and checks each
    against the filters until it has the page: quick when most dialogs match, slow
    when few do (a rare word: measured 0.3 s at 1,000,000 messages for page 10). So a
    selection of up to `read_whole_up_to` dialogs is read whole, without a LIMIT (a
    hash join, like the count's), and the page cut from it. A larger one is read from
    the nearer end: an OFFSET walks every row it skips, and past the middle the order
    is reversed so the last page costs what the first does. A capped count is not the
    selection's size: that page is read from the front (many match, so the walk is
    short)."""
    total = page.paginator.count
    start, end = page.start_index() - 1, page.end_index()
    selection = page.paginator.object_list
    if total == 0:
        return []
    if getattr(page.paginator, "capped", False):
        return list(page.object_list)
    if total <= read_whole_up_to:
        return list(selection)[start:end]
    if start <= total // 2:
        return list(page.object_list)
    # the columns' query puts them back in order
    return list(selection.reverse()[total - end : total - start])


def dialog_page_rows(dialog_ids: list[int]) -> list[dict]:
    """The rows of a list page, newest first: each dialog with its chat, client and
    message count, its time zone, its request count and its operators' names."""
    dialogs = list(_with_list_columns(dialog_ids))
    zones = chat_time_zones({dialog.chat_id for dialog in dialogs})
    rows = []
    for dialog in dialogs:
        requests = list(dialog.handoff_requests.all())
        operators = []
        for item in requests:
            name = item.operator.display_name if item.operator else ""
            if name and name not in operators:
                operators.append(name)
        rows.append(
            {
                "dialog": dialog,
                # the template shows it in this zone ({{ ...|timezone:row.time_zone }})
                "time_zone": zones[dialog.chat_id],
                "request_count": len(requests),
                "operators": operators,
            }
        )
    return rows


def _with_list_columns(dialog_ids: list[int]) -> QuerySet[Dialog]:
    """These dialogs with what the columns show, in a fixed number of queries: the
    message count as a subquery per dialog (on the message's dialog index), the
    requests with their operators prefetched once for the page."""
    message_count = (
        Message.objects.filter(dialog=OuterRef("pk"))
        .order_by()
        .values("dialog")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return (
        Dialog.objects.filter(pk__in=dialog_ids)
        .select_related("chat", "client")
        .annotate(message_count=Coalesce(Subquery(message_count, output_field=IntegerField()), 0))
        .prefetch_related(
            Prefetch(
                "handoff_requests",
                queryset=Request.objects.select_related("operator").order_by("created_at", "pk"),
            )
        )
        .order_by("-started_at", "-pk")
    )


def operators_of_chats(chat_ids: Iterable[int]) -> list[Operator]:
    """The operators of these chats, by name: the list's operator filter."""
    return list(
        Operator.objects.filter(chats__in=list(chat_ids)).distinct().order_by("display_name", "pk")
    )


# --- one dialog ---------------------------------------------------------------------


def dialog_for_analyst(*, user, session_id: str) -> Dialog | None:
    """The dialog with this session id if it is in a chat the user may read."""
    return (
        Dialog.objects.filter(session_id=session_id, chat__in=chats_for_analyst(user).values("pk"))
        .select_related("chat", "client")
        .first()
    )


@dataclasses.dataclass(frozen=True)
class MessagePage:
    """Up to MESSAGES_PER_PAGE messages of a dialog, in sequence order, each with its
    attachments' names; `earlier_before` / `later_after` are the sequences the
    "earlier" / "later" links ask for (None: nothing that way)."""

    messages: list[tuple[Message, list[str]]]
    total: int
    earlier_before: int | None
    later_after: int | None


@dataclasses.dataclass(frozen=True)
class DialogDetail:
    """`markers`, `page_visits` and `requests` are the latest MARKERS_SHOWN /
    PAGE_VISITS_SHOWN / REQUESTS_SHOWN, in time order; the *_total fields count all."""

    time_zone: str
    customer: Customer | None
    markers: list[MarkerHit]
    page_visits: list
    form_answers: DialogFormAnswers | None
    requests: list[Request]
    feedback: list[Feedback]
    messages: MessagePage
    marker_total: int = 0
    page_visit_total: int = 0
    request_total: int = 0


def dialog_detail_read(
    dialog: Dialog, *, after: int | None = None, before: int | None = None
) -> DialogDetail:
    """Everything the dialog's page shows, its messages a page at a time (see
    dialog_messages_page)."""
    binding = (
        CustomerBinding.objects.filter(client=dialog.client).select_related("customer").first()
    )
    markers, marker_total = _latest(MarkerHit.objects.filter(dialog=dialog), MARKERS_SHOWN)
    page_visits, page_visit_total = _latest(dialog.page_visits.all(), PAGE_VISITS_SHOWN)
    requests, request_total = _latest(
        Request.objects.filter(dialog=dialog)
        .select_related("operator")
        .prefetch_related(Prefetch("events", queryset=RequestEvent.objects.select_related("actor")))
        .order_by("created_at", "pk"),
        REQUESTS_SHOWN,
    )
    return DialogDetail(
        # every time on the page is in the chat's zone (the template's {% timezone %})
        time_zone=chat_time_zones([dialog.chat_id])[dialog.chat_id],
        customer=binding.customer if binding else None,
        markers=markers,
        marker_total=marker_total,
        page_visits=page_visits,
        page_visit_total=page_visit_total,
        form_answers=DialogFormAnswers.objects.filter(dialog=dialog).first(),
        requests=requests,
        request_total=request_total,
        feedback=list(
            Feedback.objects.filter(dialog=dialog).select_related("operator").order_by("pk")
        ),
        messages=dialog_messages_page(dialog, after=after, before=before),
    )


def _latest(items: QuerySet, limit: int) -> tuple[list, int]:
    """The latest `limit` of these (by their model's time ordering), oldest first, and
    how many there are (counted only when there are more than shown)."""
    latest = list(items.reverse()[: limit + 1])
    total = items.count() if len(latest) > limit else len(latest)
    return latest[:limit][::-1], total


def dialog_messages_page(
    dialog: Dialog,
    *,
    after: int | None = None,
    before: int | None = None,
    size: int | None = None,
) -> MessagePage:
    """The MESSAGES_PER_PAGE messages after sequence `after`, else those just before
    sequence `before`, else the first ones; read on the (dialog, sequence) index, one
    more than shown to know whether there are more that way."""
    size = size or MESSAGES_PER_PAGE
    messages = Message.objects.filter(dialog=dialog)
    if after is not None:
        found = list(messages.filter(sequence__gt=after).order_by("sequence")[: size + 1])
        more_later, shown = len(found) > size, found[:size]
        more_earlier = messages.filter(sequence__lte=after).exists()
    elif before is not None:
        found = list(messages.filter(sequence__lt=before).order_by("-sequence")[: size + 1])
        more_earlier, shown = len(found) > size, found[:size][::-1]
        more_later = messages.filter(sequence__gte=before).exists()
    else:
        found = list(messages.order_by("sequence")[: size + 1])
        more_later, shown, more_earlier = len(found) > size, found[:size], False
    if not shown and (after is not None or before is not None) and messages.exists():
        # past either end: the last page (after the last message) or the first
        if after is not None:
            return dialog_messages_page(dialog, before=_last_sequence(messages) + 1, size=size)
        return dialog_messages_page(dialog, size=size)
    return MessagePage(
        messages=[
            (message, [_attachment_name(item) for item in _as_list(message.attachments)])
            for message in shown
        ],
        total=messages.count(),
        earlier_before=shown[0].sequence if shown and more_earlier else None,
        later_after=shown[-1].sequence if shown and more_later else None,
    )


def _last_sequence(messages: QuerySet[Message]) -> int:
    return messages.order_by("-sequence").values_list("sequence", flat=True).first() or 0


def _attachment_name(attachment: object) -> str:
    """What an attachment is called on the page: its file name, else its kind."""
    if not isinstance(attachment, dict):
        return str(AttachmentKind.DOCUMENT.label)
    kind = str(attachment.get("kind") or "")
    label = str(AttachmentKind(kind).label) if kind in AttachmentKind.values else kind
    name = str(attachment.get("file_name") or "")
    return f"{label}: {name}" if name and label else (name or label or "—")


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else []


# --- the dashboard ------------------------------------------------------------------


def dashboard_date_range(
    filters: DialogFilters, chat_ids: set[int]
) -> tuple[datetime.date, datetime.date, dict[str, str]]:
    """The range to draw, and what was changed to keep it drawable: at most a year
    past today (in the chats' zone, UTC when their zones differ), at most
    DASHBOARD_MAX_RANGE_DAYS long, DASHBOARD_DEFAULT_DAYS when no start is given."""
    zones = set(chat_time_zones(chat_ids).values())
    zone = zones.pop() if len(zones) == 1 else DEFAULT_TIME_ZONE
    try:
        today = timezone.now().astimezone(ZoneInfo(zone)).date()
    except (ValueError, KeyError, OSError):
        today = timezone.now().date()
    notes: dict[str, str] = {}
    latest = today + datetime.timedelta(days=366)
    date_to = filters.date_to or (max(today, filters.date_from) if filters.date_from else today)
    if date_to > latest:
        notes["date_to"] = _("The end date is more than a year away; showing up to %(day)s.") % {
            "day": latest.isoformat()
        }
        date_to = latest
    date_from = filters.date_from or date_to - datetime.timedelta(days=DASHBOARD_DEFAULT_DAYS - 1)
    if date_from > date_to or (date_to - date_from).days >= DASHBOARD_MAX_RANGE_DAYS:
        if date_from <= date_to:
            notes["date_from"] = _("The dashboard shows at most %(days)d days.") % {
                "days": DASHBOARD_MAX_RANGE_DAYS
            }
        date_from = date_to - datetime.timedelta(
            days=(DASHBOARD_MAX_RANGE_DAYS if date_from <= date_to else DASHBOARD_DEFAULT_DAYS) - 1
        )
    return date_from, date_to, notes


# --- names in filter summaries ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FilterNames:
    """The names a summary of filters shows, of the user's chats and their operators."""

    chats: dict[int, str]
    operators: dict[int, str]


def filter_names(*, user, filters: Iterable[DialogFilters]) -> FilterNames:
    """The names of the chats and operators these filters name, among the user's
    chats and those chats' operators, in one query each (none when none is named)."""
    filters = list(filters)
    chat_ids = {chat_id for item in filters for chat_id in item.chat_ids}
    operator_ids = {item.operator_id for item in filters if item.operator_id}
    chats = chats_for_analyst(user)
    chat_names = dict(chats.filter(pk__in=chat_ids).values_list("pk", "name")) if chat_ids else {}
    operator_names = (
        dict(
            Operator.objects.filter(pk__in=operator_ids, chats__in=chats)
            .distinct()
            .values_list("pk", "display_name")
        )
        if operator_ids
        else {}
    )
    return FilterNames(chats=chat_names, operators=operator_names)
