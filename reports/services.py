"""Report jobs: asked for by an analyst (or a schedule), built by a Celery task into
an .xlsx file with live progress, kept REPORT_RETENTION_HOURS and then deleted.

A job goes queued → running → done | failed, and done → expired when its file is
deleted. Each step is a conditional UPDATE on the status it leaves, so a task run
twice, a sweep running beside a build, or two sweeps at once change a job once."""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import tempfile
import time
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from chats.models import Chat
from handoff.dialog_filters import DialogFilters
from handoff.selectors_dialogs import chat_time_zones
from reports import xlsx
from reports.access import chat_ids_for_analyst, is_analyst
from reports.builders import BUILDERS
from reports.builders.base import ReportContext
from reports.delivery import job_deliver
from reports.enums import ReportJobStatus
from reports.models import ReportJob, ScheduledReport
from reports.selectors import chat_ids_chosen

logger = logging.getLogger(__name__)

BUILD_JOB_TASK = "reports.build_job"
# a running job whose progress has not moved for this long lost its worker
HEARTBEAT_STALE_MINUTES = 10
ERROR_MAX_CHARS = 500
INTERRUPTED_ERROR = "interrupted: the worker building it stopped"
# a queued job whose task was lost (the broker was away when it was sent) is sent again
QUEUED_RESEND_MINUTES = 10
# reports one analyst may have waiting or building at once (schedules aside)
MAX_ACTIVE_JOBS = 5
# a file being built is ".building-<job id>-<random>.xlsx" beside the report files
TEMPORARY_PREFIX = ".building-"


class _BuiltFile(File):
    """The built file, moved (not copied) into the storage: FileSystemStorage renames
    a file that tells its temporary path."""

    def temporary_file_path(self) -> str:
        return self.file.name


class JobInterrupted(Exception):
    """The job stopped being "running" while it was built (the sweep failed it)."""


def report_job_create(
    *,
    user,
    report_type: str,
    filters: DialogFilters,
    with_times: bool,
    schedule: ScheduledReport | None = None,
) -> ReportJob:
    """Queue a report for `user`; the build task is sent after commit.

    Raises PermissionDenied for a user who is not an analyst and ValidationError for
    an unknown report type, filters that did not parse, or a user who already has
    MAX_ACTIVE_JOBS reports waiting (a schedule's jobs are not limited)."""
    if not is_analyst(user):
        raise PermissionDenied(_("Only analysts may build reports."))
    if report_type not in BUILDERS:
        raise ValidationError(_("Unknown report."), code="report_type")
    if filters.errors:
        raise ValidationError(list(filters.errors.values()), code="filters")
    with transaction.atomic():
        if schedule is None:
            # the owner's row locked: requests at the same instant count one after
            # another (SQLite's IMMEDIATE transactions serialise them anyway)
            get_user_model().objects.select_for_update().filter(pk=user.pk).first()
            active = ReportJob.objects.filter(
                owner=user, status__in=[ReportJobStatus.QUEUED, ReportJobStatus.RUNNING]
            )
            if active.count() >= MAX_ACTIVE_JOBS:
                raise ValidationError(
                    _("You have %(count)d reports waiting or being built; wait for one to finish.")
                    % {"count": MAX_ACTIVE_JOBS},
                    code="too_many",
                )
        job = ReportJob.objects.create(
            owner=user,
            report_type=report_type,
            filters=filters.to_json(),
            with_times=bool(with_times),
            schedule=schedule,
        )
    job_id = job.pk
    # robust: a broker that is away must not undo the job row; it stays queued and
    # the sweep sends it again (report_jobs_queued_resend)
    transaction.on_commit(lambda: _build_send(job_id), robust=True)
    return job


def _build_send(job_id: int) -> None:
    current_app.send_task(BUILD_JOB_TASK, args=(job_id,), ignore_result=True)


