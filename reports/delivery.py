"""Delivering a scheduled report once its job is built: e-mailed as an attachment
(Django's e-mail backend) and/or queued for a manager's Telegram as a document
(telegram_bridge's outbox). What fails is written, readably, on the schedule's
last_error; the job and its file stay, downloadable from the reports page."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from chats.enums import Messenger
from chats.models import Chat
from distributor.models import Operator
from handoff.dialog_filters import DialogFilters, DialogStatusFilter
from reports.enums import ReportJobStatus, ReportType
from reports.models import ReportJob, ScheduledReport
from telegram_bridge.models import OutboundMessage, SendStatus, TelegramBot
from telegram_bridge.services.operators import DocumentRefused, operator_document_send

logger = logging.getLogger(__name__)

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# most mail servers refuse messages much above this (attachments grow by a third in
# base64); a larger file is announced by e-mail and left on the reports page
EMAIL_ATTACHMENT_LIMIT_BYTES = 20 * 1024 * 1024
MAX_RECIPIENTS = 50


def email_addresses(text: str) -> list[str]:
    """The addresses of an "e-mail to" field, one a line (commas and semicolons also
    split), duplicates dropped. Raises ValidationError naming every bad one."""
    found: list[str] = []
    bad: list[str] = []
    for line in text.replace(",", "\n").replace(";", "\n").splitlines():
        address = line.strip()
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address[:80])
            continue
        if address.lower() not in {known.lower() for known in found}:
            found.append(address)
    if bad:
        raise ValidationError(
            _("Not an e-mail address: %(addresses)s") % {"addresses": ", ".join(bad)}
        )
    if len(found) > MAX_RECIPIENTS:
        raise ValidationError(_("At most %(count)d addresses, please.") % {"count": MAX_RECIPIENTS})
    return found


def run_day(job: ReportJob, schedule: ScheduledReport) -> datetime.date:
    return job.created_at.astimezone(ZoneInfo(schedule.time_zone)).date()


def report_title(job: ReportJob, schedule: ScheduledReport) -> str:
    """ "<schedule> — <report> — <day>", on one line (it is an e-mail subject)."""
    title = f"{schedule.name} — {ReportType(job.report_type).label} — {run_day(job, schedule)}"
    return " ".join(title.split())


def filters_in_words(job: ReportJob, schedule: ScheduledReport) -> list[str]:
    """What the report covers, one line per filter, for people."""
    try:
        filters = DialogFilters.from_json(job.filters)
    except ValidationError:
        filters = DialogFilters.from_query(job.filters if isinstance(job.filters, dict) else {})
    lines = []
    if filters.date_from or filters.date_to:
        lines.append(
            _("Period: %(start)s – %(end)s (%(period)s)")
            % {
                "start": filters.date_from or "…",
                "end": filters.date_to or "…",
                "period": schedule.get_period_display(),
            }
        )
    else:
        lines.append(_("Period: all dates"))
    if filters.chat_ids:
        names = Chat.objects.filter(pk__in=filters.chat_ids).order_by("name")
        lines.append(_("Chats: %(chats)s") % {"chats": ", ".join(chat.name for chat in names)})
    else:
        lines.append(_("Chats: every chat %(user)s may read") % {"user": schedule.owner})
    if filters.messengers:
        labels = ", ".join(str(Messenger(value).label) for value in filters.messengers)
        lines.append(_("Messengers: %(messengers)s") % {"messengers": labels})
    if filters.status != DialogStatusFilter.ALL:
        lines.append(_("Status: %(status)s") % {"status": DialogStatusFilter(filters.status).label})
    if filters.marker:
        lines.append(_("Marker: %(marker)s") % {"marker": filters.marker})
    if filters.operator_id:
        operator = Operator.objects.filter(pk=filters.operator_id).first()
        lines.append(_("Manager: %(operator)s") % {"operator": operator or filters.operator_id})
    if filters.text:
        lines.append(_("Text contains: “%(text)s”") % {"text": filters.text})
    lines.append(
        _("With time in dialogs: %(answer)s") % {"answer": _("yes") if job.with_times else _("no")}
    )
    return lines


def attachment_name(job: ReportJob, schedule: ScheduledReport) -> str:
    stem = slugify(schedule.name, allow_unicode=True)[:60] or job.report_type
    suffix = Path(job.file.name).suffix or ".xlsx"
    return f"{stem}-{run_day(job, schedule)}{suffix}"


def _email_send(job: ReportJob, schedule: ScheduledReport, addresses: list[str]) -> list[str]:
    """Send the e-mail; return the problems to record."""
    problems = []
    body = [report_title(job, schedule), "", *filters_in_words(job, schedule), ""]
    size = job.file.size
    attach = size <= EMAIL_ATTACHMENT_LIMIT_BYTES
    if attach:
        body.append(_("The report is attached."))
    else:
        problem = _("The file (%(size)d MB) is too large to e-mail; it is on the reports page.") % {
            "size": size // (1024 * 1024)
        }
        body.append(problem)
        problems.append(_("E-mail: %(problem)s") % {"problem": problem})
    message = EmailMessage(subject=report_title(job, schedule), body="\n".join(body), to=addresses)
    if attach:
        with job.file.open("rb") as report:
            message.attach(attachment_name(job, schedule), report.read(), XLSX_MIME)
    message.send()
    return problems


def build_failure_text(job: ReportJob) -> str:
    return _("Report #%(job)s was not built: %(error)s") % {
        "job": job.pk,
        "error": job.error or job.get_status_display(),
    }


def telegram_reference(job: ReportJob) -> str:
    """How the job's Telegram send is found again in the outbox."""
    return f"report-job:{job.pk}"


