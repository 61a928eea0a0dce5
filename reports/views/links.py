"""Links between the analyst pages that carry the filters along: from the dialogs to
the report chooser and the dashboard, and back. Presentation only: the filters are
DialogFilters, the pages check access themselves."""

from __future__ import annotations

import dataclasses
import datetime
from urllib.parse import urlsplit

from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django.utils.translation import gettext_lazy

from handoff.dialog_filters import DialogFilters

# what each filter is called on the pages, to say which one an error is about
FILTER_LABELS = {
    "chat": gettext_lazy("Chat"),
    "messenger": gettext_lazy("Channels"),
    "status": gettext_lazy("Status"),
    "date_from": gettext_lazy("From"),
    "date_to": gettext_lazy("To"),
    "marker": gettext_lazy("Marker"),
    "operator": gettext_lazy("Operator"),
    "text": gettext_lazy("Text"),
}


def labelled_errors(errors: dict[str, str]) -> list[tuple[str, str]]:
    """(filter label, message) pairs, in the order the filters are on the page."""
    order = list(FILTER_LABELS)
    return [
        (str(FILTER_LABELS.get(name, "")), message)
        for name, message in sorted(
            errors.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99
        )
    ]


def _with_query(url: str, filters: DialogFilters) -> str:
    query = filters.to_query()
    return url + (f"?{query}" if query else "")


def viewer_url(filters: DialogFilters) -> str:
    return _with_query(reverse("reports:dialog_list"), filters)


def chooser_url(filters: DialogFilters) -> str:
    return _with_query(reverse("reports:job_list"), filters)


def dashboard_url(filters: DialogFilters) -> str:
    """The dashboard of the same chats and days: it has only those two filters, so
    the others are left behind rather than applied unseen."""
    kept = DialogFilters(
        chat_ids=filters.chat_ids, date_from=filters.date_from, date_to=filters.date_to
    )
    return _with_query(reverse("reports:dashboard"), kept)


def viewer_url_for_days(filters: DialogFilters, first: datetime.date, last: datetime.date) -> str:
    """The dialogs of these filters started between the two days (both included)."""
    return viewer_url(dataclasses.replace(filters, date_from=first, date_to=last))


def list_url_from_referer(request: HttpRequest) -> str | None:
    """The dialog list the user came from (with its filters and page), when the
    Referer says so: a dialog's page leads back there rather than to the bare list.
    Only a path of this site's dialog list is taken, never another address."""
    referer = request.headers.get("referer", "")
    if not referer or len(referer) > 4000:
        return None
    parts = urlsplit(referer)
    if parts.netloc and parts.netloc != request.get_host():
        return None
    if parts.path != reverse("reports:dialog_list"):
        return None
    # rebuilt from the filters it holds: nothing else of the Referer is echoed
    query = QueryDict(parts.query)
    url = viewer_url(DialogFilters.from_query(query))
    page = query.get("page", "")
    if page.isascii() and page.isdigit() and len(page) < 10 and page != "1":
        url += ("&" if "?" in url else "?") + f"page={page}"
    return url
