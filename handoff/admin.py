"""Admin for handoff: a chat's handoff settings (on the chat's page and on their own
with the pre-handoff form and working hours), and requests as a read-only record."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from chats.admin import ChatAdmin, DialogAdmin, ReadOnlyInline
from chats.models import Chat, Dialog, Script
from handoff.models import (
    CannedReply,
    ConversationNote,
    Feedback,
    FormField,
    HandoffSettings,
    Request,
    RequestEvent,
    WorkingPeriod,
)
from handoff.services import handoff_settings_for


def form_answers_html(answers: object) -> str:
    """Pre-handoff form answers as a "Question: answer" list, escaped. Stored as
    [{"label", "value"}, ...]; anything else is shown as its text, never as markup."""
    if isinstance(answers, dict):
        pairs = [(str(label), str(value)) for label, value in answers.items()]
    elif isinstance(answers, list):
        pairs = [
            (str(answer.get("label", "")), str(answer.get("value", "")))
            if isinstance(answer, dict)
            else ("", str(answer))
            for answer in answers
        ]
    else:
        pairs = []
    if not pairs:
        return "—"
    return format_html_join(mark_safe("<br>"), "{}: {}", pairs)  # noqa: S308 - a constant tag


SETTINGS_FIELDS = [
    "accept_timeout_seconds",
    "fallback",
    "reply_timeout_seconds",
    "unavailable_text",
    "lead_form_text",
    "trigger_prompt",
    "working_hours_enabled",
    "time_zone",
]
# moved here from the chat's own fields (issue 9): only handoff reads them
SETTINGS_GROUPS = [
    (
        _("Feedback"),
        ["feedback_enabled", "feedback_delay_seconds", "feedback_scale", "feedback_prompt"],
    ),
    (
        _("Operators and queue"),
        [
            "operator_idle_seconds",
            "queue_max_wait_seconds",
            "queue_notice_interval_minutes",
            "queue_notice_text",
            "sla_first_response_seconds",
            "sla_next_response_seconds",
        ],
    ),
    (_("Scripts after the end"), ["script_after_operator_end", "script_after_client_timeout"]),
]
AFTER_END_SCRIPTS = SETTINGS_GROUPS[-1][1]


def settings_fieldsets(first: list[str]) -> list:
    return [
        (None, {"fields": first}),
        *((title, {"fields": names}) for title, names in SETTINGS_GROUPS),
    ]


class HandoffSettingsForm(forms.ModelForm):
    class Meta:
        model = HandoffSettings
        fields = [
            "chat",
            *SETTINGS_FIELDS,
            *(name for _t, names in SETTINGS_GROUPS for name in names),
        ]
        # notices of up to 500 characters: wide enough to read what is there
        widgets = {
            "unavailable_text": forms.TextInput(attrs={"class": "vLargeTextField"}),
            "lead_form_text": forms.TextInput(attrs={"class": "vLargeTextField"}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # a script after the end is one of this chat's (none before the chat is saved)
        chat_id = self.instance.chat_id
        for name in AFTER_END_SCRIPTS:
            if name in self.fields:
                self.fields[name].queryset = (
                    Script.objects.filter(chat_id=chat_id) if chat_id else Script.objects.none()
                )


class WorkingPeriodInline(admin.TabularInline):
    model = WorkingPeriod
    extra = 0


class FormFieldForm(forms.ModelForm):
    class Meta:
        model = FormField
        fields = ["position", "label", "kind", "required", "choices"]
        # the default 40-column, 10-row box made the table wider than a laptop window
        widgets = {
            "position": forms.NumberInput(attrs={"class": "vIntegerField form-field-position"}),
            "label": forms.TextInput(attrs={"class": "vTextField"}),
            "choices": forms.Textarea(attrs={"rows": 3, "cols": 28}),
        }


class FormFieldInline(admin.TabularInline):
    model = FormField
    form = FormFieldForm
    extra = 0
    verbose_name = _("question of the pre-handoff form")
    verbose_name_plural = _("pre-handoff form (asked before a request opens; none: no form)")


@admin.register(HandoffSettings)
class HandoffSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "chat",
        "accept_timeout_seconds",
        "fallback",
        "working_hours_enabled",
        "time_zone",
    ]
    form = HandoffSettingsForm
    fieldsets = settings_fieldsets(["chat", *SETTINGS_FIELDS])
    inlines = [FormFieldInline, WorkingPeriodInline]

    class Media:
        css = {"all": ["admin/handoff_settings.css"]}

    def get_readonly_fields(self, request, obj=None):
        # settings belong to one chat for good; a new chat gets its own with it
        return ["chat"] if obj is not None else []

    def has_add_permission(self, request) -> bool:
        return False  # every chat has them: made with the chat, reached from its page

    def get_urls(self):
        return [
            path(
                "for-chat/<int:chat_id>/",
                self.admin_site.admin_view(self.for_chat_view),
                name="handoff_handoffsettings_for_chat",
            ),
            *super().get_urls(),
        ]

    def for_chat_view(self, request: HttpRequest, chat_id: int) -> HttpResponseRedirect:
        """The settings page of a chat, made first if the chat was created without
        them (in a shell, by an import)."""
        chat = get_object_or_404(Chat, pk=chat_id)
        settings = handoff_settings_for(chat.pk)
        return HttpResponseRedirect(
            reverse("admin:handoff_handoffsettings_change", args=[settings.pk])
        )


class HandoffSettingsInline(admin.StackedInline):
    """The chat's handoff settings on the chat's page; the form's questions and the
    working hours are on the settings' own page (the change link)."""

    model = HandoffSettings
    form = HandoffSettingsForm
    fieldsets = settings_fieldsets([*SETTINGS_FIELDS, "form_and_hours"])
    readonly_fields = ["form_and_hours"]
    min_num = 1
    max_num = 1
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("handoff settings")

    @admin.display(description=_("pre-handoff form and working hours"))
    def form_and_hours(self, settings: HandoffSettings) -> str:
        if settings.pk is None:
            return _("Save the chat first, then add the form's questions and the hours.")
        return format_html(
            '<a href="{}">{}</a> ({})',
            reverse("admin:handoff_handoffsettings_change", args=[settings.pk]),
            _("edit the pre-handoff form and the working hours"),
            _("%(questions)d questions, %(periods)d working periods")
            % {
                "questions": settings.form_fields.count(),
                "periods": settings.working_periods.count(),
            },
        )


