"""When operators take handoffs: a weekly schedule of wall-clock periods in one time zone.

Pure: no models, no database. Periods are wall-clock times in the schedule's zone, so a
09:00 start is 08:00 UTC in a Rome winter and 07:00 UTC in a Rome summer.

DST rules, applied to every period's start and end:

- A wall time that happens twice (autumn fall-back) means its first occurrence (``fold=0``).
- A wall time that does not exist (spring-forward gap) means the first instant that does
  exist after it, i.e. the moment of the jump. On the night Europe/Rome goes 02:00→03:00, a
  period 02:30–05:00 opens at 03:00 CEST: from then on the wall clock shows a time inside
  the period. (Round-tripping through UTC would give 03:30 instead and leave 03:00–03:30
  closed although the clock on the wall reads a working time.) A period that lies entirely
  inside the gap is empty that night.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.functional import Promise
from django.utils.translation import gettext, override, pgettext_lazy

# Enough to reach the same weekday next week from any moment, plus a day of slack.
LOOKAHEAD_DAYS = 8

WEEKDAY_ABBREVIATIONS: tuple[Promise, ...] = (
    pgettext_lazy("weekday", "Mon"),
    pgettext_lazy("weekday", "Tue"),
    pgettext_lazy("weekday", "Wed"),
    pgettext_lazy("weekday", "Thu"),
    pgettext_lazy("weekday", "Fri"),
    pgettext_lazy("weekday", "Sat"),
    pgettext_lazy("weekday", "Sun"),
)


@dataclass(frozen=True)
class WeeklyPeriod:
    """Wall-clock hours on one weekday (0 = Monday … 6 = Sunday).

    ``ends_at`` must be after ``starts_at``: a period does not cross midnight, admins split
    it into two. Checked by ``WorkingHours``.
    """

    weekday: int
    starts_at: datetime.time
    ends_at: datetime.time


@dataclass(frozen=True)
class Window:
    """Concrete open hours, half-open ``[starts_at, ends_at)``, aware in the schedule's zone."""

    starts_at: datetime.datetime
    ends_at: datetime.datetime


class WorkingHours:
    def __init__(self, *, enabled: bool, time_zone: str, periods: Iterable[WeeklyPeriod]) -> None:
        """Raises ValueError for an unknown time zone or an invalid period."""
        try:
            zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError, OSError) as error:
            raise ValueError(f"Unknown time zone: {time_zone!r}") from error
        periods = tuple(periods)
        for period in periods:
            _check_period(period)
        self.enabled = enabled
        self.time_zone = time_zone
        self.periods = periods
        self._zone = zone
        self._hours_by_weekday = _merged_hours_by_weekday(periods)

    def __repr__(self) -> str:
        return (
            f"WorkingHours(enabled={self.enabled!r}, time_zone={self.time_zone!r}, "
            f"periods={self.periods!r})"
        )

    def is_open(self, moment: datetime.datetime) -> bool:
        """Disabled means open 24/7; enabled with no periods means never open."""
        if not self.enabled:
            _check_aware(moment)
            return True
        window = self.next_window(moment)
        return window is not None and window.starts_at <= moment < window.ends_at

    def next_window(self, moment: datetime.datetime) -> Window | None:
        """The window open at ``moment``, else the nearest one starting after it.

        None when disabled (there are no windows, it is always open) or there are no periods.
        """
        _check_aware(moment)
        if not self.enabled:
            return None
        for window in self._windows_from(moment.astimezone(self._zone).date()):
            if window.ends_at > moment:
                return window
        return None

    def _windows_from(self, local_date: datetime.date) -> list[Window]:
        """Windows from the day before ``local_date`` on, sorted and merged.

        The day before is included because, around DST changes near midnight, the local date
        of a moment and the date of the window containing it can differ.
        """
        windows: list[Window] = []
        for offset in range(-1, LOOKAHEAD_DAYS + 1):
            day = local_date + datetime.timedelta(days=offset)
            for starts_at, ends_at in self._hours_by_weekday[day.weekday()]:
                window = Window(
                    starts_at=_existing_instant(day, starts_at, self._zone),
                    ends_at=_existing_instant(day, ends_at, self._zone),
                )
                # A period wholly inside a spring-forward gap does not happen that night.
                if window.ends_at <= window.starts_at:
                    continue
                # Two periods on either side of a gap can meet at the jump: one window.
                if windows and window.starts_at <= windows[-1].ends_at:
                    windows[-1] = Window(
                        starts_at=windows[-1].starts_at,
                        ends_at=max(windows[-1].ends_at, window.ends_at),
                    )
                else:
                    windows.append(window)
        return windows


