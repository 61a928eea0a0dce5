"""Admin: which chats each analyst may read (staff read every chat)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from reports import schedule_admin  # noqa: F401 - registers the scheduled reports
from reports.access import ANALYST_GROUP
from reports.models import AnalystChatGrant


@admin.register(AnalystChatGrant)
class AnalystChatGrantAdmin(admin.ModelAdmin):
    list_display = ["user", "chat", "granted_at", "user_is_analyst"]
    list_filter = ["chat", "user__is_active"]
    search_fields = ["user__username", "user__email", "chat__name"]
    autocomplete_fields = ["chat"]
    list_select_related = ["user", "chat"]
    ordering = ["user__username", "chat__name"]

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "user":
            # a grant to a deactivated account would read nothing; offer only active ones
            kwargs["queryset"] = (
                get_user_model().objects.filter(is_active=True).order_by("username")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AnalystChatGrant]:
        return super().get_queryset(request).prefetch_related("user__groups")

    @admin.display(boolean=True, description=_("in the analyst group"))
    def user_is_analyst(self, grant: AnalystChatGrant) -> bool:
        # a grant does nothing until the user is in the group (reports.access.is_analyst)
        return any(group.name == ANALYST_GROUP for group in grant.user.groups.all())


class AnalystChatGrantInline(admin.TabularInline):
    model = AnalystChatGrant
    fk_name = "user"
    fields = ["chat", "granted_at"]
    readonly_fields = ["granted_at"]
    autocomplete_fields = ["chat"]
    extra = 0
    verbose_name = _("chat this analyst may read")
    verbose_name_plural = _("chats this analyst may read")


def _user_admin_with_grants() -> None:
    """The registered user admin (distributor's) with the grants inline added: a
    subclass of whatever is registered, so its behaviour is kept."""
    user_model = get_user_model()
    registered = admin.site.get_model_admin(user_model)
    base = type(registered)
    user_admin = type(
        base.__name__,
        (base,),
        {
            "__module__": __name__,
            "inlines": [*base.inlines, AnalystChatGrantInline],
        },
    )
    admin.site.unregister(user_model)
    admin.site.register(user_model, user_admin)


_user_admin_with_grants()
