"""Scheduled reports: when each runs next, and the beat task's work (schedules_run):
every due schedule makes one report job, which reports.delivery sends when it is
built. Times are the schedule's own time zone; a run is "at `hour`:00 local"."""

from __future__ import annotations

import dataclasses
import datetime
import logging
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from handoff.dialog_filters import DialogFilters
from reports.access import chat_ids_for_analyst, is_analyst
from reports.delivery import delivery_failures_record
from reports.enums import ScheduleFrequency, SchedulePeriod
from reports.models import ReportJob, ScheduledReport
from reports.services import report_job_create

logger = logging.getLogger(__name__)

BATCH = 100


class ScheduleRefused(Exception):
    """The schedule cannot make a report now; the message says why (shown in Admin)."""


def local_hour(day: datetime.date, hour: int, zone: ZoneInfo) -> datetime.datetime:
    """`hour`:00 on `day` in `zone`, as an aware datetime. An hour skipped by a DST
    change (spring forward) gives the moment the clocks jumped to, an hour that happens
    twice (fall back) its first occurrence: zoneinfo's fold=0 reads a skipped local time
    with the offset before the change, which lands after the jump."""
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=zone).astimezone(datetime.UTC)


def next_run_after(schedule: ScheduledReport, moment: datetime.datetime) -> datetime.datetime:
    """The first run of `schedule` strictly after `moment` (UTC)."""
    zone = ZoneInfo(schedule.time_zone)
    day = moment.astimezone(zone).date() - datetime.timedelta(days=1)
    for _offset in range(10):  # a week and both sides of a DST change
        if schedule.frequency == ScheduleFrequency.DAILY or day.weekday() == schedule.weekday:
            run_at = local_hour(day, schedule.hour, zone)
            if run_at > moment:
                return run_at
        day += datetime.timedelta(days=1)
    raise ValueError(f"no run of schedule {schedule.pk} after {moment}")


def period_dates(
    period: str, moment: datetime.datetime, time_zone: str
) -> tuple[datetime.date | None, datetime.date | None]:
    """The days (both ends inclusive) a run at `moment` covers, counted from the
    run's day in `time_zone`."""
    today = moment.astimezone(ZoneInfo(time_zone)).date()
    if period == SchedulePeriod.PREVIOUS_DAY:
        yesterday = today - datetime.timedelta(days=1)
        return yesterday, yesterday
    if period == SchedulePeriod.PREVIOUS_7_DAYS:
        return today - datetime.timedelta(days=7), today - datetime.timedelta(days=1)
    if period == SchedulePeriod.PREVIOUS_MONTH:
        last_day = today.replace(day=1) - datetime.timedelta(days=1)
        return last_day.replace(day=1), last_day
    return None, None


def schedule_filters(schedule: ScheduledReport, moment: datetime.datetime) -> DialogFilters:
    """The schedule's saved filters with the dates of its period for a run at `moment`.
    Raises ValidationError when the stored filters are malformed."""
    date_from, date_to = period_dates(schedule.period, moment, schedule.time_zone)
    filters = DialogFilters.from_json(schedule.filters)
    return dataclasses.replace(filters, date_from=date_from, date_to=date_to)


def schedules_due(now: datetime.datetime) -> QuerySet[ScheduledReport]:
    return ScheduledReport.objects.filter(enabled=True, next_run_at__lte=now)


def schedule_job_create(schedule: ScheduledReport, *, now: datetime.datetime) -> ReportJob:
    """One report job for `schedule` with its filters as of `now`, built as its owner.
    Raises ScheduleRefused when the owner may no longer read reports or the chats."""
    owner = schedule.owner
    if not is_analyst(owner):
        raise ScheduleRefused(
            _("%(user)s may no longer read reports (not staff, not an analyst, or inactive).")
            % {"user": owner}
        )
    try:
        filters = schedule_filters(schedule, now)
    except ValidationError as error:
        raise ScheduleRefused(
            _("The saved filters are not valid: %(errors)s") % {"errors": "; ".join(error.messages)}
        ) from None
    unreadable = set(filters.chat_ids) - chat_ids_for_analyst(owner)
    if unreadable:
        raise ScheduleRefused(
            _("%(user)s may no longer read chat(s) %(chats)s.")
            % {"user": owner, "chats": ", ".join(str(pk) for pk in sorted(unreadable))}
        )
    try:
        return report_job_create(
            user=owner,
            report_type=schedule.report_type,
            filters=filters,
            with_times=schedule.with_times,
            schedule=schedule,
        )
    except (PermissionDenied, ValidationError) as refusal:  # the job engine's refusals
        reasons = refusal.messages if isinstance(refusal, ValidationError) else [str(refusal)]
        raise ScheduleRefused(
            _("The report was refused: %(reason)s") % {"reason": "; ".join(reasons)}
        ) from None