def window_text(window: Window, *, language: str) -> str:
    """'Nearest manager working hours — Mon 09:00–18:00' in ``language`` (en, ru, it)."""
    with override(language):
        return gettext("Nearest manager working hours — %(day)s %(start)s–%(end)s") % {
            "day": str(WEEKDAY_ABBREVIATIONS[window.starts_at.weekday()]),
            "start": window.starts_at.strftime("%H:%M"),
            "end": window.ends_at.strftime("%H:%M"),
        }


def _check_period(period: WeeklyPeriod) -> None:
    if not 0 <= period.weekday <= 6:
        raise ValueError(
            f"Weekday must be 0 (Monday) to 6 (Sunday), got {period.weekday!r} in {period!r}"
        )
    if period.starts_at.tzinfo is not None or period.ends_at.tzinfo is not None:
        raise ValueError(
            f"Period times are wall-clock times in the schedule's zone and must be naive: "
            f"{period!r}"
        )
    if period.ends_at <= period.starts_at:
        raise ValueError(
            f"Period must end after it starts (split periods that cross midnight): "
            f"{period.starts_at:%H:%M}–{period.ends_at:%H:%M} on weekday {period.weekday}"
        )


def _check_aware(moment: datetime.datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"Moment must be an aware datetime, got naive {moment!r}")


def _merged_hours_by_weekday(
    periods: Iterable[WeeklyPeriod],
) -> list[list[tuple[datetime.time, datetime.time]]]:
    """Per weekday, sorted wall-clock intervals with touching or overlapping ones merged."""
    hours_by_weekday: list[list[tuple[datetime.time, datetime.time]]] = [[] for _ in range(7)]
    for period in sorted(periods, key=lambda p: (p.weekday, p.starts_at)):
        hours = hours_by_weekday[period.weekday]
        if hours and period.starts_at <= hours[-1][1]:
            hours[-1] = (hours[-1][0], max(hours[-1][1], period.ends_at))
        else:
            hours.append((period.starts_at, period.ends_at))
    return hours_by_weekday


def _existing_instant(
    day: datetime.date, wall_time: datetime.time, zone: ZoneInfo
) -> datetime.datetime:
    """The instant the wall clock in ``zone`` shows ``wall_time`` on ``day``.

    Repeated wall time: the first occurrence. Non-existent wall time: the instant of the jump.
    """
    candidate = datetime.datetime.combine(day, wall_time, tzinfo=zone)  # fold=0
    in_utc = candidate.astimezone(datetime.UTC)
    if in_utc.astimezone(zone).replace(tzinfo=None) == candidate.replace(tzinfo=None):
        return candidate
    # In a gap, fold=1 reads the wall time with the offset after the jump (an instant before
    # it) and fold=0 with the offset before (an instant after it); the jump lies between.
    # Transitions fall on whole seconds, so bisect over seconds.
    before = int(candidate.replace(fold=1).timestamp()) - 1
    after = int(in_utc.timestamp()) + 1
    offset_before = _utc_offset_at(before, zone)
    while after - before > 1:
        middle = (before + after) // 2
        if _utc_offset_at(middle, zone) == offset_before:
            before = middle
        else:
            after = middle
    return datetime.datetime.fromtimestamp(after, tz=zone)


def _utc_offset_at(timestamp: int, zone: ZoneInfo) -> datetime.timedelta | None:
    return datetime.datetime.fromtimestamp(timestamp, tz=zone).utcoffset()
