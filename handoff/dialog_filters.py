"""The dialog viewer's filters, one shape for the dialog list, report jobs, schedules,
the dashboard and the API's dialog list: read from a query string, stored as JSON,
turned into a queryset (handoff.selectors_dialogs.dialogs_filtered)."""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field

from django.core.exceptions import ValidationError
from django.db import models
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chats.enums import Messenger


class DialogStatusFilter(models.TextChoices):
    """The viewer's status filter (SPEC "Dialog viewer")."""

    ALL = "all", gettext_lazy("all")
    ACTIVE = "active", gettext_lazy("active")
    CLOSED = "closed", gettext_lazy("closed")
    NO_OPERATOR_RESPONSE = "no_operator_response", gettext_lazy("no operator response")


MAX_TEXT = 200
MAX_MARKER = 100
# a day's end is the next day's start: the last date must have a next one
EARLIEST_DATE = datetime.date(1970, 1, 1)
LATEST_DATE = datetime.date(9998, 12, 31)


@dataclass(frozen=True)
class DialogFilters:
    """Empty values mean "any". Dates are calendar days in each chat's time zone,
    both ends inclusive."""

    chat_ids: tuple[int, ...] = ()
    messengers: tuple[str, ...] = ()
    status: str = DialogStatusFilter.ALL
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    marker: str = ""
    operator_id: int | None = None
    text: str = ""
    errors: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_query(cls, query: QueryDict | dict) -> DialogFilters:
        """Parse the viewer's query string. Bad values are dropped and reported in
        `errors` (field -> message) so the page can say what it ignored."""
        errors: dict[str, str] = {}

        def values(name: str) -> list[str]:
            if isinstance(query, QueryDict):
                return [value for value in query.getlist(name) if value != ""]
            raw = query.get(name)
            if raw in (None, ""):
                return []
            return [str(item) for item in raw] if isinstance(raw, list | tuple) else [str(raw)]

        def one(name: str) -> str:
            found = values(name)
            return found[-1].strip() if found else ""

        chat_ids = []
        for value in values("chat"):
            try:
                chat_ids.append(_positive_int(value))
            except ValueError:
                errors["chat"] = _("Unknown chat.")
        messengers = []
        for value in values("messenger"):
            if value in Messenger.values:
                messengers.append(value)
            else:
                errors["messenger"] = _("Unknown messenger.")
        status = one("status") or DialogStatusFilter.ALL
        if status not in DialogStatusFilter.values:
            errors["status"] = _("Unknown status.")
            status = DialogStatusFilter.ALL
        dates = {}
        for name in ("date_from", "date_to"):
            raw = one(name)
            dates[name] = None
            if raw:
                try:
                    day = datetime.date.fromisoformat(raw)
                except ValueError:
                    errors[name] = _("Enter a date as YYYY-MM-DD.")
                    continue
                if EARLIEST_DATE <= day <= LATEST_DATE:
                    dates[name] = day
                else:
                    errors[name] = _("Enter a date between %(first)s and %(last)s.") % {
                        "first": EARLIEST_DATE.isoformat(),
                        "last": LATEST_DATE.isoformat(),
                    }
        if dates["date_from"] and dates["date_to"] and dates["date_from"] > dates["date_to"]:
            errors["date_to"] = _("The end date is before the start date.")
            dates["date_to"] = None
        operator_id = None
        if one("operator"):
            try:
                operator_id = _positive_int(one("operator"))
            except ValueError:
                errors["operator"] = _("Unknown manager.")
        marker = one("marker")
        if len(marker) > MAX_MARKER:
            errors["marker"] = _("The marker is too long.")
            marker = ""
        text = one("text")
        if len(text) > MAX_TEXT:
            errors["text"] = _("Search for at most %(count)d characters.") % {"count": MAX_TEXT}
            text = ""
        return cls(
            chat_ids=tuple(sorted(set(chat_ids))),
            messengers=tuple(sorted(set(messengers))),
            status=status,
            date_from=dates["date_from"],
            date_to=dates["date_to"],
            marker=_clean_text(marker),
            operator_id=operator_id,
            text=_clean_text(text),
            errors=errors,
        )

    @classmethod
    def from_json(cls, data: object) -> DialogFilters:
        """Filters stored by to_json() (a job's, a schedule's). Anything malformed is
        refused: stored filters were valid when written."""
        if not isinstance(data, dict):
            raise ValidationError(_("Stored filters are not an object."))
        filters = cls.from_query(data)
        if filters.errors:
            raise ValidationError(filters.errors)
        return filters

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("errors")
        data["chat"] = list(data.pop("chat_ids"))
        data["messenger"] = list(data.pop("messengers"))
        data["operator"] = data.pop("operator_id")
        for name in ("date_from", "date_to"):
            data[name] = data[name].isoformat() if data[name] else None
        if data["status"] == DialogStatusFilter.ALL:
            data.pop("status")  # the default: links and stored filters stay short
        return {key: value for key, value in data.items() if value not in (None, "", [])}

    def to_query(self) -> str:
        """The query string of these filters (for links and permalinks)."""
        query = QueryDict(mutable=True)
        for key, value in self.to_json().items():
            if isinstance(value, list):
                query.setlist(key, [str(item) for item in value])
            else:
                query[key] = str(value)
        return query.urlencode()


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1 or number > 2**63 - 1:
        raise ValueError(value)
    return number


def _clean_text(value: str) -> str:
    """Text that can be stored and sent anywhere: no NUL, no lone surrogates."""
    value = value.replace("\x00", "")
    return value.encode("utf-8", "replace").decode("utf-8") if value else value
