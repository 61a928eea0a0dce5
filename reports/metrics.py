"""Operator metrics against the chats' SLAs, operator productivity and the dashboard's
daily figures: one streamed pass over the selected dialogs, shared by the reports and
the dashboard so both show the same numbers (docs/reports.md defines each one).

Reads only. The dialogs are walked in chunks (keyset on the primary key); per chunk one
query each for the requests, the ratings and the messages (client and operator only,
ordered by dialog and sequence, streamed with iterator()). Memory: the chunk's requests
and one dialog's state at a time, plus the aggregates (counters keyed by whole seconds).

Attribution: an operator message carries no operator id; it belongs to the request
whose [accepted_at, closed_at) window contains it (one open request per dialog at a
time). Messages outside every window are not counted for anybody.
"""

from __future__ import annotations

import datetime
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from chats.enums import AuthorKind
from chats.models import Chat, Message
from distributor.models import Operator
from handoff.dialog_filters import DialogFilters
from handoff.models import Feedback, HandoffSettings, Request, WorkingPeriod
from handoff.selectors_dialogs import DEFAULT_TIME_ZONE, dialogs_filtered
from handoff.working_hours import WeeklyPeriod, Window, WorkingHours

DIALOG_CHUNK = 500
MESSAGE_CHUNK = 2000
RATING_SCALE = 5  # ratings are averaged on a 5-point scale: score × 5 / scale

_SLA_FIRST_DEFAULT = HandoffSettings._meta.get_field("sla_first_response_seconds").default
_SLA_NEXT_DEFAULT = HandoffSettings._meta.get_field("sla_next_response_seconds").default


class ResponseKind:
    FIRST = "first"
    LATER = "later"


# -- working time ---------------------------------------------------------------------


def working_seconds_between(
    hours: WorkingHours, start: datetime.datetime, end: datetime.datetime
) -> float:
    """Seconds of [start, end) that count: all of them when working hours are
    disabled, else only those inside the open windows (the overlap of the interval
    with each window, summed). An end before the start counts 0. Raises ValueError
    for a naive moment."""
    if start.utcoffset() is None or end.utcoffset() is None:
        raise ValueError("working_seconds_between needs aware moments")
    start = start.astimezone(datetime.UTC)
    end = end.astimezone(datetime.UTC)
    if end <= start:
        return 0.0
    if not hours.enabled:
        return (end - start).total_seconds()
    total = datetime.timedelta(0)
    moment = start
    while moment < end:
        window = hours.next_window(moment)
        if window is None:  # enabled without periods: never open
            break
        # in UTC: subtracting two datetimes of the same zone ignores a DST change
        opens, closes = _utc_window(window)
        if opens >= end:
            break
        total += min(end, closes) - max(moment, opens)
        moment = closes
    return total.total_seconds()


def _utc_window(window: Window) -> tuple[datetime.datetime, datetime.datetime]:
    return window.starts_at.astimezone(datetime.UTC), window.ends_at.astimezone(datetime.UTC)