def report_job_build(
    job_id: int, *, progress_seconds: float = 1.0, progress_check_rows: int = 500
) -> ReportJob | None:
    """Build a queued job's file. Idempotent: a job that is not queued (already
    built, failing, failed, or being built by another worker) is left alone and None
    is returned. Any error fails the job with a short message; nothing is raised.
    Progress (and the heartbeat) is written at most once per `progress_seconds`."""
    now = timezone.now()
    claimed = ReportJob.objects.filter(pk=job_id, status=ReportJobStatus.QUEUED).update(
        status=ReportJobStatus.RUNNING, started_at=now, heartbeat_at=now, error=""
    )
    if not claimed:
        return None
    job = ReportJob.objects.select_related("owner").get(pk=job_id)
    temporary = None
    saved_name = ""
    try:
        builder_class = BUILDERS[job.report_type]
        filters = DialogFilters.from_json(job.filters)
        # the owner's chats now, not when the job was asked for
        chat_ids = chat_ids_chosen(user=job.owner, filters=filters)
        zones = chat_time_zones(chat_ids)
        context = ReportContext(
            user=job.owner,
            chat_ids=frozenset(chat_ids),
            filters=filters,
            with_times=job.with_times,
            time_zones=zones,
            now=now,
        )
        builder = builder_class(context)
        # a builder that reads for long before its first row (popular phrases) keeps
        # the job alive with it
        builder.heartbeat = _Heartbeat(job_id)
        rows_total = builder.rows_total()
        _job_progress(job_id, rows_done=0, rows_total=rows_total)
        # beside the files, so saving it is a rename on the same disk
        directory = Path(job.file.storage.location)
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            suffix=".xlsx", prefix=f"{TEMPORARY_PREFIX}{job_id}-", dir=directory
        )
        os.close(handle)
        distinct_zones = set(zones.values())
        # builders hand over wall-clock times; an aware one is shown in the one zone
        # of the report's chats, or UTC when they differ
        zone = distinct_zones.pop() if len(distinct_zones) == 1 else "UTC"
        rows_done = xlsx.workbook_write(
            builder.sheets(),
            temporary,
            max_rows=xlsx.EXCEL_MAX_ROWS,
            progress=lambda done: _job_progress(job_id, rows_done=done),
            progress_seconds=progress_seconds,
            progress_check_rows=progress_check_rows,
            time_zone=zone,
        )
        job.refresh_from_db()
        if job.status != ReportJobStatus.RUNNING:
            raise JobInterrupted(job.error or job.status)
        # everything the final UPDATE needs is computed before the file is moved in
        finished = timezone.now()
        expires = finished + datetime.timedelta(hours=settings.REPORT_RETENTION_HOURS)
        with open(temporary, "rb") as built:
            job.file.save(_file_name(job, chat_ids, now), _BuiltFile(built), save=False)
        saved_name = job.file.name
        done = ReportJob.objects.filter(pk=job_id, status=ReportJobStatus.RUNNING).update(
            status=ReportJobStatus.DONE,
            file=saved_name,
            chat_ids=sorted(chat_ids),
            rows_done=rows_done,
            rows_total=rows_done,
            finished_at=finished,
            heartbeat_at=finished,
            expires_at=expires,
        )
        if not done:
            raise JobInterrupted(_("the job was stopped while its file was saved"))
        saved_name = ""  # the job owns it now
    except JobInterrupted:
        logger.warning("report job %s was interrupted while being built", job_id)
        # (None when the job was deleted meanwhile, with its owner)
        return ReportJob.objects.filter(pk=job_id).first()
    except Exception as error:
        logger.exception("report job %s failed", job_id)
        ReportJob.objects.filter(pk=job_id, status=ReportJobStatus.RUNNING).update(
            status=ReportJobStatus.FAILED,
            error=error_summary(error),
            finished_at=timezone.now(),
        )
        return ReportJob.objects.filter(pk=job_id).first()
    finally:
        if temporary:
            # (the sweep may have removed it, for a job it found no longer running)
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)
        if saved_name:  # moved in, but the job did not become done: nobody would delete it
            ReportJob.file.field.storage.delete(saved_name)
    job = ReportJob.objects.select_related("schedule").get(pk=job_id)
    if job.schedule_id:
        _deliver(job)
    return job


def error_summary(error: BaseException) -> str:
    """What the page shows for a failed job: the exception's class and text, short."""
    text = " ".join(str(error).split())
    summary = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return summary[:ERROR_MAX_CHARS]


def report_files_expire(*, now: datetime.datetime | None = None) -> int:
    """Delete the files of done jobs past `expires_at` (status expired). Returns how
    many expired; safe to run twice or beside another sweep."""
    now = now or timezone.now()
    expired = 0
    due = ReportJob.objects.filter(status=ReportJobStatus.DONE, expires_at__lte=now)
    for job_id, name in due.values_list("pk", "file").iterator():
        if ReportJob.objects.filter(pk=job_id, status=ReportJobStatus.DONE).update(
            status=ReportJobStatus.EXPIRED, file=""
        ):
            if name:
                ReportJob.file.field.storage.delete(name)
            expired += 1
    return expired


