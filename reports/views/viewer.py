"""The dialog viewer: the filtered, paginated list of dialogs and one dialog's page
with its permanent link. Both read only the chats the user may read
(reports.access); a dialog of another chat is "not found", like an unknown one."""

from __future__ import annotations

import re

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.formats import number_format
from django.views.decorators.http import require_safe

from chats.enums import Messenger
from handoff.dialog_filters import DialogFilters, DialogStatusFilter
from handoff.selectors_dialogs import dialogs_filtered
from reports.access import chats_for_analyst
from reports.selectors import chat_ids_chosen
from reports.selectors_viewer import (
    dialog_detail_read,
    dialog_for_analyst,
    dialog_page_ids,
    dialog_page_rows,
    dialog_paginator,
    operators_of_chats,
)
from reports.views.auth import analyst_required
from reports.views.links import (
    chooser_url,
    dashboard_url,
    labelled_errors,
    list_url_from_referer,
)

DIALOGS_PER_PAGE = 50
SESSION_ID = re.compile(r"[0-9A-Za-z_-]{1,32}")
# up to this many selected dialogs, a page's ids are cut from all of them (dialog_page_ids)
SMALL_SELECTION = 10_000
# a message sequence in ?after= / ?before= (PositiveBigIntegerField)
SEQUENCE = re.compile(r"[0-9]{1,18}")


@require_safe
@analyst_required
def dialog_list(request: HttpRequest) -> HttpResponse:
    filters = DialogFilters.from_query(request.GET)
    chats = list(chats_for_analyst(request.user).order_by("name", "pk"))
    dialogs = dialogs_filtered(
        chat_ids=chat_ids_chosen(user=request.user, filters=filters), filters=filters
    )
    # the page's ids first (the count and an index walk), then the columns of those 50
    # only: computed in the paged query, the message counts would be computed for
    # every row an OFFSET skips on the way to a far page
    paginator = dialog_paginator(dialogs, filters=filters, per_page=DIALOGS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    rows = dialog_page_rows(dialog_page_ids(page, read_whole_up_to=SMALL_SELECTION))
    return render(
        request,
        "reports/dialog_list.html",
        {
            "filters": filters,
            "filter_query": filters.to_query(),
            "chats": chats,
            "messengers": Messenger.choices,
            "statuses": DialogStatusFilter.choices,
            "operators": operators_of_chats(chat.pk for chat in chats),
            "page": page,
            "rows": rows,
            "total": paginator.count,
            # more dialogs hold the words than were counted: "more than 10,000"
            "total_capped": paginator.capped,
            "count_cap": number_format(paginator.count_cap or 0, force_grouping=True),
            "filter_errors": labelled_errors(filters.errors),
            "filtered": filters != DialogFilters() or bool(filters.errors),
            "chooser_url": chooser_url(filters),
            "dashboard_url": dashboard_url(filters),
        },
    )


@require_safe
@analyst_required
def dialog_detail(request: HttpRequest, session_id: str) -> HttpResponse:
    """One dialog, its messages MESSAGES_PER_PAGE at a time: the first ones, or those
    after ?after=<sequence>, or those before ?before=<sequence> (anything else in
    them is ignored: the first ones)."""
    # session ids are short tokens; anything else (a NUL PostgreSQL would refuse, a
    # huge string) is not one, and is "not found" without asking the database
    if not SESSION_ID.fullmatch(session_id):
        raise Http404("No such dialog.")
    dialog = dialog_for_analyst(user=request.user, session_id=session_id)
    if dialog is None:
        raise Http404("No such dialog.")
    after = _sequence(request.GET.get("after"))
    before = None if after is not None else _sequence(request.GET.get("before"))
    detail = dialog_detail_read(dialog, after=after, before=before)
    came_from = list_url_from_referer(request)
    path = reverse("reports:dialog_detail", args=[dialog.session_id])
    if after is not None:
        this_page = f"{path}?after={after}"
    elif before is not None:
        this_page = f"{path}?before={before}"
    else:
        this_page = path
    return render(
        request,
        "reports/dialog_detail.html",
        {
            "dialog": dialog,
            "time_zone": detail.time_zone,
            "customer": detail.customer,
            "markers": detail.markers,
            "markers_hidden": detail.marker_total - len(detail.markers),
            "page_visits": detail.page_visits,
            "page_visits_hidden": detail.page_visit_total - len(detail.page_visits),
            "requests_hidden": detail.request_total - len(detail.requests),
            "form_answers": detail.form_answers,
            "requests": detail.requests,
            "feedback": detail.feedback,
            "messages": detail.messages.messages,
            "message_total": detail.messages.total,
            "earlier_url": (
                f"{path}?before={detail.messages.earlier_before}"
                if detail.messages.earlier_before is not None
                else None
            ),
            "later_url": (
                f"{path}?after={detail.messages.later_after}"
                if detail.messages.later_after is not None
                else None
            ),
            "this_page": this_page,
            # the dialog's permanent link, whichever page of messages is shown
            "permalink": request.build_absolute_uri(path),
            # back to the list the user came from, else to this chat's dialogs
            "came_from_list": came_from is not None,
            "list_url": came_from or reverse("reports:dialog_list") + f"?chat={dialog.chat_id}",
        },
    )


def _sequence(value: str | None) -> int | None:
    return int(value) if value and SEQUENCE.fullmatch(value) else None
