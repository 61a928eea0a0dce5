from django.db import models
from django.utils.translation import gettext_lazy as _


class ReportType(models.TextChoices):
    """The nine XLSX reports (docs/reports.md defines every column)."""

    ALL_SESSIONS = "all_sessions", _("all sessions")
    SESSIONS_WITH_MARKERS = "sessions_with_markers", _("sessions with markers")
    BILLING = "billing", _("billing")
    OPERATOR_METRICS = "operator_metrics", _("operator metrics (SLA)")
    PRODUCTIVITY = "productivity", _("productivity")
    BOT_VS_OPERATOR = "bot_vs_operator", _("bot vs operator")
    PAGES_VISITED = "pages_visited", _("web pages visited")
    POPULAR_PHRASES = "popular_phrases", _("popular phrases")
    CLIENT_PHRASES = "client_phrases", _("client phrases")


class ReportJobStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("building")
    DONE = "done", _("ready")
    FAILED = "failed", _("failed")
    EXPIRED = "expired", _("expired (file deleted)")


class ScheduleFrequency(models.TextChoices):
    DAILY = "daily", _("daily")
    WEEKLY = "weekly", _("weekly")


class SchedulePeriod(models.TextChoices):
    """The dates a scheduled report covers, relative to the day it runs (in the
    schedule's time zone); turned into the filters' date_from/date_to at each run."""

    PREVIOUS_DAY = "previous_day", _("previous day")
    PREVIOUS_7_DAYS = "previous_7_days", _("previous 7 days")
    PREVIOUS_MONTH = "previous_month", _("previous calendar month")
    ALL_DATES = "all_dates", _("all dates")
