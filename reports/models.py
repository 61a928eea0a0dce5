"""What analysts own: which chats they may read, the report files built for them and
the reports scheduled for delivery. Reports read every other app and no app imports
reports (the import contract in pyproject.toml)."""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from handoff.models import validate_time_zone
from reports.enums import ReportJobStatus, ReportType, ScheduleFrequency, SchedulePeriod


def report_storage() -> FileSystemStorage:
    """Report files live outside MEDIA_ROOT: they are served only through the download
    view, which checks who asks."""
    return FileSystemStorage(location=settings.REPORTS_ROOT)


class AnalystChatGrant(models.Model):
    """An analyst may read this chat's dialogs and reports. Staff see every chat."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="analyst_chat_grants",
        verbose_name=_("analyst"),
    )
    chat = models.ForeignKey(
        "chats.Chat",
        on_delete=models.CASCADE,
        related_name="analyst_grants",
        verbose_name=_("chat"),
    )
    granted_at = models.DateTimeField(_("granted at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("analyst's chat")
        verbose_name_plural = _("analysts' chats")
        constraints = [
            models.UniqueConstraint(fields=["user", "chat"], name="one_grant_per_analyst_and_chat")
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.chat}"


class ReportJob(models.Model):
    """One XLSX report built in the background for one user; the file is deleted at
    `expires_at` (reports.tasks sweep)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_jobs"
    )
    report_type = models.CharField(_("report"), max_length=30, choices=ReportType.choices)
    # the viewer's filters as handoff.dialog_filters.DialogFilters.to_json() wrote them
    filters = models.JSONField(_("filters"), default=dict)
    with_times = models.BooleanField(_("with time in dialogs"), default=False)
    status = models.CharField(
        max_length=10, choices=ReportJobStatus.choices, default=ReportJobStatus.QUEUED
    )
    # the chats the file was built from: a download needs the owner to read them all
    # still (an analyst who lost a chat loses its reports too)
    chat_ids = models.JSONField(default=list, blank=True)
    rows_done = models.PositiveBigIntegerField(default=0)
    rows_total = models.PositiveBigIntegerField(default=0)
    file = models.FileField(storage=report_storage, upload_to="", blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # moved on with the progress while building: a running job whose heartbeat stops
    # (its worker died) is failed by the sweep instead of staying "building" forever
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # set when the job was made by a schedule (delivered when done)
    schedule = models.ForeignKey(
        "reports.ScheduledReport",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_report_type_display()} #{self.pk}"


class ScheduledReport(models.Model):
    """A report built on a schedule and delivered by e-mail and/or to a Telegram
    manager as a document."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="scheduled_reports",
        verbose_name=_("built as"),
        help_text=_("The report sees the chats this user may see."),
    )
    name = models.CharField(_("name"), max_length=200)
    report_type = models.CharField(_("report"), max_length=30, choices=ReportType.choices)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    # the dates, relative to each run (the filters' own dates are not used)
    period = models.CharField(
        _("period"),
        max_length=20,
        choices=SchedulePeriod.choices,
        default=SchedulePeriod.PREVIOUS_DAY,
    )
    with_times = models.BooleanField(_("with time in dialogs"), default=False)
    frequency = models.CharField(
        _("frequency"),
        max_length=10,
        choices=ScheduleFrequency.choices,
        default=ScheduleFrequency.DAILY,
    )
    weekday = models.PositiveSmallIntegerField(
        _("weekday (weekly)"), default=0, validators=[MaxValueValidator(6)]
    )
    hour = models.PositiveSmallIntegerField(
        _("hour"), default=7, validators=[MaxValueValidator(23)]
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_time_zone]
    )
    email_to = models.TextField(_("e-mail to"), blank=True, help_text=_("One address per line."))
    telegram_operator = models.ForeignKey(
        "distributor.Operator",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("send to manager on Telegram"),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True, db_index=True)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("scheduled report")
        verbose_name_plural = _("scheduled reports")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
