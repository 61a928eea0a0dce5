"""Admin for scheduled reports: the report, its filters as a form (not JSON), when it
runs, where it goes; the last run, next run and last error read-only; "run now".
Registered from reports/admin.py, which Django's admin autodiscovery imports."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from django.utils.dates import WEEKDAYS
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from chats.enums import Messenger
from chats.models import Chat
from distributor.models import Operator
from handoff.dialog_filters import MAX_MARKER, MAX_TEXT, DialogFilters, DialogStatusFilter
from reports.access import ANALYST_GROUP, chat_ids_for_analyst, is_analyst
from reports.delivery import email_addresses, telegram_send_for
from reports.enums import ScheduleFrequency
from reports.models import ScheduledReport
from reports.schedules import ScheduleRefused, next_run_after, schedule_run_now
from telegram_bridge.services.operators import operator_account_for_documents

FILTER_FIELDS = ("chats", "messengers", "status", "marker", "operator", "text")


def report_owners():
    """Who a report may be built as: active staff and analysts."""
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(is_staff=True) | Q(groups__name=ANALYST_GROUP))
        .distinct()
        .order_by("username")
    )


class ScheduledReportForm(forms.ModelForm):
    chats = forms.ModelMultipleChoiceField(
        label=_("chats"),
        queryset=Chat.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every chat the owner may read."),
    )
    messengers = forms.MultipleChoiceField(
        label=_("messengers"),
        choices=Messenger.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: all."),
    )
    status = forms.ChoiceField(
        label=_("status"), choices=DialogStatusFilter.choices, initial=DialogStatusFilter.ALL
    )
    marker = forms.CharField(label=_("marker"), max_length=MAX_MARKER, required=False)
    operator = forms.ModelChoiceField(
        label=_("manager"), queryset=Operator.objects.order_by("display_name"), required=False
    )
    text = forms.CharField(label=_("text contains"), max_length=MAX_TEXT, required=False)
    weekday = forms.TypedChoiceField(
        label=_("weekday (weekly)"), choices=sorted(WEEKDAYS.items()), coerce=int, initial=0
    )
    hour = forms.TypedChoiceField(
        label=_("hour"),
        choices=[(hour, f"{hour:02d}:00") for hour in range(24)],
        coerce=int,
        initial=7,
    )

    class Meta:
        model = ScheduledReport
        fields = [
            "name",
            "owner",
            "enabled",
            "report_type",
            "period",
            "with_times",
            "frequency",
            "weekday",
            "hour",
            "time_zone",
            "email_to",
            "telegram_operator",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = report_owners()
        self.fields["telegram_operator"].queryset = Operator.objects.order_by("display_name")
        self.fields["telegram_operator"].help_text = _(
            "A manager connected to Telegram (through a connect link)."
        )
        if self.instance.pk:
            saved = DialogFilters.from_query(
                self.instance.filters if isinstance(self.instance.filters, dict) else {}
            )
            self.initial.update(
                chats=list(saved.chat_ids),
                messengers=list(saved.messengers),
                status=saved.status,
                marker=saved.marker,
                operator=saved.operator_id,
                text=saved.text,
            )

    def clean_email_to(self) -> str:
        return "\n".join(email_addresses(self.cleaned_data.get("email_to", "")))

    def clean_telegram_operator(self) -> Operator | None:
        operator = self.cleaned_data.get("telegram_operator")
        if operator is not None and operator_account_for_documents(operator) is None:
            raise forms.ValidationError(
                _(
                    "%(operator)s has no active Telegram account (or blocked the bot): "
                    "send them a connect link first."
                )
                % {"operator": operator}
            )
        return operator

    def clean(self) -> dict:
        cleaned = super().clean()
        if (
            "email_to" in cleaned
            and "telegram_operator" in cleaned
            and not cleaned["email_to"]
            and cleaned["telegram_operator"] is None
        ):
            raise forms.ValidationError(
                _("Say where the report goes: e-mail addresses, a manager on Telegram, or both.")
            )
        owner = cleaned.get("owner")
        chats = cleaned.get("chats")
        if owner is not None and chats is not None:
            if not is_analyst(owner):
                self.add_error("owner", _("Reports are built only as staff or an analyst."))
            readable = chat_ids_for_analyst(owner)
            unreadable = [chat for chat in chats if chat.pk not in readable]
            if unreadable:
                self.add_error(
                    "chats",
                    _("%(user)s may not read %(chats)s.")
                    % {"user": owner, "chats": ", ".join(chat.name for chat in unreadable)},
                )
        if all(name in cleaned for name in FILTER_FIELDS):
            filters = DialogFilters.from_query(
                {
                    "chat": [chat.pk for chat in cleaned["chats"]],
                    "messenger": cleaned["messengers"],
                    "status": cleaned["status"],
                    "marker": cleaned["marker"],
                    "operator": cleaned["operator"].pk if cleaned["operator"] else "",
                    "text": cleaned["text"],
                }
            )
            for error in filters.errors.values():
                self.add_error(None, error)
            self.filters = filters
        return cleaned

    def save(self, commit: bool = True) -> ScheduledReport:
        schedule = super().save(commit=False)
        schedule.filters = self.filters.to_json()
        schedule.next_run_at = next_run_after(schedule, timezone.now())
        if commit:
            schedule.save()
        return schedule


@admin.register(ScheduledReport)
class ScheduledReportAdmin(admin.ModelAdmin):
    form = ScheduledReportForm
    list_display = (
        "name",
        "report_type",
        "when",
        "destinations",
        "enabled",
        "next_run_at",
        "last_run_at",
        "problem",
    )
    list_filter = ("enabled", "report_type", "frequency")
    search_fields = ("name",)
    readonly_fields = ("next_run_at", "last_run_at", "last_error", "last_delivery")
    actions = ["run_now"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ["name", "owner", "enabled"]}),
            (
                _("Report"),
                {"fields": ["report_type", "period", *FILTER_FIELDS, "with_times"]},
            ),
            (_("When"), {"fields": ["frequency", "weekday", "hour", "time_zone"]}),
            (_("Send to"), {"fields": ["email_to", "telegram_operator"]}),
        ]
        if obj is not None:
            fieldsets.append((_("Runs"), {"fields": list(self.readonly_fields)}))
        return fieldsets

    @admin.display(description=_("when"))
    def when(self, schedule: ScheduledReport) -> str:
        at = f"{schedule.hour:02d}:00 {schedule.time_zone}"
        if schedule.frequency == ScheduleFrequency.WEEKLY:
            return f"{WEEKDAYS[schedule.weekday]} {at}"
        return f"{schedule.get_frequency_display()} {at}"

    @admin.display(description=_("send to"))
    def destinations(self, schedule: ScheduledReport) -> str:
        lines = [line for line in schedule.email_to.splitlines() if line.strip()]
        if schedule.telegram_operator_id:
            lines.append(f"Telegram: {schedule.telegram_operator}")
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))

    @admin.display(description=_("last error"))
    def problem(self, schedule: ScheduledReport) -> str:
        if not schedule.last_error:
            return "—"
        return format_html('<span class="baton-error">{}</span>', schedule.last_error[:120])

    @admin.display(description=_("last delivery"))
    def last_delivery(self, schedule: ScheduledReport) -> str:
        job = schedule.jobs.order_by("-created_at", "-pk").first()
        if job is None:
            return "—"
        lines = [
            _("Report #%(job)s: %(status)s") % {"job": job.pk, "status": job.get_status_display()}
        ]
        row = telegram_send_for(job)
        if row is not None:
            lines.append(
                _("Telegram: %(status)s %(error)s")
                % {"status": row.get_status_display(), "error": row.error}
            )
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))

    @admin.action(description=_("Run the selected schedules now"))
    def run_now(self, request, queryset) -> None:
        for schedule in queryset:
            try:
                job = schedule_run_now(schedule)
            except ScheduleRefused as refusal:
                self.message_user(request, f"{schedule}: {refusal}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("%(schedule)s: report #%(job)s is being built and will be sent when ready.")
                    % {"schedule": schedule, "job": job.pk},
                    messages.SUCCESS,
                )
