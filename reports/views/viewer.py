"""The dialog viewer: the filtered, paginated list of dialogs and one dialog's page
with its permanent link. Both read only the chats the user may read
(reports.access); a dialog of another chat is "not found", like an unknown one."""

from __future__ import annotations

import re

from django.core.paginator import Page, Paginator
from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from chats.enums import AttachmentKind, Messenger
from chats.models import Dialog, MarkerHit, Message
from distributor.models import CustomerBinding, Operator
from handoff.models import DialogFormAnswers, Feedback, Request, RequestEvent
from reports.access import chats_for_analyst
from reports.enums import DialogStatusFilter
from reports.filters import DialogFilters
from reports.selectors import chat_time_zones, dialogs_filtered
from reports.views.auth import analyst_required
from reports.views.links import (
    chooser_url,
    dashboard_url,
    labelled_errors,
    list_url_from_referer,
)

DIALOGS_PER_PAGE = 50
SESSION_ID = re.compile(r"[0-9A-Za-z_-]{1,32}")
# up to this many selected dialogs, a page's ids are cut from all of them (_page_ids)
SMALL_SELECTION = 10_000


@require_safe
@analyst_required
def dialog_list(request: HttpRequest) -> HttpResponse:
    filters = DialogFilters.from_query(request.GET)
    chats = list(chats_for_analyst(request.user).order_by("name", "pk"))
    allowed = {chat.pk for chat in chats}
    chosen = allowed & set(filters.chat_ids) if filters.chat_ids else allowed
    dialogs = dialogs_filtered(chat_ids=chosen, filters=filters)
    # the page's ids first (the count and an index walk), then the columns of those 50
    # only: computed in the paged query, the message counts would be computed for
    # every row an OFFSET skips on the way to a far page
    paginator = Paginator(dialogs.values_list("pk", flat=True), DIALOGS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    rows = _list_rows(list(_with_list_columns(_page_ids(page))))
    return render(
        request,
        "reports/dialog_list.html",
        {
            "filters": filters,
            "filter_query": filters.to_query(),
            "chats": chats,
            "messengers": Messenger.choices,
            "statuses": DialogStatusFilter.choices,
            "operators": _operators_of(allowed),
            "page": page,
            "rows": rows,
            "total": paginator.count,
            "filter_errors": labelled_errors(filters.errors),
            "filtered": filters != DialogFilters() or bool(filters.errors),
            "chooser_url": chooser_url(filters),
            "dashboard_url": dashboard_url(filters),
        },
    )


@require_safe
@analyst_required
def dialog_detail(request: HttpRequest, session_id: str) -> HttpResponse:
    # session ids are short tokens; anything else (a NUL PostgreSQL would refuse, a
    # huge string) is not one, and is "not found" without asking the database
    if not SESSION_ID.fullmatch(session_id):
        raise Http404("No such dialog.")
    dialog = (
        Dialog.objects.filter(
            session_id=session_id, chat__in=chats_for_analyst(request.user).values("pk")
        )
        .select_related("chat", "client")
        .first()
    )
    if dialog is None:
        raise Http404("No such dialog.")
    # every time on the page is in the chat's zone (the template's {% timezone %})
    time_zone = chat_time_zones([dialog.chat_id])[dialog.chat_id]
    binding = (
        CustomerBinding.objects.filter(client=dialog.client).select_related("customer").first()
    )
    requests = list(
        Request.objects.filter(dialog=dialog)
        .select_related("operator")
        .prefetch_related(Prefetch("events", queryset=RequestEvent.objects.select_related("actor")))
        .order_by("created_at", "pk")
    )
    messages = [
        (message, [_attachment_name(item) for item in _as_list(message.attachments)])
        for message in Message.objects.filter(dialog=dialog).order_by("sequence")
    ]
    came_from = list_url_from_referer(request)
    permalink = request.build_absolute_uri(
        reverse("reports:dialog_detail", args=[dialog.session_id])
    )
    return render(
        request,
        "reports/dialog_detail.html",
        {
            "dialog": dialog,
            "time_zone": time_zone,
            "customer": binding.customer if binding else None,
            "markers": list(MarkerHit.objects.filter(dialog=dialog)),
            "page_visits": list(dialog.page_visits.all()),
            "form_answers": DialogFormAnswers.objects.filter(dialog=dialog).first(),
            "requests": requests,
            "feedback": list(
                Feedback.objects.filter(dialog=dialog).select_related("operator").order_by("pk")
            ),
            "messages": messages,
            "permalink": permalink,
            # back to the list the user came from, else to this chat's dialogs
            "came_from_list": came_from is not None,
            "list_url": came_from or reverse("reports:dialog_list") + f"?chat={dialog.chat_id}",
        },
    )


def _page_ids(page: Page) -> list[int]:
    """The page's dialog ids, read the cheap way for the count the page already has.

    With LIMIT/OFFSET PostgreSQL walks the dialogs newest first and checks each
    against the filters until it has the page: quick when most dialogs match, slow
    when few do (a rare word: measured 0.3 s at 1,000,000 messages for page 10). So a
    selection of up to SMALL_SELECTION dialogs is read whole, without a LIMIT (a hash
    join, like the count's), and the page cut from it. A larger one is read from the
    nearer end: an OFFSET walks every row it skips, and past the middle the order is
    reversed so the last page costs what the first does."""
    total = page.paginator.count
    start, end = page.start_index() - 1, page.end_index()
    selection = page.paginator.object_list
    if total == 0:
        return []
    if total <= SMALL_SELECTION:
        return list(selection)[start:end]
    if start <= total // 2:
        return list(page.object_list)
    # the columns' query puts them back in order
    return list(selection.reverse()[total - end : total - start])


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


def _list_rows(dialogs: list[Dialog]) -> list[dict]:
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


def _operators_of(chat_ids: set[int]) -> list[Operator]:
    return list(
        Operator.objects.filter(chats__in=chat_ids).distinct().order_by("display_name", "pk")
    )


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