def report_jobs_interrupted_fail(*, now: datetime.datetime | None = None) -> int:
    """Fail running jobs whose heartbeat stopped HEARTBEAT_STALE_MINUTES ago (the
    worker died mid-build): they would otherwise show "building" forever."""
    now = now or timezone.now()
    stale = now - datetime.timedelta(minutes=HEARTBEAT_STALE_MINUTES)
    return ReportJob.objects.filter(status=ReportJobStatus.RUNNING, heartbeat_at__lt=stale).update(
        status=ReportJobStatus.FAILED, error=INTERRUPTED_ERROR, finished_at=now
    )


def report_jobs_queued_resend(*, now: datetime.datetime | None = None) -> int:
    """Send the build task again for jobs queued QUEUED_RESEND_MINUTES ago and not
    started: their task may have been lost. A job whose first task is merely waiting
    behind others gets two; the second finds it claimed and does nothing."""
    now = now or timezone.now()
    waiting = ReportJob.objects.filter(
        status=ReportJobStatus.QUEUED,
        created_at__lt=now - datetime.timedelta(minutes=QUEUED_RESEND_MINUTES),
    )
    job_ids = list(waiting.values_list("pk", flat=True)[:1000])
    for job_id in job_ids:
        _build_send(job_id)
    return len(job_ids)


def report_temporary_files_remove() -> int:
    """Delete the half-written files of builds that are no longer running (their
    worker was killed mid-build, so its own clean-up never ran). Returns how many."""
    directory = Path(ReportJob.file.field.storage.location)
    if not directory.is_dir():
        return 0
    found: dict[int, list[Path]] = {}
    for path in directory.glob(f"{TEMPORARY_PREFIX}*.xlsx"):
        job_id, _dash, _rest = path.name.removeprefix(TEMPORARY_PREFIX).partition("-")
        if job_id.isdigit():
            found.setdefault(int(job_id), []).append(path)
    running = set(
        ReportJob.objects.filter(pk__in=found, status=ReportJobStatus.RUNNING).values_list(
            "pk", flat=True
        )
    )
    removed = 0
    for job_id, paths in found.items():
        if job_id in running:
            continue
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


def reports_sweep() -> dict[str, int]:
    """The periodic sweep (beat, every few minutes)."""
    return {
        "expired": report_files_expire(),
        "interrupted": report_jobs_interrupted_fail(),
        "resent": report_jobs_queued_resend(),
        # after the interrupted builds were failed, so their files go in the same sweep
        "temporary_removed": report_temporary_files_remove(),
    }


def _job_progress(job_id: int, *, rows_done: int, rows_total: int | None = None) -> None:
    changes = {"rows_done": rows_done, "heartbeat_at": timezone.now()}
    if rows_total is not None:
        changes["rows_total"] = rows_total
    if not ReportJob.objects.filter(pk=job_id, status=ReportJobStatus.RUNNING).update(**changes):
        raise JobInterrupted(job_id)


class _Heartbeat:
    """Moves a running job's heartbeat, at most once per `interval` seconds; raises
    JobInterrupted when the job is no longer running."""

    def __init__(self, job_id: int, interval: float = 5.0) -> None:
        self.job_id = job_id
        self.interval = interval
        self.last = time.monotonic()

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        beat = ReportJob.objects.filter(pk=self.job_id, status=ReportJobStatus.RUNNING)
        if not beat.update(heartbeat_at=timezone.now()):
            raise JobInterrupted(self.job_id)


def _file_name(job: ReportJob, chat_ids: set[int], moment: datetime.datetime) -> str:
    """ "<type>-<chat or all>-<YYYYmmdd-HHMMSS UTC>-<job id>.xlsx"."""
    scope = "all"
    if len(chat_ids) == 1:
        (chat_id,) = chat_ids
        name = Chat.objects.filter(pk=chat_id).values_list("name", flat=True).first() or ""
        scope = slugify(name)[:40] or f"chat-{chat_id}"
    stamp = moment.astimezone(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{job.report_type.replace('_', '-')}-{scope}-{stamp}-{job.pk}.xlsx"


def report_job_readable(*, job: ReportJob, user) -> bool:
    """Whether `user` may download this built job: staff always; its owner while they
    may still read every chat it was built from."""
    if user.is_staff:
        return True
    return job.owner_id == user.pk and set(job.chat_ids) <= chat_ids_for_analyst(user)


def _deliver(job: ReportJob) -> None:
    """Hand a scheduled job's file to reports.delivery. A delivery error is the
    schedule's to record; the report stays built."""
    try:
        job_deliver(job)
    except Exception:
        logger.exception("delivering report job %s failed", job.pk)
