"""What a report is, independent of the file it is written to: named sheets of typed
columns and rows streamed from the database. reports.xlsx writes them (write-only
workbook, constant memory); tests read the same rows back from the file."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser

from handoff.dialog_filters import DialogFilters


class ColumnKind:
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"  # money: 4 decimal places
    PERCENT = "percent"  # a fraction 0..1 shown as %
    SECONDS = "seconds"  # a duration in whole seconds (a number, not a time)
    DATETIME = "datetime"  # naive wall-clock time in the chat's zone, to the second
    DATE = "date"


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = ColumnKind.TEXT
    width: int = 14  # characters


@dataclass
class Sheet:
    """A sheet of a report. `rows` yields tuples in column order. Values of a
    DATETIME column should be naive wall-clock times already in the row's chat zone
    (builders convert them, e.g. with dialog_data.WallClock). An aware one is shown
    in the report's single zone instead (reports.xlsx.workbook_write's `time_zone`:
    the zone of the report's chats when they share one, else UTC), which is right
    only for a report of one zone."""

    title: str
    columns: list[Column]
    rows: Iterator[tuple]


@dataclass(frozen=True)
class ReportContext:
    """Who asked and for what: builders read only `chat_ids` (access already
    checked) and the filters."""

    user: AbstractBaseUser | None
    chat_ids: frozenset[int]
    filters: DialogFilters
    with_times: bool = False
    time_zones: dict[int, str] = field(default_factory=dict)  # chat id -> zone
    now: datetime.datetime | None = None


class ReportBuilder:
    """Subclasses set `report_type` and implement `rows_total` (an estimate is fine:
    it drives the progress bar) and `sheets`."""

    report_type: str = ""
    # set by the job engine: a builder that reads for long before it hands over a row
    # calls it now and then, so the sweep does not take the build for a dead one
    heartbeat: Callable[[], None] | None = None

    def __init__(self, context: ReportContext) -> None:
        self.context = context

    def rows_total(self) -> int:
        raise NotImplementedError

    def sheets(self) -> Iterator[Sheet]:
        raise NotImplementedError
