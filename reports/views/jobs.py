"""Report jobs for analysts: choose a report for the viewer's filters, watch it being
built, download it. Each job is its owner's (staff may read any); another user's
job id is not found."""

from __future__ import annotations

import os

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from chats.enums import Messenger
from handoff.dialog_filters import DialogFilters, DialogStatusFilter
from reports.builders import BUILDERS
from reports.enums import ReportJobStatus, ReportType
from reports.models import ReportJob
from reports.selectors_viewer import FilterNames, filter_names
from reports.services import report_job_create, report_job_readable
from reports.views.auth import analyst_required
from reports.views.links import chooser_url, dashboard_url, labelled_errors, viewer_url

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JOBS_SHOWN = 50
MAX_FILTERS_CHARS = 4000
ACTIVE_STATUSES = (ReportJobStatus.QUEUED, ReportJobStatus.RUNNING)


def job_for_user(user, job_id: int) -> ReportJob:
    """The job if it is the user's (any job for staff), else 404."""
    jobs = ReportJob.objects.all() if user.is_staff else ReportJob.objects.filter(owner=user)
    return get_object_or_404(jobs, pk=job_id)


def filters_summary(filters: DialogFilters, names: FilterNames) -> list[str]:
    """The filters in words, as the chooser shows them (names: filter_names' for the
    user, covering these filters)."""
    parts = []
    if filters.chat_ids:
        chosen = sorted(
            (names.chats[chat_id] for chat_id in set(filters.chat_ids) if chat_id in names.chats),
            key=str.casefold,
        )
        parts.append(_("chats: %(names)s") % {"names": ", ".join(chosen) or _("none of yours")})
    else:
        parts.append(_("all your chats"))
    if filters.messengers:
        labels = [str(Messenger(value).label) for value in filters.messengers]
        parts.append(_("channels: %(names)s") % {"names": ", ".join(labels)})
    if filters.status != DialogStatusFilter.ALL:
        parts.append(_("status: %(status)s") % {"status": DialogStatusFilter(filters.status).label})
    if filters.date_from and filters.date_to:
        parts.append(
            _("started %(start)s to %(end)s")
            % {"start": filters.date_from.isoformat(), "end": filters.date_to.isoformat()}
        )
    elif filters.date_from:
        parts.append(_("started on or after %(day)s") % {"day": filters.date_from.isoformat()})
    elif filters.date_to:
        parts.append(_("started on or before %(day)s") % {"day": filters.date_to.isoformat()})
    if filters.marker:
        parts.append(_("marker: %(marker)s") % {"marker": filters.marker})
    if filters.operator_id:
        name = names.operators.get(filters.operator_id)
        parts.append(_("operator: %(name)s") % {"name": name or _("unknown")})
    if filters.text:
        parts.append(_("text contains “%(text)s”") % {"text": filters.text})
    return parts


def when(moment) -> str:
    """A job's moment as the pages show times: 2026-03-29 14:05 UTC."""
    return date_format(timezone.localtime(moment), "Y-m-d H:i T")


def job_status(job: ReportJob) -> dict:
    """What the page and its polling show of a job."""
    ready = job.status == ReportJobStatus.DONE and bool(job.file)
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": str(job.get_status_display()),
        "rows_done": job.rows_done,
        "rows_total": job.rows_total,
        "error": job.error,
        "download_url": reverse("reports:job_download", args=[job.pk]) if ready else None,
        "expires_at": when(job.expires_at) if job.expires_at and ready else None,
    }


@require_http_methods(["GET", "HEAD", "POST"])
@analyst_required
def job_list(request: HttpRequest) -> HttpResponse:
    errors: list[str] = []
    if request.method == "POST":
        raw = request.POST.get("filters", "")
        report_type = request.POST.get("report_type", "")
        if len(raw) > MAX_FILTERS_CHARS:
            errors.append(_("The filters are too long."))
            filters = DialogFilters()
        else:
            filters = DialogFilters.from_query(QueryDict(raw))
        if not errors:
            try:
                report_job_create(
                    user=request.user,
                    report_type=report_type,
                    filters=filters,
                    with_times=request.POST.get("with_times") == "on",
                )
            except ValidationError as error:
                errors.extend(error.messages)
            else:
                return redirect(chooser_url(filters))
    else:
        filters = DialogFilters.from_query(request.GET)
        report_type = request.GET.get("report_type", ReportType.ALL_SESSIONS)
    jobs = list(
        ReportJob.objects.filter(owner=request.user).order_by("-created_at", "-pk")[:JOBS_SHOWN]
    )
    job_filters = {job.pk: _stored_filters(job) for job in jobs}
    # the chat and operator names of this page's filters and every listed job's: one
    # query each, however many jobs
    names = filter_names(
        user=request.user,
        filters=[filters, *(item for item in job_filters.values() if item is not None)],
    )
    context = {
        "filters": filters,
        "filters_query": filters.to_query(),
        "filters_summary": filters_summary(filters, names),
        "filter_errors": labelled_errors(filters.errors),
        "errors": errors,
        "report_types": [
            (value, label) for value, label in ReportType.choices if value in BUILDERS
        ],
        "chosen_type": report_type,
        "jobs": [_job_row(job, job_filters[job.pk], names) for job in jobs],
        "viewer_url": viewer_url(filters),
        "dashboard_url": dashboard_url(filters),
    }
    return render(request, "reports/job_list.html", context, status=400 if errors else 200)


@require_safe
@analyst_required
def job_status_json(request: HttpRequest, job_id: int) -> JsonResponse:
    return JsonResponse(job_status(job_for_user(request.user, job_id)))


@require_safe
@analyst_required
def job_download(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_for_user(request.user, job_id)
    if not report_job_readable(job=job, user=request.user):
        raise Http404(_("No such report."))
    if job.status == ReportJobStatus.EXPIRED:
        return render(request, "reports/job_gone.html", {"job": job}, status=410)
    if job.status != ReportJobStatus.DONE or not job.file:
        raise Http404(_("This report is not ready."))
    try:
        handle = job.file.open("rb")
    except FileNotFoundError:
        return render(request, "reports/job_gone.html", {"job": job}, status=410)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=os.path.basename(job.file.name),
        content_type=XLSX_CONTENT_TYPE,
    )


def _stored_filters(job: ReportJob) -> DialogFilters | None:
    """The job's filters, None when they are no longer valid."""
    try:
        return DialogFilters.from_json(job.filters)
    except ValidationError:
        return None


def _job_row(job: ReportJob, filters: DialogFilters | None, names: FilterNames) -> dict:
    """A row of "your reports": the job, its status, its filters in words, and for a
    job that failed or whose file is gone, what "build again" posts (nothing when its
    stored filters are no longer valid)."""
    return {
        "job": job,
        "status": job_status(job),
        "summary": (
            "; ".join(filters_summary(filters, names))
            if filters is not None
            else _("(filters no longer valid)")
        ),
        "asked_at": when(job.created_at),
        "again_filters": filters.to_query() if filters is not None else None,
        # shown when it failed or its file is gone; jobs.js shows it if it fails later
        "again_shown": job.status in (ReportJobStatus.FAILED, ReportJobStatus.EXPIRED),
    }
