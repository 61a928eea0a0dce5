from django.contrib import admin

from handoff.models import Request, RequestEvent


class RequestEventInline(admin.TabularInline):
    model = RequestEvent
    extra = 0
    can_delete = False
    readonly_fields = ["from_status", "to_status", "actor", "note", "created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Request)
class RequestAdmin(admin.ModelAdmin):
    list_display = ["pk", "dialog", "status", "reason", "created_at"]
    list_filter = ["status", "reason", "dialog__chat"]
    readonly_fields = ["dialog", "status", "reason", "created_at", "closed_at"]
    inlines = [RequestEventInline]

    def has_add_permission(self, request) -> bool:
        return False
