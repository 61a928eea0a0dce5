from django.contrib import admin

from handoff.models import FormField, HandoffSettings, Request, RequestEvent, WorkingPeriod


class WorkingPeriodInline(admin.TabularInline):
    model = WorkingPeriod
    extra = 0


class FormFieldInline(admin.TabularInline):
    model = FormField
    extra = 0


@admin.register(HandoffSettings)
class HandoffSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "chat",
        "accept_timeout_seconds",
        "fallback",
        "working_hours_enabled",
        "time_zone",
    ]
    inlines = [FormFieldInline, WorkingPeriodInline]


class RequestEventInline(admin.TabularInline):
    model = RequestEvent
    extra = 0
    can_delete = False
    readonly_fields = ["from_status", "to_status", "actor", "note", "created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Request)
class RequestAdmin(admin.ModelAdmin):
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
    readonly_fields = [
        "dialog",
        "chat",
        "status",
        "reason",
        "operator",
        "form_answers",
        "created_at",
        "accepted_at",
        "closed_at",
        "close_reason",
        "accept_deadline",
        "queue_deadline",
        "next_queue_notice_at",
        "reply_deadline",
        "idle_deadline",
    ]
    exclude = ["rejected_by"]
    inlines = [RequestEventInline]

    def has_add_permission(self, request) -> bool:
        return False