admin.site.unregister(Chat)


@admin.register(Chat)
class ChatWithHandoffAdmin(ChatAdmin):
    """The chat admin with the chat's handoff settings: chats sits below handoff, so
    handoff adds its part to the chat's page (and to the chat list's links)."""

    inlines = [*ChatAdmin.inlines, HandoffSettingsInline]

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        # an untouched inline is not saved by Django: the defaults are made explicit
        handoff_settings_for(form.instance.pk)

    @admin.display(description=_("actions"))
    def actions_column(self, chat: Chat) -> str:
        return format_html(
            '{} · <a href="{}">{}</a>',
            super().actions_column(chat),
            reverse("admin:handoff_handoffsettings_for_chat", args=[chat.pk]),
            _("handoff settings"),
        )


class RequestEventInline(admin.TabularInline):
    model = RequestEvent
    extra = 0
    can_delete = False
    readonly_fields = ["from_status", "to_status", "actor", "note", "created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ConversationNoteInline(ReadOnlyInline):
    """Operators' private notes on the request: read-only here, as in the console."""

    model = ConversationNote
    fields = ["created_at", "author_name", "text"]
    readonly_fields = fields
    verbose_name_plural = _("private notes (operators only)")


@admin.register(Request)
class RequestAdmin(admin.ModelAdmin):
    """A record: a request changes only through handoff's services (the state machine,
    its deadlines and the feedback it asks for), so nothing here is editable."""

    list_display = [
        "pk",
        "chat",
        "dialog",
        "status",
        "reason",
        "operator",
        "created_at",
        "close_reason",
    ]
    list_filter = ["status", "reason", "chat", "close_reason"]
    fields = [
        "dialog",
        "chat",
        "status",
        "reason",
        "operator",
        "answers",
        "created_at",
        "accepted_at",
        "closed_at",
        "close_reason",
        "accept_deadline",
        "queue_deadline",
        "next_queue_notice_at",
        "reply_deadline",
        "idle_deadline",
        "feedback_due_at",
        "feedback_asked",
        "rating",
    ]
    readonly_fields = ["answers", "rating"]
    inlines = [RequestEventInline, ConversationNoteInline]

    @admin.display(description=_("form answers"))
    def answers(self, request: Request) -> str:
        return form_answers_html(request.form_answers)

    @admin.display(description=_("the visitor's rating"))
    def rating(self, request: Request) -> str:
        feedback = Feedback.objects.filter(request=request).first()
        if feedback is None:
            return "—"
        if feedback.comment:
            return f"{feedback.score}/{feedback.scale} — {feedback.comment}"
        return f"{feedback.score}/{feedback.scale}"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class DialogRequestInline(admin.TabularInline):
    """A dialog's requests for a person, with their form answers, on the dialog's page."""

    model = Request
    fields = ["status", "reason", "operator", "answers", "notes", "created_at", "close_reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("requests for a person")

    @admin.display(description=_("form answers"))
    def answers(self, request: Request) -> str:
        return form_answers_html(request.form_answers)

    @admin.display(description=_("private notes"))
    def notes(self, request: Request) -> str:
        """The operators' private notes, escaped, one a line ("Olga: text")."""
        notes = request.notes.all()
        if not notes:
            return "—"
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{}: {}</li>", ((n.author_name, n.text) for n in notes)),
        )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("notes")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class FeedbackInline(ReadOnlyInline):
    model = Feedback
    verbose_name_plural = _("feedback")


admin.site.unregister(Dialog)


@admin.register(Dialog)
class DialogWithRequestsAdmin(DialogAdmin):
    inlines = [DialogRequestInline, *DialogAdmin.inlines, FeedbackInline]


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    """Replies the chat's operators insert in the console with "/" and the shortcut."""

    list_display = ["shortcut", "title", "chat"]
    list_filter = ["chat"]
    search_fields = ["shortcut", "title", "text"]
    fields = ["chat", "shortcut", "title", "text"]
    list_select_related = ["chat"]