class WorkingClock:
    """working_seconds_between for many waits of one chat, without recomputing the
    windows each time: it keeps the windows (in UTC) that overlap the span it has
    covered so far, and extends the span forward as later waits need it. A wait
    starting before the span (or a span grown too long) starts a new one."""

    MAX_WINDOWS = 4096

    def __init__(self, hours: WorkingHours) -> None:
        self.hours = hours
        self._starts: list[datetime.datetime] = []
        self._windows: list[tuple[datetime.datetime, datetime.datetime]] = []
        self._covered_from: datetime.datetime | None = None
        self._covered_to: datetime.datetime | None = None

    def seconds(self, start: datetime.datetime, end: datetime.datetime) -> float:
        # in UTC: subtracting two datetimes of the same zone ignores a DST change
        start = start.astimezone(datetime.UTC)
        end = end.astimezone(datetime.UTC)
        if end <= start:
            return 0.0
        if not self.hours.enabled:
            return (end - start).total_seconds()
        self._cover(start, end)
        total = datetime.timedelta(0)
        for opens, closes in self._windows[max(bisect_right(self._starts, start) - 1, 0) :]:
            if opens >= end:
                break
            overlap = min(end, closes) - max(start, opens)
            if overlap > datetime.timedelta(0):
                total += overlap
        return total.total_seconds()

    def _cover(self, start: datetime.datetime, end: datetime.datetime) -> None:
        """Afterwards every window overlapping [start, end) is in the list."""
        if (
            self._covered_from is None
            or start < self._covered_from
            or len(self._windows) > self.MAX_WINDOWS
        ):
            self._starts, self._windows = [], []
            self._covered_from = self._covered_to = start
        while self._covered_to < end:
            window = self.hours.next_window(self._covered_to)
            if window is None:  # no periods: never open
                self._covered_to = end
                break
            opens, closes = _utc_window(window)
            self._starts.append(opens)
            self._windows.append((opens, closes))
            self._covered_to = closes


# -- what the chats promise -----------------------------------------------------------


@dataclass(frozen=True)
class ChatRules:
    """A chat's SLAs, zone and working hours as the metrics read them (defaults for a
    chat without handoff settings)."""

    chat_id: int
    time_zone: str
    hours: WorkingHours
    sla_first_seconds: int
    sla_next_seconds: int


def chat_rules(chat_ids: Iterable[int]) -> dict[int, ChatRules]:
    chat_ids = set(chat_ids)
    settings_rows = {
        row[0]: row
        for row in HandoffSettings.objects.filter(chat_id__in=chat_ids).values_list(
            "chat_id",
            "pk",
            "time_zone",
            "working_hours_enabled",
            "sla_first_response_seconds",
            "sla_next_response_seconds",
        )
    }
    periods: dict[int, list[WeeklyPeriod]] = defaultdict(list)
    settings_ids = [row[1] for row in settings_rows.values()]
    for settings_id, weekday, starts_at, ends_at in WorkingPeriod.objects.filter(
        settings_id__in=settings_ids
    ).values_list("settings_id", "weekday", "starts_at", "ends_at"):
        if ends_at > starts_at:  # the admin refuses others; never trust stored rows blindly
            periods[settings_id].append(WeeklyPeriod(weekday, starts_at, ends_at))
    rules = {}
    for chat_id in chat_ids:
        row = settings_rows.get(chat_id)
        if row is None:
            rules[chat_id] = ChatRules(
                chat_id=chat_id,
                time_zone=DEFAULT_TIME_ZONE,
                hours=WorkingHours(enabled=False, time_zone=DEFAULT_TIME_ZONE, periods=()),
                sla_first_seconds=_SLA_FIRST_DEFAULT,
                sla_next_seconds=_SLA_NEXT_DEFAULT,
            )
            continue
        _, settings_id, zone, enabled, sla_first, sla_next = row
        try:
            hours = WorkingHours(enabled=enabled, time_zone=zone, periods=periods[settings_id])
        except ValueError:
            zone = DEFAULT_TIME_ZONE
            hours = WorkingHours(enabled=False, time_zone=zone, periods=())
        rules[chat_id] = ChatRules(
            chat_id=chat_id,
            time_zone=zone,
            hours=hours,
            sla_first_seconds=sla_first,
            sla_next_seconds=sla_next,
        )
    return rules