def job_deliver(job: ReportJob) -> list[str]:
    """Deliver a built job of a schedule to the schedule's destinations; return the
    problems, also written on the schedule's last_error (cleared when there are none).
    A job without a schedule is left alone. The Telegram send is queued: whether it
    went is learnt later (delivery_failures_record)."""
    schedule = job.schedule
    if schedule is None:
        return []
    problems: list[str] = []
    if job.status != ReportJobStatus.DONE or not job.file:
        problems.append(build_failure_text(job))
    else:
        if schedule.email_to.strip():
            problems.extend(_email_deliver(job, schedule))
        if schedule.telegram_operator_id:
            problems.extend(_telegram_deliver(job, schedule))
    ScheduledReport.objects.filter(pk=schedule.pk).update(last_error="\n".join(problems))
    return problems


def _email_deliver(job: ReportJob, schedule: ScheduledReport) -> list[str]:
    try:
        addresses = email_addresses(schedule.email_to)
    except ValidationError as error:
        return [_("E-mail not sent: %(error)s") % {"error": "; ".join(error.messages)}]
    try:
        return _email_send(job, schedule, addresses)
    except FileNotFoundError:
        return [_("E-mail not sent: the report file no longer exists.")]
    except Exception as error:  # SMTP refusals, timeouts, a wrong host: say what happened
        logger.warning("e-mailing report job %s failed: %r", job.pk, error)
        return [_("E-mail not sent: %(error)s") % {"error": str(error)[:300] or repr(error)}]


def _telegram_deliver(job: ReportJob, schedule: ScheduledReport) -> list[str]:
    try:
        operator_document_send(
            operator=schedule.telegram_operator,
            path=job.file.path,
            file_name=attachment_name(job, schedule),
            caption="\n".join([report_title(job, schedule), *filters_in_words(job, schedule)]),
            reference=telegram_reference(job),
        )
    except DocumentRefused as refusal:
        return [_("Telegram: %(problem)s") % {"problem": refusal}]
    return []


def telegram_send_for(job: ReportJob) -> OutboundMessage | None:
    """The outbox row of the job's Telegram document, if one was queued."""
    return (
        OutboundMessage.objects.filter(payload__reference=telegram_reference(job))
        .order_by("-pk")
        .first()
    )


def telegram_send_failed(job: ReportJob, bot_ids: list[int]) -> OutboundMessage | None:
    """The job's Telegram send if it failed or was skipped (a job is sent once). Read
    among the failed and skipped rows of these bots only, through the outbox's (bot,
    status, id) index: this runs every minute and no index covers the reference
    inside the JSON payload, so a lookup by it alone read the whole outbox."""
    return (
        OutboundMessage.objects.filter(
            bot_id__in=bot_ids,
            status__in=[SendStatus.FAILED, SendStatus.SKIPPED],
            payload__reference=telegram_reference(job),
        )
        .order_by("-pk")
        .first()
    )


def telegram_failure_text(row: OutboundMessage) -> str:
    return _("Telegram: the document was not sent (%(error)s).") % {
        "error": row.error or row.get_status_display()
    }


def delivery_failures_record(*, now: datetime.datetime | None = None) -> int:
    """Note on last_error what failed after a run was started: the latest job's build
    (the engine delivers only what it built) and its Telegram send (the outbox sends
    after job_deliver returned). Looks at schedules that ran in the last two days;
    idempotent. Returns how many schedules got a new note."""
    now = now or timezone.now()
    noted = 0
    bot_ids: list[int] | None = None
    recent = ScheduledReport.objects.filter(last_run_at__gte=now - datetime.timedelta(days=2))
    for schedule in recent:
        job = schedule.jobs.order_by("-created_at", "-pk").first()
        if job is None:
            continue
        if job.status == ReportJobStatus.FAILED:
            text = build_failure_text(job)
        elif job.status == ReportJobStatus.DONE and schedule.telegram_operator_id:
            if bot_ids is None:
                bot_ids = list(TelegramBot.objects.values_list("pk", flat=True))
            row = telegram_send_failed(job, bot_ids)
            if row is None:
                continue
            text = telegram_failure_text(row)
        else:
            continue
        if text in schedule.last_error:
            continue
        last_error = f"{schedule.last_error}\n{text}".strip()
        ScheduledReport.objects.filter(pk=schedule.pk).update(last_error=last_error)
        noted += 1
    return noted