def last_due_run(schedule: ScheduledReport, now: datetime.datetime) -> datetime.datetime:
    """The latest run of a due schedule at or before `now`: the moment its report's
    period is counted from, so a run that starts late (a busy worker past midnight, or
    days missed) still reports the period of the time it was due."""
    due = schedule.next_run_at or now
    while (following := next_run_after(schedule, due)) <= now:
        due = following
    return due


def _run_locked(schedule: ScheduledReport, now: datetime.datetime) -> ReportJob | None:
    """Make the run's job; record the run and a refusal on the (locked) schedule."""
    job = None
    try:
        with transaction.atomic():
            job = schedule_job_create(schedule, now=last_due_run(schedule, now))
        schedule.last_error = ""
    except ScheduleRefused as refusal:
        schedule.last_error = str(refusal)
    except Exception as error:  # a bug in one schedule must not stop the others
        logger.exception("scheduled report %s failed to start", schedule.pk)
        schedule.last_error = _("The report could not be started: %(error)s") % {
            "error": repr(error)[:500]
        }
    schedule.last_run_at = now
    return job


def schedules_run(now: datetime.datetime | None = None) -> int:
    """Start every due schedule once; return how many jobs were made. Each is claimed
    with select_for_update(skip_locked=True) (SQLite's IMMEDIATE transactions serialise
    the same code) and its next run is moved past `now`, so two beats at once, or one
    run twice, start it once, and a schedule missed for days runs once, not per missed
    run. A schedule that has never been given a next run gets one, without running.
    Builds and Telegram sends of earlier runs that failed meanwhile are noted on
    last_error."""
    now = now or timezone.now()
    delivery_failures_record(now=now)
    for schedule in ScheduledReport.objects.filter(enabled=True, next_run_at__isnull=True):
        ScheduledReport.objects.filter(pk=schedule.pk, next_run_at__isnull=True).update(
            next_run_at=next_run_after(schedule, now)
        )
    made = 0
    due = list(schedules_due(now).order_by("next_run_at").values_list("pk", flat=True)[:BATCH])
    for schedule_id in due:
        with transaction.atomic():
            schedule = (
                # of=self: lock the schedule, not its owner's user row
                ScheduledReport.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("owner")
                .filter(pk=schedule_id, enabled=True, next_run_at__lte=now)  # still due?
                .first()
            )
            if schedule is None:
                continue
            job = _run_locked(schedule, now)
            schedule.next_run_at = next_run_after(schedule, now)
            schedule.save(update_fields=["last_run_at", "next_run_at", "last_error"])
            made += job is not None
    return made


def schedule_run_now(
    schedule: ScheduledReport, *, now: datetime.datetime | None = None
) -> ReportJob:
    """Admin's "run now": a job at once, the regular next run left as it is. Raises
    ScheduleRefused, recorded on the schedule too."""
    now = now or timezone.now()
    refusal = None
    with transaction.atomic():
        locked = (
            ScheduledReport.objects.select_for_update(of=("self",))
            .select_related("owner")
            .get(pk=schedule.pk)
        )
        try:
            with transaction.atomic():
                job = schedule_job_create(locked, now=now)
        except ScheduleRefused as error:
            refusal = error
            locked.last_error = str(error)
        else:
            locked.last_run_at = now
            locked.last_error = ""
        locked.save(update_fields=["last_run_at", "last_error"])
    if refusal is not None:
        raise refusal
    return job