# -- one measured response --------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """A wait for an operator. `seconds` is the counted time in whole seconds (rounded
    down); None for a first response never given (then `within_sla` is False)."""

    dialog_id: int
    session_id: str
    chat_id: int
    request_id: int
    operator_id: int | None
    kind: str
    asked_at: datetime.datetime
    answered_at: datetime.datetime | None
    seconds: int | None
    sla_seconds: int

    @property
    def within_sla(self) -> bool:
        return self.seconds is not None and self.seconds <= self.sla_seconds


@dataclass
class ResponseStats:
    """Responses of one kind (or both) for a group: counts, sums and a histogram of the
    whole seconds (for the median and the dashboard's distribution)."""

    measured: int = 0  # answered + unanswered
    within_sla: int = 0
    unanswered: int = 0
    seconds_total: int = 0
    seconds_max: int | None = None
    seconds_counts: Counter = field(default_factory=Counter)

    def add(self, response: Response) -> None:
        self.measured += 1
        if response.within_sla:
            self.within_sla += 1
        if response.seconds is None:
            self.unanswered += 1
            return
        self.seconds_total += response.seconds
        self.seconds_counts[response.seconds] += 1
        if self.seconds_max is None or response.seconds > self.seconds_max:
            self.seconds_max = response.seconds

    def merge(self, other: ResponseStats) -> None:
        self.measured += other.measured
        self.within_sla += other.within_sla
        self.unanswered += other.unanswered
        self.seconds_total += other.seconds_total
        self.seconds_counts.update(other.seconds_counts)
        if other.seconds_max is not None and (
            self.seconds_max is None or other.seconds_max > self.seconds_max
        ):
            self.seconds_max = other.seconds_max

    @property
    def answered(self) -> int:
        return self.measured - self.unanswered

    @property
    def seconds_average(self) -> int | None:
        """Mean of the answered responses' seconds, rounded half up to whole seconds."""
        if not self.answered:
            return None
        return _divide_half_up(self.seconds_total, self.answered)

    @property
    def seconds_median(self) -> int | None:
        """The middle answered value; with an even count, the mean of the two middle
        ones rounded half up."""
        count = self.answered
        if not count:
            return None
        lower_index, upper_index = (count - 1) // 2, count // 2
        lower = upper = None
        seen = 0
        for seconds in sorted(self.seconds_counts):
            seen += self.seconds_counts[seconds]
            if lower is None and seen > lower_index:
                lower = seconds
            if seen > upper_index:
                upper = seconds
                break
        return _divide_half_up(lower + upper, 2)

    @property
    def within_sla_fraction(self) -> float | None:
        return self.within_sla / self.measured if self.measured else None


def _divide_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass
class SlaFigures:
    first: ResponseStats = field(default_factory=ResponseStats)
    later: ResponseStats = field(default_factory=ResponseStats)

    @property
    def overall(self) -> ResponseStats:
        both = ResponseStats()
        both.merge(self.first)
        both.merge(self.later)
        return both


@dataclass
class OperatorProductivity:
    operator_id: int
    messages_sent: int = 0
    client_messages: int = 0
    responses: ResponseStats = field(default_factory=ResponseStats)
    requests_accepted: int = 0
    dialogs_handled: int = 0  # dialogs with at least one request the operator accepted
    handling_seconds_total: float = 0.0
    requests_closed: int = 0
    ratings_count: int = 0
    ratings_normalised_total: Fraction = Fraction(0)

    @property
    def handling_seconds_average(self) -> int | None:
        if not self.requests_closed:
            return None
        return int(self.handling_seconds_total / self.requests_closed + 0.5)

    @property
    def rating_average(self) -> Decimal | None:
        """Average of score × 5 / scale, to two decimals (halves up), computed exactly."""
        if not self.ratings_count:
            return None
        average = self.ratings_normalised_total / self.ratings_count
        return (Decimal(average.numerator) / Decimal(average.denominator)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )


@dataclass
class MetricsSummary:
    """Everything the operator metrics, productivity and the dashboard show."""

    rules: dict[int, ChatRules]
    sla: dict[tuple[int | None, int], SlaFigures] = field(default_factory=dict)
    productivity: dict[int, OperatorProductivity] = field(default_factory=dict)
    dialogs_by_day: Counter = field(default_factory=Counter)  # (local date, messenger)
    dialogs_with_request_by_day: Counter = field(default_factory=Counter)  # local date
    ratings: Counter = field(default_factory=Counter)  # (scale, score)
    # dialogs with at least one accepted request (by anybody the filters keep)
    dialogs_handled: int = 0
    operator_names: dict[int, str] = field(default_factory=dict)
    chat_names: dict[int, str] = field(default_factory=dict)

    def operator_label(self, operator_id: int | None) -> str:
        """An operator's display name; requests nobody accepted (or whose manager was
        removed) have none."""
        if operator_id is None:
            return gettext("(no manager)")
        return self.operator_names.get(operator_id, f"#{operator_id}")

    def sla_for(self, operator_id: int | None, chat_id: int) -> SlaFigures:
        key = (operator_id, chat_id)
        if key not in self.sla:
            self.sla[key] = SlaFigures()
        return self.sla[key]

    def productivity_for(self, operator_id: int) -> OperatorProductivity:
        if operator_id not in self.productivity:
            self.productivity[operator_id] = OperatorProductivity(operator_id=operator_id)
        return self.productivity[operator_id]

    def sla_overall(self) -> SlaFigures:
        total = SlaFigures()
        for figures in self.sla.values():
            total.first.merge(figures.first)
            total.later.merge(figures.later)
        return total

    def sla_by_operator(self) -> dict[int | None, SlaFigures]:
        """Across chats, per operator (None: requests nobody accepted)."""
        merged: dict[int | None, SlaFigures] = {}
        for (operator_id, _chat_id), figures in self.sla.items():
            total = merged.setdefault(operator_id, SlaFigures())
            total.first.merge(figures.first)
            total.later.merge(figures.later)
        return merged


# -- the pass ---------------------------------------------------------------------------


@dataclass
class _RequestState:
    pk: int
    operator_id: int | None
    created_at: datetime.datetime
    accepted_at: datetime.datetime | None
    closed_at: datetime.datetime | None
    answered: bool = False
    waiting_since: datetime.datetime | None = None

    def holds(self, moment: datetime.datetime) -> bool:
        return (
            self.accepted_at is not None
            and self.accepted_at <= moment
            and (self.closed_at is None or moment < self.closed_at)
        )


class _Scan:
    """The pass over the selected dialogs: yields each measured response and fills
    `summary` on the way (complete once the generator is exhausted)."""

    def __init__(
        self,
        *,
        chat_ids: Iterable[int],
        filters: DialogFilters,
        now: datetime.datetime | None = None,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self.chat_ids = set(chat_ids)
        self.filters = filters
        self.now = now or timezone.now()
        self.heartbeat = heartbeat
        self.summary = MetricsSummary(rules=chat_rules(self.chat_ids))
        self._clocks = {
            chat_id: WorkingClock(rule.hours) for chat_id, rule in self.summary.rules.items()
        }
        self._zones = {
            chat_id: ZoneInfo(rule.time_zone) for chat_id, rule in self.summary.rules.items()
        }

    def dialogs(self) -> QuerySet:
        return dialogs_filtered(chat_ids=self.chat_ids, filters=self.filters).order_by("pk")

    def responses(self) -> Iterator[Response]:
        selected = self.dialogs().values_list(
            "pk", "chat_id", "messenger", "session_id", "started_at"
        )
        last_pk = 0
        while True:
            chunk = list(selected.filter(pk__gt=last_pk)[:DIALOG_CHUNK])
            if not chunk:
                break
            last_pk = chunk[-1][0]
            yield from self._chunk(chunk)
            if self.heartbeat is not None:
                self.heartbeat()
        self._names()

    def _chunk(self, chunk: list[tuple]) -> Iterator[Response]:
        dialog_ids = [row[0] for row in chunk]
        requests: dict[int, list[_RequestState]] = defaultdict(list)
        for dialog_id, pk, operator_id, created_at, accepted_at, closed_at in (
            Request.objects.filter(dialog_id__in=dialog_ids)
            .order_by("dialog_id", "created_at", "pk")
            .values_list("dialog_id", "pk", "operator_id", "created_at", "accepted_at", "closed_at")
        ):
            requests[dialog_id].append(
                _RequestState(pk, operator_id, created_at, accepted_at, closed_at)
            )
        self._count_dialogs(chunk, requests)
        self._count_ratings(dialog_ids)
        messages = (
            Message.objects.filter(
                dialog_id__in=dialog_ids,
                author_kind__in=[AuthorKind.CLIENT, AuthorKind.OPERATOR],
            )
            .order_by("dialog_id", "sequence")
            .values_list("dialog_id", "author_kind", "created_at")
            .iterator(chunk_size=MESSAGE_CHUNK)
        )
        dialogs = {row[0]: row for row in chunk}
        seen: set[int] = set()
        current_id = None
        counted: list[_RequestState] = []
        for dialog_id, author_kind, created_at in messages:
            if dialog_id != current_id:
                if current_id is not None:
                    yield from self._dialog_end(dialogs[current_id], counted)
                current_id = dialog_id
                seen.add(dialog_id)
                counted = self._counted_requests(requests[dialog_id])
            yield from self._message(dialogs[dialog_id], counted, author_kind, created_at)
        if current_id is not None:
            yield from self._dialog_end(dialogs[current_id], counted)
        # dialogs without client or operator messages still have requests to settle
        for row in chunk:
            if row[0] not in seen and requests.get(row[0]):
                yield from self._dialog_end(row, self._counted_requests(requests[row[0]]))

    def _counted_requests(self, states: list[_RequestState]) -> list[_RequestState]:
        """The dialog's requests that count (an operator filter keeps only that
        operator's). The dialog counts once as handled by each operator who accepted
        any of them, however many requests they took in it."""
        chosen = []
        handled_by: set[int] = set()
        for state in states:
            if self.filters.operator_id and state.operator_id != self.filters.operator_id:
                continue
            chosen.append(state)
            if state.operator_id is not None and state.accepted_at is not None:
                figures = self.summary.productivity_for(state.operator_id)
                figures.requests_accepted += 1
                if state.operator_id not in handled_by:
                    handled_by.add(state.operator_id)
                    figures.dialogs_handled += 1
                if state.closed_at is not None:
                    figures.requests_closed += 1
                    figures.handling_seconds_total += max(
                        (state.closed_at - state.accepted_at).total_seconds(), 0.0
                    )
        if handled_by:
            self.summary.dialogs_handled += 1
        return chosen

    def _message(
        self,
        dialog: tuple,
        states: list[_RequestState],
        author_kind: str,
        created_at: datetime.datetime,
    ) -> Iterator[Response]:
        state = next((state for state in states if state.holds(created_at)), None)
        if state is None or state.operator_id is None:
            return
        figures = self.summary.productivity_for(state.operator_id)
        if author_kind == AuthorKind.CLIENT:
            figures.client_messages += 1
            if state.answered and state.waiting_since is None:
                state.waiting_since = created_at
            return
        figures.messages_sent += 1
        if not state.answered:
            if created_at < state.created_at:
                return
            state.answered = True
            yield self._record(dialog, state, ResponseKind.FIRST, state.created_at, created_at)
        elif state.waiting_since is not None:
            asked_at, state.waiting_since = state.waiting_since, None
            yield self._record(dialog, state, ResponseKind.LATER, asked_at, created_at)

    def _dialog_end(self, dialog: tuple, states: list[_RequestState]) -> Iterator[Response]:
        """Requests never answered: a first response not given counts as unanswered,
        unless the SLA had not run out when nobody could answer any more or yet: the
        request is still open, or it closed before an operator accepted it (the client
        left, the unavailable notice outside working hours). A later wait still open
        at the end is not measured (see docs)."""
        chat_id = dialog[1]
        rules = self.summary.rules[chat_id]
        for state in states:
            state.waiting_since = None
            if state.answered:
                continue
            if state.closed_at is None or state.accepted_at is None:
                waited = self._clocks[chat_id].seconds(
                    state.created_at, state.closed_at or self.now
                )
                if int(waited) <= rules.sla_first_seconds:
                    continue
            yield self._record(dialog, state, ResponseKind.FIRST, state.created_at, None)

    def _record(
        self,
        dialog: tuple,
        state: _RequestState,
        kind: str,
        asked_at: datetime.datetime,
        answered_at: datetime.datetime | None,
    ) -> Response:
        """Measure a response (None: never answered), add it to the figures."""
        chat_id = dialog[1]
        rules = self.summary.rules[chat_id]
        seconds = None
        if answered_at is not None:
            seconds = int(self._clocks[chat_id].seconds(asked_at, answered_at))
        response = Response(
            dialog_id=dialog[0],
            session_id=dialog[3],
            chat_id=chat_id,
            request_id=state.pk,
            operator_id=state.operator_id,
            kind=kind,
            asked_at=asked_at,
            answered_at=answered_at,
            seconds=seconds,
            sla_seconds=(
                rules.sla_first_seconds if kind == ResponseKind.FIRST else rules.sla_next_seconds
            ),
        )
        self._add(response)
        return response

    def _add(self, response: Response) -> None:
        figures = self.summary.sla_for(response.operator_id, response.chat_id)
        (figures.first if response.kind == ResponseKind.FIRST else figures.later).add(response)
        if response.operator_id is not None:
            self.summary.productivity_for(response.operator_id).responses.add(response)

    def _count_dialogs(self, chunk: list[tuple], requests: dict[int, list]) -> None:
        for dialog_id, chat_id, messenger, _session_id, started_at in chunk:
            day = started_at.astimezone(self._zones[chat_id]).date()
            self.summary.dialogs_by_day[(day, messenger)] += 1
            if requests.get(dialog_id):
                self.summary.dialogs_with_request_by_day[day] += 1

    def _count_ratings(self, dialog_ids: list[int]) -> None:
        ratings = Feedback.objects.filter(dialog_id__in=dialog_ids)
        if self.filters.operator_id:
            ratings = ratings.filter(operator_id=self.filters.operator_id)
        for operator_id, scale, score in ratings.values_list("operator_id", "scale", "score"):
            if not scale or not 1 <= score <= scale:
                continue
            self.summary.ratings[(scale, score)] += 1
            if operator_id is not None:
                figures = self.summary.productivity_for(operator_id)
                figures.ratings_count += 1
                figures.ratings_normalised_total += Fraction(score * RATING_SCALE, scale)

    def _names(self) -> None:
        operator_ids = {key[0] for key in self.summary.sla if key[0] is not None}
        operator_ids |= set(self.summary.productivity)
        self.summary.operator_names = dict(
            Operator.objects.filter(pk__in=operator_ids).values_list("pk", "display_name")
        )
        self.summary.chat_names = dict(
            Chat.objects.filter(pk__in=self.chat_ids).values_list("pk", "name")
        )


def metrics_responses(
    *,
    chat_ids: Iterable[int],
    filters: DialogFilters,
    now: datetime.datetime | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> Iterator[Response]:
    """Every measured response of the selected dialogs, streamed (dialog by dialog).
    `heartbeat` is called after each chunk of dialogs."""
    return _Scan(chat_ids=chat_ids, filters=filters, now=now, heartbeat=heartbeat).responses()


def metrics_compute(
    *,
    chat_ids: Iterable[int],
    filters: DialogFilters,
    now: datetime.datetime | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> MetricsSummary:
    """The aggregates of one pass: SLA figures per (operator, chat), productivity per
    operator, dialogs per day and channel, handoff counts per day, ratings.
    `heartbeat` is called after each chunk of dialogs (a report job's, which writes
    no row until the pass is over)."""
    scan = _Scan(chat_ids=chat_ids, filters=filters, now=now, heartbeat=heartbeat)
    for _response in scan.responses():
        pass
    return scan.summary
